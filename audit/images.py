"""Reading photos into the uint8 pixel grid the attacks work on.

Everything an attack touches lives on the 0..255 integer grid, so reading and writing images is
kept in one place: a photo is decoded once, resized to the model's input size and kept as uint8.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .fileio import atomic_write_bytes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_KAGGLE_NAME = re.compile(r"^([A-Za-z]+)\.\d+\.")
# Never decode more pixels than this (Pillow's own default guard, about 0.27 GB as RGB): a PNG
# of a few MB can declare 30000x30000 pixels, and decoding it would take gigabytes.
MAX_PIXELS = 89_478_485
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")


@dataclass
class Photo:
    path: Path
    label: str
    pixels: np.ndarray  # uint8, HxWxC at the model's input size


@dataclass
class Skipped:
    path: str
    reason: str


def label_for(path: Path, root: Path) -> str:
    """Folder name under the root (cat/x.jpg), else a Kaggle-style prefix (cat.12.jpg)."""
    rel = path.relative_to(root)
    if len(rel.parts) > 1:
        return rel.parts[0].lower()
    match = _KAGGLE_NAME.match(path.name)
    return match.group(1).lower() if match else "unknown"


_DOC_NAMES = ("readme", "license", "licence", "attribution", "manifest")


def _is_document(path: Path) -> bool:
    """Licence and read-me files that travel with photo folders are not inputs at all."""
    return path.stem.lower().startswith(_DOC_NAMES) and path.suffix.lower() in (
        ".md", ".txt", ".csv", ".rst", ""
    )


def is_link_loop(path: Path) -> bool:
    """A symbolic link that leads back to itself (``a -> b -> a``): opening it fails with
    ELOOP, and ``Path.resolve`` raises (RuntimeError before Python 3.13, OSError after)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _resolved(path: Path) -> Path:
    """Where ``path`` leads, for comparing locations; a link that cannot be followed (a loop)
    is placed where it stands, in its resolved folder."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return _resolved(path.parent) / path.name


def list_image_files(root: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """Every entry below root an audit accounts for, sorted: files (non-images too, so they
    can be reported as skipped), and hidden files, hidden folders (one entry each: a ``.git``
    is not a thousand skips) and broken symbolic links, which ``read_photo`` reports as skipped,
    so nothing vanishes silently. Read-me and licence files are left out without a word.

    Folders in ``exclude`` (an audit's own PNG folders) and any folder below root holding an
    audit's results are left out, so auditing ``--images .`` twice never attacks its own
    adversarial PNGs.
    """
    root = Path(root)
    if is_link_loop(root):
        raise ImageError(f"image folder {root} is a symbolic link loop: pass --images DIR "
                         "with photos")
    if not root.exists():
        if root.is_symlink():
            raise ImageError(f"image folder {root} is a broken symbolic link: pass --images DIR "
                             "with photos")
        raise ImageError(f"image folder {root} does not exist: pass --images DIR with photos")
    if root.is_file():
        return [root]
    top = _resolved(root)
    skip = {_resolved(Path(e)) for e in exclude}
    skip |= {_resolved(f.parent) for name in ("results.json", "results.jsonl")
             for f in root.rglob(name) if _resolved(f.parent) != top}

    def left_out(p: Path) -> bool:
        return bool(skip) and any(_resolved(p).is_relative_to(d) for d in skip)

    entries: set[Path] = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        hidden = next((i for i, part in enumerate(rel.parts) if part.startswith(".")), None)
        if hidden is not None:
            entries.add(root.joinpath(*rel.parts[: hidden + 1]))
        elif (p.is_symlink() and not p.exists()) or (p.is_file() and not _is_document(p)):
            entries.add(p)
    files = sorted(p for p in entries if not left_out(p))
    if not files:
        raise ImageError(f"image folder {root} is empty: put photos in it (cat/*.jpg, dog/*.jpg)")
    return files


def not_read_because(path: Path) -> str | None:
    """Why an entry of ``list_image_files`` is not read at all (hidden, broken link, link
    loop), or None."""
    if is_link_loop(path):
        return "symbolic link loop, not read"
    if path.is_symlink() and not path.exists():
        return "broken symbolic link, not read"
    if path.name.startswith("."):
        if path.is_dir():
            n = sum(1 for f in path.rglob("*") if f.is_file())
            return f"hidden folder ({n} files), not read"
        return "hidden file, not read"
    return None


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit grayscale (PNG, TIFF) scaled to 0..255; Pillow's convert('L') would clip every
    value above 255 and read the photo as white."""
    if img.mode not in _SIXTEEN_BIT:
        return img
    wide = np.asarray(img, dtype=np.int64)
    return Image.fromarray(((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8))


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, as every photo viewer does; a malformed tag is ignored."""
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block must not cost the photo
        return img


def too_large(width: int | None = None, height: int | None = None) -> str:
    size = f"{width}x{height} pixels" if width else "more pixels than allowed"
    return (f"image of {size}, over the limit of {MAX_PIXELS:,} (a decompression bomb?); "
            "not decoded")


def read_pixels(path: Path, size: tuple[int, int], channels: int = 3) -> np.ndarray:
    """Decode, convert to RGB or grayscale and resize (width, height order for PIL).

    The header's size is checked before anything is decoded (``MAX_PIXELS``). Raises ValueError
    with a short reason when the file is not a readable image or is too large to decode.
    """
    try:
        with warnings.catch_warnings():  # Pillow warns on open; the size check below decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ValueError(too_large(w, h))
            img.load()
            img = _to_8bit(_upright(img))
            mode = "L" if channels == 1 else "RGB"
            img = img.convert(mode)
            if img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except Image.DecompressionBombError:  # Pillow's own guard, at twice its limit
        raise ValueError(too_large()) from None
    except UnidentifiedImageError:
        raise ValueError("not an image file") from None
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"unreadable image ({exc})") from None
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr


def read_photo(path: Path, root: Path, size: tuple[int, int], channels: int = 3
               ) -> Photo | Skipped:
    """One input file as a Photo at the model's size, or the reason it was skipped."""
    path = Path(path)
    why = not_read_because(path)
    if why:
        return Skipped(str(path), why)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return Skipped(str(path), f"not an image file (suffix {path.suffix or 'none'})")
    try:
        pixels = read_pixels(path, size, channels)
    except ValueError as exc:
        return Skipped(str(path), str(exc))
    base = root if root.is_dir() else root.parent
    return Photo(path, label_for(path, base), pixels)


def load_photos(
    root: Path, size: tuple[int, int], channels: int = 3
) -> tuple[list[Photo], list[Skipped]]:
    """Load every readable photo below root; the rest become recorded skips, not errors."""
    root = Path(root)
    photos: list[Photo] = []
    skipped: list[Skipped] = []
    for path in list_image_files(root):
        got = read_photo(path, root, size, channels)
        (photos if isinstance(got, Photo) else skipped).append(got)
    if not photos:
        raise ImageError(
            f"no readable photos in {root} ({len(skipped)} files skipped, first: "
            f"{skipped[0].path}: {skipped[0].reason}); put JPEG/PNG photos there"
        )
    return photos, skipped


# How the audit's PNGs are compressed, chosen by measurement (64 Kaggle photos at 128x128 and
# their +-4 adversarials, OpenCV 5): one fixed Paeth row filter and Huffman-only zlib at level 1
# encode in 1.46 ms for 30.7 KiB; libpng's default adaptive filtering (it tries every filter on
# every row) with LZ77 at level 1 took 2.73 ms for 31.6 KiB, Pillow's default 6.1 ms for
# 28.9 KiB, no compression at all 1.3 ms for 48 KiB.
PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1,
               cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH,
               cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless PNG bytes of a uint8 HxWxC (C = 1 or 3) image."""
    arr = np.asarray(pixels, dtype=np.uint8)
    arr = arr[..., 0] if arr.shape[-1] == 1 else np.ascontiguousarray(arr[..., ::-1])  # BGR
    ok, buf = cv2.imencode(".png", arr, PNG_OPTIONS)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def pixels_sha256(pixels: np.ndarray) -> str:
    """A fingerprint of a uint8 image's shape and pixels (not of its file's bytes, which a
    PNG encoder may write differently)."""
    h = hashlib.sha256(repr(tuple(pixels.shape)).encode())
    h.update(np.ascontiguousarray(pixels, np.uint8).tobytes())
    return h.hexdigest()


def save_png(pixels: np.ndarray, path: Path) -> None:
    """Lossless save: a reloaded PNG is the exact uint8 tensor that was attacked. Written
    atomically, so a kill mid-write never leaves a truncated PNG behind a recorded row."""
    atomic_write_bytes(Path(path), encode_png(pixels))


def load_png(path: Path, channels: int) -> np.ndarray:
    with Image.open(path) as img:
        arr = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr
