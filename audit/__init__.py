"""advaudit: adversarial-robustness audits of Keras image classifiers.

As a library (the command line is built on the same call)::

    import audit
    result = audit.run(model, images="photos/", eps=4)   # a keras.Model, a path or a name
    result            # in Jupyter: the verdict and the headline numbers
    result.summary["flip_rate"], result.images[0], result.to_html("report.html")

The public API is loaded on first use, so ``import audit`` stays cheap and does not start
TensorFlow before the command line has silenced it.
"""

from .version import __version__

__all__ = ["AuditConfig", "AuditResults", "__version__", "run"]


def __getattr__(name: str):
    if name in ("run", "AuditResults", "AuditConfig"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
