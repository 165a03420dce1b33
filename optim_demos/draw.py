"""Animated GIFs drawn with Pillow alone (no matplotlib in the package's dependencies).

Everything is drawn at a fixed size in pixel space; ``Panel`` maps data coordinates into a
rectangle, so the regression and spread frames share one tiny plotting layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
GRID = (225, 225, 225)
POINT = (31, 119, 180)
FIT = (214, 39, 40)
REFERENCE = (120, 120, 120)
VECTOR = (44, 160, 44)


@lru_cache(maxsize=8)
def font(size: int = 13) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font (scalable when FreeType is present, bitmap otherwise)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


@dataclass(frozen=True)
class Panel:
    """A plotting rectangle (pixels) showing the data window [x0, x1] x [y0, y1]."""

    left: int
    top: int
    right: int
    bottom: int
    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: float, y: float) -> tuple[float, float]:
        u = self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)
        v = self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)
        return u, v

    def frame(self, draw: ImageDraw.ImageDraw) -> None:
        draw.rectangle([self.left, self.top, self.right, self.bottom], outline=INK)

    def clip_line(self, a: tuple[float, float], b: tuple[float, float]
                  ) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Clip the segment a-b (data coordinates) to the window (Liang-Barsky)."""
        (xa, ya), (xb, yb) = a, b
        dx, dy = xb - xa, yb - ya
        t0, t1 = 0.0, 1.0
        for p, q in ((-dx, xa - self.x0), (dx, self.x1 - xa), (-dy, ya - self.y0),
                     (dy, self.y1 - ya)):
            if p == 0:
                if q < 0:
                    return None
                continue
            t = q / p
            if p < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
        if t0 > t1:
            return None
        return (xa + t0 * dx, ya + t0 * dy), (xa + t1 * dx, ya + t1 * dy)


def dashed(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float],
           fill: tuple[int, int, int], width: int = 1, dash: float = 6.0) -> None:
    (xa, ya), (xb, yb) = a, b
    length = float(np.hypot(xb - xa, yb - ya))
    n = max(1, int(length / dash))
    for k in range(0, n, 2):
        t0, t1 = k / n, min(1.0, (k + 1) / n)
        draw.line([(xa + t0 * (xb - xa), ya + t0 * (yb - ya)),
                   (xa + t1 * (xb - xa), ya + t1 * (yb - ya))], fill=fill, width=width)


def frame_indices(count: int, max_frames: int) -> list[int]:
    """Up to ``max_frames`` indices spread over 0..count-1, always keeping first and last."""
    if count <= max_frames:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, max_frames)})


def save_gif(frames: Sequence[Image.Image], path: Path, ms: int = 90, hold_ms: int = 1500) -> Path:
    """Write an endlessly looping GIF; the last frame is held so the result can be read."""
    durations = [ms] * (len(frames) - 1) + [hold_ms]
    frames[0].save(path, save_all=True, append_images=list(frames[1:]), duration=durations,
                   loop=0, optimize=False, disposal=1)
    return path


