"""``value_and_grad``: the only ``GradientTape`` in advaudit.

Keeping differentiation in one function makes the rest auditable: an attack or a demo can only
ask for the gradient of a per-sample objective with respect to its input, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

Objective = Callable[[tf.Tensor, dict[str, tf.Tensor]], tuple[tf.Tensor, dict[str, tf.Tensor]]]


def value_and_grad(
    objective: Objective, x: tf.Tensor, aux: dict[str, tf.Tensor]
) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor]]:
    """Per-sample objective values, the gradient of their sum w.r.t. x, and the extras.

    Samples are independent, so the gradient of the sum is each sample's own gradient.
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        values, extras = objective(x, aux)
    return values, tape.gradient(values, x), extras


def per_sample(v: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """Reshape a [B] vector so it broadcasts against x of shape [B, ...]."""
    return tf.reshape(v, [-1] + [1] * (len(x.shape) - 1))


def reduce_all_but_batch(fn, t: tf.Tensor, keepdims: bool = True) -> tf.Tensor:
    return fn(t, axis=list(range(1, len(t.shape))), keepdims=keepdims)


def useless_gradient(grad: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(finite, useless) per sample from one reduction: an L1 norm that is 0 (a flat gradient,
    e.g. behind a quantiser) or not finite (NaN/inf somewhere) makes the gradient useless."""
    l1 = tf.reduce_sum(tf.abs(tf.reshape(grad, [tf.shape(grad)[0], -1])), axis=1)
    finite = tf.math.is_finite(l1)
    return finite, tf.logical_or(tf.logical_not(finite), tf.equal(l1, 0.0))
