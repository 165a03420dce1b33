"""The gradient engine: the one place in advaudit that differentiates.

Every attack and every optimisation demo is an iterative procedure over a batch of independent
samples. The engine gives them three layers, each in its own module:

* ``gradient``: ``value_and_grad``, the only ``GradientTape`` in the code base;
* ``rules`` and ``projections``: how a gradient becomes an update (raw, sign, momentum sign,
  L2-normalised, any ``keras.optimizers`` optimizer) and where an iterate may live (box,
  L-inf/L2 ball, unit sphere, the integer pixel grid) — the parts of Foolbox 3's gradient
  descent base;
* ``program`` and ``pool``: a ``Program`` is any per-sample iteration (a ``Descent`` built from
  an objective, a rule and a projection, or a hand-written one such as APGD or the gradient-free
  Square attack); ``run`` steps a fixed batch (the demos), ``run_pool`` streams many jobs
  through fixed batch slots with early stop (the attacks), stepping on the device between host
  visits; ``devices`` picks the devices and the MirroredStrategy that spreads the pool.

May import TensorFlow, NumPy and the ground floor only; the attacks and the demos build on it.
"""

from . import devices
from .descent import Descent, Objective, run
from .gradient import value_and_grad
from .pool import PoolResult, run_pool
from .program import STUCK, Program
from .projections import (
    Projection,
    box,
    compose,
    identity,
    l2_ball,
    linf_ball,
    pixel_grid,
    unit_sphere,
)
from .rules import (
    GradientStep,
    KerasOptimizerStep,
    L2Step,
    MomentumSignStep,
    SignStep,
    StepRule,
)

__all__ = [
    "STUCK", "Descent", "GradientStep", "KerasOptimizerStep", "L2Step", "MomentumSignStep",
    "Objective", "PoolResult", "Program", "Projection", "SignStep", "StepRule", "box", "compose",
    "identity", "devices", "l2_ball", "linf_ball", "pixel_grid", "run", "run_pool", "unit_sphere",
    "value_and_grad",
]
