"""The sign-gradient family: FGSM, BIM, PGD, MI-FGSM and the seed article's procedure.

Each is a few lines: a step rule, maybe a random start, maybe budget fields it dictates.
"""

from __future__ import annotations

import math

from .. import engine
from ..threats import BALLS
from .base import Budget
from .gradient import GradientAttack


class FGSM(GradientAttack):
    name = "fgsm"
    about = "one sign step of eps (Goodfellow et al. 2015)"
    fixed = {"steps": 1, "step": "eps"}

    def rule(self, budget: Budget) -> engine.StepRule:
        return engine.SignStep(budget.eps)


class BIM(GradientAttack):
    name = "bim"
    about = "iterated sign steps clipped to the eps ball (Kurakin et al. 2017)"

    def rule(self, budget: Budget) -> engine.StepRule:
        return engine.SignStep(budget.step)


class PGD(GradientAttack):
    name = "pgd"
    about = "BIM from a uniform random start in the ball (Madry et al. 2018)"
    threats = BALLS  # its step rule and random start come from the threat model
    random_start = True

    def rule(self, budget: Budget) -> engine.StepRule:
        return budget.threat.steepest_rule(budget.step)


class MIFGSM(GradientAttack):
    name = "mifgsm"
    about = "sign of an accumulated gradient, decay 1.0 (Dong et al. 2018)"

    def rule(self, budget: Budget) -> engine.StepRule:
        return engine.MomentumSignStep(budget.step)


class SeedProcedure(GradientAttack):
    name = "seed"
    about = ("the seed article: 4 steps of exactly 1 count by the sign of grad(p_true - "
             "p_target), clipped to the 0..255 range only")
    fixed = {"eps": math.inf, "step": 1.0, "steps": 4}
    loss = "prob"
    early_stop = False

    def rule(self, budget: Budget) -> engine.StepRule:
        return engine.SignStep(1.0)
