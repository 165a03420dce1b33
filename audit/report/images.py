"""Pictures for the HTML report: PNGs read back from the audit folder, embedded as data URIs.

The report is rebuilt from ``results.json`` alone, so every picture is derived from the PNGs the
audit wrote (clean and adversarial, same size). Paths come from a JSON file a user may have
edited or copied, so they are only followed inside the audit folder (``audit.paths``), and a
missing or unreadable file yields None (the template shows a placeholder) rather than a broken
``<img>``.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..paths import inside_or_none

THUMB_SIDE = 128  # cards show three of these side by side; bigger inputs are shrunk to this
MAX_REUSED_BYTES = 128 * 1024  # a card embeds the audit's own PNG bytes up to this size
HEAT_MAX_IMAGES = 400  # pairs decoded for the heat map; more are sampled evenly
HEAT_SIDE = 256  # the heat map keeps detail up to this size, then is averaged down
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# An audit's PNGs are at the model's input size; anything past these limits is not one of them
# (a 2.6 MB PNG can declare 30000x30000 pixels and decode to gigabytes), so it is not decoded.
MAX_DECODE_PIXELS = 4096 * 4096
MAX_FILE_BYTES = 64 * 1024 * 1024


def _decode(data: np.ndarray) -> np.ndarray | None:
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.dtype != np.uint8:
        return None
    if img.ndim == 2:
        return img[..., None]
    if img.shape[2] == 4:
        img = img[..., :3]
    return img[..., ::-1] if img.shape[2] == 3 else img


def declared_pixels(raw: bytes) -> int | None:
    """Width x height as the file's header declares them, read without decoding any pixel;
    None when the header cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as img:
                width, height = img.size
    except Exception:  # not an image, or past Pillow's own bomb guard
        return None
    return width * height


def _read(path: Path | None) -> tuple[np.ndarray, bytes] | None:
    """Decoded RGB pixels and the file's bytes (re-used as is when they already fit a card);
    None for a missing, unreadable or oversized file, which is never decoded."""
    if path is None:
        return None
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    pixels = declared_pixels(raw)
    if pixels is None or pixels > MAX_DECODE_PIXELS:
        return None
    img = _decode(np.frombuffer(raw, np.uint8))
    return None if img is None else (img, raw)


def read_rgb(path: Path | None) -> np.ndarray | None:
    """uint8 HxWxC (RGB or single channel) from a PNG, or None when it cannot be decoded."""
    got = _read(path)
    return None if got is None else got[0]


