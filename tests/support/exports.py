"""Keras models exported as the artifacts teams ship: TFLite (float, int8) and ONNX.

Made by the tests themselves with TensorFlow's converter, tf2onnx and the ``onnx`` helper API:
no download. The int8 export is the usual full-integer one — uint8 input and output, inputs
0..1 quantised at 1/255 — calibrated on a representative set of photos.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def to_tflite(model: keras.Model, path: Path, *, int8_calibration: np.ndarray | None = None,
              input_scale: float = 1.0) -> Path:
    """``model`` as a .tflite file: float, or full-integer int8 calibrated on
    ``int8_calibration`` (photos in counts)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8_calibration is not None:
        x = np.asarray(int8_calibration, np.float32) * (input_scale / 255.0)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x[i:i + 1]] for i in range(len(x)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_bytes(converter.convert())
    return path


def to_onnx(model: keras.Model, path: Path) -> Path:
    """``model`` as an NHWC .onnx file, by tf2onnx (the converter the tests install)."""
    import tf2onnx

    shape = (None, *[int(d) for d in model.inputs[0].shape[1:]])
    spec = (tf.TensorSpec(shape, tf.float32, name="image"),)
    tf2onnx.convert.from_function(tf.function(lambda v: model(v, training=False)),
                                  input_signature=spec, opset=17, output_path=str(path))
    return path


def nchw_onnx(path: Path, weights: np.ndarray, *, size: int = 16, channels: int = 3,
              input_shape: list | None = None, input_type: int | None = None) -> Path:
    """A PyTorch-style channels-first classifier written with the ``onnx`` helper API: the mean
    of each channel, then a linear layer (``weights``: [channels, classes]) and a softmax.
    ``input_type`` other than float makes a model of integer tensors (cast inside)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = input_shape or ["N", channels, size, size]
    cast = [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT)] if input_type else []
    graph = helper.make_graph(
        [*cast, helper.make_node("ReduceMean", ["xf" if cast else "x"], ["m"], axes=[2, 3],
                                 keepdims=0),
         helper.make_node("MatMul", ["m", "w"], ["z"]),
         helper.make_node("Softmax", ["z"], ["p"], axis=1)],
        "nchw_mean_linear",
        [helper.make_tensor_value_info("x", input_type or TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", weights.shape[1]])],
        [numpy_helper.from_array(weights.astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def flat_onnx(path: Path, features: int = 48, classes: int = 2) -> Path:
    """A classifier of flat vectors (input [N, features]): a model, but not of images."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(features, classes)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["z"]),
         helper.make_node("Softmax", ["z"], ["p"], axis=1)], "flat",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
