"""Minimal budget per image, searched downward from what the audit already found.

Every adversarial the audit found is a proof: an image flipped with a change of size L (in the
threat model's unit: counts, pixels, a patch's side; ``ThreatModel.smallest``) has a minimal
budget of at most L. The sweep starts from that bound (for images the audit's budget could not
flip, from one run of the attack at ``max_eps``) and walks down one unit at a time: the image's
adversarial, moved into the next smaller budget (``ThreatModel.shrink``: clipped into the L-inf
ball, scaled into the L2 ball, its largest changes kept for L0, cropped for a patch), is first
checked as it is (one forward pass) and
otherwise used as the warm start of the same attack at that budget. The walk stops at the first
budget where the attack fails; the last success is the image's minimal budget.

So the curve is at least as high as every fixed attack the audit ran, at its budget, and each
smaller budget is searched by the audit's own attack, warm started where success is most
likely. For ``auto`` that is its gradient stages, and Square for the images whose gradient was
zero or not finite (as in the cascade, where such images go straight to Square): on a
gradient-masked model the curve is searched by the attack that can flip it. The price is one
failed attack per image, at the budget just below its minimum.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..attacks import Attack, AttackResult, Budget, Goal, RunSettings
from ..attacks.auto import Auto
from ..classifier import Classifier


def _probe(attack: Attack, classifier: Classifier, x0: np.ndarray, goal: Goal, budget: Budget,
           settings: RunSettings, x_start: np.ndarray | None) -> AttackResult:
    if isinstance(attack, Auto):
        return attack.run(classifier, x0, goal, budget, settings, x_start=x_start,
                          square_only_where_masked=True)
    return attack.run(classifier, x0, goal, budget, settings, x_start=x_start)


def minimal_epsilon(classifier: Classifier, x0: np.ndarray, goal: Goal, *, attack: Attack,
                    budget: Budget, max_eps: int, settings: RunSettings,
                    found: AttackResult | None = None
                    ) -> tuple[np.ndarray, int, int, np.ndarray]:
    """Per image the smallest whole budget 1..max_eps at which it was flipped (0: none was),
    the gradient evaluations and queries spent finding it, and the witnesses: for each image
    flipped within max_eps, an adversarial on the grid inside its minimal budget.

    ``found`` is the audit's own result at ``budget.eps`` for these images: its flips bound the
    search from above."""
    if not math.isfinite(budget.eps):
        raise ValueError("the sweep needs a bounded attack")
    n = len(x0)
    x0 = np.asarray(x0, np.float32)
    settings = replace(settings, on_progress=None, on_iterate=None, early_stop=True)
    bound = np.zeros(n, np.int64)
    best = x0.copy()
    grads = queries = 0
    threat = budget.threat
    if found is not None:
        size = threat.smallest(x0, found.x) if n else np.zeros(0, np.int64)
        hit = found.success & (size <= max_eps)
        bound[hit] = size[hit]
        best[hit] = found.x[hit]
    if max_eps > (budget.eps if found is not None else 0):
        idx = np.flatnonzero(bound == 0)
        if idx.size:
            r = _probe(attack, classifier, x0[idx], goal.take(idx),
                       replace(budget, eps=float(max_eps)), settings, None)
            grads, queries = grads + r.total_grad_evals, queries + r.total_queries
            size = threat.smallest(x0[idx], r.x)
            bound[idx[r.success]] = size[r.success]
            best[idx[r.success]] = r.x[r.success]
    for e in range(max_eps - 1, 0, -1):
        idx = np.flatnonzero(bound == e + 1)
        if idx.size == 0:
            continue
        start = threat.shrink(x0[idx], best[idx], e)
        probs = classifier.predict(start, settings.batch_size)
        queries += idx.size
        already = goal.take(idx).met(probs.argmax(axis=1))
        bound[idx[already]] = e
        best[idx[already]] = start[already]
        rest = idx[~already]
        if rest.size:
            r = _probe(attack, classifier, x0[rest], goal.take(rest),
                       replace(budget, eps=float(e)), settings, start[~already])
            grads, queries = grads + r.total_grad_evals, queries + r.total_queries
            bound[rest[r.success]] = e
            best[rest[r.success]] = r.x[r.success]
    return bound, grads, queries, best
