"""Sign-gradient attacks as configurations of the engine's one descent loop.

An attack is an init (clean image or a random start in the ball), a step rule and a projection
(ball, then the 0..255 box, then the integer pixel grid). Budgets are in pixel counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import tensorflow as tf

from . import engine
from .classifier import Classifier
from .losses import attack_loss, succeeded


@dataclass(frozen=True)
class Budget:
    """How far and how fast, in counts: ``eps`` per pixel (L-inf) or in total (L2)."""

    eps: float
    step: float
    steps: int
    norm: str = "linf"


@dataclass(frozen=True)
class Attack:
    name: str
    rule: Callable[[Budget], engine.StepRule]
    random_start: bool = False
    fixed: dict | None = None  # budget fields the attack dictates (FGSM: one step of eps)
    loss: str | None = None  # loss the attack dictates, else the user's
    early_stop: bool = True
    norms: tuple[str, ...] = ("linf",)
    about: str = ""

    def budget(self, eps: float, step: float, steps: int, norm: str = "linf") -> Budget:
        b = Budget(eps, step, steps, norm)
        fixed = dict(self.fixed or {})
        if fixed.get("step") == "eps":
            fixed["step"] = eps
        return replace(b, **fixed)


def _sign_or_l2(b: Budget) -> engine.StepRule:
    return engine.L2Step(b.step) if b.norm == "l2" else engine.SignStep(b.step)


ATTACKS: dict[str, Attack] = {
    "fgsm": Attack("fgsm", lambda b: engine.SignStep(b.eps), fixed={"steps": 1, "step": "eps"},
                   about="one sign step of eps (Goodfellow et al. 2015)"),
    "bim": Attack("bim", lambda b: engine.SignStep(b.step),
                  about="iterated sign steps clipped to the eps ball (Kurakin et al. 2017)"),
    "pgd": Attack("pgd", _sign_or_l2, random_start=True, norms=("linf", "l2"),
                  about="BIM from a uniform random start in the ball (Madry et al. 2018)"),
    "mifgsm": Attack("mifgsm", lambda b: engine.MomentumSignStep(b.step),
                     about="sign of an accumulated gradient, decay 1.0 (Dong et al. 2018)"),
    "seed": Attack("seed", lambda b: engine.SignStep(1.0),
                   fixed={"eps": math.inf, "step": 1.0, "steps": 4}, loss="prob", early_stop=False,
                   about="the seed article: 4 steps of exactly 1 count by the sign of "
                         "grad(p_true - p_target), clipped to the 0..255 range only"),
}


def objective(classifier: Classifier, loss: str) -> engine.Objective:
    def f(x, aux):
        logits = classifier.logits(x)
        values = attack_loss(loss, logits, aux["label"], aux["target"])
        return values, {"probs": tf.nn.softmax(logits, axis=-1)}

    return f


def _stop_when(values, extras, aux):
    return succeeded(extras["probs"], aux["label"], aux["target"])


def descent(classifier: Classifier, attack: Attack, budget: Budget, loss: str,
            jit_compile: bool = False) -> engine.Descent:
    """The compiled attack step; the eps radius is an input, so one serves every budget.

    Descents are cached on the classifier: the sweep, the trust checks and the main attack
    share traced steps instead of paying for a new trace each.
    """
    rule = attack.rule(budget)
    key = (repr(rule), budget.norm, attack.loss or loss, jit_compile)
    cached = classifier.descents.get(key)
    if cached is not None:
        return cached
    ball = engine.l2_ball() if budget.norm == "l2" else engine.linf_ball()
    projection = engine.compose(ball, engine.box(0.0, 255.0),
                                engine.pixel_grid(l2_radius=budget.norm == "l2"))
    d = engine.Descent(objective(classifier, attack.loss or loss), rule, projection, _stop_when,
                       jit_compile)
    classifier.descents[key] = d
    return d


def start_points(attack: Attack, budget: Budget, x0: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Clean images, or for PGD a uniform random start inside the ball, on the pixel grid."""
    x0 = x0.astype(np.float32)
    if not attack.random_start or budget.eps == 0:
        return x0.copy()
    if budget.norm == "l2":
        d = x0[0].size
        direction = rng.standard_normal(x0.shape).astype(np.float32)
        per_image = (-1, *[1] * (x0.ndim - 1))
        direction /= np.linalg.norm(direction.reshape(len(x0), -1), axis=1).reshape(per_image)
        radius = budget.eps * rng.uniform(size=len(x0)) ** (1.0 / d)
        delta = np.trunc(direction * radius.reshape(per_image))
    else:
        e = int(math.floor(budget.eps))
        delta = rng.integers(-e, e + 1, size=x0.shape).astype(np.float32)
    return np.clip(x0 + delta, 0, 255)
