"""The gradient engine: the one place in advaudit that differentiates.

Every attack and every optimisation demo is the same descent loop, configured by three parts
(as in Foolbox 3's gradient-descent base):

* an **objective** ``f(x, aux) -> (values, extras)``: one value per sample to *minimise*, plus any
  tensors the caller wants back from the same forward pass (class probabilities, say);
* a **step rule** turning the gradient into an update (raw gradient, sign, momentum sign, L2
  normalised, or any ``keras.optimizers`` optimizer);
* a **projection** putting the iterate back where it may live (box, L-inf/L2 ball, unit sphere,
  integer pixel grid).

``Descent.step`` is one compiled ``tf.function`` evaluating value, gradient and update for a
whole batch; it is traced once per batch shape, so the Python loop around it costs nothing per
sample. Per-sample ``active`` masks freeze samples (early stop) and per-sample ``radius`` lets
one compiled step serve budgets that differ between samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

Objective = Callable[[tf.Tensor, dict[str, tf.Tensor]], tuple[tf.Tensor, dict[str, tf.Tensor]]]


def _per_sample(v: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """Reshape a [B] vector so it broadcasts against x of shape [B, ...]."""
    return tf.reshape(v, [-1] + [1] * (len(x.shape) - 1))


def _reduce_all_but_batch(fn, t: tf.Tensor) -> tf.Tensor:
    return fn(t, axis=list(range(1, len(t.shape))), keepdims=True)


def value_and_grad(
    objective: Objective, x: tf.Tensor, aux: dict[str, tf.Tensor]
) -> tuple[tf.Tensor, tf.Tensor, dict[str, tf.Tensor]]:
    """Per-sample objective values, the gradient of their sum w.r.t. x, and the extras.

    Samples are independent, so the gradient of the sum is each sample's own gradient.
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        values, extras = objective(x, aux)
    return values, tape.gradient(values, x), extras


# ---------------------------------------------------------------------------------------------
# Step rules: (x, grad, state) -> (update, new_state); the update is *added* to x.


class StepRule:
    """Base class. Stateless rules carry a one-number-per-sample dummy state so every rule has
    one signature without dragging an image-sized zero tensor through every step."""

    stateful = False

    def init_state(self, x: tf.Tensor) -> tf.Tensor:
        if self.stateful:
            return tf.zeros_like(x)
        return tf.zeros([tf.shape(x)[0]] + [1] * (len(x.shape) - 1))

    def __call__(self, x: tf.Tensor, grad: tf.Tensor, state: tf.Tensor):
        raise NotImplementedError


@dataclass
class GradientStep(StepRule):
    """Plain gradient descent: x <- x - lr * grad."""

    lr: float

    def __call__(self, x, grad, state):
        return -self.lr * grad, state


@dataclass
class SignStep(StepRule):
    """FGSM/BIM/PGD (L-inf): move every coordinate by exactly ``size`` against the gradient."""

    size: float

    def __call__(self, x, grad, state):
        return -self.size * tf.sign(grad), state


@dataclass
class MomentumSignStep(StepRule):
    """MI-FGSM (Dong et al. 2018): sign of an accumulated, L1-normalised gradient."""

    size: float
    decay: float = 1.0
    stateful = True

    def __call__(self, x, grad, state):
        l1 = _reduce_all_but_batch(tf.reduce_mean, tf.abs(grad))
        velocity = self.decay * state + grad / tf.maximum(l1, 1e-12)
        return -self.size * tf.sign(velocity), velocity


@dataclass
class L2Step(StepRule):
    """L2 PGD: a step of L2 length ``size`` along the negative normalised gradient."""

    size: float

    def __call__(self, x, grad, state):
        norm = tf.sqrt(_reduce_all_but_batch(tf.reduce_sum, tf.square(grad)))
        return -self.size * grad / tf.maximum(norm, 1e-12), state


class KerasOptimizerStep(StepRule):
    """Any ``keras.optimizers`` optimizer (SGD, RMSprop, Adam, ...) as a step rule.

    Keras optimizers update variables, so the rule keeps one variable shaped like x, built
    before tracing; the optimizer's slots hold its state, and the explicit state is unused.
    """

    def __init__(self, optimizer: Any):
        self.optimizer = optimizer
        self.var: tf.Variable | None = None

    def build(self, x: np.ndarray | tf.Tensor) -> None:
        self.var = tf.Variable(tf.zeros_like(x), trainable=True)
        self.optimizer.build([self.var])

    def __call__(self, x, grad, state):
        self.var.assign(x)
        self.optimizer.apply([grad], [self.var])
        return self.var - x, state


# ---------------------------------------------------------------------------------------------
# Projections: (x, x0, radius) -> x, applied after every update. ``radius`` is per sample.

Projection = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


def box(low: float, high: float) -> Projection:
    return lambda x, x0, radius: tf.clip_by_value(x, low, high)


def linf_ball() -> Projection:
    def project(x, x0, radius):
        r = _per_sample(radius, x)
        return tf.clip_by_value(x, x0 - r, x0 + r)

    return project


