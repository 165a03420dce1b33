"""Attack objectives: one value per image to minimise; below zero means the attack succeeded.

``target < 0`` in a row means untargeted (move away from ``label``), otherwise move toward
``target``. All losses are computed from logits; the probability margin is the seed article's
p_cat - p_dog, generalised. ``LOSSES`` is the registry the command line offers.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf


def _best_other(scores: tf.Tensor, exclude: tf.Tensor) -> tf.Tensor:
    mask = tf.one_hot(exclude, tf.shape(scores)[-1]) > 0.5
    return tf.reduce_max(tf.where(mask, tf.fill(tf.shape(scores), -1e30), scores), axis=-1)


def _pick(scores: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
    return tf.gather(scores, index, axis=1, batch_dims=1)


def margin(scores: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Untargeted: s_label - max_other. Targeted: max_{j != target} s_j - s_target."""
    safe_target = tf.maximum(target, 0)
    untargeted = _pick(scores, label) - _best_other(scores, label)
    targeted = _best_other(scores, safe_target) - _pick(scores, safe_target)
    return tf.where(target >= 0, targeted, untargeted)


def probability_margin(probs: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The seed's p_true - p_target; untargeted, p_true - max other probability."""
    safe_target = tf.maximum(target, 0)
    targeted = _pick(probs, label) - _pick(probs, safe_target)
    untargeted = _pick(probs, label) - _best_other(probs, label)
    return tf.where(target >= 0, targeted, untargeted)


def cross_entropy(logits: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Untargeted: minimise log p_label (raise its CE). Targeted: minimise CE of the target."""
    log_p = tf.nn.log_softmax(logits, axis=-1)
    safe_target = tf.maximum(target, 0)
    return tf.where(target >= 0, -_pick(log_p, safe_target), _pick(log_p, label))


def _prob(logits, label, target):
    return probability_margin(tf.nn.softmax(logits, axis=-1), label, target)


Loss = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]

# name -> (function of logits, label, target; what it is)
LOSSES: dict[str, tuple[Loss, str]] = {
    "margin": (margin, "logit margin (default)"),
    "prob": (_prob, "probability margin, the seed's p_true - p_target"),
    "ce": (cross_entropy, "cross-entropy"),
}


def attack_loss(name: str, logits: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name][0](logits, label, target)


def succeeded(probs: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The attack's goal at the current iterate: the predicted class left label / hit target."""
    pred = tf.argmax(probs, axis=-1, output_type=label.dtype)
    return tf.where(target >= 0, tf.equal(pred, target), tf.not_equal(pred, label))
