"""Attack objectives: one value per image to minimise; below zero means the attack succeeded.

``target < 0`` in a row means untargeted (move away from ``label``), otherwise move toward
``target``. All losses are computed from logits; the probability margin is the seed article's
p_cat - p_dog, generalised. ``LOSSES`` is the registry the command line offers.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from ..classifier import succeeded  # the goal at an evaluation of a deterministic model

__all__ = ["LOSSES", "attack_loss", "margin", "succeeded"]


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


def dlr(logits: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Difference of logits ratio (Croce & Hein 2020): the logit margin divided by the spread of
    the top logits, so it cannot be inflated by scaling the logits (a way models mask margins).

    Untargeted: (z_label - max_other) / (z_1 - z_3), three or more classes. Targeted:
    (max_{j != target} z_j - z_target) / (z_1 - (z_3 + z_4) / 2), four or more classes; the
    paper's numerator is z_label - z_target, the same while the label is the runner-up, and this
    one keeps "below zero means the goal is met". With fewer classes the missing sorted logits
    do not exist: three classes use the untargeted spread, two the plain logit margin.
    """
    n = logits.shape[-1]
    numerator = margin(logits, label, target)
    if n is None or n < 3:
        return numerator
    top = tf.math.top_k(logits, k=min(n, 4)).values
    spread = top[:, 0] - top[:, 2]
    if n >= 4:
        spread = tf.where(target >= 0, top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]), spread)
    return numerator / (spread + 1e-12)


def _prob(logits, label, target):
    return probability_margin(tf.nn.softmax(logits, axis=-1), label, target)


Loss = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]

# name -> (function of logits, label, target; what it is)
LOSSES: dict[str, tuple[Loss, str]] = {
    "margin": (margin, "logit margin (default)"),
    "prob": (_prob, "probability margin, the seed's p_true - p_target"),
    "ce": (cross_entropy, "cross-entropy"),
    "dlr": (dlr, "difference of logits ratio (3+ classes; logit margin with 2)"),
}


def attack_loss(name: str, logits: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name][0](logits, label, target)
