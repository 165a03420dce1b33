"""Reading photos into the uint8 pixel grid the attacks work on.

Everything an attack touches lives on the 0..255 integer grid, so reading and writing images is
kept in one place: a photo is decoded once, resized to the model's input size and kept as uint8.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageError
from .fileio import atomic_write_bytes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_KAGGLE_NAME = re.compile(r"^([A-Za-z]+)\.\d+\.")


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


def list_image_files(root: Path, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """Every file below root, sorted; non-images are kept so they can be reported as skipped.

    Folders in ``exclude`` (an audit's own PNG folders) and any folder below root holding an
    audit's results are left out, so auditing ``--images .`` twice never attacks its own
    adversarial PNGs.
    """
    root = Path(root)
    if not root.exists():
        raise ImageError(f"image folder {root} does not exist: pass --images DIR with photos")
    if root.is_file():
        return [root]
    top = root.resolve()
    skip = {Path(e).resolve() for e in exclude}
    skip |= {f.parent.resolve() for name in ("results.json", "results.jsonl")
             for f in root.rglob(name) if f.parent.resolve() != top}

    def left_out(p: Path) -> bool:
        return bool(skip) and any(p.resolve().is_relative_to(d) for d in skip)

    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and not _is_document(p)
        and not left_out(p)
    )
    if not files:
        raise ImageError(f"image folder {root} is empty: put photos in it (cat/*.jpg, dog/*.jpg)")
    return files


def read_pixels(path: Path, size: tuple[int, int], channels: int = 3) -> np.ndarray:
    """Decode, convert to RGB or grayscale and resize (width, height order for PIL).

    Raises ValueError with a short reason when the file is not a readable image.
    """
    try:
        with Image.open(path) as img:
            img.load()
            mode = "L" if channels == 1 else "RGB"
            img = img.convert(mode)
            if img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
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


def save_png(pixels: np.ndarray, path: Path) -> None:
    """Lossless save: a reloaded PNG is the exact uint8 tensor that was attacked. Written
    atomically, so a kill mid-write never leaves a truncated PNG behind a recorded row."""
    arr = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())


def load_png(path: Path, channels: int) -> np.ndarray:
    with Image.open(path) as img:
        arr = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr
