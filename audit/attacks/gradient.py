"""Gradient attacks as configurations of the engine's ``Descent``: an init, a step rule, a
projection (ball, then the 0..255 box, then the integer pixel grid).

A subclass names its step rule (and whether it starts at a random point of the ball); ``run``
builds the compiled descent once per classifier and configuration and streams the images
through the engine's slot pool, so early stop saves real gradient work.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import engine
from ..classifier import Classifier
from .base import DEFAULT_RUN, Attack, AttackResult, Budget, Goal
from .losses import attack_loss

SIGN_RULES = (engine.SignStep, engine.MomentumSignStep)  # size scales the update exactly


def objective(classifier: Classifier, loss: str) -> engine.Objective:
    """The loss to minimise, with the class probabilities from the same forward pass."""

    def f(x, consts):
        logits, probs = classifier.scores(x, consts)
        values = attack_loss(loss, logits, consts["label"], consts["target"])
        return values, {"probs": probs}

    return f


def goal_met(classifier: Classifier):
    """Whether each evaluation meets its goal, as the classifier decides (``Classifier.met``)."""

    def met(values, extras, consts):
        return classifier.met(extras["probs"], consts["label"], consts["target"])

    return met


class GradientAttack(Attack):
    """An attack that is one ``Descent``: subclasses implement ``rule``."""


    random_start = False

    def rule(self, budget: Budget) -> engine.StepRule:
        raise NotImplementedError

    def start(self, x0: np.ndarray, budget: Budget, goal: Goal, seed: int) -> np.ndarray:
        """Clean images, or with ``random_start`` a uniform point of the ball on the grid,
        drawn per image from (seed, image id)."""
        x0 = x0.astype(np.float32)
        if not self.random_start or budget.eps == 0:
            return x0.copy()
        delta = np.stack([budget.threat.random_delta(x.shape, budget.eps, rng) for x, rng in
                          zip(x0, goal.rngs(seed), strict=True)]) if len(x0) else x0
        return np.clip(x0 + delta, 0, 255)

    def descent(self, classifier: Classifier, budget: Budget, loss: str,
                jit_compile: bool = False) -> engine.Descent:
        """The compiled attack step; the eps radius is an input, so one serves every budget.

        Cached on the classifier: the sweep, the trust checks and the main attack share traced
        steps instead of paying for a new trace each.
        """
        rule, threat = self.rule(budget), budget.threat
        # A sign step clipped to an L-inf ball and rounded is exact elementwise arithmetic, so
        # XLA may fuse it without changing a single pixel (the engine says why not more).
        fuse = type(rule) is engine.SignStep and threat.exact_sign_update
        # a sign rule's size is an input too (scaling its unit update is exact)
        sized = type(rule) in SIGN_RULES
        if sized:
            rule = replace(rule, size=1.0)
        return classifier.program(
            ("descent", repr(rule), sized, threat.name, loss, jit_compile),
            lambda: engine.Descent(objective(classifier, loss), rule, threat.projection(),
                                   goal_met(classifier), jit_compile, fuse_update=fuse,
                                   step_input=sized))

    def run(self, classifier, x0, goal, budget, settings=DEFAULT_RUN, *, x_start=None):
        x0 = np.asarray(x0, np.float32)
        if x_start is None:
            x_start = self.start(x0, budget, goal, settings.seed)
        program = self.descent(classifier, budget, self.effective_loss(settings),
                               settings.jit_compile)
        n = len(x0)
        n_classes = len(classifier.class_names)
        settled = settings.on_settled
        sizes = {"step": np.full(n, self.rule(budget).size, np.float32)} \
            if program.step_input else {}
        pool = engine.run_pool(
            program, x_start, {"x0": x0, "radius": np.full(n, budget.radius, np.float32),
                               **sizes, **goal.consts()},
            max_steps=budget.steps,
            **{**settings.pool_options(), "early_stop": settings.early_stop and self.early_stop},
            on_finished=None if settled is None else
            lambda jobs, rows: settled(jobs, self._result(rows, program, n_classes)))
        result = self._result(pool, program, n_classes)
        result.device_rows = pool.slot_steps
        return result

    def _result(self, pool: engine.PoolResult, program: engine.Descent,
                n_classes: int) -> AttackResult:
        n = len(pool.success)
        probs = pool.extras.get("probs", np.zeros((n, n_classes), np.float32))
        evals = (pool.steps + 1) * program.grads_per_step
        return AttackResult(
            x=pool.x, success=pool.success, probs=probs, steps=pool.steps,
            grad_evals=evals.astype(np.int64), queries=np.zeros(n, np.int64),
            grad_useless=pool.state["grad_useless"],
            found_by=[self.name if s else None for s in pool.success])