def l2_ball() -> Projection:
    def project(x, x0, radius):
        delta = x - x0
        norm = tf.sqrt(_reduce_all_but_batch(tf.reduce_sum, tf.square(delta)))
        factor = tf.minimum(1.0, _per_sample(radius, x) / tf.maximum(norm, 1e-12))
        return x0 + delta * factor

    return project


def pixel_grid(l2_radius: bool = False) -> Projection:
    """Round to whole counts so every iterate is exactly what a saved PNG will hold.

    Rounding can lengthen an L2 perturbation; with ``l2_radius`` a rounded delta that left the
    ball is truncated toward x0 instead, which never increases any coordinate's magnitude.
    """

    def project(x, x0, radius):
        rounded = tf.round(x)
        if not l2_radius:
            return rounded
        delta = rounded - x0
        norm = tf.sqrt(_reduce_all_but_batch(tf.reduce_sum, tf.square(delta)))
        inside = norm <= _per_sample(radius, x) + 1e-4
        return tf.where(inside, rounded, x0 + tf.experimental.numpy.fix(x - x0))

    return project


def unit_sphere(axis: int = -1) -> Projection:
    return lambda x, x0, radius: tf.math.l2_normalize(x, axis=axis)


def compose(*projections: Projection) -> Projection:
    def project(x, x0, radius):
        for p in projections:
            x = p(x, x0, radius)
        return x

    return project


def identity() -> Projection:
    return lambda x, x0, radius: x


# ---------------------------------------------------------------------------------------------


@dataclass
class Descent:
    """One compiled descent step for a fixed objective, rule and projection.

    ``stop_when(values, extras, aux)`` (optional, traced) reports which samples already meet the
    goal *at* x, from the same forward pass as the gradient: the caller can retire them with
    their current iterate, so early stop costs no extra model call and never overshoots.
    """

    objective: Objective
    rule: StepRule
    projection: Projection = field(default_factory=identity)
    stop_when: Callable[..., tf.Tensor] | None = None
    jit_compile: bool = False

    def __post_init__(self) -> None:
        self._step = tf.function(
            self._raw_step, jit_compile=self.jit_compile, reduce_retracing=True
        )

    def _raw_step(self, x, x0, state, radius, active, aux):
        values, grad, extras = value_and_grad(self.objective, x, aux)
        # One reduction tells both failure modes apart: an L1 norm that is 0 (flat gradient)
        # or not finite (NaN/inf somewhere). Such rows are simply not moved.
        l1 = tf.reduce_sum(tf.abs(tf.reshape(grad, [tf.shape(grad)[0], -1])), axis=1)
        finite = tf.math.is_finite(l1)
        grad_useless = tf.logical_or(tf.logical_not(finite), tf.equal(l1, 0.0))
        done = tf.zeros_like(active)
        if self.stop_when is not None:
            done = self.stop_when(values, extras, aux)
        update, new_state = self.rule(x, grad, state)
        move = tf.logical_and(active, finite)
        x_new = tf.where(_per_sample(move, x), self.projection(x + update, x0, radius), x)
        new_state = tf.where(_per_sample(move, new_state), new_state, state)
        return x_new, new_state, values, done, grad_useless, extras

    def step(self, x, x0, state, radius, active, aux):
        """(x_next, state_next, values_at_x, done_at_x, grad_useless, extras_at_x)."""
        return self._step(x, x0, state, radius, active, aux)

    def init_state(self, x: tf.Tensor) -> tf.Tensor:
        if isinstance(self.rule, KerasOptimizerStep) and self.rule.var is None:
            self.rule.build(x)
        return self.rule.init_state(x)


