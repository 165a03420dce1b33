"""``advaudit bench``: the attack's speed against the model's own gradient, and audit costs."""

from __future__ import annotations

import json

import click
import numpy as np


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
              help="Also count the cost of auto and of a sweep on the samples, against "
                   "AutoAttack's standard version (with catdog-mini when MODEL has no trained "
                   "weights).")
@click.option("--demos/--no-demos", "with_demos", default=True, show_default=True,
              help="Also time the spread demo's vectorised force objective against the "
                   "seed's double loop.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench(model, batch_size, steps, repeats, rounds, jit, with_cost, with_demos, as_json) -> None:
    """Throughput of MODEL's raw input gradient vs the attack (default: Kaggle CNN shape)."""
    from victims.architectures import kaggle_catdog
    from victims.loading import load_victim
    from victims.registry import SAMPLES_DIR, VICTIMS

    from ..bench import audit_cost, throughput
    from ..classifier import Classifier
    from ..images import load_photos

    note = ""
    if model == "kaggle-catdog" and not VICTIMS[model].available():
        clf = Classifier.from_model(kaggle_catdog(), ["cat", "dog"])
        note = "kaggle-catdog architecture with untrained weights (speed does not depend on them)"
    else:
        clf = load_victim(model).classifier
    out = {"model": model, "note": note, "batch_size": batch_size, "rounds": rounds,
           "jit_compile": jit,
           **throughput(clf, batch_size=batch_size, steps=steps, repeats=repeats, rounds=rounds,
                        jit=jit)}
    if with_cost:
        victim = clf if not note else load_victim("catdog-mini").classifier
        photos, _ = load_photos(SAMPLES_DIR, victim.input_size, victim.channels)
        px = np.stack([p.pixels for p in photos]).astype(np.float32)
        names = victim.class_names
        if all(p.label in names for p in photos):
            labels = np.array([names.index(p.label) for p in photos])
        else:  # a model with other classes: attack each photo away from its own prediction
            labels = victim.predict(px, batch_size).argmax(axis=1)
        out["audit_cost"] = audit_cost(victim, px, labels, batch_size)
        out["audit_cost"]["model"] = "catdog-mini" if note else model
    if with_demos:
        from optim_demos.spread import bench_force_objective

        out["spread_force"] = bench_force_objective(n=20, dims=32)
    if as_json:
        click.echo(json.dumps(out))
        return
    raw, atk = out["raw_grad_per_s"], out["attack_img_steps_per_s"]
    click.echo(f"model                  {model}" + (f"  [{note}]" if note else ""))
    click.echo(f"batch size             {batch_size}" + ("  (XLA)" if jit else ""))
    click.echo(f"raw input gradient     {raw:.1f} image-gradients/s")
    click.echo(f"attack (BIM, no stop)  {atk:.1f} image-steps/s")
    click.echo(f"ratio                  {out['ratio']:.3f}")
    if with_cost:
        c = out["audit_cost"]
        click.echo(f"audit cost ({c['model']}, {c['images']} correctly classified samples), "
                   "gradient evaluations + queries per image:")
        click.echo(f"  auto at eps {c['eps']} ({c['flipped']} flipped)      "
                   f"{c['auto_cost_per_image']:.1f}  ({c['auto_vs_autoattack']:.3f}x AutoAttack "
                   f"standard's {c['autoattack_cost_per_image']:.0f})")
        click.echo(f"  --sweep --max-eps {c['sweep_max_eps']} (all budgets)   "
                   f"{c['sweep_cost_per_image']:.1f}  ({c['sweep_vs_auto_full_budget']:.3f}x "
                   f"auto's full budget of {c['auto_full_budget_per_image']})")
    if with_demos:
        s = out["spread_force"]
        click.echo(f"spread force objective (N={s['n']}, D={s['dims']}): vectorised "
                   f"{s['vectorised_per_s']:.1f} grad evals/s, seed's double loop "
                   f"{s['double_loop_per_s']:.1f} grad evals/s ({s['speedup']:.0f}x)")
