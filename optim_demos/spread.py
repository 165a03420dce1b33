"""N unit vectors in D dimensions spread as far apart as possible, by the attack engine.

The seed article's second side story, with its three objectives:

* ``min-angle``: maximise the smallest pairwise angle. The seed's hard minimum gives a gradient
  to one pair per step; here it is a soft minimum, ``-log(sum exp(-beta * angle)) / beta``,
  whose sharpness ``beta`` grows from 30 to 30000 per radian over the run (the soft minimum is
  within ``log(pairs) / beta`` of the true one, so the last stage optimises the true objective
  to ~0.01 degree).
* ``min-angle-var``: the seed's 0.7 * (smallest angle) - 0.3 * (sum of squared deviations of
  each vector's nearest-neighbour angle from their mean), with the same soft minimum.
* ``force``: every vector repels every other with a force of magnitude 1/d^2 along their
  chord; the objective is the total length of the tangential (on-sphere) net forces, zero at
  equilibrium. (The seed summed all components of the net force into one number before taking
  its length; here each vector's net force vector gets its own length, as the seed intended.)
  Any equilibrium zeroes it, unstable ones included, so in 3-D it often stops at a
  configuration that is balanced but not well spread: the demo reports that gap.

All three are vectorised over all pairs and over the batch, whose rows are independent random
restarts: the best row is kept. Objectives first normalise their input, so the gradient is
tangent to the sphere; the engine's ``unit_sphere`` projection puts each iterate back on it.
Angles come from ``2 * atan2(|u - v|, |u + v|)``, accurate near 0 and 180 degrees where
``arccos`` of a float32 dot product is not. The step rule is Adam (through
``engine.KerasOptimizerStep``) with a learning rate falling geometrically over 12 stages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from audit import engine

from .optima import known_optimum

LOSSES = ("min-angle", "min-angle-var", "force")
BEST_LOSS = "min-angle"
STAGES = 12


@dataclass(frozen=True)
class Schedule:
    """First- and last-stage values; stages in between are geometric."""

    sharpness: tuple[float, float] = (30.0, 3e4)  # per radian (unused by the force objective)
    learning_rate: tuple[float, float] = (3e-3, 1e-5)

    def at(self, t: float) -> tuple[float, float]:
        (s0, s1), (l0, l1) = self.sharpness, self.learning_rate
        return s0 * (s1 / s0) ** t, l0 * (l1 / l0) ** t


# Tuned on the known optima (2-D N=20, 32-D N=20, 3-D N=4..14): starting sharper than 30/rad
# or faster than 3e-3 lands N=13 in a worse local optimum. The force objective is a sum of
# lengths, flat in direction but steep near equilibrium, and needs larger early steps.
SCHEDULES = {
    "min-angle": Schedule(),
    "min-angle-var": Schedule(),
    "force": Schedule(learning_rate=(1e-1, 1e-5)),
}
VAR_WEIGHTS = (0.7, 0.3)  # the seed's coef_min, coef_var


def _unit(x: tf.Tensor) -> tf.Tensor:
    return tf.math.l2_normalize(x, axis=-1)


def _norm(t: tf.Tensor) -> tf.Tensor:
    """Euclidean length over the last axis with a finite gradient at zero."""
    return tf.sqrt(tf.reduce_sum(tf.square(t), axis=-1) + 1e-20)


def _angle(u: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
    return 2.0 * tf.atan2(_norm(u - v), _norm(u + v))


def pair_angles(u: tf.Tensor) -> tf.Tensor:
    """[B, N, D] unit vectors -> [B, N(N-1)/2] angles (radians) of the pairs i < j."""
    n = u.shape[1]
    i, j = np.triu_indices(n, 1)
    return _angle(tf.gather(u, i, axis=1), tf.gather(u, j, axis=1))


def all_angles(u: tf.Tensor) -> tf.Tensor:
    """[B, N, D] -> [B, N, N] angles, with 2*pi on the diagonal so minima skip self-pairs."""
    n = u.shape[1]
    return _angle(u[:, :, None, :], u[:, None, :, :]) + 2 * np.pi * tf.eye(n)


def soft_min(t: tf.Tensor, sharpness: tf.Tensor) -> tf.Tensor:
    """Smooth lower bound of min over the last axis; exact as sharpness -> infinity."""
    return -tf.reduce_logsumexp(-sharpness * t, axis=-1) / sharpness


def min_angle_objective(x: tf.Tensor, aux: dict[str, tf.Tensor]):
    """Minimise minus the soft minimum pairwise angle (radians)."""
    return -soft_min(pair_angles(_unit(x)), aux["sharpness"]), {}


def min_angle_var_objective(x: tf.Tensor, aux: dict[str, tf.Tensor]):
    """The seed's weighted minimum angle minus the spread of nearest-neighbour angles."""
    angles = all_angles(_unit(x))
    n = angles.shape[1]
    i, j = np.triu_indices(n, 1)
    pairs = tf.gather(tf.reshape(angles, [-1, n * n]), i * n + j, axis=1)
    nearest = tf.reduce_min(angles, axis=-1)
    spread = tf.reduce_sum(tf.square(nearest - tf.reduce_mean(nearest, -1, keepdims=True)), -1)
    w_min, w_var = VAR_WEIGHTS
    return -(w_min * soft_min(pairs, aux["sharpness"]) - w_var * spread), {}


