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

from ..errors import UsageError
from ..threats import SPARSE, SparseThreat
from .search import RandomSearch, SearchProgram


@dataclass(eq=False)
class SparseRSProgram(SearchProgram):
    """One Sparse-RS run per image: the threat model (a ``SparseThreat``) proposes; consts:
    x0, radius (eps), rng_key, max_steps, the goal and the threat model's start state."""

    threat: SparseThreat | None = None
    jit_compile: bool = False

    @property
    def state_keys(self) -> tuple[str, ...]:
        return self.threat.state_keys

    def propose(self, kept, consts, taken):
        return self.threat.propose(kept, consts, taken)


class SparseRS(RandomSearch):
    name = "sparse-rs"
    about = ("random search over sparse changes: k pixels (L0) or a patch's place and content, "
             "kept when the margin falls; no gradients (Croce et al. 2022)")
    threats = SPARSE

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
        # a caller's start point is not a search state (which positions, where the patch is):
        # Sparse-RS draws its own
        return self.started(threat, starts, threat.radius(budget.eps))

    @staticmethod
    def started(threat: SparseThreat, starts: list[tuple[np.ndarray, dict]], radius: float
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Per-image (point, search state) pairs as the start points and the program's
        constants (``start_<key>`` for each of the threat model's state keys, the radius)."""
        consts = {"start_" + k: np.stack([np.asarray(s[k], np.float32) for _, s in starts])
                  for k in threat.state_keys}
        consts["radius"] = np.full(len(starts), radius, np.float32)
        return np.stack([x for x, _ in starts]), consts
