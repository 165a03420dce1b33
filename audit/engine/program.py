"""``Program``: one per-sample iteration, written batched, run by ``run`` or ``run_pool``.

A program says how to start (``init``) and how to take one step (``step``); the pool decides
which job sits in which batch slot, when a job is finished (its goal met with early stop, or its
step limit reached) and what the work cost. Because a step reports success *at the state it was
given*, from the same model evaluation that drives the update, early stop never costs an extra
model call and never overshoots: a finished job keeps the state it succeeded at.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import tensorflow as tf

from .gradient import per_sample

State = dict[str, tf.Tensor]

STUCK = "stuck"  # the extras key a step sets for jobs that can make no more progress


class Block(NamedTuple):
    """What one compiled block of pool steps hands back; everything stays on the device."""

    state: State
    taken: tf.Tensor  # [B] steps taken by each slot's job
    active: tf.Tensor  # [B] slots whose job is still running
    finished: tf.Tensor  # [B] slots whose job finished during this block
    success: tf.Tensor  # [B] goal met at the finishing evaluation (finished slots)
    extras: State  # [B, ...] extras of the finishing evaluation (finished slots)
    evaluated: tf.Tensor  # rows of running jobs evaluated: the jobs' cost
    slot_steps: tf.Tensor  # rows computed, running or not: the device's work


def open_batch(tree):
    """Tensor specs with the leading (batch) dimension left open; scalars stay as they are."""
    return tf.nest.map_structure(
        lambda t: tf.TensorSpec([None, *t.shape[1:]] if t.shape.rank else [], t.dtype), tree)


class Program:
    """Base class: subclasses implement ``init`` and ``step`` with batched TensorFlow ops.

    ``consts`` holds per-sample constants (``x0``, ``radius``, ``label``, ``target``, and the
    pool's ``max_steps``); ``taken`` is how many steps each sample has taken so far. Every
    ``step`` call evaluates the model ``grads_per_step`` times with a gradient and
    ``queries_per_step`` times forward-only per sample: that is the cost the pool counts.

    A step may also return ``extras["stuck"]`` (bool per sample): the job's iterate can never
    move again (a zero gradient where nothing else drives the update, on a deterministic model),
    so every further step would repeat this one. With early stop the pool then finishes the job
    as it stands, failed unless this very evaluation met the goal: on a gradient-masked model a
    gradient attack costs one evaluation per image instead of its whole step budget.
    """

    grads_per_step: int = 1
    queries_per_step: int = 0
    jit_compile: bool = False

    def init(self, x_start: tf.Tensor, consts: State) -> State:
        raise NotImplementedError

    def step(self, state: State, consts: State, taken: tf.Tensor
             ) -> tuple[State, tf.Tensor, State]:
        """(next state, success at ``state``, extras at ``state``) for every sample."""
        raise NotImplementedError

    # -- compiled entry points, traced once per batch shape ----------------------------------

    def _compiled(self, name: str, fn: Any, *, jit_compile: bool | None = None):
        cache = self.__dict__.setdefault("_compiled_fns", {})
        if name not in cache:
            jit = self.jit_compile if jit_compile is None else jit_compile
            cache[name] = tf.function(fn, jit_compile=jit, reduce_retracing=True,
                                      autograph=False)
        return cache[name]

    def compiled_step(self, state: State, consts: State, taken: tf.Tensor):
        return self._compiled("step", self.step)(state, consts, taken)

    def run_block(self, state: State, consts: State, taken: tf.Tensor, active: tf.Tensor,
                  early_stop: tf.Tensor, max_iters: tf.Tensor, floor: tf.Tensor) -> Block:
        """Up to ``max_iters`` pool steps in one compiled call, without visiting the host.

        The loop ends early when at most ``floor`` slots are still active (so the host can refill
        or shrink the batch) or none is. Finished and empty slots keep the state they were given,
        so a finished job's state is the one it succeeded at, and its extras and success are those
        of that evaluation. ``evaluated`` counts active rows only: an empty or finished slot is
        still computed with the batch, but it is no job's cost (``slot_steps`` counts those too).

        Traced once for every batch size (the batch dimension is left open), so shrinking the
        batch at the end of a run costs no new trace.
        """
        args = (state, consts, taken, active, early_stop, max_iters, floor)
        cache = self.__dict__.setdefault("_compiled_fns", {})
        if "block" not in cache:  # explicit control flow: autograph would only add tracing time
            cache["block"] = tf.function(self._block, jit_compile=self.jit_compile,
                                         autograph=False)
        return cache["block"].get_concrete_function(*open_batch(args))(*args)

    def replicated_block(self, strategy: tf.distribute.Strategy):
        """``run_block`` on every replica of ``strategy`` in one compiled call; per-replica
        arguments are ``tf.distribute`` values, the loop settings are shared."""
        cache = self.__dict__.setdefault("_compiled_fns", {})
        key = ("replicated", id(strategy))
        if key not in cache:
            cache[key] = tf.function(lambda *args: strategy.run(self.run_block, args=args),
                                     autograph=False)
        return cache[key]

    def _loop_step(self):
        """``step`` as a function the block's loop *calls* instead of inlining into its body.

        Grappler optimises a model inlined into a while loop worse than the same model in a
        function of its own: on 2 CPU cores at batch 1 the inlined loop ran at 0.8x the plain
        compiled gradient and the called one at 1.15x. Under XLA everything is compiled as one.
        """
        cache = self.__dict__.setdefault("_compiled_fns", {})
        if "loop_step" not in cache:
            attributes = None if self.jit_compile else {"_noinline": True}
            cache["loop_step"] = tf.function(self.step, reduce_retracing=True, autograph=False,
                                             experimental_attributes=attributes)
        return cache["loop_step"]

    def _block(self, state, consts, taken, active, early_stop, max_iters, floor) -> Block:
        # Tracing the step before the loop gives the extras' shapes, so the loop can carry
        # buffers for them; the loop's calls then reuse this very trace.
        specs = tf.nest.map_structure(tf.TensorSpec.from_tensor, (state, consts, taken))
        step = self._loop_step().get_concrete_function(*specs)
        batch = tf.shape(taken)[0]
        extras = {k: tf.zeros([batch, *v.shape[1:]], v.dtype)
                  for k, v in step.structured_outputs[2].items()}
        max_steps = tf.cast(consts["max_steps"], taken.dtype)
        zero = tf.constant(0, tf.int64)
        start = (tf.constant(0), state, taken, active, tf.zeros_like(active),
                 tf.zeros_like(active), extras, zero)

        def more(i, state, taken, active, done, success, extras, evaluated):
            left = tf.reduce_sum(tf.cast(active, tf.int32))
            return (i < max_iters) & (left > 0) & ((i == 0) | (left > floor))

        def one_step(i, old, taken, active, done, success, extras, evaluated):
            new_state, ok, new_extras = step(old, consts, taken)
            finished = active & ((ok & early_stop) | (taken >= max_steps))
            hold = finished | ~active
            if STUCK in new_extras:
                # A job that can no longer move gives up (with early stop). Its iterate did not
                # move, so it takes the state its step returned: bookkeeping such as whether its
                # first gradient was useless is the step's news.
                gave_up = active & early_stop & new_extras[STUCK] & ~ok
                finished |= gave_up
                hold &= ~gave_up
            # Most steps hold nothing when early stop is off: skip the image-sized select then.
            state = tf.cond(tf.reduce_any(hold),
                            lambda: {k: tf.where(per_sample(hold, v), old[k], v)
                                     for k, v in new_state.items()},
                            lambda: dict(new_state))
            extras = {k: tf.where(per_sample(finished, v), v, extras[k])
                      for k, v in new_extras.items()}
            evaluated += tf.reduce_sum(tf.cast(active, tf.int64))
            running = active & ~finished
            return (i + 1, state, taken + tf.cast(running, taken.dtype), running,
                    done | finished, tf.where(finished, ok, success), extras, evaluated)

        # One iteration at a time: overlapping the next step's model ops with this one's (the
        # default, 10) makes them fight for the same cores and costs a quarter of the speed.
        i, state, taken, active, done, success, extras, evaluated = tf.while_loop(
            more, one_step, start, parallel_iterations=1)
        return Block(state, taken, active, done, success, extras, evaluated,
                     tf.cast(i, tf.int64) * tf.cast(batch, tf.int64))

    def trace_count(self) -> int:
        """How many times the pool step was traced (tests check it stays one per shape)."""
        fn = self.__dict__.get("_compiled_fns", {}).get("block")
        return 0 if fn is None else fn.experimental_get_tracing_count()
