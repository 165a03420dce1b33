"""One writer per output folder: an audit or a merge holds ``.advaudit.lock`` while it writes.

Two audits pointed at one ``--out`` would both print the same results path while one silently
replaced the other's results and mixed their PNGs. The lock is an ``flock`` on a small file that
names its holder (PID, host, start time, command): the kernel releases it when the holder dies,
however it dies, so a lock left behind by ``kill -9`` is simply taken over (and the takeover is
said), while a live holder makes the second writer fail in one line naming it. The file is
removed when the holder finishes. It is hidden, so it is never read as a photo, and it is no
audit artifact, so ``--overwrite`` never touches it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import ResultsError

LOCK_NAME = ".advaudit.lock"


def _holder_text(raw: str) -> str:
    try:
        who = json.loads(raw)
        return (f"pid {int(who['pid'])} on {who['host']}, started {who['started']}: "
                f"{str(who.get('command') or '')[:80]}").rstrip(": ")
    except (ValueError, KeyError, TypeError):
        return "an unknown process"


def _open_locked(path: Path) -> tuple[int, str]:
    """An fd on ``path`` holding its exclusive lock, and what the file said before.

    Retries when the file was removed or replaced between open and lock (its holder finished
    then): a lock on an unlinked file would guard nothing."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            previous = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise BlockingIOError(previous) from None
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, os.pread(fd, 4096, 0).decode("utf-8", "replace")
        os.close(fd)


@contextlib.contextmanager
def output_lock(folder: Path, *, command: str = "", log: Callable[[str], None] | None = None
                ) -> Iterator[Path]:
    """Hold ``folder/.advaudit.lock`` for the duration of the block (``folder`` must exist).

    Raises a one-line ``ResultsError`` naming the running holder when another process writes
    into ``folder``; a lock left by a process that died is taken over, and ``log`` says so."""
    path = Path(folder) / LOCK_NAME
    try:
        fd, previous = _open_locked(path)
    except BlockingIOError as busy:
        raise ResultsError(f"{folder} is being written by another advaudit run "
                           f"({_holder_text(str(busy))}); wait for it to finish or choose "
                           "another --out") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW: a symbolic link where the lock belongs
            raise ResultsError(f"{path} is a symbolic link, not advaudit's lock file; remove "
                               "it or choose another --out") from None
        raise
    try:
        if previous.strip() and log is not None:
            log(f"taking over the lock in {folder}: it was left by "
                f"{_holder_text(previous)}, which is no longer running")
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # still holding the lock: nobody else can be using this file
        os.close(fd)


def hold_folder(held: contextlib.ExitStack, folder: Path, *, command: str = "",
                log: Callable[[str], None] | None = None) -> None:
    """Create ``folder`` and take its lock into ``held`` before anything looks at what the
    folder holds, so a second run into a folder being written is refused naming the first (not
    told that it "holds an audit"). A folder that cannot be created or written is left to the
    output-folder check, which says why in one line."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        held.enter_context(output_lock(folder, command=command, log=log))
    except ResultsError:
        raise
    except OSError:
        return
