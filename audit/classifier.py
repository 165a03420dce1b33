"""A Keras model seen as a classifier of uint8 photos: logits and probabilities from counts.

Attacks work in pixel counts (0..255). This wrapper owns the mapping to what the model expects
(``input_scale``: the value of a white pixel) and finds pre-softmax logits, because a margin on
saturated softmax outputs has a vanishing gradient (the classic source of false robustness).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import keras
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


def _activation_name(layer) -> str | None:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return getattr(act, "__name__", str(act))


def _logits_head(model: keras.Model):
    """(kind, logits_fn or None, how) from the final layer, without running the model.

    ``logits_fn`` maps model input to pre-activation outputs; None when the graph cannot be
    split, in which case the caller falls back to log-probabilities.
    """
    last = model.layers[-1]
    act = _activation_name(last)
    if act == "linear":  # visibly no activation: logits, whatever range the values fall in
        return LOGITS, None, f"final layer {last.name!r} has activation linear"
    if act not in ("softmax", "sigmoid"):
        return None, None, f"final layer {last.name!r} has activation {act or 'none'}"
    kind = SOFTMAX if act == "softmax" else SIGMOID
    try:
        feature_model = keras.Model(model.inputs, last.input)
    except Exception as exc:  # subclassed or multi-input models cannot be cut
        return kind, None, f"cannot cut the graph before {last.name!r} ({type(exc).__name__})"
    if isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        def fn(x):
            return feature_model(x, training=False)

        return kind, fn, f"inputs of final {type(last).__name__} layer {last.name!r}"
    if isinstance(last, keras.layers.Dense):
        def fn(x):
            h = feature_model(x, training=False)
            z = keras.ops.matmul(h, last.kernel)
            return z + last.bias if last.use_bias else z

        return kind, fn, f"pre-activation of final Dense layer {last.name!r}"
    return kind, None, f"final layer {type(last).__name__} cannot be split from its activation"


def output_names(model: keras.Model) -> list[str]:
    """Names of a model's outputs as Keras reports them (the output layers' names)."""
    outputs = list(getattr(model, "outputs", None) or [])
    try:
        names = [str(n) for n in model.output_names]
    except Exception:  # models without a static graph
        names = []
    return names if len(names) == len(outputs) else [f"output_{i}" for i in range(len(outputs))]


def select_output(model: keras.Model, name: str | None) -> keras.Model:
    """The model cut down to the one output ``name``, so that class names, the output kind and
    the logits all come from the head the user picked; a model with several outputs and no
    choice is refused rather than guessed (output 0 and the last layer need not be one head).
    """
    outputs = list(getattr(model, "outputs", None) or [])
    names = output_names(model)
    if len(outputs) <= 1:
        if name is not None and names and name != names[0]:
            raise ValueError(f"--output {name!r} does not exist: the model has one output "
                             f"({names[0]}); drop --output")
        return model
    if name is None:
        raise ValueError(f"the model has {len(outputs)} outputs ({', '.join(names)}): pick the "
                         "one with class scores with --output NAME")
    if name not in names:
        raise ValueError(f"--output {name!r} is not one of the model's outputs "
                         f"({', '.join(names)})")
    return keras.Model(model.inputs, outputs[names.index(name)], name=f"{model.name}_{name}")


class ProgramCache:
    """The compiled attack steps a classifier keeps (in its ``programs`` dict), by config."""

    programs: dict

    def program(self, key: tuple, build: Callable[[], object]):
        """The compiled attack step ``key`` names, built on first use and kept: the sweep, the
        trust checks and the main attack share traced steps instead of tracing their own."""
        if key not in self.programs:
            self.programs[key] = build()
        return self.programs[key]


@dataclass
class Classifier(ProgramCache):
    """The Keras model as the engine sees it. ``draws`` and ``votes`` are 1 for a deterministic
    model; a model random at inference (``randomised``) is attacked through the average of
    ``draws`` evaluations (EOT) and predicts by the majority of ``votes`` fresh draws."""

    model: keras.Model
    class_names: list[str]
    input_scale: float = 1.0
    output_kind: str = SOFTMAX
    logits_source: str = ""
    _logits_fn: object = field(default=None, repr=False)
    _predict_fn: object = field(default=None, repr=False)
    programs: dict = field(default_factory=dict, repr=False)  # compiled attack steps, by config
    draws: int = 1  # evaluations averaged per attack step (EOT)
    votes: int = 1  # fresh draws a prediction is the majority of

    @classmethod
    def from_model(
        cls, model: keras.Model, class_names: list[str] | None = None, input_scale: float = 1.0,
        *, binary_logit: bool = False,
    ) -> Classifier:
        """Raises ValueError when ``class_names`` do not fit the model, ``ModelError`` when the
        model is not a classifier (one linear output) or ``binary_logit`` does not fit it."""
        kind, fn, how = _logits_head(model)
        visible = kind is not None
        if kind is None:
            kind = _probe_output_kind(model, input_scale)
            how = how if kind == LOGITS else how + "; outputs look like " + kind
        n_out = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else 2
        kind = _single_output_kind(kind, n_out, visible, binary_logit)
        n_classes = 2 if kind in TWO_CLASS_KINDS else n_out
        if class_names and len(class_names) != n_classes:
            raise ValueError(f"{len(class_names)} class names given for a model with "
                             f"{n_classes} classes")
        names = list(class_names) if class_names else [f"class_{i}" for i in range(n_classes)]
        clf = cls(model, names, float(input_scale), kind, how, fn)
        if fn is None and kind != LOGITS:
            clf.logits_source = how + " (using log-probabilities; margins are unchanged)"
        return clf

    def _same_model(self, **changes) -> dict:
        """This classifier's fields with ``changes``, and nothing compiled for the old ones."""
        kept = {f.name: getattr(self, f.name) for f in fields(Classifier)}
        return {**kept, "_predict_fn": None, "programs": {}, **changes}

    def randomised(self, draws: int = EOT_DRAWS) -> Classifier:
        """The same model known to be random at inference: attacks see the mean of ``draws``
        evaluations (EOT), predictions are the majority of ``VOTES`` fresh draws."""
        return replace(self, draws=int(draws), votes=VOTES, _predict_fn=None, programs={})

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
        shape = self.model.inputs[0].shape
        return int(shape[1]), int(shape[2])

    @property
    def channels(self) -> int:
        return int(self.model.inputs[0].shape[-1])

    def _seen(self, counts: tf.Tensor) -> tf.Tensor:
        """What the model is shown of ``counts`` (a channel in between, say)."""
        return counts

    def _one_draw(self, counts: tf.Tensor) -> tf.Tensor:
        """Class logits of one evaluation, always in inference mode."""
        x = counts * (self.input_scale / 255.0)
        if self._logits_fn is not None:
            z = self._logits_fn(x)
        else:
            out = self.model(x, training=False)
            if self.output_kind == SOFTMAX:
                z = tf.math.log(tf.maximum(out, 1e-30))
            elif self.output_kind == SIGMOID:
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
            self._predict_fn = tf.function(
                self.probabilities if not self.random else self._vote, reduce_retracing=True)
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


