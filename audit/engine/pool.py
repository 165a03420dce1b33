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
from .program import Block, Program, open_batch

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


@tf.function(autograph=False)
def _gather(tree, idx):
    return tf.nest.map_structure(lambda t: tf.gather(t, idx), tree)


@tf.function(autograph=False)
def _scatter(tree, idx, rows):
    return tf.nest.map_structure(lambda t, r: tf.tensor_scatter_nd_update(t, idx[:, None], r),
                                 tree, rows)


def _take(tree, idx):
    """The rows ``idx`` of every tensor in ``tree``; traced once per tree for any sizes."""
    return _gather.get_concrete_function(*open_batch((tree, idx)))(tree, idx)


def _put(tree, idx, rows):
    """``tree`` with its rows ``idx`` replaced by ``rows``; traced once per tree."""
    return _scatter.get_concrete_function(*open_batch((tree, idx, rows)))(tree, idx, rows)


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
    pool = _Pool(program, x_start, consts, max_steps=max_steps, batch_size=batch_size,
                 devices=devices, refill_at=refill_at)
    iters = tf.constant(1 if on_iterate is not None else max(1, block_steps))
    stop = tf.constant(bool(early_stop))
    while True:
        pool.refill()
        busy = max(int(np.count_nonzero(lane.job >= 0)) for lane in pool.lanes)
        if busy == 0:
            break
        floor = pool.compact(busy)
        if on_iterate is not None:
            pool.show_iterates(on_iterate)
        blocks = _run_blocks(program, pool.strategy, pool.lanes, stop, iters,
                             tf.constant(floor))
        evaluated, finished = pool.harvest(blocks)
        if on_finished is not None and finished.size:
            on_finished(*pool.rows_of(finished))
        if on_progress is not None:
            on_progress(evaluated, int(finished.size))
    return pool.result()