def png_data_uri(img: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URI for an RGB or single-channel uint8 image."""
    bgr = img[..., ::-1] if img.ndim == 3 and img.shape[2] == 3 else img
    # Level 3: a few percent larger than 9 but ten times faster, which a 48-card report feels.
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise ValueError("PNG encoding failed")
    return _uri(buf.tobytes())


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _card_uri(got: tuple[np.ndarray, bytes]) -> str:
    """The PNG as written by the audit when it is already small; a re-encoded thumbnail if not."""
    img, raw = got
    small = thumbnail(img)
    if small is img and len(raw) <= MAX_REUSED_BYTES and raw.startswith(PNG_SIGNATURE):
        return _uri(raw)
    return png_data_uri(small)


def thumbnail(img: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """Shrink so the longer side is at most ``side`` (area averaging); never enlarge."""
    h, w = img.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return img
    out = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                     interpolation=cv2.INTER_AREA)
    return out[..., None] if out.ndim == 2 else out


def amplification(bound: float | None) -> int:
    """Factor that stretches a +-bound delta over the 0..255 range around mid-gray."""
    if not bound or bound <= 0:
        return 1
    return max(1, int(127 // bound))


def amplified_diff(clean: np.ndarray, adv: np.ndarray, factor: int) -> np.ndarray:
    """Signed delta times ``factor`` around mid-gray: brighter = pushed up, darker = down."""
    delta = adv.astype(np.int32) - clean.astype(np.int32)
    return np.clip(128 + factor * delta, 0, 255).astype(np.uint8)


MARK_COLOUR = (0, 255, 255)  # cyan rings and outlines, drawn on the clean image
MARK_SCALE = 3  # small inputs are enlarged this much (nearest neighbour) so a ring can show


def marked_changes(clean: np.ndarray, adv: np.ndarray, marks: str) -> np.ndarray:
    """The clean image with its changes marked, for sparse threat models where an amplified
    difference is mostly gray: a ring around each changed pixel ("pixels"), or the outline of
    the smallest square holding them ("outline"). RGB uint8, enlarged when small."""
    changed = np.any(adv != clean, axis=-1)
    img = clean if clean.shape[2] == 3 else np.repeat(clean, 3, axis=2)
    scale = MARK_SCALE if max(img.shape[:2]) * MARK_SCALE <= 2 * THUMB_SIDE else 1
    img = np.ascontiguousarray(cv2.resize(img, None, fx=scale, fy=scale,
                                          interpolation=cv2.INTER_NEAREST))
    rows, cols = np.nonzero(changed)
    if rows.size == 0:
        return img
    if marks == "outline":
        side = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        top, left = int(rows.min()), int(cols.min())
        cv2.rectangle(img, (left * scale - 1, top * scale - 1),
                      ((left + side) * scale, (top + side) * scale), MARK_COLOUR, 1)
        return img
    radius = max(3, 2 * scale)
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        centre = (c * scale + scale // 2, r * scale + scale // 2)
        cv2.circle(img, centre, radius, MARK_COLOUR, 1, lineType=cv2.LINE_AA)
    return img


@dataclass
class CardImages:
    """Data URIs for one card, or None where the PNG is missing or unusable."""

    clean: str | None
    adv: str | None
    diff: str | None


def card_images(out_dir: Path, clean_rel: object, adv_rel: object, factor: int,
                marks: str = "diff") -> CardImages:
    """The card's three pictures; the third is the amplified difference, or with ``marks``
    ("pixels", "outline": ``ThreatModel.marks``) the clean image with its changes marked."""
    clean = _read(inside_or_none(out_dir, clean_rel))
    adv = _read(inside_or_none(out_dir, adv_rel))
    diff = None
    if clean is not None and adv is not None and clean[0].shape == adv[0].shape:
        third = amplified_diff(clean[0], adv[0], factor) if marks == "diff" else \
            marked_changes(clean[0], adv[0], marks)
        diff = png_data_uri(thumbnail(third, 2 * THUMB_SIDE if marks != "diff" else THUMB_SIDE))
    return CardImages(
        clean=_card_uri(clean) if clean is not None else None,
        adv=_card_uri(adv) if adv is not None else None,
        diff=diff,
    )


@dataclass
class HeatMap:
    """Mean |delta| per pixel position over flipped images, coloured, with its scale."""

    uri: str
    legend_uri: str
    max_value: float
    n_images: int
    n_candidates: int  # flipped images with PNGs named; more than n_images when sampled
    height: int
    width: int


def _abs_delta(out_dir: Path, pair: tuple[object, object]) -> np.ndarray | None:
    """Per-pixel mean over channels of |adv - clean| (float32), or None when a PNG is missing or
    the two sizes differ."""
    clean = read_rgb(inside_or_none(out_dir, pair[0]))
    adv = read_rgb(inside_or_none(out_dir, pair[1]))
    if clean is None or adv is None or clean.shape != adv.shape:
        return None
    total = np.abs(adv.astype(np.int16) - clean).sum(axis=2, dtype=np.int32)
    return total.astype(np.float32) / clean.shape[2]


def mean_abs_delta_heatmap(out_dir: Path, pairs: Iterable[tuple[object, object]],
                           limit: int = HEAT_MAX_IMAGES) -> HeatMap | None:
    """Where the attack pushes: mean |adv - clean| over images and channels, as an inferno map.

    Pairs whose PNGs are missing, or whose size differs from the first usable pair, are left
    out; None when no pair is usable. Decoding dominates the report's render time, so beyond
    ``limit`` pairs an evenly spaced sample is used (the caption says so): the mean of a few
    hundred maps is already stable, and a 10,000-image audit renders as fast as a 500-image one.
    """
    todo = list(pairs)
    n_candidates = len(todo)
    if len(todo) > limit > 0:
        todo = [todo[i] for i in np.linspace(0, len(todo) - 1, limit).round().astype(int)]
    total: np.ndarray | None = None
    n = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        for got in pool.map(lambda p: _abs_delta(out_dir, p), todo):
            if got is None:
                continue
            if total is None:
                total = np.zeros(got.shape, np.float64)
            if got.shape != total.shape:
                continue
            total += got
            n += 1
    if total is None or n == 0:
        return None
    mean = thumbnail((total / n).astype(np.float32)[..., None], HEAT_SIDE)[..., 0]
    top = float(mean.max())
    scaled = np.zeros(mean.shape, np.uint8) if top <= 0 else \
        np.clip(mean / top * 255, 0, 255).astype(np.uint8)
    colour = cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO)[..., ::-1]
    ramp = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None, :].repeat(8, 0),
                             cv2.COLORMAP_INFERNO)[..., ::-1]
    return HeatMap(uri=png_data_uri(colour), legend_uri=png_data_uri(ramp), max_value=top,
                   n_images=n, n_candidates=n_candidates, height=int(mean.shape[0]),
                   width=int(mean.shape[1]))


def image_size(out_dir: Path, rels: Iterable[object]) -> tuple[int, int] | None:
    """Height and width of the first readable PNG, to turn L0 counts into a share of pixels."""
    for rel in rels:
        path = inside_or_none(out_dir, rel)
        if path is None:
            continue
        img = read_rgb(path)
        if img is not None:
            return int(img.shape[0]), int(img.shape[1])
    return None
