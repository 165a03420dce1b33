"""``advaudit bench``: the attack's speed against the model's own gradient, and audit costs."""

from __future__ import annotations

import json
import tempfile
import time

import click
import numpy as np

from .options import DEVICES, DEVICES_HELP, LABELS

# Architectures built in code, benchmarked with seeded untrained weights (speed does not depend
# on what the weights are).
BUILT_IN = ("kaggle-catdog", "small")


@click.command()
@click.argument("model", required=False)
@click.option("--model", "built_in", type=click.Choice(BUILT_IN),
              help="Bench an architecture built in code instead of MODEL: kaggle-catdog (the "
                   "default) or small (4 conv blocks + global average pooling, "
                   "victims/architectures.py:small_cnn).")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=10, show_default=True,
              help="Attack steps per image in the throughput run.")
@click.option("--repeats", type=click.IntRange(1), default=10, show_default=True,
              help="Batches per raw-gradient measurement.")
@click.option("--rounds", type=click.IntRange(1), default=3, show_default=True,
              help="Alternating measurement rounds; the best of each side is reported.")
@click.option("--jit", is_flag=True, help="Compile both sides with XLA.")
@click.option("--devices", type=DEVICES,
              help=DEVICES_HELP + " Also measures the scaling efficiency against one device.")
@click.option("--audit-cost/--no-audit-cost", "with_cost", default=True, show_default=True,
              help="Also count the cost of auto and of a sweep on the samples, against "
                   "AutoAttack's standard version (with catdog-mini when MODEL has no trained "
                   "weights).")
@click.option("--cost-photos", type=click.IntRange(1), default=None,
              help="Count the audit cost on the first N shipped photos [default: all 96].")
@click.option("--demos/--no-demos", "with_demos", default=True, show_default=True,
              help="Also time the spread demo's vectorised force objective against the "
                   "seed's double loop.")
@click.option("--device-check", is_flag=True,
              help="What this machine's accelerator gives: raw vs attack throughput at batch 32 "
                   "and 256 and the default audit's wall time on the shipped photos "
                   "(scripts/gpu_check.sh runs this).")
@click.option("--dry-run", is_flag=True,
              help="With --device-check: tiny sizes, to check the check itself on a CPU.")
@click.option("--weights", type=click.Path(), help="Weights file for a named victim.")
@click.option("--labels", type=LABELS,
              help="Class names in output order, comma-separated (cat,dog).")
@click.option("--input-scale", type=click.Choice(["1", "255"]),
              help="What the model expects for a white pixel.")
@click.option("--unsafe-load", is_flag=True, help="Allow Lambda layers / custom code in MODEL.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench(model, built_in, batch_size, steps, repeats, rounds, jit, devices, with_cost,
          cost_photos, with_demos, device_check, dry_run, weights, labels, input_scale, unsafe_load,
          as_json) -> None:
    """Throughput of MODEL's raw input gradient vs the attack (default: Kaggle CNN shape).

    MODEL is any model advaudit can audit (a path or a victim name); with none, --model picks
    an architecture built in code.
    """
    from ..engine import devices as device_sets
    from ..errors import UsageError
    from ..pipeline.bench import audit_cost, scaling, throughput

    if model and built_in:
        raise UsageError(f"give MODEL ({model}) or --model {built_in}, not both")
    if dry_run and not device_check:
        raise UsageError("--dry-run only applies to --device-check")
    with device_sets.scope(devices):  # weights on every device of --devices
        clf, name, note = _classifier(model, built_in, weights, labels, input_scale, unsafe_load)
    if device_check:
        _device_check(clf, name, note, jit=jit, devices=devices, dry_run=dry_run,
                      as_json=as_json)
        return
    out = {"model": name, "note": note, "batch_size": batch_size, "rounds": rounds,
           "jit_compile": jit,
           **throughput(clf, batch_size=batch_size, steps=steps, repeats=repeats, rounds=rounds,
                        jit=jit)}
    if device_sets.strategy_for(devices) is not None:
        out["scaling"] = scaling(clf, batch_size=batch_size, steps=steps, rounds=rounds,
                                 devices=devices, jit=jit)
    if with_cost:
        victim, victim_name = (clf, name) if not note else (_catdog_mini(), "catdog-mini")
        x, labels_ = _samples(victim, batch_size, cost_photos)
        out["audit_cost"] = {"model": victim_name, **audit_cost(victim, x, labels_, batch_size)}
    if with_demos:
        from optim_demos.spread import bench_force_objective

        out["spread_force"] = bench_force_objective(n=20, dims=32)
    if as_json:
        click.echo(json.dumps(out))
        return
    click.echo("\n".join(_table(out, name=name, note=note, batch_size=batch_size, jit=jit)))


