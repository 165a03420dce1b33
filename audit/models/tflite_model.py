"""TFLite / LiteRT files (``model.tflite``), float or quantised, as a query-only ``Classifier``.

The interpreter is LiteRT's (``ai_edge_litert``, the maintained one: TensorFlow deprecated
``tf.lite.Interpreter`` in its favour); without that package TensorFlow's own interpreter is
used, and the preflight says which ran. A quantised model's input and output quantisation
are applied both ways — the photo in counts is scaled, divided by the input scale and shifted
by the zero point, and the outputs dequantised — so an attack still lives on the uint8 pixel
grid: for the usual int8 export (inputs 0..1 at scale 1/255) each count is one quantised step.
A quantised softmax's zero is a probability below half a step, not an infinitely small one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .host import HostClassifier, image_shape


def _interpreter_class() -> tuple[type, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "LiteRT (ai_edge_litert)"
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite.Interpreter (install ai-edge-litert for LiteRT)"


@dataclass(eq=False)
class TFLiteClassifier(HostClassifier):
    """One interpreter, resized to each batch size it is given."""

    interpreter: object = field(default=None, repr=False)
    runtime: str = ""
    quantised: bool = False

    source = "tflite"

    def _run(self, x: np.ndarray) -> np.ndarray:
        it = self.interpreter  # shared by this model's copies (behind a channel, say)
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        if int(inp["shape"][0]) != len(x):
            it.resize_tensor_input(inp["index"], [len(x), *self.input_shape])
            it.allocate_tensors()
        scale, zero = inp["quantization"]
        if scale:  # quantised input: the grid of counts maps onto its steps
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        it.set_tensor(inp["index"], x.astype(inp["dtype"]))
        it.invoke()
        y = it.get_tensor(out["index"]).astype(np.float32)
        scale, zero = out["quantization"]
        return (y - zero) * scale if scale else y


def load(path: Path, class_names: list[str] | None, input_scale: float, *,
         binary_logit: bool = False) -> TFLiteClassifier:
    """The TFLite file at ``path``; every problem a one-line ModelError naming the file."""
    spec = str(path)
    cls, runtime = _interpreter_class()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite's deprecation notice: the line says it
            it = cls(model_path=str(path))
            it.allocate_tensors()
    except (ValueError, RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{spec}: not a readable TFLite model ({first}); export it again with "
                         "tf.lite.TFLiteConverter") from None
    inputs, outputs = it.get_input_details(), it.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{spec}: the model has {len(inputs)} inputs and {len(outputs)} "
                         "outputs; advaudit attacks models with one image input and one output")
    shape = image_shape([int(d) for d in inputs[0]["shape"]], spec)
    if inputs[0]["dtype"] not in (np.float32, np.uint8, np.int8):
        raise ModelError(f"{spec}: input type {np.dtype(inputs[0]['dtype']).name} is not an "
                         "image (float32, uint8 or int8)")
    out_shape = [int(d) for d in outputs[0]["shape"]]
    if len(out_shape) != 2:
        raise ModelError(f"{spec}: output shape {tuple(out_shape)} is not (N, classes)")
    quantised = bool(inputs[0]["quantization"][0] or outputs[0]["quantization"][0])
    out_scale = float(outputs[0]["quantization"][0])
    kind = f"int8-quantised ({np.dtype(inputs[0]['dtype']).name} in)" if quantised else "float"
    clf = TFLiteClassifier(
        ["?"], shape, float(input_scale), logits_source="", n_outputs=out_shape[1],
        floor=out_scale / 2 if out_scale else 1e-30, interpreter=it,
        runtime=runtime, quantised=quantised)
    clf.settle_outputs(class_names, spec=spec, binary_logit=binary_logit)
    clf.logits_source = (f"{kind} TFLite model on {runtime}: {clf.logits_source}"
                         + (" (dequantised; log of probabilities floored at half a step)"
                            if quantised else ""))
    return clf
