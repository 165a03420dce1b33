"""Turning whatever the user names (a victim name, a .keras/.h5 file, a SavedModel folder) into
a ``Classifier`` — with every failure a one-line ``ModelError`` that says what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit.classifier import Classifier
from audit.errors import ModelError
from audit.models import sources
from audit.models.keras_model import KerasClassifier, check_image_model, select_output

from . import hub, registry
from .model_files import load_model_file, sha256_of


@dataclass
class LoadedVictim:
    classifier: Classifier
    name: str
    path: str
    sha256: str
    source: dict | None = None  # where a downloaded model came from (hf://: repo, commit, files)


def load_victim(
    spec: str | None,
    weights: str | None = None,
    labels: list[str] | None = None,
    input_scale: float | None = None,
    unsafe: bool = False,
    *,
    output: str | None = None,
    binary_logit: bool = False,
) -> LoadedVictim:
    """A victim name (default ``catdog-mini``) or a model path, as a ready Classifier.

    ``output`` names the head to attack in a model with several outputs; ``binary_logit``
    vouches that a single linear output is the logit of a binary classifier."""
    spec = spec or registry.DEFAULT_VICTIM
    source = None
    if sources.file_source(spec) and spec not in registry.VICTIMS:
        return _query_only(spec, weights, labels, input_scale, output, binary_logit)
    if spec in registry.VICTIMS:
        victim = registry.VICTIMS[spec]
        model, path = victim.load(weights)
        try:
            model = select_output(model, output)
        except ValueError as exc:
            raise ModelError(f"{spec}: {exc}") from None
        names = labels or list(victim.class_names)
        scale = input_scale if input_scale is not None else victim.input_scale
    elif hub.is_hub_spec(spec):
        if weights:
            raise ModelError(f"--weights goes with a victim name, not with {spec}")
        got = hub.load_hub_model(spec, unsafe=unsafe, output=output)
        model, path, source = got.model, got.path, got.source
        names = labels
        scale = input_scale if input_scale is not None else 1.0
    else:
        if weights:
            raise ModelError(f"--weights goes with a victim name ({', '.join(registry.VICTIMS)}),"
                             f" not with the model file {spec}")
        path = Path(spec)
        model = load_model_file(path, unsafe, victim_names=tuple(registry.VICTIMS),
                                output=output)
        names = labels
        scale = input_scale if input_scale is not None else 1.0
    check_image_model(model, spec)
    try:
        clf = KerasClassifier.from_model(model, names, scale, binary_logit=binary_logit)
    except ModelError as exc:
        raise ModelError(f"{spec}: {exc}") from None
    except ValueError as exc:
        raise ModelError(f"{spec}: {exc}; pass one --labels name per class, in output order")\
            from None
    named = spec in registry.VICTIMS or hub.is_hub_spec(spec)
    return LoadedVictim(clf, spec if named else Path(spec).name, str(path),
                        sha256_of(Path(path)), source)


def _query_only(spec: str, weights: str | None, labels: list[str] | None,
                input_scale: float | None, output: str | None, binary_logit: bool
                ) -> LoadedVictim:
    """A TFLite or ONNX file through its adapter (``audit.models.sources``)."""
    for flag, given in (("--weights", weights), ("--output", output)):
        if given:
            raise ModelError(f"{flag} goes with a Keras model, not with {Path(spec).name}")
    clf = sources.load_file(spec, labels, input_scale, binary_logit=binary_logit)
    return LoadedVictim(clf, Path(spec).name, spec, sha256_of(Path(spec)))