def _table(out: dict, *, name: str, note: str, batch_size: int, jit: bool) -> list[str]:
    """The console view of a bench result."""
    raw, atk = out["raw_grad_per_s"], out["attack_img_steps_per_s"]
    lines = [f"model                  {name}" + (f"  [{note}]" if note else ""),
             f"batch size             {batch_size}" + ("  (XLA)" if jit else ""),
             f"raw input gradient     {raw:.1f} image-gradients/s",
             f"attack (BIM, no stop)  {atk:.1f} image-steps/s",
             f"ratio                  {out['ratio']:.3f}"]
    if "scaling" in out:
        s = out["scaling"]
        lines += [f"devices                {len(s['devices'])} ({', '.join(s['devices'])}), "
                  f"batch {s['batch_per_device']} per device",
                  f"attack on all devices  {s['all_devices_img_steps_per_s']:.1f} "
                  f"image-steps/s (one device: {s['one_device_img_steps_per_s']:.1f})",
                  f"scaling efficiency     {s['scaling_efficiency']:.3f}"]
    if "audit_cost" in out:
        c = out["audit_cost"]
        lines += [f"audit cost ({c['model']}, {c['images']} correctly classified samples), "
                  "gradient evaluations + queries per image:",
                  f"  auto at eps {c['eps']} ({c['flipped']} flipped)      "
                  f"{c['auto_cost_per_image']:.1f}  ({c['auto_vs_autoattack']:.3f}x AutoAttack "
                  f"standard's {c['autoattack_cost_per_image']:.0f})",
                  f"  --sweep --max-eps {c['sweep_max_eps']} (all budgets)   "
                  f"{c['sweep_cost_per_image']:.1f}  ({c['sweep_vs_auto_full_budget']:.3f}x "
                  f"auto's full budget of {c['auto_full_budget_per_image']})"]
    if "spread_force" in out:
        s = out["spread_force"]
        lines.append(f"spread force objective (N={s['n']}, D={s['dims']}): vectorised "
                     f"{s['vectorised_per_s']:.1f} grad evals/s, seed's double loop "
                     f"{s['double_loop_per_s']:.1f} grad evals/s ({s['speedup']:.0f}x)")
    return lines


def _classifier(model, built_in, weights, labels, input_scale, unsafe_load):
    """(classifier, name, note): note says when the weights are untrained."""
    from victims.architectures import CLASS_NAMES, kaggle_catdog, small_cnn
    from victims.loading import load_victim
    from victims.registry import VICTIMS

    from ..models.keras_model import KerasClassifier

    name = model or built_in or "kaggle-catdog"
    if built_in == "small":
        return (KerasClassifier.from_model(small_cnn(), list(CLASS_NAMES)), name,
                "small CNN built in code, untrained weights (speed does not depend on them)")
    if name == "kaggle-catdog" and (built_in or not VICTIMS[name].available()) and not weights:
        return (KerasClassifier.from_model(kaggle_catdog(), list(CLASS_NAMES)), name,
                "kaggle-catdog architecture with untrained weights (speed does not depend on "
                "them)")
    label_list = labels or None
    victim = load_victim(name, weights, label_list,
                         float(input_scale) if input_scale else None, unsafe_load)
    if not victim.classifier.gradients:
        from ..errors import UsageError

        raise UsageError(f"{name}: advaudit bench measures the attack against the raw input "
                         f"gradient, and a {victim.classifier.source} model has none: bench "
                         "the Keras model it was exported from")
    return victim.classifier, name, ""


