"""``advaudit bench``: is the attack as fast as the model's own gradient, and how cheap is an
audit in gradient evaluations? Measured side by side in one process, warm, on the same batch.
"""

from __future__ import annotations

import json
import time

import click
import numpy as np
import tensorflow as tf

from . import engine
from .attacks import ATTACKS, descent
from .classifier import Classifier
from .losses import margin


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
                jit: bool = False) -> float:
    """Image-steps/s of BIM through the engine's pool, early stop off (every image steps)."""
    bim = ATTACKS["bim"]
    d = descent(clf, bim, bim.budget(4, 1, steps), "margin", jit)
    n = len(x)
    aux = {"label": np.zeros(n, np.int32), "target": np.full(n, -1, np.int32)}
    args = (d, x, x.copy(), np.full(n, 4.0, np.float32), np.full(n, steps), aux, batch_size)
    engine.run_pool(*args[:4], np.full(n, 1), *args[5:], early_stop=False)  # warm-up trace
    started = time.perf_counter()
    result = engine.run_pool(*args, early_stop=False)
    return result.evaluations / (time.perf_counter() - started)


def audit_cost(clf: Classifier, x: np.ndarray, labels: np.ndarray, batch_size: int) -> dict:
    """Gradient evaluations per image: fixed 10-step BIM at eps 8 vs the full --sweep to 8."""
    from .sweep import minimal_epsilon

    probs = clf.predict(x, batch_size)
    keep = probs.argmax(1) == labels
    x, labels = x[keep], labels[keep]
    n = len(x)
    aux = {"label": labels.astype(np.int32), "target": np.full(n, -1, np.int32)}
    bim = ATTACKS["bim"]
    d = descent(clf, bim, bim.budget(8, 1, 10), "margin")
    fixed = engine.run_pool(d, x, x.copy(), np.full(n, 8.0, np.float32), np.full(n, 10), aux,
                            batch_size, early_stop=False)
    stopped = engine.run_pool(d, x, x.copy(), np.full(n, 8.0, np.float32), np.full(n, 10), aux,
                              batch_size, early_stop=True)
    _, sweep_evals = minimal_epsilon(clf, x, aux, 8, "margin", batch_size)
    return {
        "images": int(n),
        "bim10_eps8_evals_per_image": fixed.evaluations / max(n, 1),
        "bim10_eps8_early_stop_evals_per_image": stopped.evaluations / max(n, 1),
        "sweep8_evals_per_image": sweep_evals / max(n, 1),
        "sweep8_vs_bim10": sweep_evals / max(fixed.evaluations, 1),
    }


@click.command()
@click.argument("model", required=False, default="kaggle-catdog")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=10, show_default=True,
              help="Attack steps per image in the throughput run.")
@click.option("--repeats", type=click.IntRange(1), default=10, show_default=True,
              help="Batches per raw-gradient measurement.")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True,
              help="Alternating measurement rounds; the best of each side is reported.")
@click.option("--jit", is_flag=True, help="Compile both sides with XLA.")
@click.option("--audit-cost/--no-audit-cost", "with_cost", default=True, show_default=True,
              help="Also count gradient evaluations of a sweep vs a fixed BIM on the samples "
                   "(with catdog-mini when MODEL has no trained weights).")
@click.option("--demos/--no-demos", "with_demos", default=True, show_default=True,
              help="Also time the spread demo's vectorised force objective against the "
                   "seed's double loop.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench(model, batch_size, steps, repeats, rounds, jit, with_cost, with_demos, as_json) -> None:
    """Throughput of MODEL's raw input gradient vs the attack (default: Kaggle CNN shape)."""
    from victims.architectures import kaggle_catdog
    from victims.loading import load_victim
    from victims.registry import VICTIMS

    note = ""
    if model == "kaggle-catdog" and not VICTIMS[model].available():
        clf = Classifier.from_model(kaggle_catdog(), ["cat", "dog"])
        note = "kaggle-catdog architecture with untrained weights (speed does not depend on them)"
    else:
        clf = load_victim(model).classifier
    h, w = clf.input_size
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size, h, w, clf.channels)).astype(np.float32)
    xs = np.concatenate([x] * 2)
    # Alternate the two measurements and keep each one's best round, so a burst of load on
    # the machine cannot favour either side.
    raw = atk = 0.0
    for _ in range(rounds):
        raw = max(raw, raw_gradient_rate(clf, x, repeats, jit))
        atk = max(atk, attack_rate(clf, xs, steps, batch_size, jit))
    out = {
        "model": model,
        "note": note,
        "batch_size": batch_size,
        "rounds": rounds,
        "jit_compile": jit,
        "raw_grad_per_s": round(raw, 2),
        "attack_img_steps_per_s": round(atk, 2),
        "ratio": round(atk / raw, 3),
    }
    if with_cost:
        from victims.registry import SAMPLES_DIR

        from .images import load_photos

        victim = clf if not note else load_victim("catdog-mini").classifier
        photos, _ = load_photos(SAMPLES_DIR, victim.input_size, victim.channels)
        px = np.stack([p.pixels for p in photos]).astype(np.float32)
        labels = np.array([victim.class_names.index(p.label) for p in photos])
        out["audit_cost"] = audit_cost(victim, px, labels, batch_size)
        out["audit_cost"]["model"] = "catdog-mini" if note else model
    if with_demos:
        from optim_demos.spread import bench_force_objective

        out["spread_force"] = bench_force_objective(n=20, dims=32)
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo(f"model                  {model}" + (f"  [{note}]" if note else ""))
    click.echo(f"batch size             {batch_size}" + ("  (XLA)" if jit else ""))
    click.echo(f"raw input gradient     {raw:.1f} image-gradients/s")
    click.echo(f"attack (BIM, no stop)  {atk:.1f} image-steps/s")
    click.echo(f"ratio                  {atk / raw:.3f}")
    if with_cost:
        c = out["audit_cost"]
        click.echo(f"audit cost ({c['model']}, {c['images']} correctly classified samples), "
                   "gradient evaluations per image:")
        click.echo(f"  BIM eps 8, 10 steps, fixed        {c['bim10_eps8_evals_per_image']:.2f}")
        click.echo(f"  same with early stop              "
                   f"{c['bim10_eps8_early_stop_evals_per_image']:.2f}")
        click.echo(f"  --sweep --max-eps 8 (all budgets) {c['sweep8_evals_per_image']:.2f}"
                   f"  ({c['sweep8_vs_bim10']:.2f}x the fixed BIM)")
    if with_demos:
        s = out["spread_force"]
        click.echo(f"spread force objective (N={s['n']}, D={s['dims']}): vectorised "
                   f"{s['vectorised_per_s']:.1f} grad evals/s, seed's double loop "
                   f"{s['double_loop_per_s']:.1f} grad evals/s ({s['speedup']:.0f}x)")

