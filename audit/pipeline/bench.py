"""Speed and cost measurements behind ``advaudit bench``: is the attack as fast as the model's
own gradient, and how cheap is an audit in gradient evaluations? Measured side by side in one
process, warm, on the same batch."""

from __future__ import annotations

import os
import time

import numpy as np
import tensorflow as tf

from .. import engine
from ..attacks import ATTACKS, DEFAULT_ATTACK, PROBE, Goal, RunSettings
from ..attacks.auto import full_budget
from ..attacks.losses import margin
from ..classifier import Classifier
from ..results import yardstick
from ..threats import DEFAULT_THREAT, THREATS
from .sweep import minimal_epsilon


def raw_gradient_rate(clf: Classifier, x: np.ndarray, repeats: int, jit: bool = False) -> float:
    """Image-gradients/s of a bare compiled forward+backward: the ceiling for any attack."""
    labels = tf.zeros([len(x)], tf.int32)
    targets = tf.fill([len(x)], -1)

    def objective(batch, aux):
        return margin(clf.logits(batch), labels, targets), {}

    @tf.function(jit_compile=jit, autograph=False)
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
    goal = Goal.of(np.zeros(len(x), np.int32))
    settings = RunSettings(batch_size=batch_size, early_stop=False, jit_compile=jit,
                           devices=devices)
    PROBE.run(clf, x, goal, PROBE.budget(4, 1, 1), settings)  # warm-up trace
    started = time.perf_counter()
    result = PROBE.run(clf, x, goal, PROBE.budget(4, 1, steps), settings)
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


def audit_cost(clf: Classifier, x: np.ndarray, labels: np.ndarray, batch_size: int,
               eps: int = 4, max_eps: int = 8) -> dict:
    """Cost per image (gradient evaluations + queries) of ``auto`` at ``eps``, what AutoAttack's
    standard version would spend on the same images, and a ``--sweep`` to ``max_eps`` against
    ``auto``'s full per-image budget (what it spends on an image that never flips)."""
    probs = clf.predict(x, batch_size)
    keep = probs.argmax(1) == labels
    x, labels = x[keep], labels[keep]
    n = len(x)
    goal = Goal.of(labels)
    auto = ATTACKS[DEFAULT_ATTACK]
    budget = auto.budget(eps)
    settings = RunSettings(batch_size=batch_size)
    r = auto.run(clf, x, goal, budget, settings)
    c = len(clf.class_names)
    full = full_budget(c)
    _, grads, queries, _ = minimal_epsilon(clf, x, goal, attack=auto, budget=budget,
                                        max_eps=max_eps, settings=settings, found=r)
    spent = (r.total_grad_evals + r.total_queries) / max(n, 1)
    recipe = auto.yardstick(THREATS[DEFAULT_THREAT], c)
    aa = float(yardstick.costs(recipe, r.found_by, r.queries).mean()) if n and recipe else 0.0
    sweep = (grads + queries) / max(n, 1)
    return {
        "images": int(n),
        "eps": eps,
        "flipped": int(r.success.sum()),
        "auto_cost_per_image": round(spent, 2),
        "autoattack_cost_per_image": round(aa, 2),
        "auto_vs_autoattack": round(spent / aa, 4) if aa else None,
        "auto_full_budget_per_image": full,
        "sweep_max_eps": max_eps,
        "sweep_cost_per_image": round(sweep, 2),
        "sweep_vs_auto_full_budget": round(sweep / full, 4),
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
