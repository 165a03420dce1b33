"""ONNX files (``model.onnx``, e.g. a PyTorch export) as a query-only ``Classifier``, run by
onnxruntime (the optional extra ``advaudit[onnx]``).

The input layout is read from the file: channels first (NCHW, PyTorch's) when dimension 1 is
1 or 3 and the last is not, channels last (NHWC) otherwise; photos are transposed to fit and
the preflight states which it found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .host import HostClassifier, image_shape

FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
               "tensor(float16)": np.float16}


@dataclass(eq=False)
class OnnxClassifier(HostClassifier):
    session: object = field(default=None, repr=False)
    layout: str = "NHWC"
    input_type: object = np.float32

    source = "onnx"

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.layout == "NCHW":
            x = np.transpose(x, (0, 3, 1, 2))
        name = self.session.get_inputs()[0].name
        return self.session.run(None, {name: np.ascontiguousarray(x, self.input_type)})[0]


def layout_of(shape: list) -> str:
    """NCHW when dimension 1 holds the channels and the last one cannot, else NHWC."""
    if len(shape) == 4 and shape[1] in (1, 3) and shape[3] not in (1, 3):
        return "NCHW"
    return "NHWC"


def load(path: Path, class_names: list[str] | None, input_scale: float, *,
         binary_logit: bool = False) -> OnnxClassifier:
    """The ONNX file at ``path``; every problem a one-line ModelError naming the file."""
    spec = str(path)
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError(f"{spec}: ONNX models need onnxruntime: pip install "
                         "'advaudit[onnx]'") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelError(f"{spec}: not a readable ONNX model ({first}); export it again "
                         "(torch.onnx.export, tf2onnx)") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or not outputs:
        raise ModelError(f"{spec}: the model has {len(inputs)} inputs; advaudit attacks models "
                         "with one image input")
    if inputs[0].type not in FLOAT_TYPES:
        raise ModelError(f"{spec}: input type {inputs[0].type} is not a float image tensor")
    dims = [d if isinstance(d, int) else None for d in inputs[0].shape]
    layout = layout_of(dims)
    shape = image_shape(dims, spec, layout=layout)
    out_dims = list(outputs[0].shape)
    if len(out_dims) != 2 or not isinstance(out_dims[1], int):
        raise ModelError(f"{spec}: output shape {tuple(out_dims)} is not (N, classes)")
    clf = OnnxClassifier(["?"], shape, float(input_scale), n_outputs=int(out_dims[1]),
                         session=session, layout=layout,
                         input_type=FLOAT_TYPES[inputs[0].type])
    clf.settle_outputs(class_names, spec=spec, binary_logit=binary_logit)
    clf.logits_source = (f"ONNX model on onnxruntime {ort.__version__}, input {layout}"
                         f"{' (photos transposed)' if layout == 'NCHW' else ''}: "
                         f"{clf.logits_source}")
    return clf
