"""A tiny trained classifier (seconds to train) and photo folders on disk, for the tests."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from victims.architectures import colour_depth_squeezer, squeezed  # noqa: F401

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


def write_photo_folder(root: Path, n: int = 12, seed: int = 7) -> Path:
    x, y = ramp_images(n, np.random.default_rng(seed))
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = root / ("cat" if label == 0 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"img_{i}.png")
    return root


class NoisyLogits(keras.layers.Layer):
    """Adds seeded Gaussian noise at inference: a model that is random where it must not be."""

    def __init__(self, stddev: float, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        return x + keras.random.normal(keras.ops.shape(x), stddev=self.stddev,
                                       seed=self.generator)


class Calls:
    """Rows a model saw: forward passes (with or without a gradient) and backward passes."""

    def __init__(self):
        self.forward = 0
        self.backward = 0


class CallCounter(keras.layers.Layer):
    """An identity layer that counts, at run time, the rows passing forward and backward through
    it: the ground truth an attack's own cost accounting is checked against."""

    def __init__(self, calls: Calls, **kwargs):
        super().__init__(**kwargs)
        self.calls = calls

    def _tally(self, kind: str):
        def add(rows):
            setattr(self.calls, kind, getattr(self.calls, kind) + int(rows))
            return np.float32(0)

        return add

    def compute_output_shape(self, input_shape):
        return input_shape

    def _zero(self, kind: str, rows: tf.Tensor) -> tf.Tensor:
        return tf.ensure_shape(tf.py_function(self._tally(kind), [rows], tf.float32), [])

    def call(self, x):
        @tf.custom_gradient
        def through(v):
            def grad(dy):
                return dy + self._zero("backward", tf.shape(dy)[0])

            return v + self._zero("forward", tf.shape(v)[0]), grad

        return through(x)


def counted(model: keras.Model) -> tuple[keras.Model, Calls]:
    """``model`` behind a ``CallCounter``, and the counts it keeps."""
    calls = Calls()
    inputs = keras.Input(tuple(model.inputs[0].shape[1:]))
    return keras.Model(inputs, model(CallCounter(calls)(inputs))), calls


@keras.saving.register_keras_serializable(package="advaudit_tests")
class RandomInvert(keras.layers.Layer):
    """A random layer at inference (not a training-only one): each image is shown inverted
    (x -> 1 - x) with probability ``rate``. On the ramp photos an inverted photo reads as the
    other class, so a single draw's gradient points the wrong way a ``rate`` of the time, while
    the majority of draws still classifies clean photos right: the case EOT exists for."""

    def __init__(self, rate: float = 0.35, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x):
        u = keras.random.uniform(keras.ops.shape(x)[:1], seed=self.generator)
        sign = keras.ops.where(u < self.rate, -1.0, 1.0)[:, None, None, None]
        return sign * (x - 0.5) + 0.5

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def randomly_inverted(model: keras.Model, rate: float = 0.35) -> keras.Model:
    """``model`` behind a ``RandomInvert`` layer: standard layers plus one random layer."""
    inputs = keras.Input(model.inputs[0].shape[1:])
    return keras.Model(inputs, model(RandomInvert(rate)(inputs)))
