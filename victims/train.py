"""Reproducible training of the embedded ``catdog-mini`` victim.

    advaudit victims train --data ../shared/data/kaggle-dogs-vs-cats/train \
        --data ../shared/data/oxford-iiit-pet --exclude victims/samples \
        --test ../shared/data/kaggle-dogs-vs-cats/test --test victims/samples \
        --out victims/weights/catdog-mini.keras

Photos are read at 128x128 once and kept in memory as uint8; augmentation (flip, rotation, zoom,
translation, contrast) runs batched inside tf.data. The sidecar JSON next to the weights records
what was trained on and the measured accuracies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audit.images import load_photos

from .architectures import CLASS_NAMES, INPUT_SHAPE, catdog_mini
from .model_files import sha256_of


def load_split(folders: tuple[str, ...], exclude_hashes: set[str]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for folder in folders:
        photos, _ = load_photos(Path(folder), INPUT_SHAPE[:2])
        for photo in photos:
            if photo.label not in CLASS_NAMES or sha256_of(photo.path) in exclude_hashes:
                continue
            xs.append(photo.pixels)
            ys.append(CLASS_NAMES.index(photo.label))
    return np.stack(xs), np.asarray(ys, dtype=np.int32)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    probs = model.predict(x.astype("float32") / 255.0, batch_size=64, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == y))


def _augmented(x: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int):
    """The training stream: shuffled, flipped, rotated, zoomed, shifted and contrast-jittered
    batches with one-hot labels, seeded so a retrain gives the same weights."""
    import keras
    import tensorflow as tf

    augment = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.06, seed=seed),
            keras.layers.RandomZoom((-0.2, 0.1), seed=seed),
            keras.layers.RandomTranslation(0.1, 0.1, seed=seed),
            keras.layers.RandomContrast(0.2, seed=seed),
        ]
    )

    def prepare(images, labels):
        images = tf.cast(images, tf.float32) / 255.0
        return tf.clip_by_value(augment(images, training=True), 0.0, 1.0), tf.one_hot(labels, 2)

    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2)
    )


def train_catdog_mini(*, data: tuple[str, ...], exclude: tuple[str, ...] = (),
                      test: tuple[str, ...] = (), out: Path, epochs: int = 50,
                      batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
                      log: Callable[[str], None] = print) -> dict:
    """Train, evaluate on each ``test`` folder, save the weights and their record; returns the
    record written beside the weights."""
    import keras

    keras.utils.set_random_seed(seed)
    excluded = {sha256_of(p) for folder in exclude for p in Path(folder).rglob("*.jpg")}
    x, y = load_split(data, excluded)
    log(f"training on {len(x)} photos ({np.sum(y == 0)} cats, {np.sum(y == 1)} dogs)")
    ds = _augmented(x, y, batch_size=batch_size, seed=seed)
    steps = epochs * (len(x) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps, warmup_target=None, alpha=0.01)
    model = catdog_mini()
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.05),
        metrics=["accuracy"],
    )
    started = time.time()
    model.fit(ds, epochs=epochs, verbose=2)
    minutes = (time.time() - started) / 60

    results = {}
    for folder in test:
        tx, ty = load_split((folder,), set())
        results[folder] = {"n": int(len(tx)), "accuracy": round(accuracy(model, tx, ty), 4)}
        log(f"accuracy on {folder}: {results[folder]['accuracy']:.4f} ({len(tx)} photos)")

    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    shipped = catdog_mini()  # uncompiled copy: no optimizer state, a third of the file size
    shipped.set_weights(model.get_weights())
    shipped.save(out_path)
    info = {
        "architecture": "catdog_mini",
        "params": int(model.count_params()),
        "trained_on": list(data),
        "excluded": list(exclude),
        "n_train": int(len(x)),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "train_minutes": round(minutes, 1),
        "test": results,
        "sha256": sha256_of(out_path),
    }
    out_path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    log(f"saved {out_path} sha256={info['sha256']}")
    return info
