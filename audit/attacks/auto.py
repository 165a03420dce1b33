"""``auto``: the parameter-free cascade, the default attack (AutoAttack's idea, our twist).

On the images still standing after each stage:

0. the probe: one sign step of the whole budget from the clean image, checked by one forward
   pass (``probe``: 1 gradient + 1 query). A transparent stage: an image it does not flip goes
   on exactly as if it had not run, so the cascade flips every image it flipped without it;
1. APGD with cross-entropy (100 iterations, random start);
2. APGD-T: targeted DLR toward each of the top three other classes of the clean image (with two
   classes, one APGD run on the logit margin from a new start);
3. Square, 1000 queries, L-inf only: it needs no gradient, so it is the cross-check that still
   works when gradients are masked. An image only Square flips is evidence of masking, and the
   verdict says so.

Under a sparse threat model (L0 pixels, a patch) the cascade is Sparse-RS alone, 1000 queries:
balls and gradient steps do not describe those sets, and random search is what the literature
found strongest there (Croce et al. 2022).

Only the budget (eps) and the threat model are the user's to choose. Each image leaves at its first
flip, and each stage runs only on the images no earlier stage flipped, so a vulnerable model is
audited in a few gradient evaluations per image while a robust one gets the full cascade.
``found_by`` names the stage that flipped each image; its cost is the sum over the stages it
went through. AutoAttack's standard version is the yardstick (``Auto.yardstick``): what it would
spend on the same images, estimated from the rows by ``audit.results.yardstick``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..classifier import Classifier, attacked_by_gradient
from ..threats import THREATS, ThreatModel
from .apgd import APGD, APGDTargeted
from .base import DEFAULT_RUN, Attack, AttackResult, Budget, Goal, RunSettings, Stage
from .cascade import Standing, run_stage
from .probe import SignProbe
from .sparse_rs import SparseRS
from .square import Square

PROBE_COST = 2  # the probe: one gradient and one query
ITERATIONS = 100
QUERIES = 1000
TARGETS = 3
AA_TARGETS, AA_ITERATIONS, AA_QUERIES = 9, 100, 5000  # AutoAttack's standard version


def stages(threat: ThreatModel) -> list[str]:
    """The stage names of the cascade for a threat model (Square exists for L-inf only)."""
    return [name for name, _, _ in Auto().stage_attacks(threat)]


def full_budget(n_classes: int) -> int:
    """Gradient evaluations plus queries the cascade spends on an image that never flips."""
    return PROBE_COST + ITERATIONS * (1 + min(TARGETS, n_classes - 1)) + QUERIES


class Auto(Attack):
    name = "auto"
    about = ("parameter-free cascade on the images still standing: APGD-CE, APGD-T (targeted "
             "DLR, top 3 classes), Square (gradient-free, L-inf); AutoAttack's idea with "
             "per-image early stop")
    constant_steps = False
    threats = tuple(THREATS)
    fixed = {"step": "eps", "steps": ITERATIONS, "queries": QUERIES}
    strong = True

    def stages(self, threat: ThreatModel) -> list[str]:
        return stages(threat)

    def gradient_free_stages(self, threat: ThreatModel) -> list[str]:
        return [name for name, attack, _ in self.stage_attacks(threat)
                if not attack.uses_gradient]

    def uses_gradient_under(self, threat: ThreatModel) -> bool:
        return any(attack.uses_gradient for _, attack, _ in self.stage_attacks(threat))

    def yardstick(self, threat: ThreatModel, n_classes: int) -> dict | None:
        """AutoAttack's standard version (APGD-CE 100, APGD-T 9 x 100, FAB-T 9 x 100, Square
        5000 queries, each on survivors, no per-image early stop inside a run), assuming it
        flips each image at the stage our cascade did; its Square stops at a flip, after as many
        queries as ours did. AutoAttack has no sparse version: no yardstick there."""
        if not threat.dense:
            return None
        t = min(AA_TARGETS, n_classes - 1)
        return {"name": "AutoAttack standard", "steps": [  # it has no probe: APGD-CE flips those
            {"stage": ["probe", "apgd-ce"], "cost": AA_ITERATIONS, "queries": False},
            {"stage": "apgd-t", "cost": t * AA_ITERATIONS, "queries": False},
            {"stage": None, "cost": t * AA_ITERATIONS, "queries": False},  # FAB-T
            {"stage": "square", "cost": AA_QUERIES, "queries": True}]}

    def stage_attacks(self, threat: ThreatModel) -> list[tuple[str, Attack, str | None]]:
        """(stage name, attack, loss it runs with): each stage that can search ``threat``."""
        out: list[tuple[str, Attack, str | None]] = [
            ("probe", SignProbe(), "ce"), ("apgd-ce", APGD(), "ce"),
            ("apgd-t", APGDTargeted(targets=TARGETS), None), ("square", Square(), None),
            ("sparse-rs", SparseRS(), None)]
        return [stage for stage in out if threat.name in stage[1].threats]

    def plan(self, budget: Budget, *, gradients: bool = True) -> list[Stage]:
        """Each stage under its own budget: APGD's iterations, Square's queries (its steps);
        without ``gradients`` the gradient-free stages only."""
        return [Stage(name, attack, loss, attack.budget(budget.eps, 1.0, ITERATIONS,
                                                        budget.threat, budget.queries))
                for name, attack, loss in self.stage_attacks(budget.threat)
                if gradients or not attack.uses_gradient]

    def skipped(self, threat: ThreatModel, gradients: bool) -> list[str]:
        return [] if gradients else [name for name, attack, _ in self.stage_attacks(threat)
                                     if attack.uses_gradient]

    def refusal(self, threat: ThreatModel, gradients: bool) -> str | None:
        return None  # its gradient-free stages still run

    def run(self, classifier: Classifier, x0, goal: Goal, budget: Budget,
            settings: RunSettings = DEFAULT_RUN, *, x_start=None,
            square_only_where_masked: bool = False) -> AttackResult:
        """The cascade. With ``square_only_where_masked``, Square runs only on the survivors
        whose gradient was zero or not finite: the sweep's probes below the audit's budget use
        that, so a masked model's curve is searched by what can flip it, while an ordinary
        model's images are not charged a thousand queries at the budget they hold at."""
        standing = Standing.start(x0, goal, len(classifier.class_names))
        tick = settings.on_progress
        quiet = replace(settings, on_progress=(lambda e, f: tick(e, 0)) if tick else None,
                        on_settled=None)
        reported = np.zeros(len(standing), bool)
        plan = self.plan(budget, gradients=attacked_by_gradient(classifier) is not None)
        for number, stage in enumerate(plan, 1):
            r = run_stage(stage, classifier, standing, quiet, final=number == len(plan),
                          reported=reported, on_settled=settings.on_settled, x_start=x_start,
                          square_only_where_masked=square_only_where_masked)
            if tick and r is not None:
                tick(0, int(r.success.sum()))
        out = standing.out
        if tick:
            tick(0, int((~out.success).sum()))
        if settings.on_settled is not None and not reported.all():
            rest = np.flatnonzero(~reported)  # skipped the stages after their last one
            settings.on_settled(rest, out.take(rest))
        return out
