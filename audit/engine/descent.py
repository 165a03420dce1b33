"""``Descent``: the program every gradient attack and demo shares — objective, rule, projection.

* an **objective** ``f(x, aux) -> (values, extras)``: one value per sample to *minimise*, plus any
  tensors the caller wants back from the same forward pass (class probabilities, say);
* a **step rule** turning the gradient into an update;
* a **projection** putting the iterate back where it may live.

``stop_when(values, extras, consts)`` (optional) reports which samples already meet the goal
*at* x, from the same forward pass as the gradient. Rows whose gradient is not finite are not
moved; whether the very first gradient was useless (all zero or not finite) is kept in the state,
because that is the signature of gradient masking the trust checks look for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from .gradient import Objective, per_sample, useless_gradient, value_and_grad
from .program import STUCK, Program
from .projections import Projection, identity
from .rules import KerasOptimizerStep, StepRule

__all__ = ["Descent", "Objective", "run"]

_FUSED_UPDATES: dict[tuple[str, int, bool], tuple[Projection, Any]] = {}


@dataclass(eq=False)
class Descent(Program):
    objective: Objective
    rule: StepRule
    projection: Projection = field(default_factory=identity)
    stop_when: Callable[..., tf.Tensor] | None = None
    jit_compile: bool = False
    # Compile the update (gradient checks, rule, projection) as one XLA kernel: one pass over
    # the image instead of a dozen, which on a fast model is a tenth of the step. Only for
    # updates of exact elementwise ops (sign steps, clipping, rounding), which fusing cannot
    # change by a bit; a reduction (an L2 norm, MI-FGSM's L1) may be summed in another order.
    fuse_update: bool = False
    # The rule is built with size 1 and each sample's step size is read from ``consts["step"]``:
    # one traced program serves every step size (the trust checks' probes use two). Only for
    # sign rules, where scaling the unit update is exact, so a step is the same to the bit.
    step_input: bool = False

    def init(self, x_start, consts):
        if isinstance(self.rule, KerasOptimizerStep) and self.rule.var is None:
            self.rule.build(x_start)
        return {
            "x": x_start,
            "rule_state": self.rule.init_state(x_start),
            "grad_useless": tf.zeros([tf.shape(x_start)[0]], tf.bool),
        }

    def step(self, state, consts, taken):
        values, grad, extras = value_and_grad(self.objective, state["x"], consts)
        # outside the fused update: TensorFlow's own reduction is faster here than XLA's
        finite, useless = useless_gradient(grad)
        success = (self.stop_when(values, extras, consts) if self.stop_when is not None
                   else tf.zeros_like(finite))
        update = self._fused() if self.fuse_update and not self.jit_compile else \
            functools.partial(_update, self.rule, self.projection)
        new_state = update(state, grad, finite, useless, consts["x0"], consts["radius"], taken,
                           consts["step"] if self.step_input else None)
        extras = {**extras, "values": values}
        if self.rule.memoryless:  # projections are idempotent: from step 1 on, x + 0 stays x
            extras[STUCK] = ~finite | (useless & (taken > 0))
        return new_state, success, extras

    def _fused(self):
        """The update as one XLA kernel, shared by every Descent with an equal rule and the
        same projection: XLA compiles per batch shape, and an audit builds several such
        programs (the attack, the trust checks, the planted-readout test)."""
        key = (repr(self.rule), id(self.projection), self.step_input)
        if key not in _FUSED_UPDATES:  # the projection is kept so its id stays its own
            # the function holds the rule and the projection only, never this program (whose
            # objective would keep a model alive for the rest of the process)
            _FUSED_UPDATES[key] = (self.projection, tf.function(
                functools.partial(_update, self.rule, self.projection), jit_compile=True,
                reduce_retracing=True, autograph=False))
        return _FUSED_UPDATES[key][1]


def _update(rule: StepRule, projection: Projection, state, grad, finite, useless, x0, radius,
            taken, step=None):
    """The next state from the gradient at x; rows whose gradient is not finite stay. With
    ``step`` (per sample), the rule's unit update is scaled by it."""
    x = state["x"]
    update, rule_state = rule(x, grad, state["rule_state"])
    if step is not None:
        update = update * per_sample(step, update)
    moved = projection(x + update, x0, radius)
    return {"x": tf.where(per_sample(finite, x), moved, x),
            "rule_state": tf.where(per_sample(finite, rule_state), rule_state,
                                   state["rule_state"]),
            "grad_useless": tf.where(taken == 0, useless, state["grad_useless"])}


def run(
    descent: Descent,
    x_init: np.ndarray | tf.Tensor,
    steps: int,
    aux: dict[str, Any] | None = None,
    x0: np.ndarray | tf.Tensor | None = None,
    radius: float | Sequence[float] = math.inf,
    callback: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a fixed batch for ``steps`` updates (the demos' loop).

    ``callback(step, x, values)`` sees every iterate (values are those *at* x), for progress
    bars and animation frames. Returns the final iterate and the values history [steps+1, B].
    """
    x = tf.convert_to_tensor(x_init, dtype=tf.float32)
    batch = x.shape[0]
    consts = {k: tf.convert_to_tensor(v) for k, v in (aux or {}).items()}
    consts["x0"] = x if x0 is None else tf.convert_to_tensor(x0, dtype=tf.float32)
    consts["radius"] = tf.broadcast_to(tf.constant(radius, tf.float32), [batch])
    state = descent.init(x, consts)
    history = []
    for i in range(steps + 1):
        next_state, _, extras = descent.compiled_step(state, consts, tf.fill([batch], i))
        history.append(extras["values"].numpy())
        if callback is not None:
            callback(i, state["x"].numpy(), history[-1])
        if i == steps:
            break
        state = next_state
    return state["x"].numpy(), np.stack(history)
