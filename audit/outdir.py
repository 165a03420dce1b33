"""The output folder, checked before any model is loaded, so no work is lost to a bad --out.

A folder that already holds an audit is refused unless the user says what to do with it:
``--overwrite`` removes that audit's artifacts (only those: results, PNGs, report), ``--resume``
continues it (or, in a folder holding no audit yet, starts one),
continues it from its journal.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .errors import ResultsError, UsageError
from .results.journal import JOURNAL_NAME

FILES = ("results.json", JOURNAL_NAME, "results.csv", "report.html")
PNG_FOLDERS = ("adversarial", "clean")


def earlier_audit(out: Path) -> list[str]:
    """The artifacts of an earlier audit found in ``out``."""
    return [name for name in (*FILES, *PNG_FOLDERS) if (out / name).exists()]


def prepare_out_dir(out: Path, *, overwrite: bool = False, resume: bool = False,
                    clear: bool = True) -> Path:
    """Create/check ``out`` for writing; raise a one-line error that says what to do.

    With ``overwrite`` the earlier audit is removed here, or with ``clear=False`` left for
    ``clear_earlier_audit`` once the new audit is about to write (a model or input refused
    before then leaves the earlier audit as it was)."""
    out = Path(out)
    if overwrite and resume:
        raise UsageError("--overwrite and --resume contradict each other: pass one")
    if out.exists() and not out.is_dir():
        raise ResultsError(f"--out {out} is a file, not a folder: pass a folder path")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ResultsError(f"--out {out} is not a writable folder ({exc.strerror or exc}): pass "
                           "a folder you can write to") from None
    found = earlier_audit(out)
    if resume:
        # nothing there yet: a first run starts, so a requeued cluster job can always resume
        if found and not (out / JOURNAL_NAME).is_file():
            raise ResultsError(f"--resume: {out} holds an audit without its {JOURNAL_NAME} "
                               f"({', '.join(found)}), which cannot be continued; pass "
                               "--overwrite to start again")
    elif found and not overwrite:
        raise ResultsError(f"--out {out} already holds an audit ({', '.join(found)}): pass "
                           "--overwrite to replace it, --resume to continue it, or another --out")
    elif found and clear:
        clear_earlier_audit(out)
    return out


def clear_earlier_audit(out: Path) -> None:
    """Remove an earlier audit's artifacts from ``out`` (only those: results, PNGs, report)."""
    for name in FILES:
        (out / name).unlink(missing_ok=True)
    for name in PNG_FOLDERS:
        if (out / name).is_dir():
            shutil.rmtree(out / name)
