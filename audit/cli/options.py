"""Option types and helpers the commands share."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import click


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


class DevicesType(click.ParamType):
    """``--devices all`` or a count of devices (GPUs when there are any, else CPUs)."""

    name = "all|N"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value is None:
            return value
        text = str(value).strip().lower()
        if text == "all":
            return text
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is not a device count: give 'all' or a number >= 1", param, ctx)


DEVICES = DevicesType()
DEVICES_HELP = ("Run the attack on several devices (all, or the first N GPUs; CPUs when there "
                "are none) through tf.distribute.MirroredStrategy; --batch-size is split "
                "between them.")


class LabelsType(click.ParamType):
    """Class names in output order, comma-separated: ``cat,dog``.

    Photo folders are matched against these names case-insensitively, so an empty name or two
    names that differ only in case would give a summary that contradicts itself."""

    name = "names"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        names = [s.strip() for s in str(value).split(",")]
        if any(not n for n in names):
            self.fail(f"{value!r} has an empty class name: give one name per class, "
                      "comma-separated (cat,dog)", param, ctx)
        seen: dict[str, str] = {}
        for n in names:
            if n.lower() in seen:
                self.fail(f"{value!r} names the class {n!r} twice: every class needs its own "
                          "name", param, ctx)
            seen[n.lower()] = n
        return names


LABELS = LabelsType()


class FolderPath(click.Path):
    """A folder path that must not be empty: Path("") would be the current folder."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("'' is empty: it must name a folder (--out . for the current one)",
                      param, ctx)
        return super().convert(value, param, ctx)


def progress_factory(enabled: bool):
    """Progress bars on stderr when it is a terminal; None-returning otherwise."""

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


def ci_output_options(command):
    """``--junit-xml`` and ``--markdown``, spelled the same on ``audit`` and ``report``."""
    command = click.option(
        "--markdown", type=click.Path(dir_okay=False, path_type=Path),
        help='Also write a Markdown summary here; on GitHub Actions use --markdown '
             '"$GITHUB_STEP_SUMMARY" (appended to the job summary).')(command)
    return click.option(
        "--junit-xml", type=click.Path(dir_okay=False, path_type=Path),
        help="Also write JUnit XML here: one test case per class and one overall, failing above "
             "--fail-above; the verdict as a property.")(command)


def run_artifacts(out: Path, *inputs: object) -> list[Path]:
    """What an audit into ``out`` reads or writes, which no other output may land on: its
    results, journal, CSV, report, PNG folders and lock, and the input files or folders
    (``--images``, a model file) that exist on disk."""
    from ..lock import LOCK_NAME
    from ..pipeline.outdir import FILES, PNG_FOLDERS

    out = Path(out)
    given = [Path(str(p)) for p in inputs if p is not None and str(p)]
    return [*(out / name for name in (*FILES, *PNG_FOLDERS, LOCK_NAME)),
            *(p for p in given if p.exists())]


def check_ci_outputs(*, junit_xml: Path | None, markdown: Path | None,
                     protected: list[Path]) -> None:
    """Refuse, in one line, a ``--junit-xml`` or ``--markdown`` that would land on an input or
    an artifact of the run (``--markdown results.jsonl`` would cost ``--resume`` its journal),
    or two outputs on one file. Called before the run, so nothing is lost to a slip."""
    from ..errors import ResultsError
    from ..paths import refuse_output_onto, same_path

    if junit_xml is not None and markdown is not None and same_path(junit_xml, markdown):
        raise ResultsError(f"--junit-xml and --markdown both name {junit_xml}: give each "
                           "its own file")
    for option, path in (("--junit-xml", junit_xml), ("--markdown", markdown)):
        if path is not None:
            refuse_output_onto(path, option=option, protected=protected)


def write_ci_outputs(results: dict, *, out_dir: Path, fail_above: float | None,
                     junit_xml: Path | None, markdown: Path | None,
                     fail_on_inconclusive: bool = False,
                     protected: list[Path] | None = None) -> list[Path]:
    """Write the CI formats asked for, never onto ``protected`` (the run's inputs and
    artifacts); a path that cannot be written is a one-line error naming it."""
    from ..formats import FORMATS
    from ..paths import write_error

    check_ci_outputs(junit_xml=junit_xml, markdown=markdown, protected=protected or [])
    written = []
    for name, option, path in (("junit", "--junit-xml", junit_xml),
                               ("markdown", "--markdown", markdown)):
        if path is None:
            continue
        try:
            written.append(FORMATS[name].write(results, path, out_dir=out_dir,
                                               fail_above=fail_above,
                                               fail_on_inconclusive=fail_on_inconclusive))
        except OSError as exc:
            raise write_error(exc, path, option) from None
    return written
