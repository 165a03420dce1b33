"""The trust checks on real models: an undefended one passes all four, a colour-depth-squeezed
one (gradients exactly zero) and a model with random inference each trip the checks meant for
them."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from support.models import NoisyLogits, squeezed

from audit.attacks import ATTACKS, Goal, RunSettings
from audit.classifier import Classifier
from audit.models.keras_model import KerasClassifier
from audit.pipeline.trust import never_falls, trust_checks

NAMES = ["cat", "dog"]


def statuses(clf: Classifier, x: np.ndarray, y: np.ndarray) -> dict[str, str]:
    goal = Goal.of(y)
    bim = ATTACKS["bim"]
    main = bim.run(clf, x, goal, bim.budget(4, 1, 10), RunSettings(batch_size=8))
    report = trust_checks(clf, x, goal, [2, 4, 8], RunSettings(batch_size=8), main.grad_useless)
    return {c["name"]: c["status"] for c in report["checks"]}


def correct(clf: Classifier, data) -> tuple[np.ndarray, np.ndarray]:
    x, y = data
    keep = clf.predict(x).argmax(1) == y
    assert keep.sum() >= 12
    return x[keep], y[keep]


def test_an_undefended_model_passes_every_check(tiny_model, tiny_data):
    clf = KerasClassifier.from_model(tiny_model, NAMES)
    assert set(statuses(clf, *correct(clf, tiny_data)).values()) == {"pass"}


@pytest.fixture(scope="module")
def squeezed_clf(tiny_model):
    return KerasClassifier.from_model(squeezed(tiny_model), NAMES)


def test_the_squeezer_masks_the_gradient_exactly(squeezed_clf, tiny_data):
    x, y = correct(squeezed_clf, tiny_data)
    r = ATTACKS["bim"].run(squeezed_clf, x, Goal.of(y), ATTACKS["bim"].budget(4, 1, 10))
    assert r.grad_useless.all() and not r.success.any()
    np.testing.assert_array_equal(r.x, x)  # a zero gradient moves nothing


def test_gradient_masking_trips_the_masking_checks(squeezed_clf, tiny_data):
    found = statuses(squeezed_clf, *correct(squeezed_clf, tiny_data))
    assert found["input gradients are informative"] == "warn"
    assert found["large budget flips almost everything"] == "warn"


def noisy_copy(model: keras.Model, stddev: float) -> keras.Model:
    """The same network with seeded Gaussian noise on its logits at inference."""
    inputs = keras.Input(model.inputs[0].shape[1:])
    features = keras.Model(model.inputs, model.layers[-1].input)(inputs)
    head = keras.layers.Dense(2)
    outputs = keras.layers.Softmax()(NoisyLogits(stddev)(head(features)))
    head.set_weights(model.layers[-1].get_weights())
    return keras.Model(inputs, outputs)


def test_random_inference_trips_the_zero_budget_check(tiny_model, tiny_data):
    keras.utils.set_random_seed(0)
    clf = KerasClassifier.from_model(noisy_copy(tiny_model, 8.0), NAMES)
    x, y = tiny_data
    assert statuses(clf, x[:16], y[:16])["eps=0 changes nothing"] == "warn"


def test_a_flip_rate_that_falls_with_the_budget_is_caught():
    rising = [{"eps": 2, "flip_rate": 0.5}, {"eps": 4, "flip_rate": 0.5},
              {"eps": 8, "flip_rate": 0.9}]
    assert never_falls(rising)
    falling = [dict(r) for r in rising]
    falling[1]["flip_rate"] = 0.4
    assert not never_falls(falling)


def test_the_budget_check_reports_a_falling_rate(monkeypatch, tiny_model, tiny_data):
    """Wiring: when the re-attacks flip fewer images at a larger budget, the check warns."""
    from audit.pipeline import trust

    real = trust._probe_on_sample

    def lucky_at_two(clf, x, goal, eps, steps, settings, threat=None):
        r = real(clf, x, goal, eps, steps, settings, threat)
        if eps == 2:  # the tiny model holds at 2 and 4 counts and falls at 8
            r.success[:] = True
        return r

    monkeypatch.setattr(trust, "_probe_on_sample", lucky_at_two)
    clf = KerasClassifier.from_model(tiny_model, NAMES)
    assert statuses(clf, *correct(clf, tiny_data))["flip rate grows with the budget"] == "warn"


def test_the_checks_say_what_they_cost(monkeypatch, tiny_model, tiny_data):
    """Every re-attack's gradients and queries, and the planted test's corner passes, are in
    the block's cost (the end-to-end bench counts them as the audit's work)."""
    from audit.attacks.gradient import GradientAttack
    from audit.pipeline.planted import CORNERS

    runs: list = []
    real = GradientAttack.run

    def counted(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        runs.append(result)
        return result

    monkeypatch.setattr(GradientAttack, "run", counted)
    clf = KerasClassifier.from_model(tiny_model, NAMES)
    x, y = correct(clf, tiny_data)
    bim = ATTACKS["bim"]
    budget = bim.budget(4, 1, 5)
    report = trust_checks(clf, x, Goal.of(y), [2, 4], RunSettings(batch_size=8),
                          np.zeros(len(x), bool), attack=bim, budget=budget)
    n = report["sample_size"]
    assert len(runs) == 5  # eps=0, the large budget, eps 2 and 4, the planted test
    assert report["cost"] == {
        "grad_evals": sum(r.total_grad_evals for r in runs),
        "queries": sum(r.total_queries for r in runs) + n * (1 + CORNERS)}
    assert report["cost"]["grad_evals"] > 0
