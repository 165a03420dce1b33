"""The attack unit test's model (Zimmermann et al. 2022, "Increasing confidence in adversarial
robustness evaluations"): the user's own model with a planted binary readout.

For each sample x of the trust sample, a few corners of the budget (for a ball, x + eps *
random signs, on the grid) are fed to the model; the one that moves the model's logits furthest, x*,
becomes a *known* adversarial: the readout h(z) = <w, f(z)> - c is chosen so that h(x) = -1 and
h(x*) = +1, where f is the model's own logit vector. So an adversarial example provably exists
inside the budget, it is reached only through the model's own function (gradient masking in
the model stays in the test), and an attack that finds h > 0 for nearly every sample is strong
enough on this model. The readout's per-sample parameters travel as attack constants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from ..classifier import LOGITS, Classifier, ProgramCache, succeeded
from ..threats import ThreatModel

CORNERS = 4  # random corners of the ball tried per sample


@dataclass
class Plant:
    """Per-sample readout parameters, the known adversarial points, and which samples have one
    (a sample whose logits do not move at any corner cannot be planted)."""

    w: np.ndarray
    c: np.ndarray
    x_star: np.ndarray
    usable: np.ndarray


@dataclass(eq=False)
class PlantedClassifier(ProgramCache):
    """A ``Classifier`` (the protocol) for attacks: class 0 is the sample's side, class 1 the
    planted adversarial side; it has gradients where the base model has its own."""

    base: Classifier
    class_names: list[str] = field(default_factory=lambda: ["original", "planted"])
    output_kind: str = LOGITS
    programs: dict = field(default_factory=dict, repr=False)

    surrogate = None  # the readout is on the base's own logits: nothing else can stand in

    @property
    def input_scale(self) -> float:
        return self.base.input_scale

    @property
    def gradients(self) -> bool:
        return bool(getattr(self.base, "gradients", True))

    @property
    def input_size(self) -> tuple[int, int]:
        return self.base.input_size

    @property
    def channels(self) -> int:
        return self.base.channels

    def logits(self, counts: tf.Tensor, consts: dict | None = None) -> tf.Tensor:
        z = self.base.logits(counts)
        h = tf.reduce_sum(consts["plant_w"] * z, axis=-1) - consts["plant_c"]
        return tf.stack([-h, h], axis=-1) / 2.0

    def scores(self, counts: tf.Tensor, consts: dict | None = None
               ) -> tuple[tf.Tensor, tf.Tensor]:
        """The readout's logits and probabilities (over the base's EOT mean, if it is random:
        the readout is one deterministic function of that mean)."""
        z = self.logits(counts, consts)
        return z, tf.nn.softmax(z, axis=-1)

    def met(self, probs: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        return succeeded(probs, label, target)


def plant(base: Classifier, x0: np.ndarray, *, eps: float, threat: ThreatModel,
          ids: np.ndarray, seed: int, batch_size: int = 32,
          corners: Callable[..., np.ndarray] | None = None) -> Plant:
    """Choose each sample's known adversarial corner and the readout that makes it one.

    Corners are random points at the edge of the budget on the grid, drawn by the threat model
    (``ThreatModel.corners``): L-inf, every value moved by the whole-count radius with random
    signs; L2, a sign pattern scaled to the radius and truncated; L0, k random pixels set to
    random colours; a patch, random content at a random place. ``corners`` (the audit's
    ``Attack.corners``) draws them instead where the attack searches less than the budget."""
    n = len(x0)
    draw = corners or (lambda x, e, t, rng, count: t.corners(x, e, rng, count))
    corners = np.empty((n, CORNERS, *x0.shape[1:]), np.float32)
    for k, i in enumerate(ids):
        rng = np.random.default_rng([seed, int(i), 7])
        corners[k] = draw(x0[k], eps, threat, rng, CORNERS)
    logits = _logits(base, np.concatenate([x0, corners.reshape(-1, *x0.shape[1:])]), batch_size)
    f0 = logits[:n]
    moved = logits[n:].reshape(n, CORNERS, -1) - f0[:, None]
    best = np.argmax(np.linalg.norm(moved, axis=-1), axis=1)
    delta = moved[np.arange(n), best]
    size = np.sum(delta ** 2, axis=-1)
    usable = size > 1e-12
    w = np.where(usable[:, None], 2.0 * delta / np.maximum(size, 1e-12)[:, None], 0.0)
    c = np.sum(w * (f0 + delta / 2.0), axis=-1)  # midway between f(x) and f(x*)
    return Plant(w.astype(np.float32), c.astype(np.float32), corners[np.arange(n), best],
                 usable)


def _logits(clf: Classifier, x: np.ndarray, batch_size: int) -> np.ndarray:
    fn = clf.program(("logits",), lambda: tf.function(clf.logits, autograph=False).
                     get_concrete_function(tf.TensorSpec([None, *x.shape[1:]], tf.float32)))
    return np.concatenate([fn(tf.constant(x[i:i + batch_size], tf.float32)).numpy()
                           for i in range(0, len(x), batch_size)])
