"""What the random-search attacks (Square, Sparse-RS) share: per-image seeded starts, a
compiled proposal loop in the engine's slot pool, one query per step, no gradient.

Each image is a job with its own query counter and its own random stream (from ``--seed`` and
the image's id, not its batch slot or chunk), and leaves the pool at its first success; one
that never succeeds hands back its best evaluated point (``rounds``: the kept point). A subclass
says how an image starts (``begin``) and which ``Program`` proposes its next points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .. import engine
from ..classifier import Classifier
from ..engine.gradient import per_sample
from .base import DEFAULT_RUN, Attack, Budget
from .losses import margin
from .rounds import Rounds, better_than_kept, keep_better, kept_init


@dataclass(eq=False)
class SearchProgram(engine.Program):
    """One random search per image: evaluate the proposed point, keep it when it is better
    (a success, then a lower logit margin), propose the next from the kept one.

    State: the point to evaluate with its search state (``state_keys``, started from the consts
    ``start_<key>``), the kept point with its own (``kept_<key>``). A subclass implements
    ``propose``."""

    classifier: Classifier
    grads_per_step = 0
    queries_per_step = 1

    def __post_init__(self):
        self.n_classes = len(self.classifier.class_names)

    @property
    def state_keys(self) -> tuple[str, ...]:
        return ()

    def propose(self, kept: dict[str, tf.Tensor], consts: dict[str, tf.Tensor],
                taken: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The next point from the kept one (``kept["x"]`` and the kept search state)."""
        raise NotImplementedError

    def init(self, x_start, consts):
        search = {k: consts["start_" + k] for k in self.state_keys}
        return {"x": x_start, **search, **{"kept_" + k: v for k, v in search.items()},
                **kept_init(x_start, self.n_classes)}

    def step(self, state, consts, taken):
        x = state["x"]
        logits, probs = self.classifier.scores(x, consts)
        values = margin(logits, consts["label"], consts["target"])
        success = self.classifier.met(probs, consts["label"], consts["target"])
        kept = keep_better(state, x, probs, values, success)
        if self.state_keys:
            better = better_than_kept(success, values, state["kept_success"],
                                      state["kept_loss"])
            for key in self.state_keys:
                new, old = state[key], state["kept_" + key]
                kept["kept_" + key] = tf.where(per_sample(better, new), new, old)
        proposal, search = self.propose(
            {"x": kept["kept_x"], **{k: kept["kept_" + k] for k in self.state_keys}},
            consts, taken)
        return {"x": proposal, **search, **kept}, success, {"probs": probs, "values": values}


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
