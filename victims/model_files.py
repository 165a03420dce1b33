"""Model files on disk: hashing them and loading any saved Keras model (``.keras``, ``.h5``,
SavedModel folder), with every failure a one-line ``ModelError`` that says what to do instead.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import keras
import tensorflow as tf

from audit.errors import ModelError
from audit.models.keras_model import select_output

from .graph_scan import describe, scan_saved_model


def sha256_of(path: Path) -> str:
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def check_saved_model_ops(path: Path) -> None:
    """Refuse a SavedModel whose graphs touch files, run Python or talk to other processes:
    loading and calling it would run those ops (``victims.graph_scan``)."""
    try:
        findings = scan_saved_model(path)
    except Exception as exc:
        text = " ".join(str(exc).split())[:160]
        raise ModelError(f"{path}: saved_model.pb cannot be read ({type(exc).__name__}: {text});"
                         " re-export the model with model.export() or save it as .keras") \
            from None
    if findings:
        raise ModelError(f"{path}: the SavedModel's graph holds ops a classifier does not need "
                         f"and loading it would run them: {describe(findings)}; re-export it "
                         "without them, or pass --unsafe-load if you trust the folder")


def _load_saved_model_dir(path: Path, output: str | None = None) -> keras.Model:
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
        if output is not None:
            if output not in out:
                raise ModelError(f"--output {output!r} is not an output of {path}; its outputs "
                                 f"are {', '.join(out)}")
            out = out[output]
        elif len(out) != 1:
            raise ModelError(f"{path}: SavedModel has {len(out)} outputs ({', '.join(out)}): "
                             "pick the one with class scores with --output NAME")
        else:
            out = next(iter(out.values()))
    return keras.Model(inputs, out, name=path.name)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    """The HDF5 signature at offset 0, 512, 1024, 2048, ... (after an optional user block)."""
    with open(path, "rb") as fh:
        offset = 0
        while True:
            fh.seek(offset)
            head = fh.read(8)
            if head == HDF5_SIGNATURE:
                return True
            if len(head) < 8:
                return False
            offset = 512 if offset == 0 else offset * 2


def _check_container(path: Path) -> None:
    """A corrupt file should say so, not 'File not found' (Keras's words for a non-zip)."""
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a valid .keras file (not a zip archive; truncated or "
                         "another format?): re-save the model with model.save('model.keras')")
    if path.suffix in (".h5", ".hdf5") and not _is_hdf5(path):
        raise ModelError(f"{path} is not a valid HDF5 file (truncated or another format?): "
                         "re-save the model with model.save('model.keras')")


def load_model_file(path: Path, unsafe: bool = False, *, victim_names: tuple[str, ...] = (),
                    output: str | None = None) -> keras.Model:
    """Load a full model; safe_mode stays on and SavedModel graphs are scanned unless the user
    vouches for the file. ``output`` picks one head of a model with several outputs."""
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
            if not unsafe:
                check_saved_model_ops(path)
            return _load_saved_model_dir(path, output)
        if path.suffix not in (".keras", ".h5", ".hdf5"):
            raise ModelError(f"{path}: unknown model format {path.suffix!r}; save the model "
                             "with model.save('model.keras')")
        _check_container(path)
        model = keras.models.load_model(path, compile=False, safe_mode=not unsafe)
    except ModelError:
        raise
    except Exception as exc:
        text = " ".join(str(exc).split())
        if "TFSMLayer" in text:
            raise ModelError(f"{path} wraps a TFSMLayer, which loads an external SavedModel and "
                             "runs its graph; if you trust both files, pass --unsafe-load") \
                from None
        if "safe_mode" in text or "Lambda" in text:
            raise ModelError(f"{path} needs unsafe deserialisation (it contains a Lambda layer "
                             "or custom code); if you trust the file, pass --unsafe-load") from None
        if "weights" in text.lower() and path.suffix in (".h5", ".hdf5") and "model_config" in text:
            raise ModelError(f"{path} holds weights only, not a model; use a victim name with "
                             "--weights FILE, or save the full model") from None
        raise ModelError(f"{path} could not be loaded as a Keras model "
                         f"({type(exc).__name__}: {text[:160]}); re-save it with Keras 3 as "
                         ".keras") from None
    try:
        return select_output(model, output)
    except ValueError as exc:
        raise ModelError(f"{path}: {exc}") from None
