"""Sanity checks that tell a reviewer whether the audit's numbers can be believed.

Each check re-attacks a small sample (cheap) and yields pass/warn with one line of meaning. They
catch the classic failures of gradient-based audits: an attack that changes images at eps=0, a
model whose gradients are masked (large budgets should flip almost everything), and flip rates
that fall as the budget grows. Under a sparse threat model (L0, patch) the probe is a short
Sparse-RS run instead of BIM, and the checks about gradients do not apply (nothing there asks
for one); eps=0, the growing flip rate and the attack unit test still run. A query-only model
(TFLite, ONNX) is probed with a short Square run, and the gradient check does not apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..attacks import (
    PROBE,
    QUERY_PROBE,
    SPARSE_PROBE,
    Attack,
    AttackResult,
    Budget,
    Goal,
    RunSettings,
)
from ..classifier import Classifier
from ..threats import ThreatModel
from .planted import CORNERS, PlantedClassifier, plant

UNIT_TEST_PASS = 0.9  # share of planted adversarials the attack must find
SPARSE_PROBE_QUERIES = 100  # the sparse checks' Sparse-RS runs


def kurakin_steps(eps: int) -> int:
    """BIM's iterations for a budget (Kurakin et al. 2017): min(eps + 4, ceil(1.25 eps))."""
    return int(min(eps + 4, math.ceil(1.25 * eps)))


def _probe_on_sample(classifier: Classifier, x0: np.ndarray, goal: Goal, eps: float, steps: int,
                   settings: RunSettings, threat: ThreatModel | None = None) -> AttackResult:
    """BIM at an L-inf budget, or under a sparse ``threat`` a short Sparse-RS run at ``eps``."""
    if threat is not None and not threat.dense:
        budget = SPARSE_PROBE.budget(eps, threat=threat, queries=SPARSE_PROBE_QUERIES)
        return SPARSE_PROBE.run(classifier, x0, goal, budget, settings)
    if not getattr(classifier, "gradients", True):  # query-only: Square, L-inf
        budget = QUERY_PROBE.budget(eps, queries=SPARSE_PROBE_QUERIES)
        return QUERY_PROBE.run(classifier, x0, goal, budget, settings)
    budget = PROBE.budget(eps, 4.0 if eps >= 16 else 1.0, steps)
    return PROBE.run(classifier, x0, goal, budget, settings)


@dataclass
class Spent:
    """What the checks cost, summed over their runs: gradient evaluations and forward-only
    queries (the end-to-end bench counts them as the audit's own work)."""

    grad_evals: int = 0
    queries: int = 0

    def add(self, result: AttackResult) -> None:
        self.grad_evals += result.total_grad_evals
        self.queries += result.total_queries

    def as_dict(self) -> dict[str, int]:
        return {"grad_evals": self.grad_evals, "queries": self.queries}


def never_falls(rates: list[dict]) -> bool:
    """Whether flip rates, ordered by budget, never fall as the budget grows."""
    pairs = zip(rates, rates[1:], strict=False)
    return all(a["flip_rate"] <= b["flip_rate"] + 1e-12 for a, b in pairs)


def attack_unit_test(classifier: Classifier, x: np.ndarray, goal: Goal, attack: Attack,
                     budget: Budget, settings: RunSettings, spent: Spent) -> dict:
    """Run the audit's own attack on the model with planted adversarials
    (``audit.pipeline.planted``)
    and report the share it finds: near all means the attack is strong enough on this model.
    Its runs are added to ``spent``; planting costs a forward pass per sample and corner."""
    reach = budget.eps if math.isfinite(budget.eps) else budget.step * budget.steps
    p = plant(classifier, x, eps=reach, threat=budget.threat, ids=goal.ids, seed=settings.seed,
              batch_size=settings.batch_size, corners=attack.corners)
    n, usable = len(x), int(p.usable.sum())
    spent.queries += n * (1 + CORNERS)
    name = "attack finds planted adversarials"
    if usable == 0:
        return {"name": name, "status": "warn", "value": None,
                "detail": "the model's output did not move at any tried corner of the budget, so "
                "no adversarial could be planted: the attack's strength on this model is untested"}
    keep = np.flatnonzero(p.usable)
    planted = Goal.of(np.zeros(usable, np.int32), -1, ids=goal.ids[keep],
                      extra={"plant_w": p.w[keep], "plant_c": p.c[keep]})
    found = attack.run(PlantedClassifier(classifier), x[keep], planted, budget, settings)
    spent.add(found)
    share = float(np.mean(found.success))
    ok = share >= UNIT_TEST_PASS and usable == n
    return {
        "name": name, "status": "pass" if ok else "warn", "value": share,
        "detail": f"on the model with a known adversarial planted inside the budget for "
        f"{usable} of {n} sampled images, the audit's attack ({attack.name}) found "
        f"{share:.0%}" + ("" if ok else ": the attack is too weak for this model, so images it "
                          "did not flip may still be vulnerable" if share < UNIT_TEST_PASS else
                          f": the model's output did not move at any tried corner for "
                          f"{n - usable} of them (saturated or quantised outputs), so the "
                          "attack's strength there is untested"),
    }


