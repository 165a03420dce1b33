"""Where model sources are chosen: a file's suffix names its adapter module in
``audit.models``; anything else (``.keras``, ``.h5``, a SavedModel folder, a victim name,
``hf://``) is a Keras model (``keras_model``). Adding a source is one module with a
``load(path, class_names, input_scale, *, binary_logit)`` and one line here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..classifier import ModelClassifier

QUERY_ONLY = {  # suffix -> adapter module: models advaudit can query but not differentiate
    ".tflite": "tflite_model",
    ".onnx": "onnx_model",
}


def file_source(spec: str) -> str | None:
    """The adapter module for a model file, or None for a Keras model."""
    return QUERY_ONLY.get(Path(spec).suffix.lower())


def load_file(spec: str, class_names: list[str] | None, input_scale: float | None, *,
              binary_logit: bool = False) -> ModelClassifier:
    """The model file ``spec`` through its adapter (``file_source`` must name one)."""
    from ..errors import ModelError

    path = Path(spec)
    if not path.is_file():
        raise ModelError(f"{spec}: no such model file; give the path of the .tflite/.onnx file")
    module = importlib.import_module(f"{__package__}.{file_source(spec)}")
    return module.load(path, class_names, 1.0 if input_scale is None else input_scale,
                       binary_logit=binary_logit)
