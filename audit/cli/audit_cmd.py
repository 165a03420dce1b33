"""The ``advaudit`` command line: audit, report, bench, victims, demo.

Quiet by default (a summary table and warnings), machine-readable results on disk, and exit
codes a CI job can gate on: 0 fine, 1 ``--fail-above`` exceeded, 2 usage or input errors.
"""

from __future__ import annotations

import shlex
import sys
from fractions import Fraction
from pathlib import Path

import click  # noqa: E402

from . import __version__  # noqa: E402
from .quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()
from .errors import AuditError  # noqa: E402


class CountsType(click.ParamType):
    """A budget in pixel counts: ``4`` means 4/255, and ``4/255`` is accepted as the same."""

    name = "counts"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip()
        try:
            if "/" in text:
                return float(Fraction(text) * 255)
            return float(text)
        except (ValueError, ZeroDivisionError):
            self.fail(f"{value!r} is not a budget: give counts (4) or a fraction (4/255)",
                      param, ctx)


COUNTS = CountsType()


def _progress_factory(enabled: bool):
    def factory(label: str, total: int):
        if not enabled or total <= 0:
            return None
        bar = click.progressbar(length=total, label=label, file=sys.stderr)
        bar.__enter__()
        state = {"done": 0}

        def tick(evaluations: int, finished: int) -> None:
            state["done"] += finished
            bar.update(finished)
            if state["done"] >= total:
                bar.__exit__(None, None, None)

        return tick

    return factory


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="advaudit")
def main() -> None:
    """Adversarial-robustness audits of Keras image classifiers."""


@main.command()
@click.argument("model", required=False)
@click.option("--images", type=click.Path(path_type=Path),
              help="Folder of photos (cat/*.jpg, dog/*.jpg or cat.1.jpg); default: shipped "
                   "samples.")
@click.option("--attack", type=click.Choice(["fgsm", "bim", "pgd", "mifgsm", "seed"]),
              default="bim", show_default=True)
@click.option("--eps", type=COUNTS, default="4", show_default=True,
              help="Budget in counts (0..255 scale) per pixel (L-inf) or in total (L2).")
@click.option("--step", type=COUNTS, default="1", show_default=True, help="Step size in counts.")
@click.option("--steps", type=click.IntRange(1), default=10, show_default=True)
@click.option("--norm", type=click.Choice(["linf", "l2"]), default="linf", show_default=True,
              help="Ball of the budget (l2 only with pgd).")
@click.option("--loss", type=click.Choice(["margin", "prob", "ce"]), default="margin",
              show_default=True, help="Logit margin, probability margin (the seed's), or CE.")
