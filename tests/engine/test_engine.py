"""The gradient engine against closed forms: gradients, step rules, projections, the pool."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from audit import engine


def quadratic(x, aux):
    """f(x) = sum((x - c)^2) per row: gradient 2(x - c), minimum at c."""
    c = aux["centre"]
    return tf.reduce_sum(tf.square(x - c), axis=1), {}


def test_value_and_grad_matches_closed_form():
    x = tf.constant([[1.0, 2.0], [3.0, -1.0]])
    centre = tf.constant([[0.0, 0.0], [1.0, 1.0]])
    values, grad, _ = engine.value_and_grad(quadratic, x, {"centre": centre})
    np.testing.assert_allclose(values.numpy(), [5.0, 8.0])
    np.testing.assert_allclose(grad.numpy(), 2 * (x - centre).numpy())


def test_gradient_descent_follows_geometric_decay():
    # x_k - c = (1 - 2 lr)^k (x_0 - c) for the quadratic.
    lr, steps = 0.1, 7
    x0 = np.array([[4.0, -2.0]], np.float32)
    d = engine.Descent(quadratic, engine.GradientStep(lr))
    x, history = engine.run(d, x0, steps, aux={"centre": np.zeros((1, 2), np.float32)})
    np.testing.assert_allclose(x, x0 * (1 - 2 * lr) ** steps, rtol=1e-5)
    assert history.shape == (steps + 1, 1)
    assert np.all(np.diff(history[:, 0]) < 0)


def test_keras_sgd_rule_equals_plain_gradient_step():
    x0 = np.array([[4.0, -2.0, 1.0]], np.float32)
    aux = {"centre": np.ones((1, 3), np.float32)}
    plain, _ = engine.run(engine.Descent(quadratic, engine.GradientStep(0.05)), x0, 5, aux)
    rule = engine.KerasOptimizerStep(keras.optimizers.SGD(0.05))
    via_keras, _ = engine.run(engine.Descent(quadratic, rule), x0, 5, aux)
    np.testing.assert_allclose(via_keras, plain, rtol=1e-6)


def test_adam_rule_reaches_minimum():
    rule = engine.KerasOptimizerStep(keras.optimizers.Adam(0.1))
    x, hist = engine.run(engine.Descent(quadratic, rule), np.array([[3.0, -3.0]], np.float32),
                         200, {"centre": np.array([[1.0, 2.0]], np.float32)})
    np.testing.assert_allclose(x, [[1.0, 2.0]], atol=1e-2)


def test_sign_step_moves_every_coordinate_by_exactly_the_size():
    x = tf.constant([[0.5, -3.0, 2.0]])
    grad = tf.constant([[0.001, -7.0, 3.0]])
    update, _ = engine.SignStep(2.0)(x, grad, tf.zeros_like(x))
    np.testing.assert_array_equal(update.numpy(), [[-2.0, 2.0, -2.0]])


def test_momentum_sign_step_accumulates_normalised_gradients():
    rule = engine.MomentumSignStep(1.0, decay=1.0)
    x = tf.zeros((1, 2))
    state = rule.init_state(x)
    _, state = rule(x, tf.constant([[2.0, -2.0]]), state)  # mean |g| = 2 -> [1, -1]
    # mean |g| = 0.2 -> [-0.5, 1.5]; velocity [0.5, 0.5]: the sign follows the history,
    # not the new gradient alone (which would step +1, -1).
    update, state = rule(x, tf.constant([[-0.1, 0.3]]), state)
    np.testing.assert_allclose(state.numpy(), [[0.5, 0.5]], rtol=1e-6)
    np.testing.assert_array_equal(update.numpy(), [[-1.0, -1.0]])


def test_l2_step_has_requested_length():
    grad = tf.constant([[3.0, 4.0], [0.0, 2.0]])
    update, _ = engine.L2Step(5.0)(tf.zeros_like(grad), grad, tf.zeros_like(grad))
    np.testing.assert_allclose(np.linalg.norm(update.numpy(), axis=1), [5.0, 5.0], rtol=1e-6)


def test_projections():
    x0 = tf.zeros((2, 3))
    x = tf.constant([[5.0, -0.5, 1.0], [3.0, 4.0, 0.0]])
    radius = tf.constant([1.0, 10.0])
    linf = engine.linf_ball()(x, x0, radius).numpy()
    np.testing.assert_array_equal(linf, [[1.0, -0.5, 1.0], [3.0, 4.0, 0.0]])
    l2 = engine.l2_ball()(x, x0, tf.constant([1.0, 5.0])).numpy()
    np.testing.assert_allclose(np.linalg.norm(l2, axis=1), [1.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose(l2[1], [3.0, 4.0, 0.0])  # on the boundary: untouched
    sphere = engine.unit_sphere()(x, x0, radius).numpy()
    np.testing.assert_allclose(np.linalg.norm(sphere, axis=1), 1.0, rtol=1e-6)
    boxed = engine.box(0.0, 2.0)(x, x0, radius).numpy()
    assert boxed.min() == 0.0 and boxed.max() == 2.0


def test_pixel_grid_rounds_and_keeps_l2_radius():
    x0 = tf.constant([[10.0, 10.0, 10.0]])
    x = tf.constant([[10.6, 11.6, 9.4]])
    np.testing.assert_array_equal(engine.pixel_grid()(x, x0, tf.constant([9.0])).numpy(),
                                  [[11.0, 12.0, 9.0]])
    # rounding would give |(1, 2, -1)| = 2.45 > 2.3: truncate toward x0 instead
    kept = engine.pixel_grid(l2_radius=True)(x, x0, tf.constant([2.3])).numpy()
    assert np.linalg.norm(kept - x0.numpy()) <= 2.3
    np.testing.assert_array_equal(kept, np.round(kept))


def _pool_setup(n=10):
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(n, 4)).astype(np.float32)

    def objective(x, aux):
        return tf.reduce_sum(tf.square(x), axis=1), {"norm": tf.norm(x, axis=1)}

    def stop(values, extras, aux):
        return values < aux["threshold"]

    d = engine.Descent(objective, engine.GradientStep(0.1), stop_when=stop)
    consts = {"x0": x0, "radius": np.full(n, np.inf, np.float32),
              "threshold": rng.uniform(0.01, 1.0, n).astype(np.float32)}
    return d, x0, consts


@pytest.mark.parametrize(("batch", "block", "refill"),
                         [(1, 16, None), (3, 16, None), (4, 1, None), (4, 5, 2), (16, 3, 8)])
def test_pool_results_do_not_depend_on_batching(batch, block, refill):
    d, x0, consts = _pool_setup()
    ref = engine.run_pool(d, x0, consts, max_steps=50, batch_size=32, block_steps=1)
    got = engine.run_pool(d, x0, consts, max_steps=50, batch_size=batch, block_steps=block,
                          refill_at=refill)
    np.testing.assert_array_equal(got.x, ref.x)
    np.testing.assert_array_equal(got.steps, ref.steps)
    np.testing.assert_array_equal(got.extras["norm"], ref.extras["norm"])
    assert got.evaluations == ref.evaluations == int((ref.steps + 1).sum())
    assert got.grad_evals == got.evaluations and got.queries == 0


def test_pool_early_stop_retires_at_first_success_and_counts_work():
    d, x0, consts = _pool_setup()
    n = len(x0)
    r = engine.run_pool(d, x0, consts, max_steps=50, batch_size=4)
    assert r.success.all()
    # value after k steps of GD on |x|^2 is 0.64^k |x0|^2; the first k under the threshold:
    start = (x0**2).sum(axis=1)
    expected = np.array([next(k for k in range(51) if s * 0.64**k < t)
                         for s, t in zip(start, consts["threshold"], strict=True)])
    np.testing.assert_array_equal(r.steps, expected)
    np.testing.assert_allclose(r.extras["norm"], np.sqrt(start * 0.64**expected), rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(r.x, axis=1), r.extras["norm"], rtol=1e-5)
    full = engine.run_pool(d, x0, consts, max_steps=50, batch_size=4, early_stop=False)
    assert np.all(full.steps == 50) and full.evaluations == 51 * n > r.evaluations


def test_pool_steps_on_the_device_between_host_visits():
    d, x0, consts = _pool_setup()  # 10 jobs: one batch of 16 slots, 6 of them idle
    r = engine.run_pool(d, x0, consts, max_steps=50, batch_size=16, early_stop=False,
                        block_steps=16)
    assert r.host_visits == 4  # 51 evaluations per job in blocks of 16
    assert r.evaluations == 51 * 10 and r.slot_steps == 51 * 16
    seen = []
    per_step = engine.run_pool(d, x0, consts, max_steps=50, batch_size=16, early_stop=False,
                               on_iterate=lambda jobs, taken, x: seen.append(taken.copy()))
    assert per_step.host_visits == 51 and len(seen) == 51
    assert all(np.array_equal(t, np.full(10, k)) for k, t in enumerate(seen))
    np.testing.assert_array_equal(per_step.x, r.x)


def test_pool_with_no_jobs_returns_empty_results():
    d, x0, consts = _pool_setup()
    r = engine.run_pool(d, x0[:0], {k: v[:0] for k, v in consts.items()}, max_steps=5,
                        batch_size=4)
    assert r.x.shape == (0, 4) and r.evaluations == 0 and r.success.shape == (0,)


def test_compiled_step_is_traced_once_for_every_batch_size():
    d, x0, consts = _pool_setup(n=40)
    r = engine.run_pool(d, x0, consts, max_steps=50, batch_size=32)
    assert r.slot_steps < 32 * (r.steps.max() + 1)  # the batch shrank at the end...
    assert d.trace_count() == 1  # ...without a new trace
    engine.run_pool(d, x0, consts, max_steps=3, batch_size=8, early_stop=False)
    assert d.trace_count() == 1
