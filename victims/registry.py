"""The named victims and where their weights live."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from audit.errors import VictimError

from .architectures import CLASS_NAMES, kaggle_catdog, squeezed
from .model_files import load_model_file, sha256_of

PACKAGE_WEIGHTS = Path(__file__).parent / "weights"
SAMPLES_DIR = Path(__file__).parent / "samples"
DEFAULT_VICTIM = "catdog-mini"
KAGGLE_KERNEL = "uysimty/keras-cnn-dog-or-cat-classification"
KAGGLE_FILE = "model.h5"


def cache_dir() -> Path:
    """``$ADVAUDIT_CACHE``, else the platform's user cache folder."""
    env = os.environ.get("ADVAUDIT_CACHE")
    if env:
        path = Path(env).expanduser()
        if path.exists() and not path.is_dir():
            raise VictimError(f"ADVAUDIT_CACHE={env} is a file, not a folder: point it at a "
                              "folder (it is created if missing) or unset it")
        return path
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("advaudit"))


@dataclass(frozen=True)
class Victim:
    name: str
    description: str
    class_names: tuple[str, ...]
    input_scale: float
    weights_path: Callable[[], Path]
    builder: Callable[[], keras.Model] | None = None  # None: the file is a full model
    fetchable: bool = False  # 'advaudit victims fetch NAME' downloads its weights
    wrap: Callable[[keras.Model], keras.Model] | None = None  # a defence around the model

    def available(self) -> bool:
        return self.weights_path().exists()

    def load(self, weights: str | None = None) -> tuple[keras.Model, Path]:
        path = Path(weights) if weights else self.weights_path()
        if not path.exists():
            if weights:
                raise VictimError(f"weights file {path} does not exist")
            raise VictimError(
                f"{self.name} weights are not cached at {path}: run 'advaudit victims fetch "
                f"{self.name}' (needs Kaggle credentials) or pass --weights FILE"
            )
        if self.builder is None:
            model = load_model_file(path)
            return (self.wrap(model) if self.wrap else model), path
        if not weights:
            verify_recorded_hash(path)
        model = self.builder()
        try:
            model.load_weights(path)
        except Exception as exc:
            text = " ".join(str(exc).split())[:160]
            raise VictimError(
                f"{path} does not hold {self.name} weights ({type(exc).__name__}: {text}); "
                f"pass the notebook's model.h5 with --weights"
            ) from None
        return model, path


def recorded_hash_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def verify_recorded_hash(path: Path) -> None:
    """A cached download must still be the file that was fetched (no silent corruption)."""
    record = recorded_hash_file(path)
    if not record.exists():
        return
    try:
        expected = json.loads(record.read_text())["sha256"]
        if not (isinstance(expected, str) and len(expected) == 64):
            raise ValueError("no SHA-256 in it")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not the JSON record advaudit wrote"
        raise VictimError(f"the hash record {record} is corrupt ({reason}): delete it and "
                          f"{path}, then run 'advaudit victims fetch' again") from None
    actual = sha256_of(path)
    if actual != expected:
        raise VictimError(
            f"{path} has SHA-256 {actual[:12]}... but {expected[:12]}... was recorded when it "
            f"was fetched: delete it and run 'advaudit victims fetch' again"
        )


VICTIMS: dict[str, Victim] = {
    "catdog-mini": Victim(
        "catdog-mini",
        "compact Conv-BN-Pool cat/dog CNN trained by advaudit, shipped with the package",
        CLASS_NAMES,
        1.0,
        lambda: PACKAGE_WEIGHTS / "catdog-mini.keras",
    ),
    "catdog-mini-squeezed": Victim(
        "catdog-mini-squeezed",
        "catdog-mini behind a 4-bit colour-depth squeezer (feature squeezing, Xu et al. 2018): "
        "a defended model whose input gradient is exactly zero, which Square still breaks",
        CLASS_NAMES,
        1.0,
        lambda: PACKAGE_WEIGHTS / "catdog-mini.keras",
        wrap=squeezed,
    ),
    "kaggle-catdog": Victim(
        "kaggle-catdog",
        f"Kaggle notebook {KAGGLE_KERNEL} CNN (12.9M parameters), fetched with the Kaggle API",
        CLASS_NAMES,
        1.0,
        lambda: cache_dir() / "kaggle-catdog" / KAGGLE_FILE,
        kaggle_catdog,
        fetchable=True,
    ),
}
