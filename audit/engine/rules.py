"""Step rules: ``(x, grad, state) -> (update, new_state)``; the update is *added* to x.

A rule is the part of an iterative attack or optimiser that turns a gradient into a move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from .gradient import reduce_all_but_batch


class StepRule:
    """Base class. Stateless rules carry a one-number-per-sample dummy state so every rule has
    one signature without dragging an image-sized zero tensor through every step."""

    stateful = False
    # The update is zero whenever the gradient is: with a zero gradient the iterate stays where
    # it is for good (rules with momentum or an optimiser's slots keep moving)
    memoryless = False

    def init_state(self, x: tf.Tensor) -> tf.Tensor:
        if self.stateful:
            return tf.zeros_like(x)
        return tf.zeros([tf.shape(x)[0]] + [1] * (len(x.shape) - 1))

    def __call__(self, x: tf.Tensor, grad: tf.Tensor, state: tf.Tensor):
        raise NotImplementedError


@dataclass
class GradientStep(StepRule):
    """Plain gradient descent: x <- x - lr * grad."""

    lr: float
    memoryless = True

    def __call__(self, x, grad, state):
        return -self.lr * grad, state


@dataclass
class SignStep(StepRule):
    """FGSM/BIM/PGD (L-inf): move every coordinate by exactly ``size`` against the gradient."""

    size: float
    memoryless = True

    def __call__(self, x, grad, state):
        return -self.size * tf.sign(grad), state


@dataclass
class MomentumSignStep(StepRule):
    """MI-FGSM (Dong et al. 2018): sign of an accumulated, L1-normalised gradient."""

    size: float
    decay: float = 1.0
    stateful = True

    def __call__(self, x, grad, state):
        l1 = reduce_all_but_batch(tf.reduce_mean, tf.abs(grad))
        velocity = self.decay * state + grad / tf.maximum(l1, 1e-12)
        return -self.size * tf.sign(velocity), velocity


@dataclass
class L2Step(StepRule):
    """L2 PGD: a step of L2 length ``size`` along the negative normalised gradient."""

    size: float
    memoryless = True

    def __call__(self, x, grad, state):
        norm = tf.sqrt(reduce_all_but_batch(tf.reduce_sum, tf.square(grad)))
        return -self.size * grad / tf.maximum(norm, 1e-12), state


class KerasOptimizerStep(StepRule):
    """Any ``keras.optimizers`` optimizer (SGD, RMSprop, Adam, ...) as a step rule.

    Keras optimizers update variables, so the rule keeps one variable shaped like x, built
    before tracing; the optimizer's slots hold its state, and the explicit state is unused.
    """

    def __init__(self, optimizer: Any):
        self.optimizer = optimizer
        self.var: tf.Variable | None = None

    def build(self, x: np.ndarray | tf.Tensor) -> None:
        self.var = tf.Variable(tf.zeros_like(x), trainable=True)
        self.optimizer.build([self.var])

    def __call__(self, x, grad, state):
        self.var.assign(x)
        self.optimizer.apply([grad], [self.var])
        return self.var - x, state
