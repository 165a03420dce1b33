"""Numbers an audit reports: perturbation sizes, image quality, flip rates with honest intervals.

Perturbations are measured in counts (0..255 units), the scale the budget was given in.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> list[float]:
    """Wilson score interval: stays inside [0, 1] and is sane at 0/n and n/n, unlike Wald."""
    if trials == 0:
        return [0.0, 1.0]
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def perturbation_norms(clean: np.ndarray, adv: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: L0 (pixels with any channel changed), L2 and L-inf of the delta, in counts."""
    delta = adv.astype(np.float64) - clean.astype(np.float64)
    flat = delta.reshape(len(delta), int(np.prod(delta.shape[1:])))
    changed_pixels = np.any(delta != 0, axis=-1).reshape(len(delta), flat.shape[1] // max(
        1, delta.shape[-1]))
    return {
        "l0": changed_pixels.sum(axis=1).astype(int),
        "l2": np.sqrt((flat**2).sum(axis=1)),
        "linf": np.abs(flat).max(axis=1) if flat.size else np.zeros(len(delta)),
    }


SSIM_WINDOW = 11  # tf.image.ssim's Gaussian window (Wang et al. 2004)


def image_quality(clean: np.ndarray, adv: np.ndarray, batch: int = 32) -> dict[str, np.ndarray]:
    """PSNR (dB, None where identical) and SSIM, from tf.image on the 0..255 images, ``batch``
    images at a time (SSIM's intermediate tensors are many times the images' size).

    SSIM is defined over 11x11 windows; for images smaller than that it is NaN (null in
    results.json) rather than a number from a different window, and never a crash that
    would cost the attack's work.
    """
    measurable = min(clean.shape[1:3], default=0) >= SSIM_WINDOW
    psnr, ssim = [], []
    for lo in range(0, len(clean), batch):
        a = tf.constant(clean[lo:lo + batch], tf.float32)
        b = tf.constant(adv[lo:lo + batch], tf.float32)
        psnr.append(tf.image.psnr(a, b, max_val=255.0).numpy())
        ssim.append(tf.image.ssim(a, b, max_val=255.0, filter_size=SSIM_WINDOW).numpy()
                    if measurable else np.full(len(a), np.nan, np.float32))
    empty = np.zeros(0, np.float32)
    return {"psnr": np.concatenate(psnr) if psnr else empty,
            "ssim": np.concatenate(ssim) if ssim else empty}


def delta_histograms(clean: np.ndarray, adv: np.ndarray, bound: int) -> dict:
    """Integer histograms of per-pixel deltas in -bound..bound, one per channel.

    Values beyond the bound (possible under L2 budgets) are folded into the end bins.
    """
    delta = np.clip(adv.astype(np.int32) - clean.astype(np.int32), -bound, bound)
    names = channel_names(delta.shape[-1])
    return {
        "values": list(range(-bound, bound + 1)),
        "channels": {
            name: np.bincount(delta[..., c].ravel() + bound, minlength=2 * bound + 1).tolist()
            for c, name in enumerate(names)
        },
    }


class DeltaHistogram:
    """Per-channel counts of every pixel delta (-255..255), accumulated chunk by chunk so an
    audit of any size needs one small array; ``result`` crops it to the deltas that occurred."""

    def __init__(self, channels: int) -> None:
        self.counts = np.zeros((channels, 511), np.int64)

    def add(self, clean: np.ndarray, adv: np.ndarray) -> None:
        delta = adv.astype(np.int32) - clean.astype(np.int32) + 255
        for c in range(self.counts.shape[0]):
            self.counts[c] += np.bincount(delta[..., c].ravel(), minlength=511)

    def result(self, bound: int) -> dict:
        """As ``delta_histograms`` with this bound: values beyond it fold into the end bins."""
        names = channel_names(self.counts.shape[0])
        lo, hi = 255 - bound, 255 + bound
        channels = {}
        for c, name in enumerate(names):
            row = self.counts[c]
            bins = row[lo:hi + 1].copy()
            bins[0] += row[:lo].sum()
            bins[-1] += row[hi + 1:].sum()
            channels[name] = bins.tolist()
        return {"values": list(range(-bound, bound + 1)), "channels": channels}


def channel_names(channels: int) -> list[str]:
    return ["gray"] if channels == 1 else ["red", "green", "blue"][:channels]


def mean_abs_delta_map(clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
    """Mean |delta| per pixel position over images and channels: where attacks push."""
    if len(clean) == 0:
        return np.zeros(clean.shape[1:3])
    return np.abs(adv.astype(np.float32) - clean.astype(np.float32)).mean(axis=(0, 3))


def integer_histogram(values: list[int]) -> dict[str, int]:
    """Counts per integer value, keys as strings (JSON object keys), sorted numerically."""
    out: dict[str, int] = {}
    for v in sorted(values):
        out[str(v)] = out.get(str(v), 0) + 1
    return out