def tangential_forces(u: tf.Tensor) -> tf.Tensor:
    """[B, N, D] unit vectors -> [B, N, D] net repulsion on each, radial part removed."""
    n = u.shape[1]
    diff = u[:, :, None, :] - u[:, None, :, :]  # from j to i
    dist = tf.sqrt(tf.reduce_sum(tf.square(diff), -1) + tf.eye(n))  # eye: no 0 on the diagonal
    net = tf.reduce_sum(diff / dist[..., None] ** 3, axis=2)
    return net - tf.reduce_sum(net * u, -1, keepdims=True) * u


def force_objective(x: tf.Tensor, aux: dict[str, tf.Tensor] | None = None):
    """Total length of the tangential net forces (one value per batch row)."""
    return tf.reduce_sum(_norm(tangential_forces(_unit(x))), axis=-1), {}


def force_objective_double_loop(x: tf.Tensor, aux: dict[str, tf.Tensor] | None = None):
    """The seed's formulation: a Python double loop over pairs building the same quantity.

    Kept only to test the vectorised version against it and to time the difference.
    """
    u = _unit(x)
    n = u.shape[1]
    totals = []
    for i in range(n):
        net = tf.zeros_like(u[:, i])
        for j in range(n):
            if i == j:
                continue
            diff = u[:, i] - u[:, j]
            force = diff / tf.sqrt(tf.reduce_sum(tf.square(diff), -1, keepdims=True)) ** 3
            radial = tf.reduce_sum(force * u[:, i], -1, keepdims=True) * u[:, i]
            net = net + force - radial
        totals.append(_norm(net))
    return tf.add_n(totals), {}


OBJECTIVES: dict[str, Callable] = {
    "min-angle": min_angle_objective,
    "min-angle-var": min_angle_var_objective,
    "force": force_objective,
}


def min_angles_deg(x: np.ndarray) -> np.ndarray:
    """Smallest pairwise angle (degrees) of each configuration in a [B, N, D] batch, float64."""
    u = np.asarray(x, np.float64)
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    diff = np.linalg.norm(u[:, :, None] - u[:, None], axis=-1)
    summ = np.linalg.norm(u[:, :, None] + u[:, None], axis=-1)
    ang = np.degrees(2 * np.arctan2(diff, summ))
    n = u.shape[1]
    ang[:, np.arange(n), np.arange(n)] = np.inf
    return ang.min(axis=(1, 2))


@dataclass
class SpreadResult:
    n: int
    dims: int
    loss: str
    steps: int
    restarts: int
    x: np.ndarray  # best restart, [N, D] unit vectors
    min_angle_deg: float
    restart_angles_deg: np.ndarray
    optimum_deg: float | None
    optimum_source: str | None
    seconds: float
    frames: list[tuple[int, np.ndarray]] = field(default_factory=list)  # best row's iterates
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))  # best row's objective

    @property
    def gap_deg(self) -> float | None:
        return None if self.optimum_deg is None else self.optimum_deg - self.min_angle_deg

    def summary(self) -> dict:
        return {
            "n": self.n, "dims": self.dims, "loss": self.loss, "steps": self.steps,
            "restarts": self.restarts, "min_angle_deg": self.min_angle_deg,
            "optimum_deg": self.optimum_deg, "gap_deg": self.gap_deg,
            "optimum_source": self.optimum_source, "seconds": self.seconds,
            "final_objective": float(self.values[-1]) if len(self.values) else None,
            "restarts_within_0.05_deg": (
                None if self.optimum_deg is None
                else int(np.sum(self.optimum_deg - self.restart_angles_deg <= 0.05))),
        }


def _stage_steps(steps: int, stages: int) -> list[int]:
    return [len(part) for part in np.array_split(np.arange(steps), stages) if len(part)]


