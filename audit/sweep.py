"""Minimal L-inf budget per image, exactly, for a fraction of the cost of one run per budget.

For budget e the sweep runs BIM with a step of one count and ``kurakin_steps(e)`` steps (the
schedule of Kurakin et al. 2017: min(e + 4, ceil(1.25 e))). With steps of one count, the first
e iterates of the e-budget attack never touch the e-ball's boundary, so they are the same for
every budget >= e: one shared *trunk* run serves all budgets, and budget e only adds its
``kurakin_steps(e) - e`` clipped tail steps, branched from the trunk's e-th iterate. If the trunk
flips an image at step k, every budget >= k flips it at step k; only budgets below k need their
tails. Budgets are tried upward and an image leaves at its first success, so the answer equals
running each budget from scratch and taking the smallest that flips.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .attacks import ATTACKS, Goal, RunSettings
from .classifier import Classifier


def kurakin_steps(eps: int) -> int:
    return int(min(eps + 4, math.ceil(1.25 * eps)))


def minimal_epsilon(
    classifier: Classifier,
    x0: np.ndarray,
    goal: Goal,
    max_eps: int,
    settings: RunSettings,
    *,
    chunk: int = 256,
) -> tuple[np.ndarray, int]:
    """Smallest e in 1..max_eps at which the e-budget BIM flips each image (0: none does).

    Returns the per-image budgets and the number of gradient evaluations spent. Trunk
    snapshots are kept as int8 deltas, ``chunk`` images at a time, to bound memory.
    """
    bim = ATTACKS["bim"]
    result = np.zeros(len(x0), np.int64)
    evaluations = 0
    quiet = replace(settings, early_stop=True, on_iterate=None)
    for lo in range(0, len(x0), chunk):
        xc = x0[lo : lo + chunk].astype(np.float32)
        gc = goal.take(np.arange(lo, lo + len(xc)))
        snaps = np.zeros((max_eps, *xc.shape), np.int8)  # snaps[e] = trunk delta after e steps

        def keep(jobs, taken, x, snaps=snaps, xc=xc):
            store = taken < max_eps
            snaps[taken[store], jobs[store]] = (x[store] - xc[jobs[store]]).astype(np.int8)

        t = bim.run(classifier, xc, gc, bim.budget(max_eps, 1.0, max_eps),
                    replace(quiet, on_iterate=keep))
        evaluations += t.total_grad_evals
        found = np.where(t.success, t.steps, 0)
        snaps_final = (t.x - xc).astype(np.int8)
        for e in range(1, max_eps + 1):
            need = np.flatnonzero((found == 0) | (found > e))
            tail = kurakin_steps(e) - e
            if need.size == 0 or tail <= 0:
                continue
            if e == max_eps:
                need = need[found[need] == 0]
                start = xc[need] + snaps_final[need]
            else:
                start = xc[need] + snaps[e, need]
            b = bim.run(classifier, xc[need], gc.take(need), bim.budget(e, 1.0, tail), quiet,
                        x_start=start.astype(np.float32))
            evaluations += b.total_grad_evals
            found[need[b.success]] = e
        result[lo : lo + len(xc)] = found
    return result, evaluations

