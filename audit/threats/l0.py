"""L0: at most k pixel positions change, each to any value on every channel (the "few pixels"
threat; k = 1 is the one-pixel attack).

Sparse-RS (Croce et al. 2022) searches it as a set M of k positions set to random corners of the
colour cube (each channel 0 or 255): each proposal moves a share of M, alpha * k positions
(at least one), to positions outside M with new random colours, so the count stays k. alpha
starts at 0.3 and halves on Square's schedule."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .base import SparseThreat, halvings, uniform

ALPHA_INIT = 0.3


def changed_positions(clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
    """Per image and pixel (N, H, W): whether any channel differs."""
    return np.any(np.asarray(adv) != np.asarray(clean), axis=-1)


def _pick(score: tf.Tensor, count: tf.Tensor, allowed: tf.Tensor, most: tf.Tensor
          ) -> tuple[tf.Tensor, tf.Tensor]:
    """Per image, ``count`` random positions among the ``allowed`` ones ([B, n] bool): the
    lowest scores, found with top-k over at most ``most`` of them (no full sort). Returns the
    [B, most] positions and whether each is taken."""
    values, idx = tf.math.top_k(tf.where(allowed, -score, -2.0), k=most)
    return idx, (tf.range(most)[None, :] < count[:, None]) & (values > -2.0)


def _set(flat: tf.Tensor, idx: tf.Tensor, take: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """``flat`` ([B, n, ...]) with the taken [B, most] positions set to ``values``
    ([B, most, ...]): a scatter of a few rows, not a pass over the image."""
    rows = tf.broadcast_to(tf.range(tf.shape(idx)[0])[:, None], tf.shape(idx))
    where = tf.boolean_mask(tf.stack([rows, idx], -1), take)
    return tf.tensor_scatter_nd_update(flat, where, tf.boolean_mask(values, take))


class L0(SparseThreat):
    name = "l0"
    symbol = "L0"
    about = "at most eps pixel positions change, each to any colour"
    unit = "pixels"
    budget_unit = "pixels"
    marks = "pixels"
    state_keys = ("mask",)

    def eps_text(self, eps: float | None) -> str:
        if eps is None:
            return "unbounded"
        k = int(eps)
        return f"{k} pixel" + ("" if k == 1 else "s")

    def describe(self, eps: float | None) -> str:
        return self.eps_text(eps)

    def search_phrase(self, eps):
        return f"Changes of at most {self.eps_text(eps)} per image", False

    def curve_axis(self):
        return "budget (pixels changed)"

    def distance(self, clean, adv):
        return changed_positions(clean, adv).reshape(len(clean), -1).sum(axis=1).astype(
            np.float64)

    def shrink(self, clean, adv, eps):
        """The ``eps`` positions with the largest change kept, the others restored."""
        n, h, w, c = clean.shape
        change = np.abs(np.asarray(adv, np.float64) - clean).sum(axis=-1).reshape(n, h * w)
        order = np.argsort(-change, axis=1, kind="stable")
        keep = np.zeros((n, h * w), bool)
        np.put_along_axis(keep, order[:, :int(eps)], True, axis=1)
        keep = (keep & (change > 0)).reshape(n, h, w, 1)
        return np.where(keep, adv, clean).astype(np.float32)

    def fits(self, eps, height, width):
        if self.radius(eps) >= height * width:
            return (f"--eps {eps:g} pixels is the whole {height}x{width} input; give fewer "
                    "pixels than that")
        return None

    def _draw(self, x0: np.ndarray, k: int, rng: np.random.Generator, count: int
              ) -> tuple[np.ndarray, np.ndarray]:
        h, w, c = x0.shape
        x = np.repeat(x0[None].astype(np.float32), count, axis=0)
        masks = np.zeros((count, h * w), np.float32)
        for i in range(count):
            where = rng.choice(h * w, size=min(k, h * w), replace=False)
            colours = 255.0 * rng.integers(0, 2, size=(len(where), c))
            x[i].reshape(h * w, c)[where] = colours
            masks[i, where] = 1.0
        return x, masks.reshape(count, h, w)

    def start(self, x0, eps, rng):
        x, masks = self._draw(x0, int(self.radius(eps)), rng, 1)
        return x[0], {"mask": masks[0]}

    def corners(self, x0, eps, rng, count):
        return self._draw(x0, int(self.radius(eps)), rng, count)[0]

    def propose(self, kept, consts, taken):
        x0 = consts["x0"]
        _, h, w, c = x0.shape
        n = h * w
        k = tf.cast(consts["radius"], tf.int32)
        inside = tf.reshape(kept["mask"] > 0.5, [-1, n])
        alpha = ALPHA_INIT * tf.pow(0.5, halvings(taken, consts["max_steps"]))
        share = tf.cast(tf.round(alpha * tf.cast(k, tf.float32)), tf.int32)
        # at least one position, never more than are inside or outside
        moved = tf.minimum(tf.maximum(share, 1), tf.minimum(k, n - k))
        most = tf.maximum(tf.reduce_max(moved), 1)
        u = uniform(consts, taken, [2, n], stream=0)
        remove, removing = _pick(u[:, 0], moved, inside, most)
        add, adding = _pick(u[:, 1], moved, ~inside, most)
        # never more in than out: the count of changed positions stays within k
        adding &= tf.range(most)[None, :] < tf.reduce_sum(tf.cast(removing, tf.int32), 1)[:, None]
        colours = tf.where(uniform(consts, taken, tf.stack([most, c]), stream=1) < 0.5,
                           0.0, 255.0)
        flat = tf.reshape(kept["x"], [-1, n, c])
        restore = tf.gather(tf.reshape(x0, [-1, n, c]), remove, batch_dims=1)
        flat = _set(_set(flat, remove, removing, restore), add, adding, colours)
        ones = tf.ones_like(remove, tf.float32)
        mask = _set(_set(tf.cast(inside, tf.float32), remove, removing, 0.0 * ones), add,
                    adding, ones)
        return tf.reshape(flat, tf.shape(x0)), {"mask": tf.reshape(mask, [-1, h, w])}