def trust_checks(classifier: Classifier, x0: np.ndarray, goal: Goal, eps_values: list[float],
                 settings: RunSettings, grad_useless: np.ndarray, *, sample: int = 16,
                 attack: Attack | None = None, budget: Budget | None = None) -> dict:
    """Run the checks on up to ``sample`` attacked images; ``grad_useless`` covers all of them.
    With the audit's ``attack`` and ``budget``, the attack unit test runs too; a sparse
    ``budget.threat`` probes with Sparse-RS and leaves out the checks about gradients. The
    block says what the checks cost (``cost``: gradient evaluations and forward queries), work
    the audit does beyond its attack."""
    rng = np.random.default_rng(settings.seed)
    pick = np.sort(rng.permutation(len(x0))[:sample])
    xs = x0[pick].astype(np.float32)
    gs = goal.take(pick)
    settings = replace(settings, early_stop=True, on_progress=None, on_iterate=None)
    checks: list[dict] = []
    spent = Spent()
    if len(xs) == 0:
        return {"sample_size": 0, "checks": checks, "cost": spent.as_dict()}
    threat = budget.threat if budget is not None else None
    dense = threat is None or threat.dense
    own_gradients = bool(getattr(classifier, "gradients", True))

    zero = _probe_on_sample(classifier, xs, gs, 0, 3, settings, threat)
    spent.add(zero)
    unchanged = bool(np.all(zero.x == xs)) and not bool(np.any(zero.success))
    checks.append({
        "name": "eps=0 changes nothing",
        "status": "pass" if unchanged else "warn",
        "detail": "an attack with a zero budget left every image and prediction as it was"
        if unchanged else "a zero budget changed images or predictions: the attack or the model "
        "is not deterministic, and the flip rates above are not trustworthy",
    })
    if dense:
        checks.append(_large_budget_check(classifier, xs, gs, settings, spent))

    rates = []
    for eps in sorted(set(int(e) for e in eps_values if e > 0)):
        r = _probe_on_sample(classifier, xs, gs, eps, kurakin_steps(eps), settings, threat)
        spent.add(r)
        rates.append({"eps": eps, "flip_rate": float(np.mean(r.success))})
    monotone = never_falls(rates)
    checks.append({
        "name": "flip rate grows with the budget",
        "status": "pass" if monotone else "warn",
        "value": rates,
        "detail": "independent attacks at growing budgets never flip fewer images"
        if monotone else "a larger budget flipped fewer images: the attack is not converging, "
        "so small-budget results understate the model's weakness",
    })
    if dense and own_gradients:
        checks.append(_gradient_check(grad_useless))
    if attack is not None and budget is not None:
        checks.append(attack_unit_test(classifier, xs, gs, attack, budget, settings, spent))
    return {"sample_size": int(len(xs)), "checks": checks, "cost": spent.as_dict()}


def _large_budget_check(classifier: Classifier, xs: np.ndarray, gs: Goal,
                        settings: RunSettings, spent: Spent) -> dict:
    big = _probe_on_sample(classifier, xs, gs, 64, 20, settings)
    spent.add(big)
    share = float(np.mean(big.success))
    return {
        "name": "large budget flips almost everything",
        "status": "pass" if share >= 0.99 else "warn",
        "value": share,
        "detail": f"a budget of 64 counts flips {share:.0%} of the sample"
        + ("" if share >= 0.99 else ": an undefended model should fall almost always, so "
           "suspect gradient masking (saturated softmax, non-differentiable preprocessing)"),
    }


def _gradient_check(grad_useless: np.ndarray) -> dict:
    useless = float(np.mean(grad_useless)) if len(grad_useless) else 0.0
    return {
        "name": "input gradients are informative",
        "status": "pass" if useless == 0 else "warn",
        "value": useless,
        "detail": f"{useless:.0%} of attacked images had an all-zero or non-finite gradient"
        + ("" if useless == 0 else ": sign-gradient attacks are blind on those images"),
    }
