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
from collections.abc import Callable

import numpy as np

from . import engine
from .attacks import ATTACKS, descent
from .classifier import Classifier


def kurakin_steps(eps: int) -> int:
    return int(min(eps + 4, math.ceil(1.25 * eps)))


def minimal_epsilon(
    classifier: Classifier,
    x0: np.ndarray,
    aux: dict[str, np.ndarray],
    max_eps: int,
    loss: str,
    batch_size: int,
    chunk: int = 256,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Smallest e in 1..max_eps at which the e-budget BIM flips each image (0: none does).

    Returns the per-image budgets and the number of gradient evaluations spent. Trunk
    snapshots are kept as int8 deltas, ``chunk`` images at a time, to bound memory.
    """
    bim = ATTACKS["bim"]
    trunk = descent(classifier, bim, bim.budget(max_eps, 1.0, max_eps), loss)
    branch = descent(classifier, bim, bim.budget(1, 1.0, 1), loss)  # radius is per job
    result = np.zeros(len(x0), np.int64)
    evaluations = 0
    for lo in range(0, len(x0), chunk):
        xc = x0[lo : lo + chunk].astype(np.float32)
        ac = {k: v[lo : lo + chunk] for k, v in aux.items()}
        n = len(xc)
        snaps = np.zeros((max_eps, *xc.shape), np.int8)  # snaps[e] = trunk delta after e steps

        def keep(jobs, taken, x, snaps=snaps, xc=xc):
            store = taken < max_eps
            snaps[taken[store], jobs[store]] = (x[store] - xc[jobs[store]]).astype(np.int8)

        t = engine.run_pool(trunk, xc, xc, np.full(n, max_eps, np.float32),
                            np.full(n, max_eps), ac, batch_size, True, keep, on_progress)
        evaluations += t.evaluations
        found = np.where(t.done, t.steps, 0)
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
            b = engine.run_pool(branch, xc[need], start.astype(np.float32),
                                np.full(need.size, e, np.float32), np.full(need.size, tail),
                                {k: v[need] for k, v in ac.items()}, batch_size, True, None,
                                on_progress)
            evaluations += b.evaluations
            hit = need[b.done]
            found[hit] = e
        result[lo : lo + n] = found
    return result, evaluations


def flip_curve(min_eps: np.ndarray, max_eps: int) -> list[dict]:
    """Share of attacked images flipped by some budget <= e, for e = 0..max_eps."""
    n = max(1, len(min_eps))
    flipped = min_eps > 0
    return [
        {"eps": e, "flip_rate": float(np.sum(flipped & (min_eps <= e)) / n)}
        for e in range(0, max_eps + 1)
    ]
