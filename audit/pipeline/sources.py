"""Where the photos of an audit come from: a folder, a list of files, or arrays in memory.

The runner streams photos from a source one chunk at a time, so memory does not grow with the
number of photos. Every photo keeps one index for the whole audit (its position in the sorted
input), which names its PNGs and keys its random draws: a shard, a chunk or a resumed run sees
the same photo under the same index.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ImageError, UsageError
from ..images import Photo, Skipped, label_for, list_image_files, read_photo


class PhotoSource(ABC):
    """Photos by index; ``indices`` are the ones this run covers (all, or one shard's)."""

    description: str
    indices: list[int]
    shard_of: tuple[int, int] | None = None  # (part, parts), 0-based, when sharded
    n_all: int | None = None  # inputs before sharding

    @abstractmethod
    def read(self, index: int, size: tuple[int, int], channels: int) -> Photo | Skipped:
        """Photo ``index`` at the model's size, or why it was skipped."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever the set of inputs changes (a resumed audit must see the same)."""

    def shard(self, part: int, parts: int) -> None:
        """Keep the ``part``-th of ``parts`` contiguous slices of the inputs (0-based)."""
        if not 0 <= part < parts:
            raise UsageError(f"--shard {part + 1}/{parts}: the shard number must be in 1..{parts}")
        n = len(self.indices)
        self.indices = self.indices[part * n // parts:(part + 1) * n // parts]
        self.shard_of = (part, parts)
        self.n_all = n


class FolderSource(PhotoSource):
    def __init__(self, root: Path, exclude: tuple[Path, ...] = ()) -> None:
        self.root = Path(root)
        self.files = list_image_files(self.root, exclude)
        self.description = str(self.root)
        self.indices = list(range(len(self.files)))

    def read(self, index, size, channels):
        return read_photo(self.files[index], self.root, size, channels)

    def fingerprint(self) -> str:
        base = self.root if self.root.is_dir() else self.root.parent
        h = hashlib.sha256()
        for f in self.files:
            size = f.stat().st_size if f.exists() else -1  # a broken link is listed too
            h.update(f"{f.relative_to(base)}\0{size}\n".encode())
        return h.hexdigest()


class FileListSource(PhotoSource):
    """Photos named one by one; labels from their folder names, or given."""

    def __init__(self, files: Sequence[Path], labels: Sequence[str] | None = None) -> None:
        files = list(files)
        bad = next((f for f in files if not isinstance(f, (str, os.PathLike))), None)
        if bad is not None:
            raise UsageError(f"images: the list holds a {type(bad).__name__}, not a file path: "
                             "pass paths of photos, a folder, or one uint8 array (N, H, W, C)")
        self.files = [Path(f) for f in files]
        if not self.files:
            raise ImageError("the list of images is empty: pass at least one photo")
        if labels is not None and len(labels) != len(self.files):
            raise UsageError(f"labels: {len(labels)} labels for {len(self.files)} image files: "
                             "pass one label per file, in the same order")
        self.labels = list(labels) if labels is not None else None
        self.description = f"{len(self.files)} files"
        self.indices = list(range(len(self.files)))

    def read(self, index, size, channels):
        path = self.files[index]
        got = read_photo(path, path.parent.parent, size, channels)
        if isinstance(got, Photo):
            got.label = self.labels[index] if self.labels else label_for(path, path.parent.parent)
        return got

    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(map(str, self.files)).encode()).hexdigest()


class ArraySource(PhotoSource):
    """uint8 images in memory (N, H, W, C), resized to the model's input when needed."""

    def __init__(self, pixels: np.ndarray, labels: Sequence[str] | None = None,
                 name: str = "array") -> None:
        try:
            pixels = np.asarray(pixels)
        except ValueError:  # a ragged list of images
            raise UsageError("images: the images have different shapes: pass one uint8 array "
                             "(N, H, W, C) of equal-sized images") from None
        shape = tuple(pixels.shape)
        expected = ("pass uint8 images as an array of shape (N, H, W, C) with C = 1 or 3, "
                    "or (N, H, W) for grayscale")
        if pixels.ndim == 3 and shape[-1] in (1, 3, 4):
            raise UsageError(f"images array of shape {shape} looks like one H x W x C image, "
                             f"not a batch: {expected} (images[None] for one image)")
        read_as = "N x H x W grayscale" if pixels.ndim == 3 else "N x H x W x C"
        if pixels.ndim == 3:
            pixels = pixels[..., None]
        if pixels.ndim != 4 or pixels.shape[-1] not in (1, 3):
            raise UsageError(f"images array of shape {shape} is not a batch of images: "
                             f"{expected}")
        if not len(pixels) or not all(pixels.shape[1:3]):
            raise UsageError(f"images array of shape {shape} holds no pixels: {expected}")
        if pixels.dtype != np.uint8:
            raise UsageError(f"images array has dtype {pixels.dtype}: pass uint8 pixels 0..255")
        if labels is not None and len(labels) != len(pixels):
            raise UsageError(f"labels: {len(labels)} labels for the {len(pixels)} images of an "
                             f"array of shape {shape} (read as {read_as}): pass one label "
                             f"per image, or fix the array's shape ({expected})")
        self.pixels, self.labels, self.name = pixels, labels, name
        self.description = f"{name} {tuple(pixels.shape)}"
        self.indices = list(range(len(pixels)))

    def read(self, index, size, channels):
        img = self.pixels[index]
        if img.shape[:2] != tuple(size) or img.shape[-1] != channels:
            mode = "L" if img.shape[-1] == 1 else "RGB"
            pil = Image.fromarray(img[..., 0] if mode == "L" else img, mode)
            pil = pil.convert("L" if channels == 1 else "RGB").resize(
                (size[1], size[0]), Image.BILINEAR)
            img = np.asarray(pil, np.uint8)
            img = img[..., None] if img.ndim == 2 else img
        label = str(self.labels[index]) if self.labels is not None else "unknown"
        return Photo(Path(f"{self.name}/{index:05d}.png"), label, img)

    def fingerprint(self) -> str:
        return hashlib.sha256(self.pixels.tobytes()).hexdigest()
