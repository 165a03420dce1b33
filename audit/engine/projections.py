"""Projections: ``(x, x0, radius) -> x``, applied after every update; ``radius`` is per sample.

They put an iterate back where it may live: the 0..255 box, an L-inf or L2 ball around the clean
image, the unit sphere (the spread demo), and the integer pixel grid that makes every attack
iterate exactly what a saved PNG will hold.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from .gradient import per_sample, reduce_all_but_batch

Projection = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


def box(low: float, high: float) -> Projection:
    return lambda x, x0, radius: tf.clip_by_value(x, low, high)


def linf_ball() -> Projection:
    def project(x, x0, radius):
        r = per_sample(radius, x)
        return tf.clip_by_value(x, x0 - r, x0 + r)

    return project


def l2_ball() -> Projection:
    def project(x, x0, radius):
        delta = x - x0
        norm = tf.sqrt(reduce_all_but_batch(tf.reduce_sum, tf.square(delta)))
        factor = tf.minimum(1.0, per_sample(radius, x) / tf.maximum(norm, 1e-12))
        return x0 + delta * factor

    return project


def pixel_grid(l2_radius: bool = False) -> Projection:
    """Round to whole counts so every iterate is exactly what a saved PNG will hold.

    Rounding can lengthen an L2 perturbation; with ``l2_radius`` a rounded delta that left the
    ball is truncated toward x0 instead, which never increases any coordinate's magnitude.
    """

    def project(x, x0, radius):
        rounded = tf.round(x)
        if not l2_radius:
            return rounded
        delta = rounded - x0
        norm = tf.sqrt(reduce_all_but_batch(tf.reduce_sum, tf.square(delta)))
        inside = norm <= per_sample(radius, x) + 1e-4
        return tf.where(inside, rounded, x0 + tf.experimental.numpy.fix(x - x0))

    return project


def unit_sphere(axis: int = -1) -> Projection:
    return lambda x, x0, radius: tf.math.l2_normalize(x, axis=axis)


def compose(*projections: Projection) -> Projection:
    def project(x, x0, radius):
        for p in projections:
            x = p(x, x0, radius)
        return x

    return project


def identity() -> Projection:
    return lambda x, x0, radius: x