class _Pool:
    """The jobs, the lanes' slots and what finished jobs left: ``run_pool``'s state, with one
    method per thing a host visit does (refill, compact, show, harvest)."""

    def __init__(self, program: Program, x_start: np.ndarray, consts: dict[str, np.ndarray], *,
                 max_steps: int | np.ndarray, batch_size: int,
                 devices: device_sets.DeviceSpec, refill_at: int | None) -> None:
        self.program = program
        self.n = n = len(x_start)
        self.x_start = np.asarray(x_start, np.float32)
        self.consts = {k: np.asarray(v) for k, v in consts.items()}
        self.consts["max_steps"] = np.broadcast_to(np.asarray(max_steps, np.int32), (n,)).copy()
        names = device_sets.resolve(devices)
        self.strategy = device_sets.mirrored(tuple(names)) if names and len(names) > 1 else None
        placements = names or [None]
        per_lane = -(-max(n, 1) // len(placements))
        self.size = max(1, min(batch_size // len(placements), _next_pow2(per_lane)))
        self.refill_at = max(1, refill_at or self.size // 8)
        self.probe = program.init(*self.rows(0, min(n, 1)))
        self.lanes = [_Lane(device, self.size) for device in placements]
        self.state = {k: np.zeros((n, *v.shape[1:]), v.dtype.as_numpy_dtype)
                      for k, v in self.probe.items()}
        self.extras: dict[str, np.ndarray] = {}
        self.success = np.zeros(n, bool)
        self.steps = np.zeros(n, np.int64)
        self.evaluations = self.slot_steps = self.visits = 0
        self.next_job = 0

    def rows(self, first: int, count: int) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Jobs first..first+count-1 as tensors (slices: one copy, not two)."""
        end = first + count
        return (tf.constant(self.x_start[first:end]),
                {k: tf.constant(v[first:end]) for k, v in self.consts.items()})

    def empty_slots(self) -> dict:
        size = self.size
        return {"state": {k: tf.zeros((size, *v.shape[1:]), v.dtype)
                          for k, v in self.probe.items()},
                "consts": {k: tf.zeros((size, *v.shape[1:]), tf.as_dtype(v.dtype))
                           for k, v in self.consts.items()},
                "taken": tf.zeros([size], tf.int32), "active": tf.zeros([size], tf.bool)}

    def refill(self) -> None:
        """Waiting jobs into free slots; a lane with no job yet gets empty slots."""
        for lane in self.lanes:
            free = np.flatnonzero(lane.job < 0)[: self.n - self.next_job]
            if free.size:
                lane.job[free] = np.arange(self.next_job, self.next_job + free.size)
                with lane.placed():
                    x_rows, c_rows = self.rows(self.next_job, free.size)
                    new = {"state": self.program.init(x_rows, c_rows), "consts": c_rows,
                           "taken": tf.zeros([free.size], tf.int32),
                           "active": tf.ones([free.size], tf.bool)}
                    if free.size == self.size:  # every slot new: the rows are the slots
                        lane.slots = new
                    else:
                        lane.slots = _put(lane.slots or self.empty_slots(), tf.constant(free),
                                          new)
                self.next_job += free.size
            if lane.slots is None:  # a device with no job yet still steps with the others
                with lane.placed():
                    lane.slots = self.empty_slots()

    def compact(self, busy: int) -> int:
        """Shrink the batch to the next power of two once no job waits; return the number of
        running slots at which the next block should hand control back."""
        waiting = self.n - self.next_job
        if waiting == 0 and _next_pow2(busy) < self.size:
            self.size = _next_pow2(busy)
            for lane in self.lanes:
                keep = np.argsort(lane.job < 0, kind="stable")[:self.size]
                with lane.placed():
                    lane.slots = _take(lane.slots, tf.constant(keep))
                lane.job = lane.job[keep]
        if waiting:  # return as soon as jobs can take free slots
            return self.size - min(self.refill_at, waiting)
        if self.strategy is None and self.size > 1:
            return self.size // 2  # return when the batch can shrink
        return 0  # replicas would wait for each other: keep stepping

    def show_iterates(self, on_iterate) -> None:
        for lane in self.lanes:
            occupied = np.flatnonzero(lane.job >= 0)
            picked = _take({"taken": lane.slots["taken"], "x": lane.slots["state"]["x"]},
                           tf.constant(occupied))
            on_iterate(lane.job[occupied], picked["taken"].numpy(), picked["x"].numpy())

    def harvest(self, blocks: list[Block]) -> tuple[int, np.ndarray]:
        """Keep each lane's new slots and copy back the rows of the jobs that finished; the
        rows the device evaluated in this visit, and the finished jobs."""
        self.visits += 1
        evaluated = 0
        finished: list[np.ndarray] = []
        for lane, block in zip(self.lanes, blocks, strict=True):
            lane.slots = {"state": block.state, "consts": lane.slots["consts"],
                          "taken": block.taken, "active": block.active}
            evaluated += int(block.evaluated)
            self.slot_steps += int(block.slot_steps)
            fin = np.flatnonzero(block.finished.numpy())
            if fin.size:
                finished.append(self._keep_finished(lane, block, fin))
        self.evaluations += evaluated
        return evaluated, np.concatenate(finished) if finished else np.zeros(0, np.int64)

    def _keep_finished(self, lane: _Lane, block: Block, fin: np.ndarray) -> np.ndarray:
        jobs = lane.job[fin]
        got = {"state": block.state, "extras": block.extras, "success": block.success,
               "taken": block.taken}
        if fin.size < len(lane.job):  # else every slot finished: no rows to pick
            with lane.placed():
                got = _take(got, tf.constant(fin))
        for k, v in got["state"].items():
            self.state[k][jobs] = v.numpy()
        for k, v in got["extras"].items():
            v = v.numpy()
            if k not in self.extras:
                self.extras[k] = np.zeros((self.n, *v.shape[1:]), v.dtype)
            self.extras[k][jobs] = v
        self.success[jobs] = got["success"].numpy()
        self.steps[jobs] = got["taken"].numpy()
        lane.job[fin] = -1
        return jobs

    def rows_of(self, jobs: np.ndarray) -> tuple[np.ndarray, PoolResult]:
        """The finished ``jobs`` (sorted) and their rows as a ``PoolResult`` of their own."""
        jobs = np.sort(jobs)
        return jobs, PoolResult({k: v[jobs] for k, v in self.state.items()},
                                {k: v[jobs] for k, v in self.extras.items()},
                                self.success[jobs], self.steps[jobs], 0, 0, 0)

    def result(self) -> PoolResult:
        grads, queries = self.program.grads_per_step, self.program.queries_per_step
        return PoolResult(self.state, self.extras, self.success, self.steps, self.evaluations,
                          self.evaluations * grads, self.evaluations * queries,
                          self.slot_steps, self.visits)


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
