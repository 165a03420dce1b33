"""Models run on the host by their own runtime (a TFLite interpreter, onnxruntime): the
shared part of every query-only source.

The attack programs are TensorFlow functions; a host model enters them through
``tf.numpy_function``, so query attacks (Square, Sparse-RS) run unchanged and no gradient
exists (``gradients = False``: the cascade leaves out the stages that need one, or runs them on
``--surrogate``). Runtimes are not thread-safe, so one lock serialises the calls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from ..classifier import (
    SOFTMAX,
    TWO_CLASS_KINDS,
    ModelClassifier,
    checked_classes,
    output_kind_of,
    single_output_kind,
)
from ..errors import ModelError


@dataclass(eq=False)
class HostClassifier(ModelClassifier):
    """A query-only model: ``_run`` maps a float32 batch (scaled inputs, NHWC) to outputs."""

    n_outputs: int = 2
    floor: float = 1e-30  # smallest probability kept before the log (a quantised zero)
    _lock: object = field(default_factory=threading.Lock, repr=False)

    gradients = False
    on_host = True

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward(self, x: tf.Tensor) -> tf.Tensor:
        def run(batch: np.ndarray) -> np.ndarray:
            with self._lock:
                out = np.asarray(self._run(np.ascontiguousarray(batch, np.float32)), np.float32)
            return np.maximum(out, self.floor) if self._forward_kind == SOFTMAX else out

        out = tf.numpy_function(run, [x], tf.float32, stateful=False)
        out.set_shape([x.shape[0], self.n_outputs])
        return out

    def settle_outputs(self, class_names: list[str] | None, *, spec: str,
                       binary_logit: bool = False) -> None:
        """Find the output kind from a few random inputs and check the class names: every
        source's last step, with the same one-line errors as a Keras model."""
        h, w, c = self.input_shape
        rng = np.random.default_rng(0)
        x = rng.random((4, h, w, c), np.float32) * self.input_scale
        with self._lock:
            out = np.asarray(self._run(x), np.float32)
        if out.ndim != 2 or out.shape[1] != self.n_outputs:
            raise ModelError(f"{spec}: output shape {out.shape} is not (N, classes)")
        kind = single_output_kind(output_kind_of(out), self.n_outputs, False, binary_logit)
        self.output_kind = kind
        self.logits_source = self.logits_source or f"outputs look like {kind}"
        n = 2 if kind in TWO_CLASS_KINDS else self.n_outputs
        try:
            self.class_names = checked_classes(n, class_names)
        except ValueError as exc:
            raise ModelError(f"{spec}: {exc}; pass one --labels name per class, in output "
                             "order") from None


def image_shape(shape, spec: str, *, layout: str = "NHWC") -> tuple[int, int, int]:
    """(height, width, channels) of a runtime's 4-D image input, or a one-line ModelError."""
    dims = list(shape)
    if len(dims) != 4:
        raise ModelError(f"{spec}: input shape {tuple(dims)} is not an image batch (N, H, W, "
                         "1|3): advaudit attacks image classifiers")
    h, w, c = (dims[2], dims[3], dims[1]) if layout == "NCHW" else (dims[1], dims[2], dims[3])
    if not all(isinstance(d, (int, np.integer)) and d > 0 for d in (h, w, c)) or c not in (1, 3):
        raise ModelError(f"{spec}: input shape {tuple(dims)} is not an image batch with fixed "
                         "height and width and 1 or 3 channels")
    return int(h), int(w), int(c)
