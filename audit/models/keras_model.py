"""Keras models (``.keras``, ``.h5``, SavedModel folders, victims, ``hf://``, a ``keras.Model``
in memory) as a ``Classifier``: the one place in ``audit/`` that knows Keras.

The final layer is read without running the model: a softmax or sigmoid whose input can be cut
from the graph gives the pre-activation logits (a margin on saturated probabilities has a
vanishing gradient); otherwise the outputs are probed and log-probabilities are used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from ..classifier import (
    LOGITS,
    SIGMOID,
    SOFTMAX,
    TWO_CLASS_KINDS,
    ModelClassifier,
    checked_classes,
    output_kind_of,
    single_output_kind,
)
from ..errors import ModelError


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


def is_model(obj) -> bool:
    """Whether ``obj`` is a Keras model held in memory (the Python API accepts one)."""
    return isinstance(obj, keras.Model)


def weights_sha256(model: keras.Model) -> str:
    """A fingerprint of an in-memory model: its weights, in order."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def check_image_model(model: keras.Model, spec: str) -> None:
    """Refuse models advaudit cannot attack, before any photo is read."""
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise ModelError(f"{spec}: the model must have exactly one image input")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[-1] not in (1, 3) or None in shape[1:3]:
        raise ModelError(f"{spec}: input shape {shape} is not an image batch (N, H, W, 1|3) with "
                         "fixed height and width; advaudit attacks channels-last image models")
    out_shape = tuple(model.outputs[0].shape)
    if len(out_shape) != 2:
        raise ModelError(f"{spec}: output shape {out_shape} is not (N, classes)")


@dataclass(eq=False)
class KerasClassifier(ModelClassifier):
    """A Keras model: gradients through TensorFlow, logits cut from the graph where possible."""

    model: keras.Model | None = None
    _logits_fn: object = field(default=None, repr=False)

    source = "keras"

    @classmethod
    def from_model(
        cls, model: keras.Model, class_names: list[str] | None = None, input_scale: float = 1.0,
        *, binary_logit: bool = False,
    ) -> KerasClassifier:
        """Raises ValueError when ``class_names`` do not fit the model, ``ModelError`` when the
        model is not a classifier (one linear output) or ``binary_logit`` does not fit it."""
        kind, fn, how = _logits_head(model)
        visible = kind is not None
        if kind is None:
            kind = _probe_output_kind(model, input_scale)
            how = how if kind == LOGITS else how + "; outputs look like " + kind
        n_out = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else 2
        kind = single_output_kind(kind, n_out, visible, binary_logit)
        names = checked_classes(2 if kind in TWO_CLASS_KINDS else n_out, class_names)
        shape = tuple(int(d) for d in model.inputs[0].shape[1:4])
        clf = cls(names, shape, float(input_scale), kind, how, model=model, _logits_fn=fn)
        if fn is None and kind != LOGITS:
            clf.logits_source = how + " (using log-probabilities; margins are unchanged)"
        return clf

    @property
    def _forward_kind(self) -> str:
        return LOGITS if self._logits_fn is not None else self.output_kind

    def _forward(self, x: tf.Tensor) -> tf.Tensor:
        if self._logits_fn is not None:
            return self._logits_fn(x)
        return self.model(x, training=False)


def _probe_output_kind(model: keras.Model, input_scale: float) -> str:
    """Guess the output kind of a model whose final activation is not visible."""
    shape = [4, *[int(d) for d in model.inputs[0].shape[1:]]]
    x = tf.random.stateless_uniform(shape, seed=(1, 2)) * input_scale
    return output_kind_of(np.asarray(model(x, training=False)))
