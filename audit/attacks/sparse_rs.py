"""Sparse-RS (Croce, Singh, Andriushchenko, Flammarion & Hein, AAAI 2022, "Sparse-RS: a
versatile framework for query-efficient sparse black-box adversarial attacks"): random search
over sparse perturbations, the sparse sibling of Square.

One loop for every sparse threat model: the threat model (``audit.threats``, a
``SparseThreat``) draws the start and proposes the next point from the kept one — k pixel
positions moved for L0, a patch's content or place for a patch — and the loop keeps a proposal
when the logit margin falls. It never asks for a gradient, so masking cannot hide a model from
it; every point it evaluates is on the uint8 grid and inside the budget, so a flip is a saved
PNG exactly. Cost: one query per step, per-image seeded like Square."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .. import engine
from ..classifier import Classifier
from ..engine.gradient import per_sample
from ..errors import UsageError
from ..threats import SparseThreat
from .losses import margin, succeeded
from .rounds import better_than_kept, keep_better, kept_init
from .search import RandomSearch


@dataclass(eq=False)
class SparseRSProgram(engine.Program):
    """One Sparse-RS run per image. State: the point to evaluate with its search state, and
    the kept point with its own; consts: x0, radius (eps), rng_key, max_steps, the goal and the
    threat model's start state (``start_<key>``)."""

    classifier: Classifier
    threat: SparseThreat
    jit_compile: bool = False
    grads_per_step = 0
    queries_per_step = 1

    def __post_init__(self):
        self.n_classes = len(self.classifier.class_names)

    def init(self, x_start, consts):
        search = {k: consts["start_" + k] for k in self.threat.state_keys}
        return {"x": x_start, **search, **{"kept_" + k: v for k, v in search.items()},
                **kept_init(x_start, self.n_classes)}

    def step(self, state, consts, taken):
        x = state["x"]
        logits = self.classifier.logits(x, consts)
        values = margin(logits, consts["label"], consts["target"])
        probs = tf.nn.softmax(logits, axis=-1)
        success = succeeded(probs, consts["label"], consts["target"])
        better = better_than_kept(success, values, state["kept_success"], state["kept_loss"])
        kept = keep_better(state, x, probs, values, success)
        for key in self.threat.state_keys:
            new, old = state[key], state["kept_" + key]
            kept["kept_" + key] = tf.where(per_sample(better, new), new, old)
        proposal, search = self.threat.propose(
            {"x": kept["kept_x"], **{k: kept["kept_" + k] for k in self.threat.state_keys}},
            consts, taken)
        return {"x": proposal, **search, **kept}, success, {"probs": probs, "values": values}


class SparseRS(RandomSearch):
    name = "sparse-rs"
    about = ("random search over sparse changes: k pixels (L0) or a patch's place and content, "
             "kept when the margin falls; no gradients (Croce et al. 2022)")
    threats = ("l0", "patch")

    def program(self, classifier, budget, jit_compile):
        threat = budget.threat
        return classifier.program((self.name, threat.name, jit_compile),
                                  lambda: SparseRSProgram(classifier, threat, jit_compile))

    def begin(self, x0, budget, rngs, x_start):
        threat = budget.threat
        _, h, w, _ = x0.shape
        problem = threat.fits(budget.eps, h, w)
        if problem:
            raise UsageError(problem)
        starts = [threat.start(x, budget.eps, rng) for x, rng in zip(x0, rngs, strict=True)]
        consts = {"start_" + k: np.stack([np.asarray(s[k], np.float32) for _, s in starts])
                  for k in threat.state_keys}
        consts["radius"] = np.full(len(x0), threat.radius(budget.eps), np.float32)
        # a caller's start point is not a search state (which positions, where the patch is):
        # Sparse-RS draws its own
        return np.stack([x for x, _ in starts]), consts