def regression_frame(height: np.ndarray, weight: np.ndarray, line: tuple[float, float],
                     reference: tuple[float, float], losses: Sequence[float], steps: int,
                     optimal_mse: float, title: str) -> Image.Image:
    """Scatter with the current fitted line (left) and the loss curve so far (right)."""
    img = Image.new("RGB", (760, 380), BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.text((12, 8), title, fill=INK, font=font(15))

    # Left: the seed's fixed window, 60-78 in by 130-260 lb.
    left = Panel(60, 40, 380, 330, 60.0, 78.0, 130.0, 260.0)
    for gx in range(62, 78, 4):
        draw.line([left.px(gx, 130), left.px(gx, 260)], fill=GRID)
        draw.text((left.px(gx, 130)[0] - 7, 334), str(gx), fill=INK, font=font(11))
    for gy in range(140, 261, 20):
        draw.line([left.px(60, gy), left.px(78, gy)], fill=GRID)
        draw.text((28, left.px(60, gy)[1] - 7), str(gy), fill=INK, font=font(11))
    left.frame(draw)
    for h, w in zip(height, weight, strict=True):
        u, v = left.px(h, w)
        draw.ellipse([u - 2.5, v - 2.5, u + 2.5, v + 2.5], fill=POINT)
    for (slope, intercept), colour, width, dash in ((reference, REFERENCE, 1, True),
                                                    (line, FIT, 3, False)):
        seg = left.clip_line((60.0, slope * 60 + intercept), (78.0, slope * 78 + intercept))
        if seg is None:
            continue
        a, b = left.px(*seg[0]), left.px(*seg[1])
        if dash:
            dashed(draw, a, b, colour, width)
        else:
            draw.line([a, b], fill=colour, width=width)
    draw.text((150, 352), "height (in)", fill=INK, font=font(12))
    draw.text((66, 44), "weight (lb)", fill=INK, font=font(12))
    draw.text((230, 312), "- - least squares", fill=REFERENCE, font=font(11))

    # Right: log10 MSE against step, with the optimum as a dashed floor.
    logs = np.log10(np.maximum(np.asarray(losses, float), 1e-12))
    top = max(5.0, float(np.ceil(logs.max() if len(logs) else 5.0)))
    floor = np.log10(optimal_mse)
    right = Panel(450, 40, 740, 330, 0.0, float(max(steps, 1)), floor - 0.2, top)
    right.frame(draw)
    for gy in np.arange(np.ceil(floor - 0.2), top + 0.01, 1.0):
        draw.line([right.px(0, gy), right.px(steps, gy)], fill=GRID)
        draw.text((410, right.px(0, gy)[1] - 7), f"1e{int(gy)}", fill=INK, font=font(11))
    for gx in sorted({0, steps // 2, steps}):
        draw.text((right.px(gx, 0)[0] - 6, 334), str(gx), fill=INK, font=font(11))
    dashed(draw, right.px(0, floor), right.px(steps, floor), REFERENCE)
    if len(logs) > 1:
        draw.line([right.px(i, v) for i, v in enumerate(logs)], fill=FIT, width=2)
    if len(logs):
        u, v = right.px(len(logs) - 1, logs[-1])
        draw.ellipse([u - 3, v - 3, u + 3, v + 3], fill=FIT)
    draw.text((575, 352), "step", fill=INK, font=font(12))
    draw.text((456, 44), "MSE (lb^2, log scale)", fill=INK, font=font(12))
    draw.text((620, right.px(0, floor)[1] + 2), f"optimal {optimal_mse:.1f}", fill=REFERENCE,
              font=font(11))
    return img


def _rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    turn = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    return tilt @ turn


def spread_frame(u: np.ndarray, title: str, subtitle: str = "", yaw: float = 0.0,
                 contact_deg: float | None = None) -> Image.Image:
    """Unit vectors in 2-D (drawn as spokes) or 3-D (orthographic view of the sphere).

    In 3-D the near hemisphere is drawn solid and the far one faint, and pairs at the current
    minimum angle (within ``contact_deg``) are joined, so the polyhedron of the packing shows.
    """
    size, c, r = 460, 230.0, 170.0
    img = Image.new("RGB", (size, size + 40), BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.text((10, 8), title, fill=INK, font=font(14))
    if subtitle:
        draw.text((10, 26), subtitle, fill=INK, font=font(12))
    oy = 40
    draw.ellipse([c - r, oy + c - r, c + r, oy + c + r], outline=REFERENCE, width=1)
    u = np.asarray(u, float)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    if u.shape[1] == 2:
        for x, y in u:
            draw.line([(c, oy + c), (c + r * x, oy + c - r * y)], fill=POINT, width=2)
        for x, y in u:
            draw.ellipse([c + r * x - 4, oy + c - r * y - 4, c + r * x + 4, oy + c - r * y + 4],
                         fill=VECTOR)
        draw.ellipse([c - 5, oy + c - 5, c + 5, oy + c + 5], fill=FIT)
        return img
    view = u[:, :3] @ _rotation(yaw, 0.35).T
    screen = [(c + r * x, oy + c - r * z) for x, _, z in view]
    depth = view[:, 1]  # the viewer looks along +y: small y is near
    if contact_deg is not None:
        cos = np.clip(u @ u.T, -1.0, 1.0)
        ang = np.degrees(np.arccos(cos))
        np.fill_diagonal(ang, np.inf)
        styles = (((205, 205, 205), 1), ((150, 185, 215), 1), (POINT, 2))  # by near endpoints
        for i, j in zip(*np.nonzero(np.triu(ang <= contact_deg)), strict=True):
            fill, width = styles[int(depth[i] < 0) + int(depth[j] < 0)]
            draw.line([screen[i], screen[j]], fill=fill, width=width)
    for k in np.argsort(-depth):  # far first, so near points are drawn on top
        x, y = screen[k]
        near = depth[k] < 0
        rad = 6 if near else 4
        if near:
            draw.ellipse([x - rad, y - rad, x + rad, y + rad], fill=VECTOR, outline=INK)
        else:
            draw.ellipse([x - rad, y - rad, x + rad, y + rad], outline=VECTOR, width=2)
    return img
