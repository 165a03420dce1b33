"""``auto``: the parameter-free cascade, the default attack (AutoAttack's idea, our twist).

On the images still standing after each stage:

1. APGD with cross-entropy (100 iterations, random start);
2. APGD-T: targeted DLR toward each of the top three other classes of the clean image (with two
   classes, one APGD run on the logit margin from a new start);
3. Square, 1000 queries, L-inf only: it needs no gradient, so it is the cross-check that still
   works when gradients are masked. An image only Square flips is evidence of masking, and the
   verdict says so.

Only the budget (eps) and the norm are the user's to choose. Each image leaves at its first
flip, and each stage runs only on the images no earlier stage flipped, so a vulnerable model is
audited in a few gradient evaluations per image while a robust one gets the full cascade.
``found_by`` names the stage that flipped each image; its cost is the sum over the stages it
went through. AutoAttack's standard version is the yardstick (``Auto.yardstick``): what it would
spend on the same images, estimated from the rows by ``audit.results.yardstick``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..classifier import Classifier
from .apgd import APGD, APGDTargeted
from .base import DEFAULT_RUN, Attack, AttackResult, Budget, Goal, RunSettings
from .square import Square

ITERATIONS = 100
QUERIES = 1000
TARGETS = 3
AA_TARGETS, AA_ITERATIONS, AA_QUERIES = 9, 100, 5000  # AutoAttack's standard version


def stages(norm: str) -> list[str]:
    """The stage names of the cascade for a norm (Square exists for L-inf only)."""
    return ["apgd-ce", "apgd-t"] + (["square"] if norm == "linf" else [])


def full_budget(n_classes: int) -> int:
    """Gradient evaluations plus queries the cascade spends on an image that never flips."""
    return ITERATIONS * (1 + min(TARGETS, n_classes - 1)) + QUERIES


class Auto(Attack):
    name = "auto"
    about = ("parameter-free cascade on the images still standing: APGD-CE, APGD-T (targeted "
             "DLR, top 3 classes), Square (gradient-free, L-inf); AutoAttack's idea with "
             "per-image early stop")
    constant_steps = False
    norms = ("linf", "l2")
    fixed = {"step": "eps", "steps": ITERATIONS, "queries": QUERIES}
    strong = True

    def stages(self, norm: str) -> list[str]:
        return stages(norm)

    def gradient_free_stages(self, norm: str) -> list[str]:
        return [name for name, attack, _ in self.stage_attacks(norm) if not attack.uses_gradient]

    def yardstick(self, n_classes: int) -> dict:
        """AutoAttack's standard version (APGD-CE 100, APGD-T 9 x 100, FAB-T 9 x 100, Square
        5000 queries, each on survivors, no per-image early stop inside a run), assuming it
        flips each image at the stage our cascade did; its Square stops at a flip, after as many
        queries as ours did."""
        t = min(AA_TARGETS, n_classes - 1)
        return {"name": "AutoAttack standard", "steps": [
            {"stage": "apgd-ce", "cost": AA_ITERATIONS, "queries": False},
            {"stage": "apgd-t", "cost": t * AA_ITERATIONS, "queries": False},
            {"stage": None, "cost": t * AA_ITERATIONS, "queries": False},  # FAB-T
            {"stage": "square", "cost": AA_QUERIES, "queries": True}]}

    def stage_attacks(self, norm: str) -> list[tuple[str, Attack, str | None]]:
        """(stage name, attack, loss it runs with)."""
        out: list[tuple[str, Attack, str | None]] = [
            ("apgd-ce", APGD(), "ce"), ("apgd-t", APGDTargeted(targets=TARGETS), None)]
        if norm == "linf":
            out.append(("square", Square(), None))
        return out

    def run(self, classifier: Classifier, x0, goal: Goal, budget: Budget,
            settings: RunSettings = DEFAULT_RUN, *, x_start=None,
            square_only_where_masked: bool = False) -> AttackResult:
        """The cascade. With ``square_only_where_masked``, Square runs only on the survivors
        whose gradient was zero or not finite: the sweep's probes below the audit's budget use
        that, so a masked model's curve is searched by what can flip it, while an ordinary
        model's images are not charged a thousand queries at the budget they hold at."""
        x0 = np.asarray(x0, np.float32)
        n = len(x0)
        out = _nothing_yet(x0, len(classifier.class_names))
        tick = settings.on_progress
        quiet = replace(settings, on_progress=(lambda e, f: tick(e, 0)) if tick else None)
        seen = np.zeros(n, bool)
        plan = self.stage_attacks(budget.norm)
        settled = settings.on_settled
        reported = np.zeros(n, bool)
        for number, (stage, attack, loss) in enumerate(plan, 1):
            idx = np.flatnonzero(~out.success)
            if square_only_where_masked and not attack.uses_gradient:
                idx = idx[out.grad_useless[idx]]
            if attack.uses_gradient and seen.any():
                # a gradient that was zero or not finite will not guide this stage either
                idx = idx[~out.grad_useless[idx]]
            if idx.size == 0:
                continue
            run_settings = replace(quiet, loss=loss) if loss else quiet
            if settled is not None:
                run_settings = replace(run_settings, on_settled=_passed_on(
                    settled, idx, out, seen, reported, stage=stage, attack=attack,
                    final=number == len(plan)))
            start = None if x_start is None or seen.any() else np.asarray(x_start)[idx]
            # each stage its own budget: APGD's iterations, Square's queries (its steps)
            stage_budget = attack.budget(budget.eps, 1.0, ITERATIONS, budget.norm,
                                         budget.queries)
            r = attack.run(classifier, x0[idx], goal.take(idx), stage_budget, run_settings,
                           x_start=start)
            _fold(out, seen, idx, r, stage, attack.uses_gradient)
            if tick:
                tick(0, int(r.success.sum()))
        if tick:
            tick(0, int((~out.success).sum()))
        if settled is not None and not reported.all():
            rest = np.flatnonzero(~reported)  # skipped the stages after their last one
            settled(rest, out.take(rest))
        return out


