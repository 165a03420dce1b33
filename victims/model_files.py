"""Model files on disk: hashing them and loading any saved Keras model (``.keras``, ``.h5``,
SavedModel folder), with every failure a one-line ``ModelError`` that says what to do instead.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import keras
import tensorflow as tf

from audit.errors import ModelError


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


def load_model_file(path: Path, unsafe: bool = False, *,
                    victim_names: tuple[str, ...] = ()) -> keras.Model:
    """Load a full model; safe_mode stays on unless the user vouches for the file."""
    path = Path(path)
    if not path.exists():
        names = f" ({', '.join(victim_names)})" if victim_names else ""
        raise ModelError(f"model {path} does not exist: pass a .keras/.h5 file, a SavedModel "
                         f"folder, or a victim name{names}")
    try:
        if path.is_dir():
            if (path / "config.json").exists() and not (path / "saved_model.pb").exists():
                # Keras's folder layout (config.json + model.weights.h5), as on the Hub
                return keras.models.load_model(path, compile=False, safe_mode=not unsafe)
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
