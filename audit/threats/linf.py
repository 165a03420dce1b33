"""L-inf: every pixel value may move by at most eps counts (4 means 4/255), the classic ball."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from .. import engine
from ..formatting import counts
from .base import BallThreat, flat_delta


class LInf(BallThreat):
    name = "linf"
    symbol = "L\u221e"
    about = "every pixel value moves by at most eps counts (4 means 4/255)"
    # A sign step clipped to this ball and rounded is exact elementwise arithmetic, so XLA may
    # fuse the update without changing a single pixel (the engine says why not more).
    exact_sign_update = True

    def radius(self, eps: float) -> float:
        """Whole counts: a delta of 4.5 counts cannot be saved, and rounding x0 + 4.5 to the
        grid could land on 5."""
        return float(math.floor(eps + 1e-6)) if math.isfinite(eps) else eps

    def eps_text(self, eps: float | None) -> str:
        return counts(eps)

    def describe(self, eps: float | None) -> str:
        return self.eps_text(eps)  # "4/255" says L-inf to every reader of the field

    def search_phrase(self, eps):
        return f"Changes of at most {counts(eps)} per pixel", False

    def steps_phrase(self, eps: float | None, step: float | None, steps: int, up_to: str
                     ) -> tuple[str, bool]:
        """The reach of ``steps`` constant steps, and whether its subject is singular."""
        per_pixel = eps
        if step is not None and steps:
            per_pixel = steps * step if eps is None else min(eps, steps * step)
        reach = f"at most {counts(per_pixel)} per pixel"
        if steps <= 1:
            return f"One change of {reach}", True
        return f"{up_to}{steps} steps of {counts(step)}, {reach} in total,", False

    def curve_axis(self):
        return "budget eps (counts of 255, per pixel)"

    def distance(self, clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
        delta = flat_delta(clean, adv)
        return np.abs(delta).max(axis=1) if delta.size else np.zeros(len(clean))

    def shrink(self, clean, adv, eps):
        return np.clip(np.clip(adv, clean - eps, clean + eps), 0, 255)

    def ball(self) -> engine.Projection:
        return engine.linf_ball()

    def steepest_direction(self, grad: tf.Tensor) -> tf.Tensor:
        return tf.sign(grad)

    def steepest_rule(self, step: float) -> engine.StepRule:
        return engine.SignStep(step)

    def random_delta(self, shape, eps, rng):
        e = int(math.floor(eps + 1e-6))
        return rng.integers(-e, e + 1, size=shape).astype(np.float32)

    def random_start(self, x0, eps, rng):
        r = self.radius(eps)
        delta = rng.uniform(-r, r, size=x0.shape).astype(np.float32)
        return np.clip(x0 + delta, 0, 255).astype(np.float32)

    def corners(self, x0, eps, rng, count):
        """Every value moved by the whole-count radius, with random signs."""
        signs = rng.choice(np.array([-1.0, 1.0], np.float32), size=(count, *x0.shape))
        return np.clip(x0 + signs * self.radius(eps), 0, 255)
