"""Patch: one s x s square anywhere in the photo, with any content (the digital twin of a
sticker).

Sparse-RS (Croce et al. 2022) searches the location and the content: four proposals in five
change the content, a square window of the patch set to a random corner of the colour cube
(its share of the patch starts at 0.4 and halves on Square's schedule), and the fifth moves the
patch by a random shift that shrinks on the same schedule. The patch starts at a random place
with random vertical stripes.

A patch is *placeable*: one content can be fitted for every photo (``--universal``, the
physical sticker; ``audit.attacks.universal_patch``). The fitting draws its content proposals
here (``propose_content``), and the per-photo search then only moves the fixed content
(``placed`` starts it, ``propose`` with a ``fixed_canvas`` constant moves it every query)."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .base import HALVE_AFTER, SparseThreat, halvings, uniform
from .l0 import changed_positions

P_INIT = 0.4
MOVE_EVERY = 5  # one proposal in five moves the patch


def extent(clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
    """Per image, the side of the smallest square holding every changed pixel (0: none)."""
    changed = changed_positions(clean, adv)
    rows, cols = changed.any(axis=2), changed.any(axis=1)

    def span(hit: np.ndarray) -> np.ndarray:
        first = np.argmax(hit, axis=1)
        last = hit.shape[1] - 1 - np.argmax(hit[:, ::-1], axis=1)
        return np.where(hit.any(axis=1), last - first + 1, 0)

    return np.maximum(span(rows), span(cols)).astype(np.float64)


def paste(x0: tf.Tensor, canvas: tf.Tensor, top: tf.Tensor, left: tf.Tensor,
          side: tf.Tensor) -> tf.Tensor:
    """x0 with canvas[:side, :side] placed at (top, left), per image."""
    _, h, w, _ = x0.shape
    top, left = tf.cast(top, tf.int32), tf.cast(left, tf.int32)
    side = tf.cast(side, tf.int32)
    r = tf.range(h)[None, :] - top[:, None]
    c = tf.range(w)[None, :] - left[:, None]
    moved = tf.gather(canvas, tf.clip_by_value(r, 0, h - 1), axis=1, batch_dims=1)
    moved = tf.gather(moved, tf.clip_by_value(c, 0, w - 1), axis=2, batch_dims=1)
    inside = ((r >= 0) & (r < side[:, None]))[:, :, None, None] & \
        ((c >= 0) & (c < side[:, None]))[:, None, :, None]
    return tf.where(inside, moved, x0)


class Patch(SparseThreat):
    name = "patch"
    symbol = "patch"
    about = "one eps x eps square anywhere in the photo, any content"
    unit = "pixels of the square's side"
    budget_unit = "pixels (the square's side)"
    marks = "outline"
    state_keys = ("top", "left", "canvas")
    placeable = True  # one content can be placed on every photo (--universal)

    def eps_text(self, eps: float | None) -> str:
        if eps is None:
            return "unbounded"
        return f"{int(eps)}\u00d7{int(eps)}"

    def search_phrase(self, eps):
        return f"A patch of at most {self.eps_text(eps)} pixels anywhere in the image", True

    def curve_axis(self):
        return "budget (patch side, pixels)"

    def distance(self, clean, adv):
        return extent(clean, adv)

    def shrink(self, clean, adv, eps):
        """The ``eps`` x ``eps`` square at the top left of each change's extent kept, the rest
        restored."""
        changed = changed_positions(clean, adv)
        out = np.asarray(clean, np.float32).copy()
        s = int(eps)
        for i in range(len(clean)):
            rows, cols = np.flatnonzero(changed[i].any(axis=1)), np.flatnonzero(
                changed[i].any(axis=0))
            if rows.size:
                r, c = rows[0], cols[0]
                out[i, r:r + s, c:c + s] = adv[i, r:r + s, c:c + s]
        return out

    def fits(self, eps, height, width):
        if self.radius(eps) > min(height, width):
            return (f"--eps {eps:g}: a {int(eps)}x{int(eps)} patch does not fit the "
                    f"{height}x{width} input; give at most {min(height, width)}")
        return None

    def stripes(self, side: int, channels: int, rng: np.random.Generator) -> np.ndarray:
        """A patch's first content: random vertical stripes of colour-cube corners."""
        return np.repeat(255.0 * rng.integers(0, 2, size=(1, side, channels)), side,
                         axis=0).astype(np.float32)

    def placed(self, x0: np.ndarray, content: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One image with ``content`` (s x s x C counts) at a random place, and the search
        state that says so."""
        h, w, _ = x0.shape
        s = content.shape[0]
        top, left = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        return self._put(x0, content, top, left)

    @staticmethod
    def _put(x0: np.ndarray, content: np.ndarray, top: int, left: int
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        h, w, c = x0.shape
        s = content.shape[0]
        canvas = np.zeros((h, w, c), np.float32)
        canvas[:s, :s] = content
        x = x0.astype(np.float32).copy()
        x[top:top + s, left:left + s] = content
        return x, {"top": np.float32(top), "left": np.float32(left), "canvas": canvas}

    def _draw(self, x0: np.ndarray, s: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        h, w, c = x0.shape
        top, left = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        return self._put(x0, self.stripes(s, c, rng), top, left)

    def start(self, x0, eps, rng):
        return self._draw(x0, int(self.radius(eps)), rng)

    def propose_content(self, content: np.ndarray, taken: int, n_iters: int,
                        rng: np.random.Generator) -> np.ndarray:
        """The universal patch's next content: a square window of it (its share of the patch
        halving on Square's schedule, like a per-photo patch's) set to one random corner of
        the colour cube."""
        s, _, c = content.shape
        share = P_INIT * 0.5 ** sum(taken * 10000 // max(n_iters, 1) > t for t in HALVE_AFTER)
        win = int(np.clip(round(math.sqrt(share) * s), 1, s))
        r, col = rng.integers(0, s - win + 1, size=2)
        out = content.copy()
        out[r:r + win, col:col + win] = 255.0 * rng.integers(0, 2, size=c)
        return out

    def corners(self, x0, eps, rng, count):
        s = int(self.radius(eps))
        out = []
        for _ in range(count):
            x, state = self._draw(x0, s, rng)
            top, left = int(state["top"]), int(state["left"])
            x[top:top + s, left:left + s] = 255.0 * rng.integers(0, 2, size=(s, s, x0.shape[2]))
            out.append(x)
        return np.stack(out)

    def propose(self, kept, consts, taken):
        x0 = consts["x0"]
        _, h, w, c = x0.shape
        s = tf.cast(consts["radius"], tf.float32)
        share = P_INIT * tf.pow(0.5, halvings(taken, consts["max_steps"]))
        u = uniform(consts, taken, [4 + c], stream=1)
        # content: a window of the patch, side sqrt(share) * s, to one random colour
        win = tf.clip_by_value(tf.round(tf.sqrt(share) * s), 1.0, tf.maximum(s, 1.0))
        wr = tf.floor(u[:, 0] * (s - win + 1))
        wc = tf.floor(u[:, 1] * (s - win + 1))
        rows = tf.range(h, dtype=tf.float32)[None, :]
        cols = tf.range(w, dtype=tf.float32)[None, :]
        in_win = ((rows >= wr[:, None]) & (rows < (wr + win)[:, None]))[:, :, None, None] & \
            ((cols >= wc[:, None]) & (cols < (wc + win)[:, None]))[:, None, :, None]
        colour = tf.where(u[:, 4:] < 0.5, 0.0, 255.0)[:, None, None, :]
        canvas = tf.where(in_win, colour, kept["canvas"])
        # location: a shift of up to share * (room) in each direction
        room_h, room_w = float(h) - s, float(w) - s
        reach_h = tf.maximum(1.0, tf.round(share * room_h))
        reach_w = tf.maximum(1.0, tf.round(share * room_w))
        top = tf.clip_by_value(kept["top"] + tf.floor(u[:, 2] * (2 * reach_h + 1)) - reach_h,
                               0.0, room_h)
        left = tf.clip_by_value(kept["left"] + tf.floor(u[:, 3] * (2 * reach_w + 1)) - reach_w,
                                0.0, room_w)
        move = tf.equal(tf.math.floormod(taken, MOVE_EVERY), MOVE_EVERY - 1)
        if "fixed_canvas" in consts:  # a universal patch: its content stays, every query moves
            move = tf.ones_like(move)
        canvas = tf.where(move[:, None, None, None], kept["canvas"], canvas)
        top = tf.where(move, top, kept["top"])
        left = tf.where(move, left, kept["left"])
        x = paste(x0, canvas, top, left, s)
        return x, {"top": top, "left": left, "canvas": canvas}
