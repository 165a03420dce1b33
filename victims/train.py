"""Reproducible training of the embedded ``catdog-mini`` victim.

    python -m victims.train --data ../shared/data/kaggle-dogs-vs-cats/train \
        --data ../shared/data/oxford-iiit-pet --exclude victims/samples \
        --test ../shared/data/kaggle-dogs-vs-cats/test --test victims/samples \
        --out victims/weights/catdog-mini.keras

Photos are read at 128x128 once and kept in memory as uint8; augmentation (flip, rotation, zoom,
translation, contrast) runs batched inside tf.data. The sidecar JSON next to the weights records
what was trained on and the measured accuracies.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import click
import numpy as np

from audit.images import load_photos

from .architectures import CLASS_NAMES, INPUT_SHAPE, catdog_mini


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_split(folders: tuple[str, ...], exclude_hashes: set[str]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for folder in folders:
        photos, _ = load_photos(Path(folder), INPUT_SHAPE[:2])
        for photo in photos:
            if photo.label not in CLASS_NAMES or _sha256(photo.path) in exclude_hashes:
                continue
            xs.append(photo.pixels)
            ys.append(CLASS_NAMES.index(photo.label))
    return np.stack(xs), np.asarray(ys, dtype=np.int32)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    probs = model.predict(x.astype("float32") / 255.0, batch_size=64, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == y))


@click.command()
@click.option("--data", multiple=True, required=True, help="Training folder (cat/, dog/ inside).")
@click.option("--exclude", multiple=True, help="Folder whose photos must not be trained on.")
@click.option("--test", multiple=True, help="Evaluation folder; accuracy is printed per folder.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .keras file.")
@click.option("--epochs", default=45, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=2e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
def main(data, exclude, test, out, epochs, batch_size, lr, seed) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    excluded = {_sha256(p) for folder in exclude for p in Path(folder).rglob("*.jpg")}
    x, y = load_split(data, excluded)
    click.echo(f"training on {len(x)} photos ({np.sum(y == 0)} cats, {np.sum(y == 1)} dogs)")

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

    ds = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2)
    )
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
        click.echo(f"accuracy on {folder}: {results[folder]['accuracy']:.4f} ({len(tx)} photos)")

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
        "sha256": _sha256(out_path),
    }
    out_path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    click.echo(f"saved {out_path} sha256={info['sha256']}")


if __name__ == "__main__":
    main()
