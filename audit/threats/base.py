"""What a threat model is: the set of images an attacker may reach from a clean one.

A budget carries one (``Budget.threat``) with a size, ``eps``, in the threat model's own unit:
counts per pixel (L-inf), counts in total (L2), pixels (L0), a square's side (patch). Everything
that depends on *which* set it is lives here, so the attacks, the sweep, the verdict and the
views ask the threat model instead of comparing norm names:

* how the budget is validated, and the radius an attack on the uint8 grid can use;
* how it is written (console, report, CI formats), and the distance it reports per image;
* whether an image lies inside it (the deliverable check re-reads every PNG with this);
* a random point at its edge (the attack unit test plants its adversarial there);
* for *ball* threat models (``BallThreat``: every pixel may move a little), what gradient
  attacks need: the projection, the steepest step, uniform random starts;
* for *sparse* ones (``SparseThreat``: a few positions may change to anything), what the
  Sparse-RS random search needs: its start and its proposals (``audit.attacks.sparse_rs``).

A threat model holds no size of its own: one object per kind, named in ``THREATS``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import tensorflow as tf

from .. import engine
from ..errors import UsageError


class ThreatModel(ABC):
    """One kind of threat; ``eps`` (a float, in the kind's unit) says how large."""

    name: ClassVar[str]  # the registry's and the command line's name (--threat)
    symbol: ClassVar[str]  # how views name it: "L∞", "L2", "L0", "patch"
    about: ClassVar[str]
    dense: ClassVar[bool]  # every pixel may move (a ball) rather than a few positions
    unit: ClassVar[str]  # what eps counts, for messages
    one: ClassVar[str]  # one unit of eps: "count", "pixel"
    budget_unit: ClassVar[str]  # what results.json says eps is counted in
    # How the report shows one image's change beside it: "diff" (the amplified difference:
    # every pixel moved a little), "pixels" (the changed pixels circled on the clean image) or
    # "outline" (the square holding the changes outlined on it).
    marks: ClassVar[str] = "diff"
    # whether the trust checks' probe (BIM in L-inf for ball threat models, Sparse-RS for
    # sparse ones) measures budgets in this threat model's unit (the report marks eps there)
    trust_probe_in_own_unit: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"<threat {self.name}>"

    def check_eps(self, eps: float) -> None:
        """Raise a UsageError naming the fix when ``eps`` is no budget of this kind."""
        if isinstance(eps, bool) or not (isinstance(eps, (int, float)) and math.isfinite(eps)
                                         and eps >= 0):
            raise UsageError(f"--eps {eps} is not a budget: give a finite number >= 0 of "
                             f"{self.unit}")

    def fits(self, eps: float, height: int, width: int) -> str | None:
        """Why the budget cannot be used on a height x width input (one line naming the fix),
        or None."""
        return None

    @abstractmethod
    def radius(self, eps: float) -> float:
        """The budget an attack on the uint8 grid can use in full."""

    @abstractmethod
    def eps_text(self, eps: float | None) -> str:
        """The budget's size as views write it ("4/255", "60", "20 pixels", "8×8")."""

    def describe(self, eps: float | None) -> str:
        """The whole budget in one phrase: "L∞ 4/255", "L2 60", "20 pixels", "patch 8×8"."""
        return f"{self.symbol} {self.eps_text(eps)}"

    @abstractmethod
    def search_phrase(self, eps: float | None) -> tuple[str, bool]:
        """The reach of an attack that searches the whole budget, as the report's sentence
        opens ("Changes of at most 4/255 per pixel"), and whether its subject is singular."""

    @abstractmethod
    def curve_axis(self) -> str:
        """The flip-rate curve's x axis title."""

    @abstractmethod
    def distance(self, clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
        """Per image, how much of this kind of budget the change uses (float64)."""

    def within(self, clean: np.ndarray, adv: np.ndarray, eps: float) -> np.ndarray:
        """Per image, whether ``adv`` lies inside the budget around ``clean``."""
        return self.distance(clean, adv) <= self.radius(eps) + 1e-6

    def smallest(self, clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
        """Per image, the smallest whole budget (at least 1) that holds ``adv``: the sweep's
        ordering of budgets, and its bound from a flip already found."""
        return np.maximum(1, np.ceil(self.distance(clean, adv) - 1e-6)).astype(np.int64)

    @abstractmethod
    def shrink(self, clean: np.ndarray, adv: np.ndarray, eps: int) -> np.ndarray:
        """``adv`` (N images) moved into the smaller budget ``eps`` around ``clean``, on the
        grid: where the sweep checks, and warm-starts, the next smaller budget."""

    @abstractmethod
    def corners(self, x0: np.ndarray, eps: float, rng: np.random.Generator, count: int
                ) -> np.ndarray:
        """``count`` random points of one image's budget at its edge, on the grid, as
        (count, H, W, C): the attack unit test plants its known adversarial at one of them."""


class BallThreat(ThreatModel):
    """Every pixel may move, by a total bounded in a norm: what gradient attacks search."""

    dense = True
    unit = "counts (4 means 4/255)"
    one = "count"
    budget_unit = "counts (0..255)"
    # whether a sign step clipped to the ball and rounded is exact elementwise arithmetic
    exact_sign_update: ClassVar[bool] = False

    @abstractmethod
    def steps_phrase(self, eps: float | None, step: float | None, steps: int, up_to: str
                     ) -> tuple[str, bool]:
        """The reach of ``steps`` constant steps of ``step`` (a gradient attack such as BIM),
        and whether the phrase's subject is singular."""

    @abstractmethod
    def ball(self) -> engine.Projection:
        """Back into the ball around x0 (continuous)."""

    @abstractmethod
    def steepest_direction(self, grad: tf.Tensor) -> tf.Tensor:
        """The unit step of steepest ascent in this norm."""

    @abstractmethod
    def steepest_rule(self, step: float) -> engine.StepRule:
        """The engine's step rule that moves ``step`` along ``steepest_direction``."""

    @abstractmethod
    def random_delta(self, shape: tuple[int, ...], eps: float, rng: np.random.Generator
                     ) -> np.ndarray:
        """A uniform random perturbation inside the ball, on the integer grid."""

    @abstractmethod
    def random_start(self, x0: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
        """APGD's random continuous start around one image (inside 0..255, not rounded)."""

    def grid(self) -> engine.Projection:
        """Round to whole counts, so every iterate is exactly what a saved PNG will hold."""
        return engine.pixel_grid()

    def inside(self) -> engine.Projection:
        """The ball, then the 0..255 box."""
        return engine.compose(self.ball(), engine.box(0.0, 255.0))

    def projection(self) -> engine.Projection:
        """Ball, box, grid: one object per threat model, so programs with equal rules share the
        engine's fused update (the registry holds one instance of each kind)."""
        cached = self.__dict__.get("_projection")
        if cached is None:
            cached = self.__dict__["_projection"] = engine.compose(self.inside(), self.grid())
        return cached


class SparseThreat(ThreatModel):
    """A few positions may change to any value: searched by Sparse-RS, without gradients.

    ``start`` draws one image's first point (host side, from its own generator); ``propose``
    (compiled) moves a kept point to the next candidate. The search's state besides the image
    is named by ``state_keys``: the attack keeps it beside the kept point."""

    dense = False
    one = "pixel"
    state_keys: ClassVar[tuple[str, ...]] = ()

    def check_eps(self, eps: float) -> None:
        super().check_eps(eps)
        if float(eps) != math.floor(eps):
            raise UsageError(f"--eps {eps:g} is not a whole number of {self.unit}; give e.g. "
                             f"--eps {max(1, math.floor(eps))}")

    def radius(self, eps: float) -> float:
        return float(math.floor(eps + 1e-6))

    @abstractmethod
    def start(self, x0: np.ndarray, eps: float, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One image's first point and the search state that made it."""

    @abstractmethod
    def propose(self, kept: dict[str, tf.Tensor], consts: dict[str, tf.Tensor],
                taken: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The next point to evaluate from the kept one (``kept["x"]`` and the kept state),
        and its state. ``consts`` hold x0, radius (eps), max_steps and rng_key per image."""


def flat_delta(clean: np.ndarray, adv: np.ndarray) -> np.ndarray:
    """Per image, the change as one float64 row (N, H*W*C)."""
    return (np.asarray(adv, np.float64) - np.asarray(clean, np.float64)).reshape(len(clean), -1)


def halvings(taken: tf.Tensor, n_iters: tf.Tensor) -> tf.Tensor:
    """How many times a random search's step share has halved after ``taken`` of ``n_iters``
    iterations: at the published fractions 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of
    10,000 (Square; Sparse-RS uses the same schedule)."""
    i = tf.cast(taken, tf.int64)
    scaled = i * 10000 // tf.maximum(tf.cast(n_iters, tf.int64), 1)
    return tf.add_n([tf.cast(scaled > t, tf.float32) for t in HALVE_AFTER])


HALVE_AFTER = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # per 10,000 iterations


def uniform(consts: dict[str, tf.Tensor], taken: tf.Tensor, shape: list[int] | tf.Tensor,
            stream: int) -> tf.Tensor:
    """Per image a [B, *shape] uniform draw, from (its rng_key, the iteration, ``stream``):
    what an image draws never depends on its batch slot. (A counter-based hash in elementwise
    int64 ops was measured slower than these per-image Philox draws on a CPU.)"""
    seeds = tf.stack([tf.cast(consts["rng_key"], tf.int64),
                      tf.cast(taken, tf.int64) * 16 + stream], 1)
    return tf.map_fn(lambda seed: tf.random.stateless_uniform(shape, seed, alg="philox"),
                     seeds, fn_output_signature=tf.float32)
