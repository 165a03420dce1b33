"""``advaudit audit``: attack a model, write results and the report, gate CI on the outcome."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import click

from ..attacks import ATTACKS, DEFAULT_ATTACK, Attack
from ..attacks.base import DEFAULT_QUERIES
from ..attacks.losses import LOSSES
from ..threats import DEFAULT_THREAT, THREATS
from .options import (
    COUNTS,
    DEVICES,
    DEVICES_HELP,
    LABELS,
    FolderPath,
    check_ci_outputs,
    ci_output_options,
    progress_factory,
    run_artifacts,
    write_ci_outputs,
)

EXIT_GATE = 1


def _steps_help() -> str:
    """Iterations' defaults differ by attack (APGD's schedule is laid out for 100)."""
    by_value: dict[int, list[str]] = {}
    for name, a in ATTACKS.items():
        if "steps" not in a.fixed:
            by_value.setdefault(a.default_steps, []).append(name)
    common = Attack.default_steps
    others = "; ".join(f"{', '.join(names)}: {n}" for n, names in by_value.items() if n != common)
    return f"Iterations per image [default: {common}" + (f"; {others}]" if others else "]")


def parse_shard(ctx, param, value: str | None) -> tuple[int, int] | None:
    """``--shard 2/8``: the second of eight slices (1-based on the command line)."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise click.BadParameter(f"{value!r} is not a shard: give I/N with 1 <= I <= N (2/8)")
    return int(match[1]) - 1, int(match[2])


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (click.core.ParameterSource.DEFAULT,
                                                 click.core.ParameterSource.DEFAULT_MAP)


def refuse_ignored_options(ctx: click.Context, attack: str, *, universal: bool = False
                           ) -> None:
    """An option the chosen attack ignores is refused, not silently dropped: --queries with an
    attack that takes no query budget, and --eps/--step/--steps that the attack dictates (its
    ``fixed`` budget) when the attack was chosen with --attack. (A universal patch takes
    --queries whatever --attack says; the audit refuses an --attack it cannot honour.)"""
    from ..errors import UsageError

    if _given(ctx, "universal_fit") and not universal:
        raise UsageError("--universal-fit has no effect without --universal: add --universal "
                         "or drop --universal-fit")
    if universal:
        return
    impl = ATTACKS[attack]
    takes_queries = "queries" not in impl.fixed and "queries" in impl.fixed.values()
    if _given(ctx, "queries") and not takes_queries:
        takers = [n for n, a in ATTACKS.items()
                  if "queries" not in a.fixed and "queries" in a.fixed.values()]
        fixed = [n for n, a in ATTACKS.items() if "queries" in a.fixed]
        raise UsageError(f"--queries {ctx.params['queries']} has no effect with --attack "
                         f"{attack}: only {' and '.join(takers)} take"
                         f"{'s' if len(takers) == 1 else ''} a query budget ({', '.join(fixed)} "
                         "fixes its own: parameter-free); drop --queries")
    if not _given(ctx, "attack"):
        return  # the default cascade with --steps/--step: kept as it always was
    for key in ("eps", "step", "steps"):
        if _given(ctx, key) and key in impl.fixed:
            rule = impl.fixed[key]
            how = (f"it sets {key} from --{rule}" if isinstance(rule, str)
                   else "it has no eps bound" if rule == float("inf")
                   else f"it always uses {key} {rule:g}")
            raise UsageError(f"--{key} has no effect with --attack {attack} ({how}): drop "
                             f"--{key}" + (" and give --queries" if impl.fixed[key] == "queries"
                                          else ""))


@click.command()
@click.argument("model", required=False)
@click.option("--images", type=click.Path(path_type=Path),
              help="Folder of photos (cat/*.jpg, dog/*.jpg or cat.1.jpg); default: shipped "
                   "samples.")
@click.option("--attack", type=click.Choice(list(ATTACKS)), default=DEFAULT_ATTACK,
              show_default=True)
@click.option("--eps", type=COUNTS, default="4", show_default=True,
              help="Budget in the threat model's unit: counts (0..255 scale) per pixel (linf) "
                   "or in total (l2), pixels changed (l0), the square's side (patch).")
@click.option("--step", type=COUNTS, default="1", show_default=True, help="Step size in counts.")
@click.option("--steps", type=click.IntRange(1), help=_steps_help())
@click.option("--queries", type=click.IntRange(1), default=DEFAULT_QUERIES, show_default=True,
              help="Forward passes per image for gradient-free attacks (square, sparse-rs).")
@click.option("--threat", "--norm", "threat", type=click.Choice(list(THREATS)),
              default=DEFAULT_THREAT, show_default=True,
              help="Threat model: what may change (" + "; ".join(
                  f"{n}: {t.about}; attacks "
                  + ", ".join(a for a in ATTACKS if n in ATTACKS[a].threats)
                  for n, t in THREATS.items()) + "). --norm is the older name.")
@click.option("--loss", type=click.Choice(list(LOSSES)), default="margin", show_default=True,
              help="; ".join(f"{k}: {about}" for k, (_, about) in LOSSES.items()) + ".")
@click.option("--target", help="Targeted attack toward this class name.")
@click.option("--sweep", is_flag=True,
              help="Find each image's minimal budget (in the threat model's unit).")
