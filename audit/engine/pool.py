"""``run_pool``: many independent jobs through a fixed number of batch slots.

A job leaves its slot as soon as it is finished (goal met with early stop, or its step limit
reached) and the next waiting job takes the slot, so finished samples cost no further model work
and the compiled step keeps seeing one batch shape. When the queue runs dry the batch is
compacted to the next power of two, so the tail costs at most a few retraces.

Slot state and per-slot constants live as tensors between steps: a step copies to the host only
the finished flags and the rows of the jobs that finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .program import Program


@dataclass
class PoolResult:
    """Per-job outcome: each job's state and extras at its last evaluation, whether it met its
    goal there, how many steps it took, and the cost (``evaluations`` counts stepped rows)."""

    state: dict[str, np.ndarray]
    extras: dict[str, np.ndarray]
    success: np.ndarray
    steps: np.ndarray
    evaluations: int
    grad_evals: int
    queries: int

    @property
    def x(self) -> np.ndarray:
        return self.state["x"]


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _scatter(t: tf.Tensor, slots: np.ndarray, rows) -> tf.Tensor:
    return tf.tensor_scatter_nd_update(t, tf.constant(slots[:, None]), rows)


def run_pool(
    program: Program,
    x_start: np.ndarray,
    consts: dict[str, np.ndarray],
    *,
    max_steps: int | np.ndarray,
    batch_size: int,
    early_stop: bool = True,
    on_iterate: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PoolResult:
    """Run ``program`` on every row of ``x_start`` (with its row of each ``consts`` array).

    ``on_iterate(job_ids, steps_taken, x)`` sees every evaluated iterate before it is stepped
    (it costs a host copy per step; only the sweep uses it); ``on_progress(evaluated_rows,
    jobs_finished)`` is called after every batch step.
    """
    n = len(x_start)
    x_start = np.asarray(x_start, np.float32)
    consts = {k: np.asarray(v) for k, v in consts.items()}
    consts["max_steps"] = np.broadcast_to(np.asarray(max_steps, np.int32), (n,)).copy()
    size = max(1, min(batch_size, _next_pow2(max(n, 1))))

    def rows(jobs: np.ndarray) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        return (tf.constant(x_start[jobs]),
                {k: tf.constant(v[jobs]) for k, v in consts.items()})

    probe = program.init(*rows(np.arange(min(n, 1))))
    state = {k: tf.zeros((size, *v.shape[1:]), v.dtype) for k, v in probe.items()}
    slot_consts = {k: tf.zeros((size, *v.shape[1:]), tf.as_dtype(v.dtype))
                   for k, v in consts.items()}
    slot_job = np.full(size, -1)
    taken = np.zeros(size, np.int32)

    out_state = {k: np.zeros((n, *v.shape[1:]), v.dtype.as_numpy_dtype)
                 for k, v in probe.items()}
    out_extras: dict[str, np.ndarray] = {}
    out_success = np.zeros(n, bool)
    out_steps = np.zeros(n, np.int64)
    evaluations = 0
    next_job = 0
    stop = tf.constant(bool(early_stop))

    while True:
        free = np.flatnonzero(slot_job < 0)[: max(0, n - next_job)]
        if free.size:
            jobs = np.arange(next_job, next_job + free.size)
            next_job += free.size
            slot_job[free], taken[free] = jobs, 0
            x_rows, c_rows = rows(jobs)
            for k, v in program.init(x_rows, c_rows).items():
                state[k] = _scatter(state[k], free, v)
            for k, v in c_rows.items():
                slot_consts[k] = _scatter(slot_consts[k], free, v)
        occupied = np.flatnonzero(slot_job >= 0)
        if occupied.size == 0:
            break
        if next_job >= n and _next_pow2(occupied.size) < size:
            size = _next_pow2(occupied.size)
            keep = np.concatenate([occupied, np.flatnonzero(slot_job < 0)])[:size]
            idx = tf.constant(keep)
            state = {k: tf.gather(v, idx) for k, v in state.items()}
            slot_consts = {k: tf.gather(v, idx) for k, v in slot_consts.items()}
            slot_job, taken = slot_job[keep], taken[keep]
            occupied = np.flatnonzero(slot_job >= 0)
        active = slot_job >= 0
        if on_iterate is not None:
            on_iterate(slot_job[occupied], taken[occupied],
                       tf.gather(state["x"], occupied).numpy())
        state, finished, success, extras = program.advance(
            state, slot_consts, tf.constant(taken), tf.constant(active), stop)
        evaluations += int(occupied.size)
        fin_slots = np.flatnonzero(finished.numpy())
        if fin_slots.size:
            fin_jobs = slot_job[fin_slots]
            idx = tf.constant(fin_slots)
            for k, v in state.items():
                out_state[k][fin_jobs] = tf.gather(v, idx).numpy()
            for k, v in extras.items():
                got = tf.gather(v, idx).numpy()
                if k not in out_extras:
                    out_extras[k] = np.zeros((n, *got.shape[1:]), got.dtype)
                out_extras[k][fin_jobs] = got
            out_success[fin_jobs] = tf.gather(success, idx).numpy()
            out_steps[fin_jobs] = taken[fin_slots]
            slot_job[fin_slots] = -1
        if on_progress is not None:
            on_progress(int(occupied.size), int(fin_slots.size))
        taken[active & (slot_job >= 0)] += 1
    return PoolResult(out_state, out_extras, out_success, out_steps, evaluations,
                      evaluations * program.grads_per_step,
                      evaluations * program.queries_per_step)
