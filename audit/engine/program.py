"""``Program``: one per-sample iteration, written batched, run by ``run`` or ``run_pool``.

A program says how to start (``init``) and how to take one step (``step``); the pool decides
which job sits in which batch slot, when a job is finished (its goal met with early stop, or its
step limit reached) and what the work cost. Because a step reports success *at the state it was
given*, from the same model evaluation that drives the update, early stop never costs an extra
model call and never overshoots: a finished job keeps the state it succeeded at.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from .gradient import per_sample

State = dict[str, tf.Tensor]


class Program:
    """Base class: subclasses implement ``init`` and ``step`` with batched TensorFlow ops.

    ``consts`` holds per-sample constants (``x0``, ``radius``, ``label``, ``target``, and the
    pool's ``max_steps``); ``taken`` is how many steps each sample has taken so far. Every
    ``step`` call evaluates the model ``grads_per_step`` times with a gradient and
    ``queries_per_step`` times forward-only per sample: that is the cost the pool counts.
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

    def _compiled(self, name: str, fn: Any):
        cache = self.__dict__.setdefault("_compiled_fns", {})
        if name not in cache:
            cache[name] = tf.function(fn, jit_compile=self.jit_compile, reduce_retracing=True)
        return cache[name]

    def compiled_step(self, state: State, consts: State, taken: tf.Tensor):
        return self._compiled("step", self.step)(state, consts, taken)

    def advance(self, state: State, consts: State, taken: tf.Tensor, active: tf.Tensor,
                early_stop: tf.Tensor):
        """One pool step: (state, finished, success, extras). Finished and empty slots keep the
        state they were given, so a finished job's state is the one it succeeded at."""
        return self._compiled("advance", self._advance)(state, consts, taken, active,
                                                         early_stop)

    def _advance(self, state, consts, taken, active, early_stop):
        new_state, success, extras = self.step(state, consts, taken)
        out_of_steps = taken >= tf.cast(consts["max_steps"], taken.dtype)
        finished = active & ((success & early_stop) | out_of_steps)
        hold = finished | ~active
        kept = {k: tf.where(per_sample(hold, v), state[k], v) for k, v in new_state.items()}
        return kept, finished, success, extras

    def trace_count(self) -> int:
        """How many times the pool step was traced (tests check it stays one per shape)."""
        fn = self.__dict__.get("_compiled_fns", {}).get("advance")
        return 0 if fn is None else fn.experimental_get_tracing_count()
