"""Square attack (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
adversarial attack via random search"), L-inf, on the uint8 grid.

It never asks for a gradient, so it still works where gradients are masked (a quantising front
end, a saturated softmax): the cross-check of every gradient attack. It starts from vertical
stripes of +-eps, then, once per query, sets a random square window to +-eps per channel and
keeps the change when the logit margin falls. The window's share of the image starts at
p_init = 0.8 and halves at the published fractions of the query budget (after 10, 50, 200, 500,
1000, 2000, 4000, 6000 and 8000 of 10,000 queries). Perturbations are whole counts, so every
point it evaluates is a saved PNG exactly.

Each image is a job in the engine's slot pool (``search.RandomSearch``: seeded per image, one
query per step, no gradient evaluations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ..classifier import Classifier
from ..threats.base import halvings
from .search import RandomSearch, SearchProgram

P_INIT = 0.8


def window_size(i: tf.Tensor, n_iters: tf.Tensor, height: int, width: int,
                p_init: float = P_INIT) -> tf.Tensor:
    """Side of the square window at iteration ``i`` of ``n_iters`` (0-based, per sample): the
    share p of the image halves at each published fraction; side round(sqrt(p h w)), kept in
    1..min(h, w) - 1 as in the authors' code."""
    p = p_init * tf.pow(0.5, halvings(i, n_iters))
    side = tf.round(tf.sqrt(p * height * width))
    return tf.cast(tf.clip_by_value(side, 1.0, float(max(1, min(height, width) - 1))), tf.int32)


@dataclass(eq=False)
class SquareProgram(SearchProgram):
    """One Square run per sample. State: the point to evaluate (``x``) and the kept (accepted)
    point; consts: x0, up and down (x0 +- eps inside 0..255), label, target, rng_key and the
    pool's max_steps (the queries after the first, which set the window schedule)."""

    p_init: float = P_INIT
    jit_compile: bool = False

    def propose(self, kept, consts, taken):
        return self.window(kept["x"], consts, taken), {}

    def window(self, kept_x, consts, taken):
        """The kept point with one random square window set to +-eps per channel."""
        x0 = consts["x0"]
        _, height, width, channels = x0.shape
        side = window_size(taken, consts["max_steps"], height, width, self.p_init)
        seeds = tf.stack([tf.cast(consts["rng_key"], tf.int64), tf.cast(taken, tf.int64)], 1)
        u = tf.map_fn(lambda seed: tf.random.stateless_uniform([3 + channels], seed, alg="philox"),
                      seeds, fn_output_signature=tf.float32)
        top = tf.cast(tf.floor(u[:, 0] * tf.cast(height - side + 1, tf.float32)), tf.int32)
        left = tf.cast(tf.floor(u[:, 1] * tf.cast(width - side + 1, tf.float32)), tf.int32)
        rows = tf.range(height)[None, :]
        cols = tf.range(width)[None, :]
        in_rows = (rows >= top[:, None]) & (rows < (top + side)[:, None])
        in_cols = (cols >= left[:, None]) & (cols < (left + side)[:, None])
        inside = tf.cast(in_rows[:, :, None, None] & in_cols[:, None, :, None], tf.float32)
        up, down = consts["up"], consts["down"]
        # per channel: does the kept point already sit at +eps (or -eps) all over the window?
        at_up = tf.equal(tf.reduce_max(inside * tf.abs(kept_x - up), axis=[1, 2]), 0.0)
        at_down = tf.equal(tf.reduce_max(inside * tf.abs(kept_x - down), axis=[1, 2]), 0.0)
        signs = u[:, 3:] < 0.5
        # a window that would change nothing flips one random channel, so no query is wasted
        unchanged = tf.reduce_all(tf.where(signs, at_up, at_down), axis=1)
        channel = tf.cast(tf.floor(u[:, 2] * channels), tf.int32)
        flip = tf.one_hot(channel, channels, on_value=True, off_value=False)
        signs = tf.math.logical_xor(signs, flip & unchanged[:, None])
        window = down + (up - down) * tf.cast(signs, tf.float32)[:, None, None, :]
        return kept_x + inside * (window - kept_x)  # exact: whole counts times 0 or 1


def stripes(x0: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """The published start for one image: every column of every channel shifted by +-eps."""
    _, width, channels = x0.shape
    shift = radius * rng.choice([-1.0, 1.0], size=(1, width, channels))
    return np.clip(x0 + shift, 0, 255).astype(np.float32)


class Square(RandomSearch):
    name = "square"
    about = ("random search: square windows of +-eps accepted when the margin falls, window "
             "shrinking with the query budget; no gradients (Andriushchenko et al. 2020)")

    def program(self, classifier: Classifier, budget, jit_compile: bool) -> SquareProgram:
        return classifier.program((self.name, jit_compile),
                                  lambda: SquareProgram(classifier, jit_compile=jit_compile))

    def begin(self, x0, budget, rngs, x_start):
        radius = budget.threat.radius(budget.eps)
        if x_start is None:
            start = np.stack([stripes(x, radius, rng) for x, rng in zip(x0, rngs, strict=True)])
        else:
            start = np.asarray(x_start, np.float32)
        return start, {"up": np.clip(x0 + radius, 0, 255), "down": np.clip(x0 - radius, 0, 255)}
