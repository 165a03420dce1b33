"""What the engine, the attacks, the trust checks and the preflight may ask of a model.

``Classifier`` is the protocol: logits for a batch of photos in pixel counts (0..255),
the goal test, predictions, the input's size and channels, the class names, whether gradients
exist (``gradients``: a TFLite or ONNX file is query-only) and whether the model is random at
inference. ``ModelClassifier`` is the shared implementation every model source builds on: a
source (``audit.models``: Keras, TFLite, ONNX) only says how one batch goes through its model
(``_forward``); counts-to-input scaling, output kinds, EOT draws and votes, a channel in front
of the model (``--channel``) and a surrogate for gradients (``--surrogate``) live here, once.

Attacks work in pixel counts. The mapping to what the model expects (``input_scale``: the value
of a white pixel) and the pre-softmax logits are found here, because a margin on saturated
softmax outputs has a vanishing gradient (the classic source of false robustness).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

from .errors import ModelError

SOFTMAX, LOGITS, SIGMOID = "softmax", "logits", "sigmoid"
BINARY_LOGIT = "binary_logit"  # one linear output the user vouches is a binary logit
TWO_CLASS_KINDS = (SIGMOID, BINARY_LOGIT)  # one output unit, attacked as the logits [0, z]

# A model random at inference (MC dropout, noise or random resizing as a defence):
EOT_DRAWS = 20  # draws averaged per attack evaluation (AutoAttack's randomised version)
VOTES = 21  # fresh draws whose majority is the model's prediction (odd: no tie with 2 classes)
DECISIVE = 2 / 3  # share of an evaluation's draws that must meet the goal for an attack to stop


def succeeded(probs: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """The goal at an evaluation: the predicted class left ``label`` (or hit ``target``)."""
    pred = tf.argmax(probs, axis=-1, output_type=label.dtype)
    return tf.where(target >= 0, tf.equal(pred, target), tf.not_equal(pred, label))


@runtime_checkable
class Classifier(Protocol):
    """A model as the audit sees it. Attacks call ``logits``/``scores``/``met`` inside compiled
    steps (TensorFlow ops; a query-only model runs on the host through ``tf.numpy_function``),
    ``predict`` outside them; ``program`` keeps compiled steps per configuration."""

    class_names: list[str]
    input_scale: float
    gradients: bool  # whether attacks may differentiate through the model itself
    surrogate: Classifier | None  # whose gradients the gradient stages follow instead

    @property
    def input_size(self) -> tuple[int, int]: ...

    @property
    def channels(self) -> int: ...

    @property
    def random(self) -> bool: ...

    def attack_batch(self, batch_size: int) -> int: ...

    def logits(self, counts: tf.Tensor, consts: dict | None = None) -> tf.Tensor: ...

    def scores(self, counts: tf.Tensor, consts: dict | None = None
               ) -> tuple[tf.Tensor, tf.Tensor]: ...

    def met(self, probs: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor: ...

    def predict(self, counts: np.ndarray, batch_size: int = 64) -> np.ndarray: ...

    def program(self, key: tuple, build: Callable[[], object]): ...


def attacked_by_gradient(classifier: Classifier) -> Classifier | None:
    """The model gradient stages run on: the model itself, its surrogate, or None (a
    query-only model without ``--surrogate``: gradient stages cannot run)."""
    if getattr(classifier, "surrogate", None) is not None:
        return classifier.surrogate
    return classifier if getattr(classifier, "gradients", True) else None


class ProgramCache:
    """The compiled attack steps a classifier keeps (in its ``programs`` dict), by config."""

    programs: dict

    def program(self, key: tuple, build: Callable[[], object]):
        """The compiled attack step ``key`` names, built on first use and kept: the sweep, the
        trust checks and the main attack share traced steps instead of tracing their own."""
        if key not in self.programs:
            self.programs[key] = build()
        return self.programs[key]


@dataclass(eq=False)
class ModelClassifier(ProgramCache):
    """The shared implementation of ``Classifier``. A model source subclasses it and
    implements ``_forward`` (one batch of model inputs to outputs of kind ``_forward_kind``)
    and ``fingerprint``; the rest — scaling, logits from any output kind, EOT draws, votes, a
    channel in front, a surrogate — is the same for every source.

    ``draws`` and ``votes`` are 1 for a deterministic model; a model random at inference
    (``randomised``) is attacked through the average of ``draws`` evaluations (EOT) and
    predicts by the majority of ``votes`` fresh draws."""

    class_names: list[str]
    input_shape: tuple[int, int, int]  # height, width, channels of one photo
    input_scale: float = 1.0
    output_kind: str = SOFTMAX
    logits_source: str = ""
    programs: dict = field(default_factory=dict, repr=False)  # compiled attack steps, by config
    draws: int = 1  # evaluations averaged per attack step (EOT)
    votes: int = 1  # fresh draws a prediction is the majority of
    channel: object = None  # an audit.channels.Channel every image goes through first
    surrogate: Classifier | None = None  # gradient stages run on it (--surrogate)
    _predict_fn: object = field(default=None, repr=False)

    source: ClassVar[str] = "model"  # the adapter's name, recorded in the manifest
    gradients: ClassVar[bool] = True
    on_host: ClassVar[bool] = False  # run by its own runtime outside TensorFlow (no XLA)

    def _forward(self, x: tf.Tensor) -> tf.Tensor:
        """The model's outputs for inputs already scaled to what it expects."""
        raise NotImplementedError

    @property
    def _forward_kind(self) -> str:
        """What ``_forward`` returns: ``output_kind``, or LOGITS where the source found them."""
        return self.output_kind

    @property
    def logits_split(self) -> bool:
        """Whether the attacks see the model's own pre-activation logits."""
        return self._forward_kind in (LOGITS, BINARY_LOGIT) or self.output_kind == LOGITS

    def _fresh(self, **changes) -> ModelClassifier:
        """The same model with ``changes``, and nothing compiled for the old settings."""
        return replace(self, _predict_fn=None, programs={}, **changes)

    def randomised(self, draws: int = EOT_DRAWS) -> ModelClassifier:
        """The same model known to be random at inference: attacks see the mean of ``draws``
        evaluations (EOT), predictions are the majority of ``VOTES`` fresh draws."""
        return self._fresh(draws=int(draws), votes=VOTES)

    def behind(self, channel) -> ModelClassifier:
        """The model behind a channel (``--channel``: JPEG, resizing): every image it is shown
        first goes through the channel, as an uploaded photo would. The forward pass runs the
        real, deterministic codec (``audit.channels``) on the image rounded to the grid; the
        backward pass takes the channel as the identity (BPDA, Athalye, Carlini & Wagner 2018),
        so gradient attacks optimise through it and query attacks simply see it."""
        surrogate = self.surrogate.behind(channel) if self.surrogate is not None else None
        return self._fresh(channel=channel, surrogate=surrogate)

    def with_surrogate(self, surrogate: Classifier) -> ModelClassifier:
        """The model whose gradient stages follow ``surrogate`` (``--surrogate``); every flip
        found there is confirmed on this model before it counts (``audit.attacks.cascade``)."""
        return self._fresh(surrogate=surrogate)

    @property
    def plain(self) -> ModelClassifier | None:
        """The model without its channel (re-checks through other channels use it); None when
        there is no channel."""
        if self.channel is None:
            return None
        cached = self.__dict__.get("_plain")
        if cached is None:
            cached = self.__dict__["_plain"] = self._fresh(channel=None, surrogate=None)
        return cached

    @property
    def random(self) -> bool:
        return self.votes > 1

    def attack_batch(self, batch_size: int) -> int:
        """Photos per attack batch: EOT evaluates each photo ``draws`` times in one batch, so the
        batch holds fewer photos and the model sees as many images per step (and as much
        memory) as with ``--batch-size`` on a deterministic model."""
        return max(1, -(-int(batch_size) // self.draws))

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.input_shape[0]), int(self.input_shape[1])

    @property
    def channels(self) -> int:
        return int(self.input_shape[2])

    def _seen(self, counts: tf.Tensor) -> tf.Tensor:
        """What the model is shown of ``counts``: the image, or the image after the channel
        (forward through the codec, backward as the identity)."""
        channel = self.channel
        if channel is None:
            return counts

        def run(x: np.ndarray) -> np.ndarray:
            grid = np.clip(np.round(x), 0, 255).astype(np.uint8)
            return channel.batch(grid).astype(np.float32)

        after = tf.numpy_function(run, [counts], tf.float32, stateful=False)
        after.set_shape(counts.shape)
        return counts + tf.stop_gradient(after - counts)

    def _one_draw(self, counts: tf.Tensor) -> tf.Tensor:
        """Class logits of one evaluation, always in inference mode."""
        out = self._forward(counts * (self.input_scale / 255.0))
        kind = self._forward_kind
        if kind == SOFTMAX:
            z = tf.math.log(tf.maximum(out, 1e-30))
        elif kind == SIGMOID:
            p = tf.clip_by_value(out, 1e-7, 1 - 1e-7)
            z = tf.math.log(p) - tf.math.log1p(-p)
        else:
            z = out
        if self.output_kind in TWO_CLASS_KINDS:  # one unit is the two logits [0, z]
            z = tf.concat([tf.zeros_like(z[:, :1]), z[:, :1]], axis=1)
        return z

    def _draws(self, seen: tf.Tensor) -> tf.Tensor:
        """[draws, B, classes]: ``draws`` evaluations of every image, in one batch."""
        if self.draws == 1:
            return self._one_draw(seen)[None]
        z = self._one_draw(tf.tile(seen, [self.draws] + [1] * (len(seen.shape) - 1)))
        return tf.reshape(z, [self.draws, tf.shape(seen)[0], len(self.class_names)])

    def logits(self, counts: tf.Tensor, consts: dict | None = None) -> tf.Tensor:
        """Class logits for images given in counts (0..255); for a randomised model the mean of
        ``draws`` evaluations, so every loss, margin and gradient is the expectation's (EOT).

        ``consts`` are the per-sample constants of an attack (unused here; a wrapped model such
        as the trust panel's planted one reads its per-sample parameters from them)."""
        seen = self._seen(tf.convert_to_tensor(counts, tf.float32))
        return tf.reduce_mean(self._draws(seen), axis=0)

    def scores(self, counts: tf.Tensor, consts: dict | None = None
               ) -> tuple[tf.Tensor, tf.Tensor]:
        """(logits, probabilities) of one attack evaluation: losses and margins use the logits,
        ``met`` reads the goal from the probabilities. For a randomised model the logits are
        the draws' mean and the probabilities the share of draws voting for each class."""
        seen = self._seen(tf.convert_to_tensor(counts, tf.float32))
        z = self._draws(seen)
        if not self.random:
            return z[0], tf.nn.softmax(z[0], axis=-1)
        shares = tf.one_hot(tf.argmax(z, axis=-1), len(self.class_names), dtype=tf.float32)
        return tf.reduce_mean(z, axis=0), tf.reduce_mean(shares, axis=0)

    def met(self, probs: tf.Tensor, label: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
        """Whether an attack evaluation meets the goal. A randomised model's must be decisive:
        at least ``DECISIVE`` of its draws meet it, so an attack does not stop where a fresh
        majority vote would be a coin toss (the first point past the boundary of the mean)."""
        if not self.random:
            return succeeded(probs, label, target)
        share = tf.where(target >= 0, tf.gather(probs, tf.maximum(target, 0), batch_dims=1),
                         1.0 - tf.gather(probs, label, batch_dims=1))
        return share >= DECISIVE - 1e-6

    def probabilities(self, counts: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(self.logits(counts), axis=-1)

    def predict(self, counts: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities for uint8/float count images, batched, as numpy; for a
        randomised model the share of ``votes`` fresh draws predicting each class (its
        prediction is the majority: the argmax)."""
        if self._predict_fn is None:
            # one trace for every batch size: the last, shorter batch costs no second trace
            self._predict_fn = tf.function(
                self.probabilities if not self.random else self._vote, autograph=False,
                input_signature=[tf.TensorSpec([None, *self.input_shape], tf.float32)])
        fn = self._predict_fn
        out = [
            fn(tf.constant(counts[i : i + batch_size], tf.float32)).numpy()
            for i in range(0, len(counts), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def _vote(self, counts: tf.Tensor) -> tf.Tensor:
        """Vote shares over ``votes`` single draws, one draw at a time (memory of one batch)."""
        seen = self._seen(counts)
        n = len(self.class_names)
        total = tf.zeros([tf.shape(seen)[0], n])
        for _ in range(self.votes):
            total += tf.one_hot(tf.argmax(self._one_draw(seen), axis=-1), n)
        return total / float(self.votes)


def checked_classes(n_classes: int, class_names: list[str] | None) -> list[str]:
    """The class names for a model with ``n_classes`` outputs (``class_i`` when none are
    given); ValueError when the count does not fit."""
    if class_names and len(class_names) != n_classes:
        raise ValueError(f"{len(class_names)} class names given for a model with "
                         f"{n_classes} classes")
    return list(class_names) if class_names else [f"class_{i}" for i in range(n_classes)]


def single_output_kind(kind: str, n_out: int, visible: bool, binary_logit: bool) -> str:
    """One output unit is a classifier only as a sigmoid probability or a binary logit; a
    linear unit is as likely a regression score, and attacking it as a one-class classifier
    can never flip anything (a green result for a model that was never tested)."""
    if n_out != 1:
        if binary_logit:
            raise ModelError(f"--binary-logit is for a model with one output unit; this one has "
                             f"{n_out}: drop --binary-logit")
        return kind
    if binary_logit:
        if kind == SIGMOID and visible:
            raise ModelError("the single output is a sigmoid probability, not a logit: drop "
                             "--binary-logit (it is attacked as the logits [0, z] anyway)")
        return BINARY_LOGIT
    if kind == SIGMOID:
        return kind
    raise ModelError("the single output is linear (a regression score?), not class scores; "
                     "if it is the logit of a binary classifier, pass --binary-logit")


def output_kind_of(out: np.ndarray) -> str:
    """The kind of outputs a model gave on random inputs: probabilities or logits."""
    in_unit = np.all(out >= 0) and np.all(out <= 1)
    if out.shape[-1] == 1 and in_unit:
        return SIGMOID
    if in_unit and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3):
        return SOFTMAX
    return LOGITS
