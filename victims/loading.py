"""Turning whatever the user names (a victim name, a .keras/.h5 file, a SavedModel folder) into
a ``Classifier`` — with every failure a one-line ``ModelError`` that says what to do instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from audit.classifier import Classifier
from audit.errors import ModelError

from . import registry


@dataclass
class LoadedVictim:
    classifier: Classifier
    name: str
    path: str
    sha256: str


def sha256_of(path: Path) -> str:
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _load_saved_model_dir(path: Path) -> keras.Model:
    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures.get("serving_default")
    if sig is None:
        raise ModelError(f"{path}: SavedModel has no 'serving_default' signature; re-export it "
                         "with model.export() or save it as .keras")
    (spec,) = sig.structured_input_signature[1].values()
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    inputs = keras.Input(shape=spec.shape[1:], name="image")
    out = layer(inputs)
    if isinstance(out, dict):
        if len(out) != 1:
            raise ModelError(f"{path}: SavedModel has {len(out)} outputs; advaudit needs one "
                             "(class scores)")
        out = next(iter(out.values()))
    return keras.Model(inputs, out, name=path.name)


def load_model_file(path: Path, unsafe: bool = False) -> keras.Model:
    """Load a full model; safe_mode stays on unless the user vouches for the file."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model {path} does not exist: pass a .keras/.h5 file, a SavedModel "
                         f"folder, or a victim name ({', '.join(registry.VICTIMS)})")
    try:
        if path.is_dir():
            if not (path / "saved_model.pb").exists():
                raise ModelError(f"{path} is a folder without saved_model.pb: pass a .keras or "
                                 ".h5 file or a SavedModel folder")
            return _load_saved_model_dir(path)
        if path.suffix not in (".keras", ".h5", ".hdf5"):
            raise ModelError(f"{path}: unknown model format {path.suffix!r}; save the model "
                             "with model.save('model.keras')")
        return keras.models.load_model(path, compile=False, safe_mode=not unsafe)
    except ModelError:
        raise
    except Exception as exc:
        text = " ".join(str(exc).split())
        if "safe_mode" in text or "Lambda" in text:
            raise ModelError(f"{path} needs unsafe deserialisation (it contains a Lambda layer "
                             "or custom code); if you trust the file, pass --unsafe-load") from None
        if "weights" in text.lower() and path.suffix in (".h5", ".hdf5") and "model_config" in text:
            raise ModelError(f"{path} holds weights only, not a model; use a victim name with "
                             "--weights FILE, or save the full model") from None
        raise ModelError(f"{path} could not be loaded as a Keras model "
                         f"({type(exc).__name__}: {text[:160]}); re-save it with Keras 3 as "
                         ".keras") from None


def load_victim(
    spec: str | None,
    weights: str | None = None,
    labels: list[str] | None = None,
    input_scale: float | None = None,
    unsafe: bool = False,
) -> LoadedVictim:
    """A victim name (default ``catdog-mini``) or a model path, as a ready Classifier."""
    spec = spec or registry.DEFAULT_VICTIM
    if spec in registry.VICTIMS:
        victim = registry.VICTIMS[spec]
        model, path = victim.load(weights)
        names = labels or list(victim.class_names)
        scale = input_scale if input_scale is not None else victim.input_scale
    else:
        if weights:
            raise ModelError(f"--weights goes with a victim name ({', '.join(registry.VICTIMS)}),"
                             f" not with the model file {spec}")
        path = Path(spec)
        model = load_model_file(path, unsafe)
        names = labels
        scale = input_scale if input_scale is not None else 1.0
    check_image_model(model, spec)
    try:
        clf = Classifier.from_model(model, names, scale)
    except ValueError as exc:
        raise ModelError(f"{spec}: {exc}; pass one --labels name per class, in output order")\
            from None
    return LoadedVictim(clf, spec if spec in registry.VICTIMS else Path(spec).name, str(path),
                        sha256_of(Path(path)))


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