def _catdog_mini():
    from victims.loading import load_victim

    return load_victim("catdog-mini").classifier


def _samples(clf, batch_size: int, limit: int | None = None):
    """The shipped photos at the model's input size, labelled for it: by folder when the model's
    classes are cat/dog, else each photo's own prediction (attacked away from it)."""
    from victims.registry import SAMPLES_DIR

    from ..images import load_photos

    photos, _ = load_photos(SAMPLES_DIR, clf.input_size, clf.channels)
    photos = photos[:limit]
    x = np.stack([p.pixels for p in photos]).astype(np.float32)
    names = clf.class_names
    if all(p.label in names for p in photos):
        return x, np.array([names.index(p.label) for p in photos])
    return x, clf.predict(x, batch_size).argmax(axis=1)


def _device_check(clf, name, note, *, jit, devices, dry_run, as_json) -> None:
    """Raw vs attack throughput at batch 32 and 256, then the default audit on the shipped
    photos, timed; --dry-run shrinks every size so a CPU gets through in seconds."""
    from victims.registry import SAMPLES_DIR

    from ..engine import devices as device_sets
    from ..pipeline.api import run
    from ..pipeline.bench import device_summary, scaling, throughput

    started = time.perf_counter()
    sizes = (2, 4) if dry_run else (32, 256)
    measure = {"steps": 2, "repeats": 1, "rounds": 1} if dry_run else \
        {"steps": 10, "repeats": 10, "rounds": 3}
    out = {"device": device_summary(devices), "model": name, "note": note, "jit_compile": jit,
           "dry_run": dry_run, "throughput": []}
    for size in sizes:
        out["throughput"].append({"batch_size": size, **throughput(clf, batch_size=size, jit=jit,
                                                                   **measure)})
    if device_sets.strategy_for(devices) is not None:
        out["scaling"] = scaling(clf, batch_size=sizes[0], devices=devices, jit=jit,
                                 steps=measure["steps"], rounds=measure["rounds"])
    images = sorted(SAMPLES_DIR.glob("*/*.jpg"))[:: 12 if dry_run else 1]
    options = {"steps": 2, "trust": False} if dry_run else {}
    with tempfile.TemporaryDirectory(prefix="advaudit-check-") as tmp:
        audit_started = time.perf_counter()
        result = run("catdog-mini", images, out=tmp, report=not dry_run, jit_compile=jit,
                     devices=devices, **options)
        out["audit"] = {"images": len(images), "seconds": round(time.perf_counter() -
                                                                audit_started, 2),
                        "attack_seconds": result.summary["attack_seconds"],
                        "flip_rate": result.summary["flip_rate"]}
    out["seconds"] = round(time.perf_counter() - started, 1)
    if as_json:
        click.echo(json.dumps(out))
        return
    d = out["device"]
    click.echo(f"device check{' (dry run)' if dry_run else ''}: {d['summary']}; TensorFlow "
               f"{d['tensorflow']}" + (", XLA" if jit else ""))
    click.echo(f"model {name}" + (f"  [{note}]" if note else ""))
    for t in out["throughput"]:
        click.echo(f"  batch {t['batch_size']:>4}: raw {t['raw_grad_per_s']:.1f} "
                   f"image-gradients/s, attack {t['attack_img_steps_per_s']:.1f} image-steps/s, "
                   f"ratio {t['ratio']:.3f}")
    if "scaling" in out:
        s = out["scaling"]
        click.echo(f"  {len(s['devices'])} devices, batch {s['batch_per_device']} each: attack "
                   f"{s['all_devices_img_steps_per_s']:.1f} image-steps/s, scaling efficiency "
                   f"{s['scaling_efficiency']:.3f}")
    a = out["audit"]
    click.echo(f"audit (catdog-mini, {a['images']} shipped photos"
               + (", 2 steps, no trust checks" if dry_run else ", default settings")
               + f"): {a['seconds']:.1f} s wall, attack {a['attack_seconds']:.1f} s, "
               f"flip rate {a['flip_rate']:.1%}")
    click.echo(f"total {out['seconds']:.1f} s")
