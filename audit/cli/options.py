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


def write_ci_outputs(results: dict, *, out_dir: Path, fail_above: float | None,
                     junit_xml: Path | None, markdown: Path | None,
                     fail_on_inconclusive: bool = False) -> list[Path]:
    """Write the CI formats asked for; a path that cannot be written is a one-line error."""
    from ..errors import ResultsError
    from ..formats import FORMATS

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
            raise ResultsError(f"{option} {path} cannot be written ({exc.strerror or exc}); "
                               "pass a writable file path") from None
    return written
