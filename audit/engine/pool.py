"""``run_pool``: many independent jobs through a fixed number of batch slots.

A job leaves its slot as soon as it is finished (goal met with early stop, or its step limit
reached) and the next waiting job takes the slot, so finished samples cost no further model work
and the compiled step keeps seeing one batch shape. When the queue runs dry the batch is
compacted to the next power of two, so the tail costs at most a few retraces.

The host is visited once per *block* of steps, not once per step: a compiled loop
(``Program.run_block``) steps the slots on the device until enough of them are free to be worth
refilling, or ``block_steps`` steps have run. Slot state, per-slot constants, step counts and
running flags stay on the device between blocks; a visit copies back only the finished flags and
the rows of the jobs that finished, then writes the new jobs' rows into the free slots. Each job
is independent of its neighbours, so how jobs are grouped into blocks, slots or devices never
changes any job's result.

With several devices (``devices``), each one holds its own slots (the batch is split between
them) and takes new jobs from the shared queue; a ``tf.distribute.MirroredStrategy`` runs the
block on all of them in one call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from . import devices as device_sets
from .program import Block, Program

BLOCK_STEPS = 16  # most steps per host visit; bounds how long a progress bar waits


@dataclass
class PoolResult:
    """Per-job outcome: each job's state and extras at its last evaluation, whether it met its
    goal there, how many steps it took, and the cost (``evaluations`` counts the stepped rows of
    running jobs). ``slot_steps`` counts every row the device computed, idle slots included, and
    ``host_visits`` the compiled calls: together they show what keeping the loop on the device
    costs and saves."""

    state: dict[str, np.ndarray]
    extras: dict[str, np.ndarray]
    success: np.ndarray
    steps: np.ndarray
    evaluations: int
    grad_evals: int
    queries: int
    slot_steps: int = 0
    host_visits: int = 0

    @property
    def x(self) -> np.ndarray:
        return self.state["x"]


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@tf.function(reduce_retracing=True, autograph=False)
def _take(tree, idx):
    return tf.nest.map_structure(lambda t: tf.gather(t, idx), tree)


@tf.function(reduce_retracing=True, autograph=False)
def _put(tree, idx, rows):
    return tf.nest.map_structure(lambda t, r: tf.tensor_scatter_nd_update(t, idx[:, None], r),
                                 tree, rows)


class _Lane:
    """One device's batch slots: the slot tensors live on the device, job ids on the host."""

    def __init__(self, device: str | None, size: int):
        self.device = device
        self.slots: dict | None = None  # {"state", "consts", "taken", "active"}, once filled
        self.job = np.full(size, -1)

    def placed(self):
        return tf.device(self.device) if self.device else contextlib.nullcontext()

    def args(self) -> tuple:
        s = self.slots
        return s["state"], s["consts"], s["taken"], s["active"]


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
    on_finished: Callable[[np.ndarray, PoolResult], None] | None = None,
    devices: device_sets.DeviceSpec = None,
    block_steps: int = BLOCK_STEPS,
    refill_at: int | None = None,
) -> PoolResult:
    """Run ``program`` on every row of ``x_start`` (with its row of each ``consts`` array).

    ``on_iterate(job_ids, steps_taken, x)`` sees every evaluated iterate before it is stepped
    (it forces one step per host visit and costs a host copy per step; only the sweep uses it);
    ``on_progress(evaluated_rows, jobs_finished)`` is called after every host visit, and
    ``on_finished(jobs, rows)`` with the jobs that finished in it and a ``PoolResult`` of just
    their rows (costs zero), so a caller can save each job's outcome as soon as it is known.
    ``devices`` (``"all"`` or a count) splits ``batch_size`` between devices. A block ends
    early once ``refill_at`` slots (default: an eighth of the batch, at least one) are free and
    jobs are waiting for them.
    """
    n = len(x_start)
    x_start = np.asarray(x_start, np.float32)
    consts = {k: np.asarray(v) for k, v in consts.items()}
    consts["max_steps"] = np.broadcast_to(np.asarray(max_steps, np.int32), (n,)).copy()
    names = device_sets.resolve(devices)
    strategy = device_sets.mirrored(tuple(names)) if names and len(names) > 1 else None
    placements = names or [None]
    per_lane = -(-max(n, 1) // len(placements))
    size = max(1, min(batch_size // len(placements), _next_pow2(per_lane)))
    refill = max(1, refill_at or size // 8)
    iters = tf.constant(1 if on_iterate is not None else max(1, block_steps))
    stop = tf.constant(bool(early_stop))

    def rows(first: int, count: int) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Jobs first..first+count-1 as tensors (slices: one copy, not two)."""
        end = first + count
        return (tf.constant(x_start[first:end]),
                {k: tf.constant(v[first:end]) for k, v in consts.items()})

    probe = program.init(*rows(0, min(n, 1)))

    def empty_slots() -> dict:
        return {"state": {k: tf.zeros((size, *v.shape[1:]), v.dtype) for k, v in probe.items()},
                "consts": {k: tf.zeros((size, *v.shape[1:]), tf.as_dtype(v.dtype))
                           for k, v in consts.items()},
                "taken": tf.zeros([size], tf.int32), "active": tf.zeros([size], tf.bool)}

    lanes = [_Lane(device, size) for device in placements]

    out_state = {k: np.zeros((n, *v.shape[1:]), v.dtype.as_numpy_dtype)
                 for k, v in probe.items()}
    out_extras: dict[str, np.ndarray] = {}
    out_success = np.zeros(n, bool)
    out_steps = np.zeros(n, np.int64)
    evaluations = slot_steps = visits = 0
    next_job = 0

    while True:
        for lane in lanes:
            free = np.flatnonzero(lane.job < 0)[: n - next_job]
            if free.size:
                lane.job[free] = np.arange(next_job, next_job + free.size)
                with lane.placed():
                    x_rows, c_rows = rows(next_job, free.size)
                    new = {"state": program.init(x_rows, c_rows), "consts": c_rows,
                           "taken": tf.zeros([free.size], tf.int32),
                           "active": tf.ones([free.size], tf.bool)}
                    if free.size == size:  # every slot new: the rows are the slots
                        lane.slots = new
                    else:
                        lane.slots = _put(lane.slots or empty_slots(), tf.constant(free), new)
                next_job += free.size
            if lane.slots is None:  # a device with no job yet still steps with the others
                with lane.placed():
                    lane.slots = empty_slots()
        busy = max(int(np.count_nonzero(lane.job >= 0)) for lane in lanes)
        if busy == 0:
            break
        waiting = n - next_job
        if waiting == 0 and _next_pow2(busy) < size:
            size = _next_pow2(busy)
            for lane in lanes:
                keep = np.argsort(lane.job < 0, kind="stable")[:size]
                with lane.placed():
                    lane.slots = _take(lane.slots, tf.constant(keep))
                lane.job = lane.job[keep]
        if waiting:
            floor = size - min(refill, waiting)  # return as soon as jobs can take free slots
        elif strategy is None and size > 1:
            floor = size // 2  # return when the batch can shrink
        else:
            floor = 0  # replicas would wait for each other: keep stepping
        if on_iterate is not None:
            for lane in lanes:
                occupied = np.flatnonzero(lane.job >= 0)
                picked = _take({"taken": lane.slots["taken"], "x": lane.slots["state"]["x"]},
                               tf.constant(occupied))
                on_iterate(lane.job[occupied], picked["taken"].numpy(), picked["x"].numpy())
        blocks = _run_blocks(program, strategy, lanes, stop, iters, tf.constant(floor))
        visits += 1
        done_here = evaluated_here = 0
        finished: list[np.ndarray] = []
        for lane, block in zip(lanes, blocks, strict=True):
            lane.slots = {"state": block.state, "consts": lane.slots["consts"],
                          "taken": block.taken, "active": block.active}
            evaluated_here += int(block.evaluated)
            slot_steps += int(block.slot_steps)
            fin = np.flatnonzero(block.finished.numpy())
            if fin.size == 0:
                continue
            jobs = lane.job[fin]
            got = {"state": block.state, "extras": block.extras, "success": block.success,
                   "taken": block.taken}
            if fin.size < len(lane.job):  # else every slot finished: no rows to pick
                with lane.placed():
                    got = _take(got, tf.constant(fin))
            for k, v in got["state"].items():
                out_state[k][jobs] = v.numpy()
            for k, v in got["extras"].items():
                v = v.numpy()
                if k not in out_extras:
                    out_extras[k] = np.zeros((n, *v.shape[1:]), v.dtype)
                out_extras[k][jobs] = v
            out_success[jobs] = got["success"].numpy()
            out_steps[jobs] = got["taken"].numpy()
            lane.job[fin] = -1
            done_here += fin.size
            finished.append(jobs)
        evaluations += evaluated_here
        if on_finished is not None and finished:
            on_finished(*_rows_of(np.concatenate(finished), out_state, out_extras,
                                  out_success, out_steps))
        if on_progress is not None:
            on_progress(evaluated_here, done_here)
    return PoolResult(out_state, out_extras, out_success, out_steps, evaluations,
                      evaluations * program.grads_per_step,
                      evaluations * program.queries_per_step, slot_steps, visits)


def _rows_of(jobs: np.ndarray, state: dict[str, np.ndarray], extras: dict[str, np.ndarray],
             success: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, PoolResult]:
    """The finished ``jobs`` (sorted) and their rows as a ``PoolResult`` of their own."""
    jobs = np.sort(jobs)
    return jobs, PoolResult({k: v[jobs] for k, v in state.items()},
                            {k: v[jobs] for k, v in extras.items()}, success[jobs],
                            steps[jobs], 0, 0, 0)


def _run_blocks(program: Program, strategy: tf.distribute.Strategy | None, lanes: list[_Lane],
                stop: tf.Tensor, iters: tf.Tensor, floor: tf.Tensor) -> list[Block]:
    """One block on every lane: a plain compiled call, or all replicas in one call."""
    if strategy is None:
        (lane,) = lanes
        with lane.placed():
            return [program.run_block(*lane.args(), stop, iters, floor)]
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda ctx: lanes[ctx.replica_id_in_sync_group].args())
    out = program.replicated_block(strategy)(*per_replica, stop, iters, floor)
    return list(strategy.experimental_local_results(out))
