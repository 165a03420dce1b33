"""A universal patch: one content for every photo, the physical sticker (``--universal``).

Sparse-RS (Croce et al. 2022) searches universal patches too: the random search proposes a
change to the content and keeps it when it flips more photos of a fitting set, or flips as
many with a lower total logit margin on the rest. Here each fitting photo holds the patch at
its own place, drawn from (seed, photo id), so the content learns to work wherever it lands,
not at one spot. Once fitted the content is fixed, and on each audited photo
``UniversalPlacement`` searches only where to put it (the sticker's place is the attacker's
choice; its content is not), one query a move, per-photo seeded like Sparse-RS.

Every point either evaluates is on the uint8 grid, the content pasted exactly as the saved PNG
holds it, so a flip is the file."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..classifier import Classifier
from ..errors import UsageError
from ..images import pixels_sha256
from ..threats import THREATS
from ..threats.patch import paste
from .base import DEFAULT_RUN, Budget, Goal, RunSettings
from .losses import margin
from .sparse_rs import SparseRS, SparseRSProgram

# the threat models whose content can be placed on every photo (a patch)
PLACEABLE = tuple(name for name, t in THREATS.items() if getattr(t, "placeable", False))


@dataclass(frozen=True)
class FittedPatch:
    """A universal patch and how it was found."""

    content: np.ndarray  # (s, s, C) uint8
    fit_ids: list[int]  # the photos it was fitted on
    flipped: int  # fitting photos it flips at their fitting places
    iterations: int  # content proposals evaluated
    queries: int  # model calls: one per fitting photo and proposal

    @property
    def sha256(self) -> str:
        """What a resumed audit, a shard and the report check the patch by."""
        return pixels_sha256(self.content)


def _scorer(classifier: Classifier):
    def score(x0, canvas, top, left, side, label, target):
        x = paste(x0, tf.broadcast_to(canvas[None], tf.shape(x0)), top, left, side)
        logits, probs = classifier.scores(x)
        return margin(logits, label, target), classifier.met(probs, label, target)

    return classifier.program(("universal-patch fit",),
                              lambda: tf.function(score, reduce_retracing=True, autograph=False))


def fit_universal_patch(classifier: Classifier, x0: np.ndarray, goal: Goal, budget: Budget,
                        settings: RunSettings = DEFAULT_RUN) -> FittedPatch:
    """Fit one ``budget.eps``-sided content on the photos ``x0`` (their ``goal``), in at most
    ``budget.steps`` proposals; the search stops early once it flips every fitting photo."""
    threat = budget.threat
    x0 = np.asarray(x0, np.float32)
    n, h, w, c = x0.shape
    problem = threat.fits(budget.eps, h, w)
    if problem:
        raise UsageError(problem)
    side = int(threat.radius(budget.eps))
    rng = np.random.default_rng([settings.seed, 0x5EC7])
    places = [np.random.default_rng([settings.seed, int(i), 11]) for i in goal.ids]
    top = np.array([p.integers(0, h - side + 1) for p in places], np.float32)
    left = np.array([p.integers(0, w - side + 1) for p in places], np.float32)
    score = _scorer(classifier)
    batch = max(1, settings.batch_size)

    def evaluate(content: np.ndarray) -> tuple[int, float, np.ndarray]:
        canvas = np.zeros((h, w, c), np.float32)
        canvas[:side, :side] = content
        values, success = [], []
        for lo in range(0, n, batch):
            hi = min(n, lo + batch)
            v, s = score(tf.constant(x0[lo:hi]), tf.constant(canvas),
                         tf.constant(top[lo:hi]), tf.constant(left[lo:hi]),
                         tf.constant(np.full(hi - lo, side, np.float32)),
                         tf.constant(goal.label[lo:hi]), tf.constant(goal.target[lo:hi]))
            values.append(v.numpy())
            success.append(s.numpy())
        values, success = np.concatenate(values), np.concatenate(success)
        return int(success.sum()), float(values[~success].sum()), success

    content = threat.stripes(side, c, rng)
    best = evaluate(content)
    iterations, queries = 1, n
    while iterations < budget.steps and best[0] < n:
        proposal = threat.propose_content(content, iterations, budget.steps, rng)
        iterations += 1
        if np.array_equal(proposal, content):
            continue
        got = evaluate(proposal)
        queries += n
        if (got[0], -got[1]) > (best[0], -best[1]):
            content, best = proposal, got
    return FittedPatch(content.astype(np.uint8), [int(i) for i in goal.ids], best[0],
                       iterations, queries)


class UniversalPlacement(SparseRS):
    """Sparse-RS with the content fixed: per photo, where the fitted patch flips it."""

    name = "universal-patch"
    about = ("one patch content fitted for every photo (random search over the content on a "
             "fitting set, Croce et al. 2022), then placed where it works best on each photo")
    threats = PLACEABLE

    def __init__(self, content: np.ndarray) -> None:
        self.content = np.asarray(content, np.float32)

    def traits(self, threat, n_classes, *, gradients=True):
        return {**super().traits(threat, n_classes, gradients=gradients), "strong": False,
                "weakness": "the patch is universal (one content for every photo): a photo it "
                "leaves standing may still fall to a patch made for it, so a robust verdict "
                "needs an audit without --universal"}

    def program(self, classifier, budget, jit_compile):
        threat = budget.threat
        return classifier.program((self.name, threat.name, jit_compile),
                                  lambda: SparseRSProgram(classifier, threat, jit_compile))

    def corners(self, x0, eps, threat, rng, count):
        """The fitted content at random places: the attack unit test plants the photo's
        adversarial where only the place search can find it."""
        return np.stack([threat.placed(x0, self.content, rng)[0] for _ in range(count)])

    def begin(self, x0, budget, rngs, x_start):
        threat = budget.threat
        _, h, w, _ = x0.shape
        side = self.content.shape[0]
        if side != int(threat.radius(budget.eps)) or side > min(h, w):
            raise UsageError(f"the universal patch is {side}x{side}; it was fitted for another "
                             f"budget or input (--eps {budget.eps:g}, {h}x{w})")
        starts = [threat.placed(x, self.content, rng) for x, rng in zip(x0, rngs, strict=True)]
        x, consts = self.started(threat, starts, side)
        consts["fixed_canvas"] = np.ones(len(x0), np.float32)
        return x, consts
