"""What the random-search attacks (Square, Sparse-RS) share: per-image seeded starts, a
compiled proposal loop in the engine's slot pool, one query per step, no gradient.

Each image is a job with its own query counter and its own random stream (from ``--seed`` and
the image's id, not its batch slot or chunk), and leaves the pool at its first success; one
that never succeeds hands back its best evaluated point (``rounds``: the kept point). A subclass
says how an image starts (``begin``) and which ``Program`` proposes its next points."""

from __future__ import annotations

import numpy as np

from .. import engine
from ..classifier import Classifier
from .base import DEFAULT_RUN, Attack, Budget
from .rounds import Rounds


class RandomSearch(Attack):
    """Base of the query-only attacks: ``run`` streams the images through ``program``."""

    constant_steps = False
    uses_gradient = False
    loss = "margin"
    fixed = {"step": "eps", "steps": "queries"}  # each query is one step

    def program(self, classifier: Classifier, budget: Budget, jit_compile: bool
                ) -> engine.Program:
        raise NotImplementedError

    def begin(self, x0: np.ndarray, budget: Budget, rngs: list[np.random.Generator],
              x_start: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Start points for every image and the per-image constants the program needs."""
        raise NotImplementedError

    def run(self, classifier, x0, goal, budget, settings=DEFAULT_RUN, *, x_start=None):
        x0 = np.asarray(x0, np.float32)
        n = len(x0)
        rounds = Rounds(x0, len(classifier.class_names))
        if n == 0:
            return rounds.result(self.name)
        rngs = goal.rngs(settings.seed)
        keys = np.array([rng.integers(0, 2**31) for rng in rngs], np.int64)
        start, consts = self.begin(x0, budget, rngs, x_start)
        program = self.program(classifier, budget, settings.jit_compile)
        pool = engine.run_pool(
            program, start, {"x0": x0, "rng_key": keys, **consts, **goal.consts()},
            max_steps=budget.steps - 1 if budget.threat.radius(budget.eps) > 0 else 0,
            **settings.pool_options(),
            on_finished=rounds.reporter(np.arange(n), settings.on_settled, name=self.name,
                                        final=True, grads_per_step=0, queries_per_step=1,
                                        comparable=False))
        rounds.add(np.arange(n), pool, grads_per_step=0, queries_per_step=1, comparable=False)
        return rounds.result(self.name)
