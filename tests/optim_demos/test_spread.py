"""The spread demo: objectives, the known optima, and the solver reaching them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from audit import engine
from optim_demos import spread
from optim_demos.optima import TAMMES_DEG, known_optimum, simplex_deg


def test_known_optima_match_the_published_values():
    published = {4: 109.4712, 5: 90.0, 6: 90.0, 7: 77.8695, 8: 74.8585, 9: 70.5288,
                 10: 66.1468, 11: 63.4349, 12: 63.4349}
    for n, deg in published.items():
        assert known_optimum(n, 3)[0] == pytest.approx(deg, abs=1e-4), n
        assert TAMMES_DEG[n] == pytest.approx(deg, abs=1e-4), n
    assert known_optimum(20, 2)[0] == 18.0
    # arccos(-1/19) = 93.01696 deg; the 93.0204 is 0.0034 deg off.
    assert known_optimum(20, 32)[0] == pytest.approx(93.01696, abs=1e-5)
    assert simplex_deg(4) == pytest.approx(TAMMES_DEG[4])
    assert known_optimum(20, 3) is None and known_optimum(40, 32) is None


def test_min_angles_of_known_configurations():
    square = np.array([[[1, 0], [0, 1], [-1, 0], [0, -1]]], float)
    octahedron = np.concatenate([np.eye(3), -np.eye(3)])[None]
    assert spread.min_angles_deg(square) == pytest.approx([90.0])
    assert spread.min_angles_deg(octahedron) == pytest.approx([90.0])


def test_angles_stay_accurate_for_nearly_equal_vectors():
    """arccos of a float32 dot product reads 0 here; the atan2 form does not."""
    eps = 1e-4
    u = tf.constant([[[1.0, 0.0], [math.cos(eps), math.sin(eps)]]], tf.float32)
    assert spread.pair_angles(u).numpy()[0, 0] == pytest.approx(eps, rel=1e-3)


def test_soft_min_brackets_the_minimum():
    t = tf.constant([[0.3, 0.5, 0.31, 2.0]])
    for sharpness in (10.0, 1000.0):
        value = float(spread.soft_min(t, tf.constant(sharpness))[0])
        assert 0.3 - math.log(4) / sharpness <= value <= 0.3


def test_objectives_give_tangent_gradients():
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 5, 3)), tf.float32)
    x = tf.math.l2_normalize(x, axis=-1)
    for name, objective in spread.OBJECTIVES.items():
        _, grad, _ = engine.value_and_grad(objective, x, {"sharpness": tf.constant(50.0)})
        radial = tf.reduce_sum(grad * x, -1).numpy()
        assert np.abs(radial).max() < 1e-4 * max(1.0, np.abs(grad.numpy()).max()), name


def test_vectorised_force_equals_the_seeds_double_loop():
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 5, 3)), tf.float32)
    v_vec, g_vec, _ = engine.value_and_grad(spread.force_objective, x, {})
    v_loop, g_loop, _ = engine.value_and_grad(spread.force_objective_double_loop, x, {})
    np.testing.assert_allclose(v_vec.numpy(), v_loop.numpy(), rtol=1e-5)
    np.testing.assert_allclose(g_vec.numpy(), g_loop.numpy(), rtol=1e-3, atol=1e-4)
    assert np.all(v_vec.numpy() > 0.1)


def test_force_vanishes_on_symmetric_configurations():
    octahedron = np.concatenate([np.eye(3), -np.eye(3)])[None].astype(np.float32)
    circle = np.stack([[math.cos(a), math.sin(a)] for a in np.arange(7) * 2 * math.pi / 7])
    for config in (octahedron, circle[None].astype(np.float32)):
        value = spread.force_objective(tf.constant(config))[0].numpy()
        assert value[0] < 1e-3


def test_2d_twenty_vectors_reach_18_degrees():
    r = spread.solve(20, 2)
    assert r.gap_deg is not None and -1e-4 <= r.gap_deg < 0.05
    assert abs(r.min_angle_deg - 18.0) < 0.05
    assert np.allclose(np.linalg.norm(r.x, axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("n", [4, 6, 12])
def test_3d_tammes_optima(n):
    r = spread.solve(n, 3)
    assert abs(r.min_angle_deg - TAMMES_DEG[n]) < 0.05
    assert r.min_angle_deg <= TAMMES_DEG[n] + 1e-4  # never beats a proved optimum


def test_32d_twenty_vectors_reach_the_simplex():
    r = spread.solve(20, 32, restarts=4)
    assert abs(r.min_angle_deg - simplex_deg(20)) < 0.05
    assert abs(r.min_angle_deg - 93.0204) < 0.05  # the figure, for the record


def test_solver_is_seeded_and_keeps_snapshots():
    a = spread.solve(5, 3, steps=120, restarts=2, seed=3, snapshots=7)
    b = spread.solve(5, 3, steps=120, restarts=2, seed=3)
    assert a.min_angle_deg == pytest.approx(b.min_angle_deg, abs=1e-6)
    assert [step for step, _ in a.frames] == [0, 20, 40, 60, 80, 100, 120]
    assert a.values.shape == (121,)


def test_bench_force_objective_contract():
    out = spread.bench_force_objective(n=6, dims=3, seconds=0.05)
    assert {"n", "dims", "vectorised_per_s", "double_loop_per_s", "speedup"} <= set(out)
    assert out["vectorised_per_s"] > out["double_loop_per_s"] > 0
    assert out["speedup"] > 1