@click.option("--target", help="Targeted attack toward this class name.")
@click.option("--sweep", is_flag=True, help="Find each image's minimal L-inf budget.")
@click.option("--max-eps", type=click.IntRange(1, 127), default=8, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
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
@click.option("--labels", help="Class names in output order, comma-separated (cat,dog).")
@click.option("--input-scale", type=click.Choice(["1", "255"]),
              help="What the model expects for a white pixel.")
@click.option("--unsafe-load", is_flag=True, help="Allow Lambda layers / custom code in MODEL.")
@click.option("--jit", is_flag=True, help="Compile the attack step with XLA.")
@click.option("-v", "--verbose", is_flag=True, help="Show every preflight finding.")
def audit(model, images, attack, eps, step, steps, norm, loss, target, sweep, max_eps,
          batch_size, seed, out, fail_above, no_early_stop, no_trust, no_report, max_cards,
          as_json, weights, labels, input_scale, unsafe_load, jit, verbose) -> None:
    """Attack MODEL (a path or victim name; default catdog-mini) and measure how often it flips.

    Writes results.json, results.csv, adversarial/*.png and report.html into --out.
    """
    if norm == "l2" and attack != "pgd":
        raise click.UsageError("--norm l2 is only available with --attack pgd")
    from victims.loading import load_victim
    from victims.preflight import preflight
    from victims.registry import SAMPLES_DIR

    from .images import load_photos
    from .runner import AuditConfig, run_audit

    label_list = [s.strip() for s in labels.split(",")] if labels else None
    victim = load_victim(model, weights, label_list,
                         float(input_scale) if input_scale else None, unsafe_load)
    clf = victim.classifier
    findings = preflight(clf, bool(label_list), seed)
    for f in findings:
        if verbose or f["status"] != "ok":
            click.echo(f"preflight {f['check']}: {f['status']}: {f['detail']}", err=True)
    if any(f["status"] == "fail" for f in findings):
        failed = ", ".join(f["check"] for f in findings if f["status"] == "fail")
        raise AuditError(f"{victim.path}: preflight failed ({failed}); see the lines above")
    if target is not None and target not in clf.class_names:
        raise click.BadParameter(f"{target!r} is not one of {', '.join(clf.class_names)}",
                                 param_hint="--target")

    image_dir = images or SAMPLES_DIR
    photos, skipped = load_photos(image_dir, clf.input_size, clf.channels)
    for s in skipped:
        click.echo(f"skipped {s.path}: {s.reason}", err=True)

    config = AuditConfig(attack=attack, eps=eps, step=step, steps=steps, norm=norm, loss=loss,
                         target=target, sweep=sweep, max_eps=max_eps, batch_size=batch_size,
                         seed=seed, early_stop=not no_early_stop, trust=not no_trust,
                         jit_compile=jit)
    manifest = {
        "command_line": shlex.join(["advaudit", *sys.argv[1:]]),
        "model": victim.name,
        "model_path": victim.path,
        "model_sha256": victim.sha256,
        "images_dir": str(image_dir),
        "preflight": findings,
    }
    results = run_audit(clf, photos, skipped, config, out, manifest,
                        _progress_factory(sys.stderr.isatty()))
    report_path = None
    if not no_report:
        from .report import render_report

        try:
            report_path = render_report(results, out, max_cards=max_cards)
        except Exception as exc:  # results.json is already safe on disk
            click.echo(f"report.html not written ({type(exc).__name__}: {exc}); results are in "
                       f"{out / 'results.json'}; retry with 'advaudit report'", err=True)
    if as_json:
        import json

        summary = {k: v for k, v in results["summary"].items() if k != "per_class"}
        click.echo(json.dumps({"summary": summary, "results": str(out / "results.json"),
                               "report": str(report_path) if report_path else None}))
    else:
        _print_summary(results, out, report_path)
    rate = results["summary"]["flip_rate"]
    if fail_above is not None and rate is not None and rate > fail_above:
        click.echo(f"FAIL: flip rate {rate:.1%} exceeds --fail-above {fail_above:.1%}", err=True)
        sys.exit(1)


def _fmt(v, pct=True) -> str:
    if v is None:
        return "-"
    return f"{v:.1%}" if pct else f"{v:g}"


def _print_summary(results: dict, out: Path, report_path: Path | None) -> None:
    s, m = results["summary"], results["manifest"]
    b = m["budget"]
    eps = "unbounded" if b["eps"] is None else f"{b['eps']:g}"
    lo, hi = s["flip_rate_ci95"]
    rows = [
        ("model", f"{m['model']} ({m['model_sha256'][:12]})"),
        ("attack", f"{m['attack']} {b['norm']} eps={eps} step={b['step']:g} steps={b['steps']} "
                   f"loss={m['loss']}" + (f" target={m['target']}" if m["target"] else "")),
        ("images", f"{s['n_images']} read, {s['n_attacked']} attacked, {s['n_skipped']} skipped"),
        ("clean accuracy", _fmt(s["clean_accuracy"])),
        ("flip rate", f"{_fmt(s['flip_rate'])} (95% CI {lo:.1%}-{hi:.1%})"),
        ("deliverable flips", _fmt(s["deliverable_flip_rate"])),
        ("robust accuracy", _fmt(s["robust_accuracy"])),
        ("grad evals / image", f"{s['grad_evals_per_image']:g}"),
        ("time", f"{s['seconds']:.1f} s"),
    ]
    if results["curve"]:
        rows.append(("flip rate by eps", " ".join(
            f"{c['eps']}:{c['flip_rate']:.0%}" for c in results["curve"][1:])))
    if results.get("trust"):
        warns = [c["name"] for c in results["trust"]["checks"] if c["status"] != "pass"]
        rows.append(("trust checks", "all pass" if not warns else "WARN: " + "; ".join(warns)))
    rows.append(("results", str(out / "results.json")))
    if report_path:
        rows.append(("report", str(report_path)))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k:<{width}}  {v}")


@main.command()
@click.argument("results_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the HTML (default: report.html beside results.json).")
@click.option("--max-cards", type=click.IntRange(0), default=48, show_default=True)
def report(results_json: Path, output: Path | None, max_cards: int) -> None:
    """Re-render report.html from a saved results.json (no model needed)."""
    import json

    from .report import render_report

    try:
        results = json.loads(results_json.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuditError(f"{results_json} is not valid JSON ({exc}); pass the results.json an "
                         "audit wrote") from None
    if not isinstance(results, dict) or "summary" not in results or "manifest" not in results:
        raise AuditError(f"{results_json} is not an advaudit results.json (no summary/manifest)")
    path = render_report(results, results_json.parent, output, max_cards=max_cards,
                         results_name=results_json.name)
    click.echo(str(path))


from optim_demos.cli import demo  # noqa: E402

from .bench import bench  # noqa: E402
from .cli_victims import victims  # noqa: E402

main.add_command(bench)
main.add_command(victims)
main.add_command(demo)