def solve(n: int, dims: int, loss: str = BEST_LOSS, steps: int = 2400, restarts: int = 16,
          seed: int = 0, snapshots: int = 0, jit_compile: bool = False) -> SpreadResult:
    """Spread n unit vectors in ``dims`` dimensions; keep the restart with the largest minimum.

    The run is split into stages with geometric schedules: the soft minimum sharpens and the
    learning rate falls, so early stages move the vectors far and late stages polish.
    ``snapshots`` > 0 keeps that many iterates of the winning restart for animation.
    """
    if n < 2 or dims < 2:
        raise ValueError("need n >= 2 vectors in dims >= 2 dimensions")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(restarts, n, dims)).astype(np.float32)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    schedule = SCHEDULES[loss]
    optimizer = keras.optimizers.Adam(learning_rate=schedule.learning_rate[0])
    descent = engine.Descent(OBJECTIVES[loss], engine.KerasOptimizerStep(optimizer),
                             engine.unit_sphere(-1), jit_compile=jit_compile)
    parts = _stage_steps(steps, STAGES)
    wanted = set(np.linspace(0, steps, snapshots).round().astype(int)) if snapshots else set()
    kept: list[tuple[int, np.ndarray]] = []
    histories = []
    done = 0
    for k, count in enumerate(parts):
        sharpness, optimizer.learning_rate = schedule.at(k / max(len(parts) - 1, 1))
        offset = done

        def keep(step: int, xs: np.ndarray, values: np.ndarray, offset: int = offset) -> None:
            g = offset + step
            if g in wanted and (not kept or kept[-1][0] != g):
                kept.append((g, xs.copy()))

        x, history = engine.run(descent, x, count, aux={"sharpness": np.float32(sharpness)},
                                callback=keep if wanted else None)
        histories.append(history if k == 0 else history[1:])
        done += count
    angles = min_angles_deg(x)
    best = int(np.argmax(angles))
    u = x[best] / np.linalg.norm(x[best], axis=-1, keepdims=True)
    known = known_optimum(n, dims)
    return SpreadResult(
        n=n, dims=dims, loss=loss, steps=steps, restarts=restarts, x=u,
        min_angle_deg=float(angles[best]), restart_angles_deg=angles,
        optimum_deg=None if known is None else known[0],
        optimum_source=None if known is None else known[1],
        seconds=time.perf_counter() - started,
        frames=[(g, xs[best]) for g, xs in kept],
        values=np.concatenate(histories)[:, best],
    )


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn, after one warm-up call, timed for about ``seconds``."""
    fn()
    count, started = 0, time.perf_counter()
    while True:
        fn()
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return count / elapsed


def bench_force_objective(n: int = 20, dims: int = 32, seconds: float = 1.0,
                          seed: int = 0) -> dict:
    """Gradient evaluations/s of the force objective: vectorised vs the seed's double loop.

    Both go through ``engine.value_and_grad`` eagerly, as the seed ran; the vectorised one is
    also timed compiled (``tf.function``), which is how ``engine.Descent`` runs it.
    """
    x = tf.constant(np.random.default_rng(seed).normal(size=(1, n, dims)), tf.float32)

    def vectorised():
        return engine.value_and_grad(force_objective, x, {})[1].numpy()

    def double_loop():
        return engine.value_and_grad(force_objective_double_loop, x, {})[1].numpy()

    compiled_fn = tf.function(lambda t: engine.value_and_grad(force_objective, t, {})[1])
    vec = _rate(vectorised, seconds)
    loop = _rate(double_loop, seconds)
    compiled = _rate(lambda: compiled_fn(x).numpy(), seconds)
    return {
        "n": n, "dims": dims, "mode": "eager",
        "vectorised_per_s": round(vec, 2), "double_loop_per_s": round(loop, 2),
        "speedup": round(vec / loop, 1), "vectorised_compiled_per_s": round(compiled, 2),
    }


def observations(results: list[SpreadResult], tolerance_deg: float = 0.05) -> list[str]:
    """One verdict per objective against the known optimum, computed from the numbers."""
    notes = []
    for r in results:
        if r.gap_deg is None:
            notes.append(f"{r.loss}: min angle {r.min_angle_deg:.4f} deg; no known optimum for "
                         f"N={r.n} in {r.dims}-D to compare with.")
        elif r.gap_deg <= tolerance_deg:
            notes.append(f"{r.loss}: within {tolerance_deg} deg of the optimum "
                         f"(gap {r.gap_deg:.4f} deg) in {r.seconds:.1f} s.")
        elif r.loss == "force" and len(r.values) and r.values[-1] < 1e-2 * r.values[0]:
            notes.append(f"force: reached an equilibrium (total tangential force "
                         f"{r.values[-1]:.2g}, from {r.values[0]:.3g}) that is {r.gap_deg:.2f} "
                         "deg short of the optimum: unstable equilibria zero the net force too, "
                         "so minimising it does not by itself spread the vectors best.")
        else:
            notes.append(f"{r.loss}: {r.gap_deg:.4f} deg short of the optimum; more restarts "
                         "or steps may close the gap.")
    return notes
