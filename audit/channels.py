"""The roads a photo travels after the attack: re-encoded as JPEG, resized on upload.

A flip that lives only in a lossless PNG may die on the way to a model in the world: sites
re-encode photos as JPEG (quality 75 to 95) and resize them. Every flipped photo's saved PNG is
therefore also passed through each channel below and classified again; its row records which
channels the flip survives (``survives``) and the summary the share that survive each one.

Each channel is deterministic, so a re-check reproduces: JPEG through Pillow's libjpeg
(baseline, 4:2:0 chroma subsampling as common upload paths use; a one-channel photo as a
grayscale JPEG), resizing through OpenCV (area averaging down to half the size, bilinear back
up to the photo's own size, as a site that shows a thumbnail and a model that reads it at its
own input size would).
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image


class Channel(ABC):
    name: str  # the key in rows and summaries: "jpeg85", "resize0.5"
    about: str  # how views write it

    @abstractmethod
    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """One uint8 HxWxC photo after the channel, uint8 of the same shape."""

    def batch(self, pixels: np.ndarray) -> np.ndarray:
        return np.stack([self.apply(np.asarray(p, np.uint8)) for p in pixels]) if len(pixels) \
            else np.zeros_like(pixels, np.uint8)


@dataclass(frozen=True)
class Jpeg(Channel):
    quality: int

    @property
    def name(self) -> str:
        return f"jpeg{self.quality}"

    @property
    def about(self) -> str:
        return f"JPEG q={self.quality}"

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        gray = pixels.shape[-1] == 1
        img = Image.fromarray(pixels[..., 0] if gray else pixels, "L" if gray else "RGB")
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=self.quality, subsampling="4:2:0", optimize=False)
        with Image.open(io.BytesIO(buf.getvalue())) as back:
            out = np.asarray(back.convert("L" if gray else "RGB"), np.uint8)
        return out[..., None] if gray else out


@dataclass(frozen=True)
class Resize(Channel):
    factor: float

    @property
    def name(self) -> str:
        return f"resize{self.factor:g}"

    @property
    def about(self) -> str:
        return f"resized to {self.factor:g}x and back"

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        h, w = pixels.shape[:2]
        small = cv2.resize(pixels, (max(1, round(w * self.factor)), max(1, round(h * self.factor))),
                           interpolation=cv2.INTER_AREA)
        back = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        return back.reshape(pixels.shape).astype(np.uint8)


CHANNELS: dict[str, Channel] = {c.name: c for c in (Jpeg(95), Jpeg(85), Jpeg(75), Resize(0.5))}


def written(name: str) -> str:
    """How views write a channel a results file names (the name itself when unknown)."""
    channel = CHANNELS.get(name)
    return channel.about if channel else str(name)


def parse(text: str) -> Channel:
    """``--channel jpeg:85`` or ``resize:0.5`` (or a name such as ``jpeg85``) as a channel;
    ValueError naming the forms when it is none."""
    kind, _, value = str(text).strip().lower().partition(":")
    if not value and text in CHANNELS:
        return CHANNELS[text]
    try:
        if kind == "jpeg" and value.isdigit() and 1 <= int(value) <= 100:
            return Jpeg(int(value))
        if kind == "resize" and 0 < float(value) < 1:
            return Resize(float(value))
    except ValueError:
        pass
    raise ValueError(f"--channel {text} is not a channel: give jpeg:Q (quality 1..100, e.g. "
                     "jpeg:85) or resize:F (a factor between 0 and 1, e.g. resize:0.5)")
