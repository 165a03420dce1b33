"""Shared fixtures: a tiny trained classifier and photo folders (helpers in ``support``)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support.models import ramp_images, train_tiny, write_photo_folder  # noqa: E402


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path_factory, monkeypatch) -> Path:
    """Every test runs in an empty folder of its own: no test reads what an earlier command
    (a user's `advaudit audit` in the checkout, say) left in the working directory, and none
    leaves anything there."""
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture(scope="session")
def tiny_model() -> keras.Model:
    return train_tiny()


@pytest.fixture(scope="session")
def tiny_model_file(tiny_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_data() -> tuple[np.ndarray, np.ndarray]:
    return ramp_images(24, np.random.default_rng(123))


@pytest.fixture()
def photo_folder(tmp_path) -> Path:
    return write_photo_folder(tmp_path / "photos")
