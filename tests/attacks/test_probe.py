"""auto's one-step probe: exact flips inside the budget for one gradient and one query, and a
transparent stage — the cascade after it runs as if it had not."""

import numpy as np
import pytest

from audit.attacks import Goal, RunSettings
from audit.attacks.apgd import APGD
from audit.attacks.auto import Auto
from audit.attacks.probe import SignProbe
from audit.models.keras_model import KerasClassifier
from audit.results import yardstick
from audit.threats import THREATS


class WithoutProbe(Auto):
    """auto as it was before the probe: the reference the probe must not weaken."""

    def stage_attacks(self, threat):
        return [s for s in super().stage_attacks(threat) if not isinstance(s[1], SignProbe)]


@pytest.fixture(scope="module")
def clf(tiny_model):
    return KerasClassifier.from_model(tiny_model, ["cat", "dog"])


@pytest.mark.parametrize("norm,eps", [("linf", 6.0), ("l2", 300.0)])
def test_probe_flips_are_exact_inside_the_budget_for_one_gradient_and_one_query(
        clf, tiny_data, norm, eps):
    x, y = tiny_data
    probe = SignProbe()
    r = probe.run(clf, x, Goal.of(y), probe.budget(eps, threat=norm), RunSettings(batch_size=8))
    assert r.success.any()
    np.testing.assert_array_equal(r.x, np.round(r.x))
    delta = (r.x - x).reshape(len(x), -1)
    bound = np.linalg.norm(delta, axis=1) if norm == "l2" else np.abs(delta).max(axis=1)
    assert (bound <= eps + 1e-3).all() and r.x.min() >= 0 and r.x.max() <= 255
    assert (np.abs(delta)[~r.success] == 0).all()  # a miss keeps the clean image
    # what it reports is what a fresh forward pass of the returned images says
    np.testing.assert_allclose(clf.predict(r.x)[r.success], r.probs[r.success], atol=1e-5)
    assert (clf.predict(r.x).argmax(1) != y)[r.success].all()
    assert (r.grad_evals == 1).all() and (r.queries == 1).all()
    assert r.found_by == ["probe" if s else None for s in r.success]


def test_the_probe_is_transparent_to_the_cascade_after_it(clf, tiny_data, monkeypatch):
    """Every image the cascade flipped without the probe it still flips; an image the probe
    misses goes through the same stages from the same start (the caller's start points too)
    to the same result, one gradient and one query dearer."""
    calls = []
    real = APGD.run

    def recorded(self, classifier, x0, goal, budget, settings=None, *, x_start=None):
        calls.append((self.name, goal.ids.copy(), None if x_start is None else x_start.copy()))
        return real(self, classifier, x0, goal, budget, settings, x_start=x_start)

    monkeypatch.setattr(APGD, "run", recorded)
    x, y = tiny_data
    rng = np.random.default_rng(5)
    start = np.clip(x + rng.integers(-2, 3, x.shape), 0, 255).astype(np.float32)
    a = Auto()
    budget = a.budget(6.0)  # the probe flips about half
    settings = RunSettings(batch_size=8, seed=3)
    with_probe = a.run(clf, x, Goal.of(y), budget, settings, x_start=start)
    calls_with, calls[:] = list(calls), []
    without = WithoutProbe().run(clf, x, Goal.of(y), budget, settings, x_start=start)
    probed = np.array([f == "probe" for f in with_probe.found_by])
    assert probed.any() and (~probed).any(), "the budget must leave the probe some misses"
    assert (with_probe.success >= without.success).all()
    rest = ~probed
    np.testing.assert_array_equal(with_probe.x[rest], without.x[rest])
    np.testing.assert_array_equal(with_probe.success[rest], without.success[rest])
    np.testing.assert_array_equal(with_probe.grad_useless[rest], without.grad_useless[rest])
    assert [with_probe.found_by[i] for i in np.flatnonzero(rest)] == \
        [without.found_by[i] for i in np.flatnonzero(rest)]
    np.testing.assert_array_equal(with_probe.grad_evals[rest], without.grad_evals[rest] + 1)
    np.testing.assert_array_equal(with_probe.queries[rest], without.queries[rest] + 1)
    # APGD-CE got the caller's start points for exactly the images the probe missed
    name, ids, got = calls_with[0]
    assert name == "apgd" and calls[0][0] == "apgd" and got is not None
    np.testing.assert_array_equal(ids, np.flatnonzero(rest))
    np.testing.assert_array_equal(got, start[rest])
    np.testing.assert_array_equal(calls[0][2], start)


def test_autoattack_yardstick_charges_a_probed_flip_as_its_first_stage():
    recipe = Auto().yardstick(THREATS["linf"], 2)
    spent = yardstick.costs(recipe, ["probe", "apgd-ce", "apgd-t", None], [1, 1, 2, 1001])
    assert spent[0] == spent[1] == 100  # AutoAttack's APGD-CE would have flipped it
    assert spent[2] == 200 and spent[3] == 100 + 100 + 100 + 5000  # two classes: one target
