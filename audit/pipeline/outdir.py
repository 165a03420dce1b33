"""The output folder, checked before any model is loaded, so no work is lost to a bad --out.

A folder that already holds an audit is refused unless the user says what to do with it:
``--overwrite`` removes that audit's artifacts (only those: results, PNGs, report; a file of
the user's inside ``adversarial/`` or ``clean/`` stays), ``--resume`` continues it from its
journal (or, in a folder holding no audit yet, starts one).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from ..errors import ResultsError, UsageError
from ..paths import PNG_FOLDERS, UNIVERSAL_PNG
from ..results.journal import JOURNAL_NAME

FILES = ("results.json", JOURNAL_NAME, "results.csv", "report.html", UNIVERSAL_PNG)


def earlier_audit(out: Path) -> list[str]:
    """The artifacts of an earlier audit found in ``out``."""
    return [name for name in (*FILES, *PNG_FOLDERS) if (out / name).exists()]


# What an audit writes into adversarial/ and clean/: runner.png_name's NNNN_stem.png, and the
# temporary .NNNN_stem.png.XXXX.tmp of fileio.atomic_write_bytes that a kill can leave behind.
_OWN_PNG = re.compile(r"\d{4,}_[A-Za-z0-9._-]+\.png")
_PARTIAL_PNG = re.compile(r"\..+\.png\.[^/]*\.tmp")


def out_folder(out: Path | str) -> Path:
    """``out`` as a Path; an empty string (which Path would read as the current folder) is
    refused."""
    if not str(out).strip():
        raise UsageError("--out is empty: it must name a folder (--out advaudit-report, or "
                         "--out . for the current folder)")
    return Path(out)


def prepare_out_dir(out: Path | str, *, overwrite: bool = False, resume: bool = False,
                    clear: bool = True) -> Path:
    """Create/check ``out`` for writing; raise a one-line error that says what to do.

    With ``overwrite`` the earlier audit is removed here, or with ``clear=False`` left for
    ``clear_earlier_audit`` once the new audit is about to write (a model or input refused
    before then leaves the earlier audit as it was)."""
    out = out_folder(out)
    if overwrite and resume:
        raise UsageError("--overwrite and --resume contradict each other: pass one")
    if out.exists() and not out.is_dir():
        raise ResultsError(f"--out {out} is a file, not a folder: pass a folder path")
    _check_png_folders(out)
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


def _check_png_folders(out: Path) -> None:
    """``adversarial/`` and ``clean/`` must be real folders inside ``out`` (or absent): a link
    would send the audit's PNGs, and --overwrite's removals, somewhere else."""
    for name in PNG_FOLDERS:
        folder = out / name
        if folder.is_symlink():
            raise ResultsError(f"--out {folder} is a symbolic link: advaudit writes its PNGs "
                               "only into a real folder there; remove the link or choose "
                               "another --out")
        if folder.exists() and not folder.is_dir():
            raise ResultsError(f"--out {folder} is a file, not the audit's PNG folder: move it "
                               "or choose another --out")
    for name in FILES:
        if (out / name).is_dir() and not (out / name).is_symlink():
            raise ResultsError(f"--out {out / name} is a folder, where the audit writes a file: "
                               "move it or choose another --out")


def _named_in_rows(out: Path) -> set[tuple[str, str]]:
    """(folder, file name) of every PNG an earlier audit's rows name (results.json and the
    journal). Only a plain name directly under adversarial/ or clean/ counts: the paths are
    data, and one that climbs out (``..``), is absolute or names a sub-folder is ignored."""
    def readable(path: Path) -> bool:  # a plain file of the folder: no link, no /dev/zero
        return path.is_file() and not path.is_symlink()

    rows: list = []
    try:
        if not readable(out / "results.json"):
            raise OSError
        data = json.loads((out / "results.json").read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            rows += data["images"]
    except (OSError, ValueError, RecursionError):
        pass
    try:
        if not readable(out / JOURNAL_NAME):
            raise OSError
        with open(out / JOURNAL_NAME, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(entry, dict):
                    rows.append(entry.get("row"))
    except OSError:
        pass
    named = set()
    for row in rows:
        if not isinstance(row, dict):
            continue
        for key in ("adv_path", "clean_path"):
            parts = row.get(key).split("/") if isinstance(row.get(key), str) else []
            if (len(parts) == 2 and parts[0] in PNG_FOLDERS and parts[1] not in ("", ".", "..")
                    and "\\" not in parts[1] and "\0" not in parts[1]):
                named.add((parts[0], parts[1]))
    return named


def clear_earlier_audit(out: Path) -> None:
    """Remove an earlier audit's artifacts from ``out``: results, report, and in
    ``adversarial/`` and ``clean/`` only the PNGs the audit wrote (named in its rows or by its
    ``NNNN_stem.png`` pattern, and its stale temporary files). A folder is removed only when
    that leaves it empty; the user's own files stay, and no link is followed out of ``out``."""
    out = Path(out)
    _check_png_folders(out)
    named = _named_in_rows(out)
    for name in FILES:
        (out / name).unlink(missing_ok=True)
    for name in PNG_FOLDERS:
        folder = out / name
        if not folder.is_dir() or folder.is_symlink():
            continue
        with os.scandir(folder) as entries:
            own = [e.name for e in entries
                   if not e.is_dir(follow_symlinks=False)
                   and ((name, e.name) in named or _OWN_PNG.fullmatch(e.name)
                        or _PARTIAL_PNG.fullmatch(e.name))]
        for entry in own:
            (folder / entry).unlink(missing_ok=True)  # a link itself, never its target
        if not any(folder.iterdir()):
            folder.rmdir()
