"""L2: the whole change, as a vector of counts, is at most eps long (60 spreads about 0.27
counts over every value of a 128x128 RGB image)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import engine
from ..engine.gradient import reduce_all_but_batch
from ..formatting import fixed
from .base import BallThreat, flat_delta


class L2(BallThreat):
    name = "l2"
    symbol = "L2"
    about = "the change's Euclidean length, in counts, is at most eps"
    exact_sign_update = False
    trust_probe_in_own_unit = False  # the trust checks' BIM counts L-inf

    def radius(self, eps: float) -> float:
        return eps

    def eps_text(self, eps: float | None) -> str:
        return fixed(eps, 0)

    def search_phrase(self, eps):
        return f"Changes of an L2 size of at most {fixed(eps, 0)} counts per image", False

    def steps_phrase(self, eps, step, steps, up_to):
        size = f"an L2 size of at most {eps:g} counts per image" if eps is not None else \
            "an unbounded L2 size"
        if steps <= 1:
            return f"One change of {size}", True
        return f"{up_to}{steps} steps, within {size},", False

    def curve_axis(self):
        return "budget eps (L2 length of the change, in counts)"

    def distance(self, clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
        return np.sqrt((flat_delta(clean, adv) ** 2).sum(axis=1))

    def within(self, clean, adv, eps):
        return self.distance(clean, adv) <= eps + 1e-4

    def smallest(self, clean, adv):
        return np.maximum(1, np.ceil(self.distance(clean, adv) - 1e-4)).astype(np.int64)

    def shrink(self, clean, adv, eps):
        """The change scaled to length ``eps`` where longer, truncated to the grid (which only
        shortens it)."""
        delta = np.asarray(adv, np.float64) - clean
        length = self.distance(clean, adv).reshape(-1, *[1] * (delta.ndim - 1))
        factor = np.minimum(1.0, eps / np.maximum(length, 1e-12))
        return np.clip(clean + np.trunc(delta * factor), 0, 255).astype(np.float32)

    def ball(self) -> engine.Projection:
        return engine.l2_ball()

    def grid(self) -> engine.Projection:
        """Rounding can lengthen the change: a rounded delta that left the ball is truncated
        toward x0 instead, which never increases any value's change."""
        return engine.pixel_grid(l2_radius=True)

    def steepest_direction(self, grad: tf.Tensor) -> tf.Tensor:
        """The gradient scaled to length 1 (a zero gradient stays zero)."""
        length = tf.sqrt(reduce_all_but_batch(tf.reduce_sum, tf.square(grad)))
        return grad / tf.maximum(length, 1e-12)

    def steepest_rule(self, step: float) -> engine.StepRule:
        return engine.L2Step(step)

    def random_delta(self, shape, eps, rng):
        direction = rng.standard_normal(shape)
        direction /= max(np.linalg.norm(direction), 1e-12)
        radius = eps * rng.uniform() ** (1.0 / direction.size)
        return np.trunc(direction * radius).astype(np.float32)

    def random_start(self, x0, eps, rng):
        """A random direction at half the radius, as in the APGD authors' code."""
        direction = rng.standard_normal(x0.shape).astype(np.float32)
        delta = direction * (0.5 * eps / max(float(np.linalg.norm(direction)), 1e-12))
        return np.clip(x0 + delta, 0, 255).astype(np.float32)

    def corners(self, x0, eps, rng, count):
        """A random sign pattern scaled to the radius and truncated to the grid (truncation
        only shortens it, so the corner stays inside the ball)."""
        signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=(count, *x0.shape))
        return np.clip(x0 + np.trunc(signs * eps / np.sqrt(x0.size)), 0, 255)
