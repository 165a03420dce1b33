"""Shared fixtures: a tiny trained classifier (seconds to train) and photo folders on disk."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

SIZE = 16


def ramp_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 brightens left to right, class 1 right to left, plus noise: learnable in seconds,
    yet a few counts per pixel along the gradient sign flip it."""
    ramp = np.linspace(118, 138, SIZE, dtype=np.float32)
    labels = rng.integers(0, 2, n)
    x = np.empty((n, SIZE, SIZE, 3), np.float32)
    for i, y in enumerate(labels):
        row = ramp if y == 0 else ramp[::-1]
        x[i] = row[None, :, None] + rng.normal(0, 20, (SIZE, SIZE, 3))
    return np.clip(np.round(x), 0, 255), labels.astype(np.int32)


def build_tiny(channels: int = 3, head: str = "softmax") -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, channels))
    h = keras.layers.Conv2D(6, 3, strides=2, activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    if head == "sigmoid":
        out = keras.layers.Dense(1, activation="sigmoid")(h)
    elif head == "logits":
        out = keras.layers.Dense(2)(h)
    else:
        out = keras.layers.Dense(2, activation="softmax")(h)
    return keras.Model(inputs, out)


def train_tiny(channels: int = 3, head: str = "softmax", seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    x, y = ramp_images(512, np.random.default_rng(seed))
    if channels == 1:
        x = x.mean(axis=-1, keepdims=True).round()
    model = build_tiny(channels, head)
    if head == "sigmoid":
        loss, target = "binary_crossentropy", y.astype(np.float32)
    elif head == "logits":
        loss, target = keras.losses.SparseCategoricalCrossentropy(from_logits=True), y
    else:
        loss, target = "sparse_categorical_crossentropy", y
    model.compile(keras.optimizers.Adam(0.01), loss)
    model.fit(x / 255.0, target, epochs=15, batch_size=64, verbose=0)
    return model


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


def write_photo_folder(root: Path, n: int = 12, seed: int = 7) -> Path:
    x, y = ramp_images(n, np.random.default_rng(seed))
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = root / ("cat" if label == 0 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"img_{i}.png")
    return root


@pytest.fixture()
def photo_folder(tmp_path) -> Path:
    return write_photo_folder(tmp_path / "photos")
