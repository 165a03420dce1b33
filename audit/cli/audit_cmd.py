"""``advaudit audit``: attack a model, write results and the report, gate CI on the outcome."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..attacks import ATTACKS
from ..attacks.base import NORMS, grid_radius
from ..losses import LOSSES
from .options import COUNTS, LABELS, progress_factory

EXIT_GATE = 1


@click.command()
@click.argument("model", required=False)
@click.option("--images", type=click.Path(path_type=Path),
              help="Folder of photos (cat/*.jpg, dog/*.jpg or cat.1.jpg); default: shipped "
                   "samples.")
@click.option("--attack", type=click.Choice(list(ATTACKS)), default="bim", show_default=True)
@click.option("--eps", type=COUNTS, default="4", show_default=True,
              help="Budget in counts (0..255 scale) per pixel (L-inf) or in total (L2).")
@click.option("--step", type=COUNTS, default="1", show_default=True, help="Step size in counts.")
@click.option("--steps", type=click.IntRange(1), default=10, show_default=True)
@click.option("--norm", type=click.Choice(list(NORMS)), default="linf", show_default=True,
              help="Ball of the budget (" + "; ".join(
                  f"{n}: {', '.join(a for a in ATTACKS if n in ATTACKS[a].norms)}"
                  for n in NORMS) + ").")
@click.option("--loss", type=click.Choice(list(LOSSES)), default="margin", show_default=True,
              help="; ".join(f"{k}: {about}" for k, (_, about) in LOSSES.items()) + ".")
@click.option("--target", help="Targeted attack toward this class name.")
@click.option("--sweep", is_flag=True, help="Find each image's minimal L-inf budget.")
@click.option("--max-eps", type=click.IntRange(1, 127), default=8, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("advaudit-report"),
              show_default=True)
@click.option("--fail-above", type=click.FloatRange(0, 1),
              help="Exit 1 when the flip rate exceeds this (CI gate).")
@click.option("--no-early-stop", is_flag=True, help="Step every image for all --steps.")
@click.option("--no-trust", is_flag=True, help="Skip the trust checks.")
@click.option("--no-report", is_flag=True, help="Write results only, no report.html.")
@click.option("--max-cards", type=click.IntRange(0), default=48, show_default=True,
              help="Image cards in the report (worst first); the rest go in its table.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary as one JSON object instead of the table.")
@click.option("--weights", type=click.Path(), help="Weights file for a named victim.")
@click.option("--labels", type=LABELS,
              help="Class names in output order, comma-separated (cat,dog).")
@click.option("--output", "output_name", metavar="NAME",
              help="The output (head) to attack in a model with several outputs.")
@click.option("--binary-logit", is_flag=True,
              help="MODEL's single linear output is the logit of a binary classifier.")
@click.option("--input-scale", type=click.Choice(["1", "255"]),
              help="What the model expects for a white pixel.")
@click.option("--unsafe-load", is_flag=True,
              help="Trust MODEL: allow Lambda layers, custom code, TFSMLayer and SavedModel "
                   "graphs that touch files or run Python.")
@click.option("--jit", is_flag=True, help="Compile the attack step with XLA.")
@click.option("-v", "--verbose", is_flag=True, help="Show every preflight finding.")
def audit(model, images, attack, eps, step, steps, norm, loss, target, sweep, max_eps,
          batch_size, seed, out, fail_above, no_early_stop, no_trust, no_report, max_cards,
          as_json, weights, labels, output_name, binary_logit, input_scale, unsafe_load, jit,
          verbose) -> None:
    """Attack MODEL (a path or victim name; default catdog-mini) and measure how often it flips.

    Writes results.json, results.csv, adversarial/*.png and report.html into --out.
    """
    from victims.loading import load_victim
    from victims.preflight import preflight
    from victims.registry import SAMPLES_DIR

    from ..errors import ModelError, UsageError
    from ..formats import FORMATS
    from ..formats.console import summary_json, summary_table
    from ..images import load_photos
    from ..results import ModelInfo
    from ..runner import AuditConfig, run_audit
    from ..verdict import gate

    config = AuditConfig(attack=attack, eps=eps, step=step, steps=steps, norm=norm, loss=loss,
                         target=target, sweep=sweep, max_eps=max_eps, batch_size=batch_size,
                         seed=seed, early_stop=not no_early_stop, trust=not no_trust,
                         jit_compile=jit)
    if grid_radius(config.budget()) < 1:  # a bad budget or norm fails here, before loading
        raise UsageError(f"--eps {eps:g} is under one count: no pixel on the 0..255 grid can "
                         "change, so nothing could flip; give at least 1 (1/255)")
    label_list = labels or None
    victim = load_victim(model, weights, label_list,
                         float(input_scale) if input_scale else None, unsafe_load,
                         output=output_name, binary_logit=binary_logit)
    clf = victim.classifier
    findings = preflight(clf, bool(label_list), seed)
    for f in findings:
        if verbose or f["status"] != "ok":
            click.echo(f"preflight {f['check']}: {f['status']}: {f['detail']}", err=True)
    if any(f["status"] == "fail" for f in findings):
        failed = ", ".join(f["check"] for f in findings if f["status"] == "fail")
        raise ModelError(f"{victim.path}: preflight failed ({failed}); see the lines above")
    config.target_index(clf.class_names)

    image_dir = images or SAMPLES_DIR
    photos, skipped = load_photos(image_dir, clf.input_size, clf.channels)
    for s in skipped:
        click.echo(f"skipped {s.path}: {s.reason}", err=True)

    results = run_audit(
        clf, photos, skipped, config, out,
        model=ModelInfo(victim.name, victim.path, victim.sha256, findings),
        images_dir=str(image_dir), command_line=shlex.join(["advaudit", *sys.argv[1:]]),
        progress=progress_factory(sys.stderr.isatty()))
    report_path = None
    if not no_report:
        try:
            report_path = FORMATS["html"].write(results, out_dir=out, max_cards=max_cards)
        except Exception as exc:  # results.json is already safe on disk
            click.echo(f"report.html not written ({type(exc).__name__}: {exc}); results are in "
                       f"{out / 'results.json'}; retry with 'advaudit report'", err=True)
    render = summary_json if as_json else summary_table
    click.echo(render(results, results_path=out / "results.json", report_path=report_path))
    failure = gate(results["summary"], fail_above)
    if failure:
        click.echo(f"FAIL: {failure}", err=True)
        sys.exit(EXIT_GATE)