def _single_output_kind(kind: str, n_out: int, visible: bool, binary_logit: bool) -> str:
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


def _probe_output_kind(model: keras.Model, input_scale: float) -> str:
    """Guess the output kind of a model whose final activation is not visible."""
    shape = [4, *[int(d) for d in model.inputs[0].shape[1:]]]
    x = tf.random.stateless_uniform(shape, seed=(1, 2)) * input_scale
    out = np.asarray(model(x, training=False))
    in_unit = np.all(out >= 0) and np.all(out <= 1)
    if out.shape[-1] == 1 and in_unit:
        return SIGMOID
    if in_unit and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3):
        return SOFTMAX
    return LOGITS


@dataclass(eq=False)
class ChannelClassifier(Classifier):
    """The model behind a channel (``--channel``: JPEG, resizing): every image it is shown
    first goes through the channel, as an uploaded photo would. The forward pass runs the real,
    deterministic codec (``audit.channels``) on the image rounded to the grid; the backward
    pass takes the channel as the identity (BPDA, Athalye, Carlini & Wagner 2018), so gradient
    attacks optimise through it and query attacks simply see it. The audit, its deliverable
    check (the PNG read back, then the channel) and its trust checks all see this model."""

    channel: object = None  # an audit.channels.Channel

    @classmethod
    def behind(cls, clf: Classifier, channel) -> ChannelClassifier:
        return cls(**clf._same_model(), channel=channel)

    @property
    def plain(self) -> Classifier:
        """The model without the channel (the re-checks through other channels use it)."""
        cached = self.__dict__.get("_plain")
        if cached is None:
            cached = self.__dict__["_plain"] = Classifier(**self._same_model())
        return cached

    def _seen(self, counts: tf.Tensor) -> tf.Tensor:
        channel = self.channel

        def run(x: np.ndarray) -> np.ndarray:
            grid = np.clip(np.round(x), 0, 255).astype(np.uint8)
            return channel.batch(grid).astype(np.float32)

        after = tf.numpy_function(run, [counts], tf.float32, stateful=False)
        after.set_shape(counts.shape)
        return counts + tf.stop_gradient(after - counts)
