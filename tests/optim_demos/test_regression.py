"""The regression demo against least squares and the seed article's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from optim_demos import regression as reg


@pytest.fixture(scope="module")
def data() -> reg.Data:
    return reg.load_data()


@pytest.fixture(scope="module")
def ref(data) -> reg.Fit:
    return reg.closed_form(data)


def test_shipped_data_is_the_seeds_150_men(data):
    assert len(data.height) == len(data.weight) == 150
    assert 60 < data.height.min() and data.height.max() < 78
    assert data.height.mean() == pytest.approx(68.881589, abs=1e-6)  # the seed's describe()
    assert data.weight.mean() == pytest.approx(185.590780, abs=1e-6)


def test_closed_form_matches_polyfit_and_the_published_numbers(data, ref):
    slope, intercept = np.polyfit(data.height, data.weight, 1)  # an independent solver
    assert ref.slope == pytest.approx(slope, rel=1e-10)
    assert ref.intercept == pytest.approx(intercept, rel=1e-10)
    assert round(ref.slope, 4) == 6.0411
    assert round(ref.intercept, 3) == -230.531
    assert ref.mse == pytest.approx(np.mean((slope * data.height + intercept - data.weight) ** 2))


def test_standardising_round_trips_a_line(data):
    a, c = reg.to_standardised(data, 3.5, -40.0)
    assert reg.from_standardised(data, a, c) == pytest.approx((3.5, -40.0), rel=1e-12)


def test_engine_objective_is_the_mse_of_each_row(data):
    lines = np.array([[6.0, -230.0], [0.0, 0.0], [2.5, 10.0]], np.float32)
    aux = {"height": tf.constant(data.height, tf.float32),
           "weight": tf.constant(data.weight, tf.float32)}
    values, _ = reg.mse_objective(tf.constant(lines), aux)
    expected = [reg.mse(data, float(s), float(b)) for s, b in lines]
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-5)


def test_standardised_gradient_descent_lands_on_the_closed_form(data, ref):
    run = reg.gradient_descent(data, normalized=True)
    assert run.steps == 25
    assert abs(run.slope - ref.slope) / abs(ref.slope) < 1e-4
    assert abs(run.intercept - ref.intercept) / abs(ref.intercept) < 1e-4
    assert run.lines[0] == pytest.approx(reg.INITIAL_LINE, abs=1e-3)  # started from w = 0
    assert len(run.losses) == 26 and run.losses[-1] == pytest.approx(ref.mse, rel=1e-4)


def test_raw_gradient_descent_has_good_mse_but_bad_parameters(data, ref):
    """The seed's observation: on raw heights the loss is a flat valley."""
    run = reg.gradient_descent(data, normalized=False)
    assert run.mse < 1.6 * ref.mse  # close to optimal ...
    assert run.losses[0] > 150 * run.mse  # ... after starting 35000 away
    assert abs(run.slope - ref.slope) > 2.0  # ... but the slope is far off
    assert abs(run.intercept - ref.intercept) > 100.0  # ... and so is the intercept
    notes = reg.observations([run], ref)
    assert "flat valley" in notes[0] and "seed's observation" in notes[0]


@pytest.mark.parametrize("name", sorted(reg.KERAS_OPTIMIZERS))
def test_keras_optimizers_reduce_the_loss(data, ref, name):
    run = reg.keras_run(data, name, reg.KERAS_STEPS)
    assert run.losses[0] > 30000
    assert run.mse < run.losses[0] / 100
    assert run.mse < 1.1 * ref.mse
