"""advaudit: adversarial-robustness audits of Keras image classifiers and the TFLite and ONNX
files they ship as.

As a library (the command line is built on the same call)::

    import audit
    result = audit.run(model, images="photos/", eps=4)   # a keras.Model, a path or a name
    audit.run("model_int8.tflite", surrogate="model.keras")  # the file as shipped
    result            # in Jupyter: the verdict and the headline numbers
    result.summary["flip_rate"], result.images[0], result.to_html("report.html")

The public API is loaded on first use, so ``import audit`` stays cheap and does not start
TensorFlow before the command line has silenced it.

The files here are the ground floor (errors, fileio, paths, formatting, metrics, images,
classifier, version): they import nothing of advaudit above them. On top, each package says
what it may import: ``models`` (model sources: Keras, TFLite, ONNX; the preflight);
``engine``; ``attacks`` (on the engine); ``results`` (the contract); ``report`` and
``formats`` (views of results); ``pipeline`` (the audit, and ``audit.run``); ``cli`` (click,
exit codes). ``tests/test_layout.py`` holds these rules.
"""

from .version import __version__

__all__ = ["AuditConfig", "AuditResults", "__version__", "run"]


def __getattr__(name: str):
    if name in ("run", "AuditResults", "AuditConfig"):
        from .pipeline import api

        return getattr(api, name)
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
