"""The minimal-budget sweep: every claimed minimum is witnessed by a saved-grid adversarial,
the curve is never below the fixed attacks, and it costs less than three full auto runs."""

from __future__ import annotations

import numpy as np
import pytest

from audit.attacks import ATTACKS, Goal, RunSettings
from audit.attacks.auto import ITERATIONS, QUERIES
from audit.models.keras_model import KerasClassifier
from audit.pipeline.sweep import minimal_epsilon

MAX_EPS = 8


@pytest.fixture(scope="module")
def clf(tiny_model):
    return KerasClassifier.from_model(tiny_model, ["cat", "dog"])


@pytest.mark.parametrize("name", ["apgd", "bim", "auto"])
def test_minimal_budgets_are_witnessed_and_beat_fixed_attacks(clf, tiny_data, name):
    x, y = tiny_data
    attack, goal, settings = ATTACKS[name], Goal.of(y), RunSettings(batch_size=8)
    budget = attack.budget(4)
    found = attack.run(clf, x, goal, budget, settings)
    min_eps, grads, queries, witness = minimal_epsilon(
        clf, x, goal, attack=attack, budget=budget, max_eps=MAX_EPS, settings=settings,
        found=found)
    flipped = min_eps > 0
    assert flipped.any() and (min_eps <= MAX_EPS).all()
    # each minimum is shown by an adversarial on the grid, inside that budget
    delta = np.abs(witness - x).reshape(len(x), -1).max(axis=1)
    assert (delta[flipped] <= min_eps[flipped]).all()
    np.testing.assert_array_equal(witness, np.round(witness))
    pred = clf.predict(witness).argmax(1)
    assert (pred[flipped] != y[flipped]).all()
    # never below the audit's own attack at its budget, nor below fixed runs at other budgets
    assert np.mean(flipped & (min_eps <= 4)) >= np.mean(found.success)
    for e in (1, 2, 3, 6) if name != "auto" else (2,):  # auto's Square makes each run slow
        fixed = attack.run(clf, x, goal, attack.budget(e), settings)
        assert np.mean(flipped & (min_eps <= e)) >= np.mean(fixed.success), e
    assert grads + queries > 0


def test_sweep_costs_less_than_three_full_auto_runs(clf, tiny_data):
    x, y = tiny_data
    auto, goal, settings = ATTACKS["auto"], Goal.of(y), RunSettings(batch_size=8)
    budget = auto.budget(2)
    found = auto.run(clf, x, goal, budget, settings)
    _, grads, queries, _ = minimal_epsilon(clf, x, goal, attack=auto, budget=budget,
                                           max_eps=MAX_EPS, settings=settings, found=found)
    full = ITERATIONS * 2 + QUERIES  # two classes: APGD-CE, one APGD-T run, Square
    assert (grads + queries) / len(x) < 3 * full


def test_on_a_masked_model_the_sweep_searches_with_square(tiny_model, tiny_data):
    """Gradients are exactly zero behind the squeezer: below the audit's budget only Square can
    flip anything, so the sweep's probes must run it for such images (a gradient-only walk
    would claim every image holds at every smaller budget)."""
    from support.models import squeezed

    clf = KerasClassifier.from_model(squeezed(tiny_model), ["cat", "dog"])
    x, y = tiny_data
    right = clf.predict(x).argmax(1) == y
    x, y = x[right][:8], y[right][:8]
    auto, goal, settings = ATTACKS["auto"], Goal.of(y), RunSettings(batch_size=8)
    budget = auto.budget(12)  # the tiny model holds at small budgets
    found = auto.run(clf, x, goal, budget, settings)
    assert found.success.any() and set(found.found_by) <= {"square", None}
    min_eps, grads, queries, witness = minimal_epsilon(
        clf, x, goal, attack=auto, budget=budget, max_eps=12, settings=settings, found=found)
    flipped = min_eps > 0
    assert (clf.predict(witness).argmax(1)[flipped] != y[flipped]).all()
    square = ATTACKS["square"]
    fixed = square.run(clf, x, goal, square.budget(8, queries=QUERIES), settings)
    assert fixed.success.any()
    assert np.sum(flipped & (min_eps <= 8)) >= fixed.success.sum()
    assert grads <= 12 * len(x)  # APGD gives up at once on every probe


@pytest.mark.parametrize("threat,eps", [("l0", 6), ("l2", 150)])
def test_the_sweep_walks_each_threat_models_own_budgets(clf, tiny_data, threat, eps):
    """Under L0 the minimum is a count of pixels, under L2 a length in counts: each witness
    lies inside its image's minimal budget as that threat model measures it (the test's own
    measure), and flips."""
    x, y = tiny_data
    x, y = x[:8], y[:8]
    attack, goal, settings = ATTACKS["auto"], Goal.of(y), RunSettings(batch_size=8)
    budget = attack.budget(eps, threat=threat)
    found = attack.run(clf, x, goal, budget, settings)
    min_eps, _, _, witness = minimal_epsilon(
        clf, x, goal, attack=attack, budget=budget, max_eps=eps, settings=settings, found=found)
    flipped = min_eps > 0
    assert flipped.sum() >= found.success.sum() > 0
    if threat == "l0":
        size = np.any(witness != x, axis=-1).reshape(len(x), -1).sum(axis=1)
    else:
        size = np.sqrt(((witness - x) ** 2).reshape(len(x), -1).sum(axis=1))
    assert (size[flipped] <= min_eps[flipped] + 1e-4).all()
    assert (clf.predict(witness).argmax(1)[flipped] != y[flipped]).all()
    assert (min_eps[flipped] < eps).any()  # it walked below the audit's budget somewhere
