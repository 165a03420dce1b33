"""The one place that decides what a path may be: paths read from files, and outputs.

Three promises rest on this module:

* **Everything read from a file is data.** A ``clean_path`` in a shard's results.json, an
  ``adv_path`` in a resumed journal or a picture a report embeds came from a file a user may
  have copied, edited or been handed; it names a file *inside the folder it came with*, and
  nothing else. ``inside`` resolves it (symbolic links followed) and refuses anything that lands
  outside that folder, so a crafted ``/etc/passwd`` or ``../../x.png`` is refused in one line
  instead of being read, linked or unlinked. ``inside_or_none`` is the lenient twin for the
  report, where a bad path costs one placeholder picture, never the report.
* **advaudit never writes, moves or deletes a file it did not create.** The PNG paths it reads
  back must also have the shape the audit gives them (``audit_png``): ``adversarial/NAME.png``
  or ``clean/NAME.png``, so a merge or a resume only ever touches the audit's own files.
* **An output never lands on an input.** ``refuse_output_onto`` refuses an output path that is
  (by name, symbolic link or hard link) one of the run's inputs or artifacts, or lies inside one
  of its folders: ``--markdown results.jsonl`` would otherwise replace the journal that
  ``--resume`` needs.

And when the file system itself refuses (disk full, read-only, not a folder), that is the
user's environment, not a bug: ``os_error_text`` says so in one line naming the path.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable
from pathlib import Path

from .errors import ResultsError

PNG_FOLDERS = ("adversarial", "clean")
UNIVERSAL_PNG = "universal_patch.png"  # an audit with --universal: its patch, beside results
# what the audit names its PNGs (runner.png_name: the index, then the photo's cleaned stem)
_AUDIT_PNG = re.compile(r"(adversarial|clean)/[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}\.png")


def _resolved(path: Path) -> Path | None:
    """``path`` made absolute with symbolic links followed; None when it cannot be (a loop)."""
    try:
        return Path(path).resolve(strict=False)
    except (OSError, RuntimeError, ValueError):
        return None


def _relative_problem(rel: object) -> str | None:
    """Why ``rel`` cannot name a file inside a folder at all, or None."""
    if not isinstance(rel, str) or not rel:
        return "is not a relative file path"
    if "\x00" in rel:
        return "holds a NUL character"
    if Path(rel).is_absolute():
        return "is an absolute path"
    return None


def inside(folder: Path, rel: object, *, what: str) -> Path:
    """``folder/rel`` resolved, when ``rel`` is a relative path that stays inside ``folder``.

    Symbolic links are followed, so a link pointing out of the folder is refused like ``..``.
    ``what`` names where ``rel`` was read (``"shard/results.json: row 3's adv_path"``); the
    one-line ``ResultsError`` starts with it."""
    root = _resolved(folder)
    problem = _relative_problem(rel)
    path = _resolved(Path(folder) / rel) if problem is None and root is not None else None
    if problem is None and path is None:
        problem = f"cannot be resolved inside {folder}"
    elif problem is None and not path.is_relative_to(root):
        problem = f"points outside {folder}"
    if problem is not None:
        raise ResultsError(f"{what}: {_shown(rel)} {problem}; paths read from a file must name "
                           f"a file inside its own folder (was it edited or crafted?)")
    return path


def inside_or_none(folder: Path, rel: object) -> Path | None:
    """``folder/rel`` if it is an existing regular file inside ``folder``; None otherwise (the
    report's lenient reading: a bad path there costs one picture, never the report)."""
    try:
        path = inside(folder, rel, what="")
    except ResultsError:
        return None
    try:
        return path if path.is_file() else None
    except OSError:
        return None


def audit_png(rel: object, *, what: str) -> str:
    """``rel`` when it has the shape of a PNG the audit wrote (``adversarial/NAME.png`` or
    ``clean/NAME.png``, one plain name under the folder); a one-line ``ResultsError`` otherwise.
    Only such paths are ever created or read back by a merge or a resume."""
    if not isinstance(rel, str) or not _AUDIT_PNG.fullmatch(rel) or ".." in rel.split("/"):
        raise ResultsError(f"{what}: {_shown(rel)} is not a PNG path an audit writes "
                           "(adversarial/NAME.png or clean/NAME.png); was the file edited or "
                           "crafted?")
    return rel


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def same_path(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file or folder: equal once resolved, or (both existing)
    the same inode, so hard links and symbolic links count."""
    ra, rb = _resolved(a), _resolved(b)
    if ra is not None and ra == rb:
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it, symbolic and hard links followed
    (neither needs to exist); False when either cannot be resolved."""
    if same_path(path, folder):
        return True
    target, root = _resolved(path), _resolved(folder)
    return target is not None and root is not None and target.is_relative_to(root)


def refuse_output_onto(path: Path, *, option: str, protected: Iterable[Path]) -> None:
    """Raise a one-line ``ResultsError`` when the output ``path`` is one of the ``protected``
    files or folders (by name, symbolic link or hard link) or lies inside a protected folder.

    Protected paths need not exist yet (an audit's ``adversarial/`` before it writes there)."""
    for guarded in protected:
        if same_path(path, guarded):
            also = "" if os.path.abspath(path) == os.path.abspath(guarded) else f" ({guarded})"
            raise ResultsError(f"{option} {path} is an input or artifact of this run{also}; "
                               "writing there would destroy it: pass another path")
        if within(path, guarded):
            raise ResultsError(f"{option} {path} is inside {guarded}, an input or artifact "
                               "folder of this run: pass a path outside it")


# errno -> (what happened, what to do), for errors of the user's environment
ENVIRONMENT = {
    errno.ENOSPC: ("disk full", "free some space and run the command again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space and run the command again"),
    errno.EROFS: ("read-only file system", "pass a path on a writable file system"),
    errno.EACCES: ("permission denied", "check its permissions or pass another path"),
    errno.EPERM: ("operation not permitted", "check its permissions or pass another path"),
    errno.ENOTDIR: ("not a folder", "a part of the path is a file: pass a path in a folder"),
    errno.EISDIR: ("is a folder", "pass a file path"),
    errno.EBUSY: ("busy", "close what holds it and run the command again"),
    errno.ETXTBSY: ("busy", "close what holds it and run the command again"),
    errno.ENAMETOOLONG: ("name too long", "pass a shorter path"),
    errno.ELOOP: ("symbolic link loop", "fix the links or pass another path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) and run again"),
    errno.ENFILE: ("too many open files", "raise the limit (ulimit -n) and run again"),
    errno.EIO: ("input/output error", "check the disk and run the command again"),
    errno.EFBIG: ("file too large", "pass a path on a file system that allows larger files"),
}
# mkstemp's temporary names beside a target (fileio.atomic_write_bytes): ``.NAME.abcd1234.tmp``
_TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def shown_path(filename: object) -> str | None:
    """The path an OSError names, with a temporary name shown as the file it was to become."""
    if filename is None:
        return None
    path = Path(os.fsdecode(filename))
    match = _TEMPORARY.fullmatch(path.name)
    return str(path.with_name(match[1]) if match else path)


def os_error_text(exc: OSError) -> str | None:
    """``<path>: <reason>; <fix>`` for an error of the user's environment (disk full, read-only,
    permission denied, not a folder, busy ...), or None for any other OSError."""
    known = ENVIRONMENT.get(exc.errno)
    if known is None:
        return None
    reason, fix = known
    where = shown_path(exc.filename)
    return f"{where}: {reason}; {fix}" if where else f"{reason} ({exc.strerror}); {fix}"


def write_error(exc: OSError, path: Path, option: str | None = None) -> ResultsError:
    """A one-line error for an output the user named that could not be written: whatever the
    file system said (a folder that cannot hold files, like /proc, says 'no such file'), it is
    about that path, so the message names it and what to do."""
    known = ENVIRONMENT.get(exc.errno)
    if exc.errno == errno.EEXIST or (exc.errno == errno.ENOENT and Path(path).parent.is_dir()):
        reason = ("not a folder" if exc.errno == errno.EEXIST
                  else "files cannot be created in that folder")
        fix = "pass a file path in a folder you can write to"
    elif known is not None:
        reason, fix = known
    else:
        reason, fix = exc.strerror or type(exc).__name__, "pass a file path you can write to"
    where = f"{option} {path}" if option else str(path)
    return ResultsError(f"{where} cannot be written ({reason}); {fix}")