def run(
    descent: Descent,
    x_init: np.ndarray | tf.Tensor,
    steps: int,
    aux: dict[str, Any] | None = None,
    x0: np.ndarray | tf.Tensor | None = None,
    radius: float | Sequence[float] = math.inf,
    callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a fixed batch for ``steps`` updates (the demos' loop, and FGSM-style attacks).

    ``callback(step, x, values)`` sees every iterate (values are those *at* x), for progress
    bars and animation frames. Returns the final iterate and the values history [steps+1, B].
    """
    x = tf.convert_to_tensor(x_init, dtype=tf.float32)
    x0 = x if x0 is None else tf.convert_to_tensor(x0, dtype=tf.float32)
    batch = x.shape[0]
    radius_t = tf.broadcast_to(tf.constant(radius, tf.float32), [batch])
    active = tf.ones([batch], tf.bool)
    aux = {k: tf.convert_to_tensor(v) for k, v in (aux or {}).items()}
    state = descent.init_state(x)
    history = []
    for i in range(steps + 1):
        x_next, state_next, values, done, _, _ = descent.step(x, x0, state, radius_t, active, aux)
        history.append(values.numpy())
        if callback is not None:
            callback(i, x.numpy(), history[-1])
        if i == steps:
            break
        x, state = x_next, state_next
    return x.numpy(), np.stack(history)


@dataclass
class PoolResult:
    """Per-job outcome of ``run_pool``; ``evaluations`` counts value+gradient rows on real jobs."""

    x: np.ndarray
    done: np.ndarray
    steps: np.ndarray
    extras: dict[str, np.ndarray]
    grad_useless: np.ndarray  # at the first evaluation: gradient all zero or not finite
    evaluations: int


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def run_pool(
    descent: Descent,
    x0: np.ndarray,
    x_start: np.ndarray,
    radius: np.ndarray,
    max_steps: np.ndarray,
    aux: dict[str, np.ndarray],
    batch_size: int,
    early_stop: bool = True,
    on_iterate: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PoolResult:
    """Run many independent descents through a fixed number of batch slots.

    A job leaves its slot as soon as it is done (with ``early_stop``) or has taken its
    ``max_steps`` steps, and the next waiting job takes the slot, so finished samples cost no
    gradient work and the compiled step keeps seeing one batch shape. When the queue runs dry
    the batch is compacted to the next power of two, so the tail costs at most a few retraces.

    ``on_iterate(job_ids, steps_taken, x)`` sees every evaluated iterate before it is stepped;
    ``on_progress(evaluations, jobs_finished)`` is called after every batch step.
    """
    n = len(x0)
    shape = x0.shape[1:]
    size = max(1, min(batch_size, _next_pow2(n)))
    # Per-slot images live as tensors between steps: a step with no arrivals or departures
    # copies nothing; small per-slot bookkeeping stays in numpy.
    initial_state = descent.init_state(tf.zeros((1, *shape)))[0]
    xs = tf.zeros((size, *shape))
    x0s = tf.zeros((size, *shape))
    states = tf.zeros((size, *initial_state.shape))
    slot_job = np.full(size, -1)
    rad = np.zeros(size, np.float32)
    taken = np.zeros(size, np.int64)
    aux_s = {k: np.zeros((size, *v.shape[1:]), v.dtype) for k, v in aux.items()}

    out_x = np.array(x_start, dtype=np.float32, copy=True)
    out_done = np.zeros(n, bool)
    out_steps = np.zeros(n, np.int64)
    out_useless = np.zeros(n, bool)
    out_extras: dict[str, np.ndarray] = {}
    evaluations = 0
    next_job = 0

    while True:
        free = np.flatnonzero(slot_job < 0)[: max(0, n - next_job)]
        if free.size:
            new_jobs = np.arange(next_job, next_job + free.size)
            next_job += free.size
            slot_job[free], rad[free], taken[free] = new_jobs, radius[new_jobs], 0
            for k in aux:
                aux_s[k][free] = aux[k][new_jobs]
            idx = tf.constant(free[:, None])
            xs = tf.tensor_scatter_nd_update(xs, idx, x_start[new_jobs].astype(np.float32))
            x0s = tf.tensor_scatter_nd_update(x0s, idx, x0[new_jobs].astype(np.float32))
            states = tf.tensor_scatter_nd_update(
                states, idx, tf.broadcast_to(initial_state, (free.size, *initial_state.shape)))
        occupied = np.flatnonzero(slot_job >= 0)
        if occupied.size == 0:
            break
        if next_job >= n and _next_pow2(occupied.size) < size:
            size = _next_pow2(occupied.size)
            keep = np.concatenate([occupied, np.flatnonzero(slot_job < 0)])[:size]
            xs, x0s, states = (tf.gather(t, keep) for t in (xs, x0s, states))
            slot_job, rad, taken = slot_job[keep], rad[keep], taken[keep]
            aux_s = {k: v[keep] for k, v in aux_s.items()}
            occupied = np.flatnonzero(slot_job >= 0)
        active = slot_job >= 0
        x_next, s_next, _, done, useless, extras = descent.step(
            xs, x0s, states, tf.constant(rad), tf.constant(active),
            {k: tf.constant(v) for k, v in aux_s.items()},
        )
        evaluations += occupied.size
        done, useless = done.numpy(), useless.numpy()
        extras = {k: v.numpy() for k, v in extras.items()}
        jobs = slot_job[occupied]
        if on_iterate is not None:
            on_iterate(jobs, taken[occupied], tf.gather(xs, occupied).numpy())
        first = taken[occupied] == 0
        out_useless[jobs[first]] = useless[occupied[first]]
        finished = taken[occupied] >= max_steps[jobs]
        if early_stop:
            finished |= done[occupied]
        fin_slots, fin_jobs = occupied[finished], jobs[finished]
        if fin_slots.size:
            out_x[fin_jobs] = tf.gather(xs, fin_slots).numpy()
        out_done[fin_jobs] = done[fin_slots]
        out_steps[fin_jobs] = taken[fin_slots]
        for k, v in extras.items():
            if k not in out_extras:
                out_extras[k] = np.zeros((n, *v.shape[1:]), v.dtype)
            out_extras[k][fin_jobs] = v[fin_slots]
        slot_job[fin_slots] = -1
        if on_progress is not None:
            on_progress(int(occupied.size), int(fin_slots.size))
        # finished slots keep a stale row until refilled; they are inactive, so never stepped
        xs, states = x_next, s_next
        taken[occupied[~finished]] += 1
    return PoolResult(out_x, out_done, out_steps, out_extras, out_useless, evaluations)
