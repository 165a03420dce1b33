"""``advaudit compare BASE.json NEW.json``: did robustness regress between two audits?"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EXIT_REGRESSED = 1


def comparison_table(c) -> str:
    """The console view: overall and per-class numbers side by side, then what changed."""
    from ..channels import written
    from ..formatting import ci, pct
    from ..report.diff import eps_text

    def rate(r) -> str:
        return f"{pct(r.value)} ({r.k}/{r.n}, {ci(r.ci95)})"

    def change(v) -> str:
        return "-" if v is None else f"{v * 100:+.1f} pts"

    rows = [("", "base", "new", "change")]
    for g in [c.overall, *c.per_class]:
        rows.append((f"{g.name}: flip rate", rate(g.base.flip), rate(g.new.flip),
                     change(g.change("flip"))))
        rows.append((f"{g.name}: robust accuracy", rate(g.base.robust), rate(g.new.robust),
                     change(g.change("robust"))))
        if g.base.swept or g.new.swept:
            rows.append((f"{g.name}: median min eps", eps_text(g.base.median_min_eps),
                         eps_text(g.new.median_min_eps), ""))
    for v in c.survival:
        rows.append((f"flips surviving {written(v.name)}", rate(v.base), rate(v.new),
                     change(v.change())))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"base  {c.base_label}", f"new   {c.new_label}", ""]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    lines.append("")
    lines += [f"settings differ: {d}" for d in c.differences]
    if c.same_model:
        lines.append("note: both audits are of the same model file (equal SHA-256)")
    lines.append(f"{len(c.became_vulnerable)} images became vulnerable, {len(c.became_robust)} "
                 f"became robust ({c.n_matched} matched, {c.only_in_base} only in base, "
                 f"{c.only_in_new} only in new)")
    for ch in c.became_vulnerable[:20]:
        lines.append(f"  {ch.key}: {ch.base_state} -> {ch.new_state}")
    if len(c.became_vulnerable) > 20:
        lines.append(f"  ... and {len(c.became_vulnerable) - 20} more")
    return "\n".join(lines)


def compared_files(*results: Path) -> list[Path]:
    """What ``--html`` must never replace: each results.json compared, and its audit's journal,
    CSV and PNG folders."""
    from ..pipeline.outdir import PNG_FOLDERS
    from ..results.journal import JOURNAL_NAME

    return [p for r in results for p in (
        r, r.parent / JOURNAL_NAME, r.parent / "results.csv",
        *(r.parent / name for name in PNG_FOLDERS))]


@click.command()
@click.argument("base", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tolerance", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Allowed worsening, as a fraction: 0.02 lets the flip rate rise (and robust "
                   "accuracy fall) by up to 2 percentage points.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML diff report here.")
@click.option("--max-cards", type=click.IntRange(0), default=48, show_default=True,
              help="Pictures of images that became vulnerable in the HTML.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as one JSON object.")
def compare(base: Path, new: Path, tolerance: float, html_path: Path | None, max_cards: int,
            as_json: bool) -> None:
    """Compare two audits' results.json: exit 1 when robustness regressed beyond --tolerance.

    Flip rate, robust accuracy (both with Wilson 95% intervals) and median minimal eps, overall
    and per class; images that became vulnerable, matched by path or file name.
    """
    from ..paths import refuse_output_onto, write_error
    from ..report.diff import write_compare_html
    from ..results import normalise, read_results
    from ..results.compare import compare as compare_results

    if html_path is not None:
        refuse_output_onto(html_path, option="--html", protected=compared_files(base, new))
    # an edited file costs blank cells, never the comparison (as for 'advaudit report')
    result = compare_results(normalise(read_results(base)), normalise(read_results(new)),
                             tolerance=tolerance, base_name=str(base), new_name=str(new))
    if html_path is not None:
        try:
            write_compare_html(result, html_path, new_dir=new.parent, max_cards=max_cards)
        except OSError as exc:  # atomic: what was at --html before is intact
            raise write_error(exc, html_path, "--html") from None
    if as_json:
        click.echo(json.dumps({**result.as_dict(), "html": str(html_path) if html_path
                               else None}))
    else:
        click.echo(comparison_table(result))
        if html_path is not None:
            click.echo(f"html: {html_path}")
    if result.regressed:
        click.echo("REGRESSED: " + "; ".join(result.regressions), err=True)
        sys.exit(EXIT_REGRESSED)
