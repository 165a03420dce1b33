"""``advaudit report``: re-render a saved results.json (no model needed) in any output format."""

from __future__ import annotations

from pathlib import Path

import click

from ..formats import FORMATS
from .options import check_ci_outputs, ci_output_options, write_ci_outputs


@click.command()
@click.argument("results_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-f", "--format", "format_name", type=click.Choice(list(FORMATS)), default="html",
              show_default=True, help="; ".join(f"{n}: {f.about}" for n, f in FORMATS.items())
              + ".")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it (default: the format's file name beside results.json, "
                   "e.g. report.html).")
@click.option("--max-cards", type=click.IntRange(0), default=48, show_default=True)
@click.option("--fail-above", type=click.FloatRange(0, 1),
              help="The gate the junit and markdown formats judge the flip rate against.")
@click.option("--fail-on-inconclusive", is_flag=True,
              help="The junit and markdown formats fail the gate on an inconclusive verdict.")
@ci_output_options
def report(results_json: Path, format_name: str, output: Path | None, max_cards: int,
           fail_above: float | None, fail_on_inconclusive: bool, junit_xml: Path | None,
           markdown: Path | None) -> None:
    """Re-render report.html (or another --format) from a saved results.json, no model needed.

    Prints the path of each file written.
    """
    from ..paths import write_error
    from ..results import normalise, read_results

    target = FORMATS[format_name].checked_target(results_json, output)
    for name, option, extra in (("junit", "--junit-xml", junit_xml),
                                ("markdown", "--markdown", markdown)):
        if extra is not None:
            FORMATS[name].checked_target(results_json, extra, option)
    check_ci_outputs(junit_xml=junit_xml, markdown=markdown, protected=[target])
    results = read_results(results_json)
    if format_name != "json":  # an edited file costs blank cells, never the whole output
        results = normalise(results)
    try:
        path = FORMATS[format_name].write(results, target, out_dir=results_json.parent,
                                          max_cards=max_cards, results_name=results_json.name,
                                          fail_above=fail_above,
                                          fail_on_inconclusive=fail_on_inconclusive)
    except OSError as exc:  # the write is atomic: what was at the target is intact
        raise write_error(exc, target, "-o" if output is not None else None) from None
    click.echo(str(path))
    for extra in write_ci_outputs(results, out_dir=results_json.parent, fail_above=fail_above,
                                  fail_on_inconclusive=fail_on_inconclusive,
                                  junit_xml=junit_xml, markdown=markdown):
        click.echo(str(extra))