def _nothing_yet(x0: np.ndarray, n_classes: int) -> AttackResult:
    n = len(x0)
    return AttackResult(
        x=x0.copy(), success=np.zeros(n, bool), probs=np.zeros((n, n_classes), np.float32),
        steps=np.zeros(n, np.int64), grad_evals=np.zeros(n, np.int64),
        queries=np.zeros(n, np.int64), grad_useless=np.zeros(n, bool), found_by=[None] * n)


def _fold(out: AttackResult, seen: np.ndarray, idx: np.ndarray, r: AttackResult, stage: str,
          uses_gradient: bool) -> None:
    """A stage's result on the images ``idx`` into the cascade's: its points, costs added."""
    first = ~seen[idx]
    out.grad_useless[idx[first & uses_gradient]] = r.grad_useless[first & uses_gradient]
    seen[idx] = True
    out.x[idx], out.probs[idx] = r.x, r.probs
    out.success[idx] = r.success
    out.steps[idx] += r.steps
    out.grad_evals[idx] += r.grad_evals
    out.queries[idx] += r.queries
    for k, i in enumerate(idx):
        if r.success[k]:
            out.found_by[i] = stage


def _passed_on(settled, idx: np.ndarray, out: AttackResult, seen: np.ndarray,
               reported: np.ndarray, *, stage: str, attack: Attack, final: bool):
    """A stage's ``on_settled`` as the cascade's: a flip is final at once, a survivor only in
    the last stage; costs add those of the stages the image went through before."""

    def report(rows: np.ndarray, r: AttackResult) -> None:
        keep = r.success | final
        rows, i = rows[keep], idx[rows[keep]]
        if i.size == 0:
            return
        reported[i] = True
        first = ~seen[i] & attack.uses_gradient
        settled(i, AttackResult(
            x=r.x[keep], success=r.success[keep], probs=r.probs[keep],
            steps=out.steps[i] + r.steps[keep], grad_evals=out.grad_evals[i] + r.grad_evals[keep],
            queries=out.queries[i] + r.queries[keep],
            grad_useless=np.where(first, r.grad_useless[keep], out.grad_useless[i]),
            found_by=[stage if s else None for s in r.success[keep]]))

    return report
