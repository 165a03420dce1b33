"""Model sources: each turns one kind of saved model into a ``audit.classifier.Classifier``.

- ``keras_model``: Keras models (gradients; the only module of ``audit/`` that imports Keras);
- ``host``: the shared part of models run by their own runtime (query-only);
- ``tflite_model``: TFLite / LiteRT files, float or quantised;
- ``onnx_model``: ONNX files through onnxruntime (``advaudit[onnx]``);
- ``sources``: which adapter a file goes to (one line per source);
- ``preflight``: the checks every model goes through before an attack.
"""
