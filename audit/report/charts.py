"""Inline SVG charts for the HTML report, drawn in Python so the report needs no plotting library.

The report must be one offline file, so charts are SVG strings embedded in the page. Every text
that ends up inside a chart (class names, labels) goes through ``escape`` here, because the
returned ``Markup`` is inserted into the template unescaped. Colours come from CSS classes, so
the stylesheet alone decides the palette.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

Fmt = Callable[[float], str]


def nice_ticks(lo: float, hi: float, target: int = 5, integer: bool = False) -> list[float]:
    """Round tick positions (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi]; whole steps only
    when ``integer`` (an axis of image counts has no 1.5)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = 1 if step < 1 else 5 if step == 2.5 else step
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


def tick_format(ticks: Sequence[float]) -> Fmt:
    """Just enough decimals to tell neighbouring ticks apart (36.2, 36.4 rather than 36, 36)."""
    step = min((b - a for a, b in zip(ticks, ticks[1:], strict=False)), default=1.0) or 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1  # a 2.5 step needs one more than its magnitude says
    return lambda v: f"{v:.{decimals}f}"


def _num(v: float) -> str:
    """Short coordinates keep a 1000-point scatter small."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def pct_fmt(v: float) -> str:
    return f"{v * 100:.0f}%"


def plain_fmt(v: float) -> str:
    return f"{v:g}"


@dataclass
class Frame:
    """Maps data coordinates to pixels inside a fixed plot area with margins for axes."""

    width: int
    height: int
    x0: float
    x1: float
    y0: float
    y1: float
    left: int = 44
    right: int = 12
    top: int = 10
    bottom: int = 38

    def sx(self, v: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return self.left + (v - self.x0) / span * (self.width - self.left - self.right)

    def sy(self, v: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return self.height - self.bottom - (v - self.y0) / span * (
            self.height - self.top - self.bottom)

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom


def _svg(frame: Frame, body: list[str], label: str) -> Markup:
    return Markup(
        f'<svg class="chart" width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body) + "</svg>"
    )


def _y_axis(frame: Frame, ticks: Sequence[float], fmt: Fmt, title: str) -> list[str]:
    out = []
    for t in ticks:
        y = _num(frame.sy(t))
        out.append(f'<line class="gridline" x1="{frame.left}" x2="{frame.width - frame.right}" '
                   f'y1="{y}" y2="{y}"/>')
        out.append(f'<text class="tick" x="{frame.left - 6}" y="{y}" text-anchor="end" '
                   f'dominant-baseline="middle">{escape(fmt(t))}</text>')
    if title:
        out.append(f'<text class="axis-title" transform="translate(11 '
                   f'{_num((frame.top + frame.plot_bottom) / 2)}) rotate(-90)" '
                   f'text-anchor="middle">{escape(title)}</text>')
    return out


def _x_title(frame: Frame, title: str) -> str:
    x = _num((frame.left + frame.width - frame.right) / 2)
    return (f'<text class="axis-title" x="{x}" y="{frame.height - 4}" '
            f'text-anchor="middle">{escape(title)}</text>')


def _x_tick(frame: Frame, x: float, text: str) -> str:
    return (f'<text class="tick" x="{_num(x)}" y="{_num(frame.plot_bottom + 13)}" '
            f'text-anchor="middle">{escape(text)}</text>')


def _finish(frame: Frame, body: list[str], x_title: str, label: str) -> Markup:
    """Every chart ends the same way: the x axis line, its title, the <svg> wrapper."""
    body.append(f'<line class="axis" x1="{frame.left}" x2="{frame.width - frame.right}" '
                f'y1="{_num(frame.plot_bottom)}" y2="{_num(frame.plot_bottom)}"/>')
    if x_title:
        body.append(_x_title(frame, x_title))
    return _svg(frame, body, label)


def bar_chart(
    categories: Sequence[str],
    values: Sequence[float],
    *,
    x_title: str = "",
    y_title: str = "",
    y_fmt: Fmt = plain_fmt,
    tip_fmt: Fmt | None = None,
    css: str = "",
    highlight: Sequence[str] = (),
    width: int = 360,
    height: int = 190,
    label: str = "bar chart",
) -> Markup:
    """Categorical bars (integer histograms); every bar carries a hover tooltip with its value."""
    top = max([v for v in values if v is not None] or [0]) or 1
    frame = Frame(width, height, 0, len(categories), 0, top)
    ticks = nice_ticks(0, top, 4, integer=y_fmt is plain_fmt)
    frame.y1 = max(top, ticks[-1])
    body = _y_axis(frame, ticks, y_fmt, y_title)
    slot = (frame.sx(1) - frame.sx(0)) if categories else 0
    gap = min(4.0, slot * 0.2)
    every = max(1, math.ceil(len(categories) / 16))  # thin the x labels on wide histograms
    tip = tip_fmt or y_fmt
    for i, (cat, v) in enumerate(zip(categories, values, strict=True)):
        bar = min(slot - gap, 56.0)  # a lone bar stays a bar, not a wall
        x = frame.sx(i) + (slot - bar) / 2
        v = v or 0
        y = frame.sy(v)
        cls = " ".join(c for c in ("bar", css, "hl" if cat in highlight else "") if c)
        body.append(f'<rect class="{cls}" x="{_num(x)}" y="{_num(y)}" width="{_num(bar)}" '
                    f'height="{_num(frame.plot_bottom - y)}"><title>{escape(cat)}: '
                    f'{escape(tip(v))}</title></rect>')
        if i % every == 0:
            body.append(_x_tick(frame, x + bar / 2, cat))
    return _finish(frame, body, x_title, label)


def histogram(
    values: Sequence[float],
    *,
    bins: int = 12,
    x_title: str = "",
    css: str = "",
    width: int = 360,
    height: int = 190,
    label: str = "histogram",
) -> Markup | None:
    """Continuous values binned on a numeric axis; None when there is nothing to draw."""
    data = sorted(v for v in values if v is not None and math.isfinite(v))
    if not data:
        return None
    lo, hi = data[0], data[-1]
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    ticks = nice_ticks(lo, hi, 5)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    x_fmt = tick_format(ticks)
    tip_fmt = tick_format([t / 10 for t in ticks])  # bin edges need one more decimal
    edges = [lo + (hi - lo) * k / bins for k in range(bins + 1)]
    counts = np.histogram(data, bins=edges)[0].tolist()
    top = max(counts)
    yt = nice_ticks(0, top, 4, integer=True)
    frame = Frame(width, height, lo, hi, 0, max(top, yt[-1]))
    body = _y_axis(frame, yt, plain_fmt, "images")
    for k, c in enumerate(counts):
        x, x2 = frame.sx(edges[k]) + 1, frame.sx(edges[k + 1]) - 1
        y = frame.sy(c)
        body.append(f'<rect class="bar {css}" x="{_num(x)}" y="{_num(y)}" '
                    f'width="{_num(max(0.5, x2 - x))}" height="{_num(frame.plot_bottom - y)}">'
                    f'<title>{escape(tip_fmt(edges[k]))} to {escape(tip_fmt(edges[k + 1]))}: {c}'
                    f'</title></rect>')
    for t in ticks:
        body.append(_x_tick(frame, frame.sx(t), x_fmt(t)))
    return _finish(frame, body, x_title, label)


def line_chart(
    points: Sequence[tuple[float, float]],
    *,
    x_title: str = "",
    y_title: str = "",
    marker_x: float | None = None,
    marker_label: str = "",
    width: int = 480,
    height: int = 240,
    label: str = "line chart",
) -> Markup:
    """A rate (0..1) against a budget, with an optional dashed line at the audited budget."""
    xs = [p[0] for p in points] or [0, 1]
    x_hi = max(max(xs), marker_x or 0)
    frame = Frame(width, height, min(xs), x_hi if x_hi > min(xs) else min(xs) + 1, 0, 1,
                  left=48, top=16)
    body = _y_axis(frame, [0, 0.25, 0.5, 0.75, 1.0], pct_fmt, y_title)
    for t in nice_ticks(frame.x0, frame.x1, min(10, int(frame.x1 - frame.x0) or 1)):
        body.append(_x_tick(frame, frame.sx(t), plain_fmt(t)))
    if marker_x is not None:
        mx = _num(frame.sx(marker_x))
        body.append(f'<line class="marker" x1="{mx}" x2="{mx}" y1="{frame.top}" '
                    f'y2="{_num(frame.plot_bottom)}"/>')
        if marker_label:
            body.append(f'<text class="marker-label" x="{mx}" y="{frame.top - 4}" '
                        f'text-anchor="middle">{escape(marker_label)}</text>')
    if points:
        area = " ".join(f"{_num(frame.sx(x))},{_num(frame.sy(y))}" for x, y in points)
        base = f"{_num(frame.sx(points[-1][0]))},{_num(frame.plot_bottom)} " \
               f"{_num(frame.sx(points[0][0]))},{_num(frame.plot_bottom)}"
        body.append(f'<polygon class="area" points="{area} {base}"/>')
        body.append(f'<polyline class="line" points="{area}"/>')
        for x, y in points:
            body.append(f'<circle class="dot" cx="{_num(frame.sx(x))}" cy="{_num(frame.sy(y))}" '
                        f'r="3.5"><title>eps {escape(plain_fmt(x))}: {escape(pct_fmt(y))}'
                        f'</title></circle>')
    return _finish(frame, body, x_title, label)


def scatter_chart(
    points: Sequence[tuple[float, float, str]],
    *,
    x_title: str = "",
    y_title: str = "",
    width: int = 360,
    height: int = 300,
    label: str = "scatter chart",
) -> Markup:
    """Probabilities before (x) and after (y) on 0..1 axes; the diagonal marks 'no change'.

    Each point's third element is a CSS class (flipped / held) so colour encodes the outcome.
    """
    frame = Frame(width, height, 0, 1, 0, 1, left=48, top=12)
    body = _y_axis(frame, [0, 0.25, 0.5, 0.75, 1.0], pct_fmt, y_title)
    for t in [0, 0.25, 0.5, 0.75, 1.0]:
        body.append(_x_tick(frame, frame.sx(t), pct_fmt(t)))
    body.append(f'<line class="diagonal" x1="{_num(frame.sx(0))}" y1="{_num(frame.sy(0))}" '
                f'x2="{_num(frame.sx(1))}" y2="{_num(frame.sy(1))}"/>')
    for x, y, cls in points:
        body.append(f'<circle class="pt {escape(cls)}" cx="{_num(frame.sx(x))}" '
                    f'cy="{_num(frame.sy(y))}" r="3.2"/>')
    return _finish(frame, body, x_title, label)
