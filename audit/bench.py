"""Speed and cost measurements behind ``advaudit bench``: is the attack as fast as the model's
own gradient, and how cheap is an audit in gradient evaluations? Measured side by side in one
process, warm, on the same batch."""

from __future__ import annotations

import os
import time

import numpy as np
import tensorflow as tf

from . import engine
from .attacks import ATTACKS, Goal, RunSettings
from .classifier import Classifier
from .losses import margin
from .sweep import minimal_epsilon


def raw_gradient_rate(clf: Classifier, x: np.ndarray, repeats: int, jit: bool = False) -> float:
    """Image-gradients/s of a bare compiled forward+backward: the ceiling for any attack."""
    labels = tf.zeros([len(x)], tf.int32)
    targets = tf.fill([len(x)], -1)

    def objective(batch, aux):
        return margin(clf.logits(batch), labels, targets), {}

    @tf.function(jit_compile=jit)
    def grad(batch):
        return engine.value_and_grad(objective, batch, {})[1]

    xt = tf.constant(x, tf.float32)
    grad(xt).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        grad(xt).numpy()
    return repeats * len(x) / (time.perf_counter() - started)


def attack_rate(clf: Classifier, x: np.ndarray, steps: int, batch_size: int,
                jit: bool = False, devices: engine.devices.DeviceSpec = None) -> float:
    """Image-steps/s of BIM through the engine's pool, early stop off (every image steps)."""
    bim = ATTACKS["bim"]
    goal = Goal.of(np.zeros(len(x), np.int32))
    settings = RunSettings(batch_size=batch_size, early_stop=False, jit_compile=jit,
                           devices=devices)
    bim.run(clf, x, goal, bim.budget(4, 1, 1), settings)  # warm-up trace
    started = time.perf_counter()
    result = bim.run(clf, x, goal, bim.budget(4, 1, steps), settings)
    return result.total_grad_evals / (time.perf_counter() - started)


def throughput(clf: Classifier, *, batch_size: int, steps: int, repeats: int, rounds: int,
               jit: bool = False, seed: int = 0) -> dict:
    """Raw gradient vs attack throughput on random images, alternating rounds and keeping each
    side's best, so a burst of load on the machine cannot favour either side."""
    h, w = clf.input_size
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (batch_size, h, w, clf.channels)).astype(np.float32)
    xs = np.concatenate([x] * 2)
    raw = atk = 0.0
    for _ in range(rounds):
        raw = max(raw, raw_gradient_rate(clf, x, repeats, jit))
        atk = max(atk, attack_rate(clf, xs, steps, batch_size, jit))
    return {"raw_grad_per_s": round(raw, 2), "attack_img_steps_per_s": round(atk, 2),
            "ratio": round(atk / raw, 3)}


def scaling(clf: Classifier, *, batch_size: int, steps: int, rounds: int,
            devices: engine.devices.DeviceSpec, jit: bool = False, seed: int = 0) -> dict:
    """Attack throughput on N devices against one, at the same batch per device (the global
    batch grows N-fold): efficiency 1.0 means N devices do N times the work."""
    names = engine.devices.resolve(devices) or engine.devices.available()[:1]
    n = len(names)
    h, w = clf.input_size
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (2 * batch_size * n, h, w, clf.channels)).astype(np.float32)
    one = many = 0.0
    for _ in range(rounds):
        one = max(one, attack_rate(clf, x[: 2 * batch_size], steps, batch_size, jit, 1))
        many = max(many, attack_rate(clf, x, steps, batch_size * n, jit, devices))
    return {"devices": names, "batch_per_device": batch_size,
            "one_device_img_steps_per_s": round(one, 2),
            "all_devices_img_steps_per_s": round(many, 2),
            "scaling_efficiency": round(many / (n * one), 3)}


def audit_cost(clf: Classifier, x: np.ndarray, labels: np.ndarray, batch_size: int) -> dict:
    """Gradient evaluations per image: fixed 10-step BIM at eps 8 vs the full --sweep to 8."""
    probs = clf.predict(x, batch_size)
    keep = probs.argmax(1) == labels
    x, labels = x[keep], labels[keep]
    n = len(x)
    goal = Goal.of(labels)
    bim = ATTACKS["bim"]
    budget = bim.budget(8, 1, 10)
    fixed = bim.run(clf, x, goal, budget, RunSettings(batch_size=batch_size, early_stop=False))
    stopped = bim.run(clf, x, goal, budget, RunSettings(batch_size=batch_size))
    _, sweep_evals = minimal_epsilon(clf, x, goal, 8, RunSettings(batch_size=batch_size))
    return {
        "images": int(n),
        "bim10_eps8_evals_per_image": fixed.total_grad_evals / max(n, 1),
        "bim10_eps8_early_stop_evals_per_image": stopped.total_grad_evals / max(n, 1),
        # rows the device computed for them, slots waiting to be refilled included
        "bim10_eps8_early_stop_device_rows_per_image": stopped.device_rows / max(n, 1),
        "sweep8_evals_per_image": sweep_evals / max(n, 1),
        "sweep8_vs_bim10": sweep_evals / max(fixed.total_grad_evals, 1),
    }


def device_summary(devices: engine.devices.DeviceSpec = None) -> dict:
    """What the attack will run on: the devices ``--devices`` picks (default: the first one
    TensorFlow places work on), with the GPU's name when there is one."""
    names = engine.devices.resolve(devices) or engine.devices.available()[:1]
    gpus = {d.name: d for d in tf.config.list_logical_devices("GPU")}
    physical = tf.config.list_physical_devices("GPU")
    labels = []
    for i, name in enumerate(names):
        detail = ""
        if name in gpus and i < len(physical):
            detail = tf.config.experimental.get_device_details(physical[i]).get("device_name", "")
        elif name not in gpus:
            detail = f"{os.cpu_count()} cores"
        labels.append(f"{name} ({detail})" if detail else name)
    kind = "GPU" if names[0] in gpus else "CPU, no GPU visible"
    return {"devices": names, "summary": f"{kind}: {', '.join(labels)}",
            "tensorflow": tf.__version__}
