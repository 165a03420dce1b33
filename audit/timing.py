"""Where an audit's wall time goes, measured only when someone asks.

The end-to-end benchmark needs the wall time split into its parts (decoding, the clean pass,
each attack stage, the PNG re-check, metrics, the report) without the audit paying for it
otherwise. Code marks its parts with ``span(name)``; that is a no-op unless a ``Stopwatch`` is
active in the current context (``with measuring() as watch:``), which then sums the seconds and
the calls of every part. Spans may nest (a stage inside the attack); each part's total is its
own wall time, so nested parts are not to be added to their parent.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Stopwatch:
    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # items a part handled (photos, PNGs)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # writer threads

    def add(self, name: str, seconds: float, items: int = 0) -> None:
        with self.lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.calls[name] = self.calls.get(name, 0) + 1
            self.counts[name] = self.counts.get(name, 0) + items


_ACTIVE: ContextVar[Stopwatch | None] = ContextVar("advaudit_stopwatch", default=None)


@contextlib.contextmanager
def span(name: str, items: int = 0) -> Iterator[None]:
    """Time the block as part ``name`` (handling ``items`` things) when a stopwatch runs."""
    watch = _ACTIVE.get()
    if watch is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        watch.add(name, time.perf_counter() - started, items)


@contextlib.contextmanager
def measuring() -> Iterator[Stopwatch]:
    """Activate a stopwatch for the block (and the threads' contexts copied from it)."""
    watch = Stopwatch()
    token = _ACTIVE.set(watch)
    try:
        yield watch
    finally:
        _ACTIVE.reset(token)
