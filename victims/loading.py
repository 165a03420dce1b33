"""Turning whatever the user names (a victim name, a .keras/.h5 file, a SavedModel folder) into
a ``Classifier`` — with every failure a one-line ``ModelError`` that says what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from audit.classifier import Classifier, select_output
from audit.errors import ModelError

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
        clf = Classifier.from_model(model, names, scale, binary_logit=binary_logit)
    except ModelError as exc:
        raise ModelError(f"{spec}: {exc}") from None
    except ValueError as exc:
        raise ModelError(f"{spec}: {exc}; pass one --labels name per class, in output order")\
            from None
    named = spec in registry.VICTIMS or hub.is_hub_spec(spec)
    return LoadedVictim(clf, spec if named else Path(spec).name, str(path),
                        sha256_of(Path(path)), source)


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
