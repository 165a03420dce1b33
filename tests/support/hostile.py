"""Hostile and awkward inputs, generated in milliseconds: decompression bombs, 16-bit and
rotated photos, models that are not what they claim (a SavedModel that writes files, a
regression head, several heads, NaN outputs, inputs smaller than SSIM's window)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from .models import SIZE


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def huge_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit grayscale PNG of ``width`` x ``height`` black pixels: a few kB to a few
    hundred kB on disk, however many pixels it declares (zlib compresses zero rows ~1000:1)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body)
                     + _chunk(b"IEND", b""))
    return path


def gray16_png(path: Path, values: np.ndarray) -> Path:
    """A 16-bit grayscale PNG holding ``values`` (uint16)."""
    Image.fromarray(np.asarray(values, np.uint16)).save(path)
    return path


def rotated_jpeg(path: Path, pixels: np.ndarray, orientation: int) -> Path:
    """A JPEG whose EXIF says how to turn ``pixels`` (stored as given) for display."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, quality=100, exif=exif.tobytes())
    return path


def file_writing_saved_model(folder: Path, victim_file: Path) -> Path:
    """A SavedModel whose serving function writes ``victim_file`` (tf.io.write_file) every time
    it classifies: a plain-looking model that runs file-system ops."""
    import tensorflow as tf

    class Writer(tf.Module):
        def __init__(self):
            super().__init__()
            self.scale = tf.Variable(1.0)

        @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32)])
        def serve(self, x):
            tf.io.write_file(str(victim_file), "written by the model")
            means = tf.reduce_mean(x, axis=[1, 2])[:, :2] * self.scale
            return {"scores": tf.nn.softmax(means)}

    module = Writer()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def _flat_head(inputs, units: int, activation=None, name: str | None = None):
    h = keras.layers.Flatten()(inputs)
    return keras.layers.Dense(units, activation=activation, name=name)(h)


def regression_model(path: Path) -> Path:
    """One linear output: a score, not class probabilities."""
    inputs = keras.Input((SIZE, SIZE, 3))
    keras.Model(inputs, _flat_head(inputs, 1)).save(path)
    return path


def two_head_model(path: Path) -> Path:
    """Heads 'species' (3 classes) and 'pet' (2 classes) on one trunk."""
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Flatten()(inputs)
    species = keras.layers.Dense(3, activation="softmax", name="species")(h)
    pet = keras.layers.Dense(2, activation="softmax", name="pet")(h)
    keras.Model(inputs, [species, pet]).save(path)
    return path


def nan_model(path: Path) -> Path:
    """A softmax classifier whose outputs are NaN for every input (inf * 0 on the way)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Rescaling(0.0)(keras.layers.Rescaling(np.inf)(inputs))
    keras.Model(inputs, _flat_head(h, 2, "softmax")).save(path)
    return path


def small_input_model(path: Path, side: int = 8) -> Path:
    """A classifier of ``side`` x ``side`` images, smaller than SSIM's 11x11 window."""
    inputs = keras.Input((side, side, 3))
    keras.Model(inputs, _flat_head(inputs, 2, "softmax")).save(path)
    return path