@click.option("--max-eps", type=click.IntRange(1, 127), default=8, show_default=True)
@click.option("--universal", is_flag=True,
              help="One patch for every photo (with --threat patch): its content fitted on "
                   "--universal-fit photos, then placed where it works best on each; saved as "
                   "universal_patch.png. --queries bounds both searches.")
@click.option("--universal-fit", type=click.IntRange(1, 1024), default=32, show_default=True,
              help="Photos the universal patch is fitted on (the same for every shard).")
@click.option("--channel", metavar="jpeg:Q|resize:F",
              help="Audit the model behind a channel, as uploads reach it: every image it sees "
                   "is first JPEG-encoded at quality Q or resized by F and back (the real "
                   "codec forward, the identity backward: BPDA), the saved PNG too.")
@click.option("--eot", type=click.IntRange(1, 1000),
              help="For a model random at inference (dropout left on, noise or random "
                   "resizing as a defence): draws averaged per attack evaluation (EOT; default "
                   "20, AutoAttack's randomised version). Predictions are the majority of 21 "
                   "fresh draws. Refused for a deterministic model.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--out", type=FolderPath(path_type=Path), default=Path("advaudit-report"),
              show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an earlier audit in --out.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted audit in --out (same command otherwise).")
@click.option("--shard", callback=parse_shard, metavar="I/N",
              help="Audit only the I-th of N equal slices of the sorted photos (cluster jobs; "
                   "join them with 'advaudit merge').")
@click.option("--chunk-size", type=click.IntRange(1), default=256, show_default=True,
              help="Photos held in memory at once.")
@click.option("--fail-above", type=click.FloatRange(0, 1),
              help="Exit 1 when the flip rate exceeds this (CI gate).")
@click.option("--fail-on-inconclusive", is_flag=True,
              help="Exit 1 when the verdict is inconclusive (weak attack, masking signs).")
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
@click.option("--surrogate", metavar="MODEL",
              help="Run the gradient stages on this Keras model (the one a .tflite/.onnx MODEL "
                   "was exported from) and re-check every flip on MODEL: a transfer audit.")
@click.option("--binary-logit", is_flag=True,
              help="MODEL's single linear output is the logit of a binary classifier.")
@click.option("--input-scale", type=click.Choice(["1", "255"]),
              help="What the model expects for a white pixel.")
@click.option("--unsafe-load", is_flag=True,
              help="Trust MODEL: allow Lambda layers, custom code, TFSMLayer and SavedModel "
                   "graphs that touch files or run Python.")
@click.option("--jit", is_flag=True, help="Compile the attack step with XLA.")
@click.option("--devices", type=DEVICES, help=DEVICES_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Show every preflight finding.")
@ci_output_options
def audit(model, images, attack, eps, step, steps, queries, threat, loss, target, sweep, max_eps,
          universal, universal_fit, channel, eot, batch_size, seed, out, overwrite, resume, shard,
          chunk_size, fail_above, fail_on_inconclusive, no_early_stop,
          no_trust, no_report, max_cards, as_json, weights, labels, output_name, surrogate,
          binary_logit, input_scale, unsafe_load, jit, devices, verbose, junit_xml,
          markdown) -> None:
    """Attack MODEL (a .keras/.h5/.tflite/.onnx file or SavedModel folder,
    hf://owner/repo[@revision] or a victim name; default catdog-mini) and measure how often
    it flips.

    Writes results.json, results.jsonl, results.csv, adversarial/*.png and report.html into
    --out.
    """
    from ..pipeline.api import run
    from ..pipeline.runner import AuditConfig
    from ..report.console import summary_json, summary_table
    from ..results.verdict import gate

    protected = run_artifacts(out, images, model, weights, surrogate)  # no output lands here
    check_ci_outputs(junit_xml=junit_xml, markdown=markdown, protected=protected)
    refuse_ignored_options(click.get_current_context(), attack, universal=universal)
    config = AuditConfig(attack=attack, eps=eps, step=step, steps=steps, queries=queries,
                         threat=threat, loss=loss,
                         target=target, sweep=sweep, max_eps=max_eps, universal=universal,
                         universal_fit=universal_fit, channel=channel, eot=eot,
                         batch_size=batch_size,
                         seed=seed, early_stop=not no_early_stop, trust=not no_trust,
                         jit_compile=jit, chunk_size=chunk_size, devices=devices)
    label_list = labels or None

    def log(message: str) -> None:
        if verbose or not message.startswith("preflight") or ": ok:" not in message:
            click.echo(message, err=True)

    result = run(model, images, config=config, out=out, overwrite=overwrite, resume=resume,
                 report=not no_report, max_cards=max_cards, class_names=label_list,
                 input_scale=float(input_scale) if input_scale else None, weights=weights,
                 unsafe_load=unsafe_load, output=output_name, binary_logit=binary_logit,
                 surrogate=surrogate, shard=shard, log=log,
                 progress=progress_factory(sys.stderr.isatty()),
                 command_line=shlex.join(["advaudit", *sys.argv[1:]]))
    render = summary_json if as_json else summary_table
    click.echo(render(result.data, results_path=out / "results.json",
                      report_path=result.report_path))
    write_ci_outputs(result.data, out_dir=out, fail_above=fail_above,
                     fail_on_inconclusive=fail_on_inconclusive, junit_xml=junit_xml,
                     markdown=markdown, protected=protected)
    failure = gate(result.summary, fail_above, fail_on_inconclusive)
    if failure:
        click.echo(f"FAIL: {failure}", err=True)
        sys.exit(EXIT_GATE)
