"""Numbers as people read them: percentages, counts of 255, seconds, intervals.

Shared by the verdict, the console summary and the report. Every function accepts whatever a
hand-edited results.json may hold (null, text, NaN) and returns a dash instead of failing.
"""

from __future__ import annotations

import math

DASH = "\u2013"


# No audit quantity comes near this (the L2 norm of a 100-megapixel delta is under 1e7), and
# sums and spans of values below it cannot overflow a float: a hand-edited 1e308 is junk.
PLAUSIBLE = 1e15


def num(v: object) -> float | None:
    """A finite float, or None for null, text, NaN, infinity or an absurd magnitude (beyond
    ``PLAUSIBLE``) in a hand-edited results.json."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        v = float(v)
    except OverflowError:  # an int too large for a float
        return None
    return v if math.isfinite(v) and abs(v) <= PLAUSIBLE else None


def sort_value(v: object) -> str:
    """What the table's sort script compares: the number itself, or "" (sorts last)."""
    f = num(v)
    return "" if f is None else f"{f:g}"


def pct(v: object, digits: int = 1) -> str:
    f = num(v)
    return DASH if f is None else f"{f * 100:.{digits}f}%"


def fixed(v: object, digits: int = 1, unit: str = "") -> str:
    f = num(v)
    return DASH if f is None else f"{f:.{digits}f}{unit}"


def counts(v: object) -> str:
    """A budget on the 0..255 scale written as the fraction people recognise: 4/255."""
    f = num(v)
    return "unbounded" if f is None else f"{f:g}/255"


def seconds(v: object) -> str:
    f = num(v)
    if f is None:
        return DASH
    if f < 60:
        return f"{f:.1f} s"
    m, s = divmod(round(f), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def ci(interval: object) -> str:
    if isinstance(interval, (list, tuple)) and len(interval) == 2 and \
            all(num(x) is not None for x in interval):
        return f"{pct(interval[0])}{DASH}{pct(interval[1])}"
    return DASH


def short_sha(sha: object) -> str:
    return str(sha)[:12] if sha else DASH
