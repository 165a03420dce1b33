"""``advaudit merge``: join the output folders of sharded audits into one audit folder."""

from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path

import click

from .options import FolderPath


@click.command()
@click.argument("folders", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=FolderPath(path_type=Path), required=True,
              help="Folder for the merged results.json, PNGs and report.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier audit in --out.")
@click.option("--no-report", is_flag=True, help="Write results only, no report.html.")
@click.option("--max-cards", type=click.IntRange(0), default=48, show_default=True)
def merge(folders: tuple[Path, ...], out: Path, overwrite: bool, no_report: bool,
          max_cards: int) -> None:
    """Merge the --out folders of 'advaudit audit --shard I/N' runs into --out."""
    from ..formats import FORMATS
    from ..lock import hold_folder
    from ..pipeline.outdir import clear_earlier_audit, prepare_out_dir
    from ..results.merge import merge_results, refuse_out_onto_shards

    command = shlex.join(["advaudit", *sys.argv[1:]])
    refuse_out_onto_shards(list(folders), out)  # before --overwrite may clear anything
    with contextlib.ExitStack() as held:
        hold_folder(held, out, command=command, log=lambda m: click.echo(m, err=True))
        prepare_out_dir(out, overwrite=overwrite, clear=False)
        results = merge_results(list(folders), out, before_writing=(
            lambda: clear_earlier_audit(out)) if overwrite else None)
        results["manifest"]["command_line"] = command
        for name in ("json", "csv"):
            FORMATS[name].write(results, out_dir=out)
        if not no_report:
            FORMATS["html"].write(results, out_dir=out, max_cards=max_cards)
    s = results["summary"]
    click.echo(f"merged {len(folders)} shards: {s['n_images']} images, {s['n_attacked']} "
               f"attacked, flip rate {s['flip_rate']:.1%}" if s["flip_rate"] is not None else
               f"merged {len(folders)} shards: {s['n_images']} images, none attacked")
    click.echo(str(out / "results.json"))
