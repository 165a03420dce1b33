"""``advaudit report``: re-render report.html from a saved results.json (no model needed)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("results_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the HTML (default: report.html beside results.json).")
@click.option("--max-cards", type=click.IntRange(0), default=48, show_default=True)
def report(results_json: Path, output: Path | None, max_cards: int) -> None:
    """Re-render report.html from a saved results.json (no model needed)."""
    from ..formats import FORMATS
    from ..report import report_target
    from ..results import read_results

    target = report_target(results_json, output)
    results = read_results(results_json)
    path = FORMATS["html"].write(results, target, out_dir=results_json.parent,
                                 max_cards=max_cards, results_name=results_json.name)
    click.echo(str(path))
