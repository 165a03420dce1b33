"""A reference attack's cost, estimated from an audit's rows and a recipe the attack recorded.

An attack that has a yardstick (``auto``: AutoAttack's standard version) writes it into the
manifest as data (``attack_traits.yardstick``), so the runner, a merge of shards and the bench
all compute it the same way without knowing which attack it was: each attacked image pays the
recipe's steps in turn and stops after the step whose stage flipped it (a step may name a list of
stages: the reference has no probe, its first stage flips what ours probed); a ``queries`` step
charges the image's own query count where it flipped there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def costs(recipe: dict, found_by: Sequence[str | None], queries: Sequence[int]) -> np.ndarray:
    """What the reference would spend on each image (gradient evaluations plus queries)."""
    steps = [s for s in recipe.get("steps") or [] if isinstance(s, dict)]
    out = np.zeros(len(found_by), np.int64)
    for i, (stage, spent) in enumerate(zip(found_by, queries, strict=True)):
        for step in steps:
            here = stage is not None and stage in _stages(step.get("stage"))
            out[i] += int(spent or 0) if here and step.get("queries") else int(step["cost"])
            if here:
                break
    return out


def _stages(named) -> list:
    """A step names one stage, or several that the reference would run as one."""
    return named if isinstance(named, list) else [named]


def cost_per_image(recipe: dict | None, images: list[dict]) -> float | None:
    """The mean over attacked rows, rounded for the summary; None without a recipe or rows."""
    rows = [r for r in images if r.get("attacked")]
    if not isinstance(recipe, dict) or not rows:
        return None
    spent = costs(recipe, [r.get("found_by") for r in rows], [r.get("queries") or 0 for r in rows])
    return round(float(spent.mean()), 3)
