"""Square attack: the published window schedule, flips where gradients are masked, a seeded
random stream per image."""

import numpy as np
import pytest

from audit.attacks import ATTACKS, Goal, RunSettings
from audit.attacks.square import window_size
from audit.models.keras_model import KerasClassifier

NAMES = ["cat", "dog"]


def square(clf, x, y, eps, queries, *, seed=0, batch_size=8):
    a = ATTACKS["square"]
    return a.run(clf, x, Goal.of(y), a.budget(eps, queries=queries),
                 RunSettings(batch_size=batch_size, seed=seed))


@pytest.mark.parametrize("i,n,side", [
    (0, 1000, 14),     # p = 0.8: round(sqrt(0.8 * 256)) = round(14.3)
    (1, 1000, 14),     # 10 of 10,000: not yet past the first fraction
    (2, 1000, 10),     # 20: p = 0.4, round(sqrt(102.4)) = 10
    (5, 1000, 10),     # 50: still 0.4
    (6, 1000, 7),      # 60: p = 0.2, round(sqrt(51.2)) = 7
    (21, 1000, 5),     # 210: p = 0.1, round(sqrt(25.6)) = 5
    (999, 1000, 1),    # 9990: p = 0.8 / 512, sqrt(0.4) rounds to 0, kept at 1
    (200, 10000, 7),   # the schedule is a fraction of the budget
])
def test_window_side_follows_the_published_schedule(i, n, side):
    assert int(window_size(np.array([i]), np.array([n]), 16, 16).numpy()[0]) == side


def test_window_side_is_kept_inside_the_image():
    assert int(window_size(np.array([0]), np.array([100]), 4, 9).numpy()[0]) == 3


def test_square_flips_a_model_whose_gradients_are_zero(tiny_model, tiny_data):
    from support.models import squeezed

    clf = KerasClassifier.from_model(squeezed(tiny_model), NAMES)
    x, y = tiny_data
    right = clf.predict(x).argmax(1) == y
    x, y = x[right][:12], y[right][:12]
    bim = ATTACKS["bim"]
    blind = bim.run(clf, x, Goal.of(y), bim.budget(12, 2, 10), RunSettings(batch_size=8))
    assert not blind.success.any() and blind.grad_useless.all()
    r = square(clf, x, y, 12, 300)
    assert r.success.mean() >= 0.5
    np.testing.assert_array_equal(clf.predict(r.x).argmax(1) != y, r.success)
    assert np.abs(r.x - x).max() <= 12 and np.array_equal(r.x, np.round(r.x))
    assert r.total_grad_evals == 0 and not r.grad_useless.any()


def test_each_image_has_its_own_seeded_random_stream(tiny_model, tiny_data):
    clf = KerasClassifier.from_model(tiny_model, NAMES)
    x, y = tiny_data
    x, y = x[:10], y[:10]
    a = square(clf, x, y, 6, 60, batch_size=8)
    b = square(clf, x, y, 6, 60, batch_size=2)  # other batch slots, same images
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.queries, b.queries)
    c = square(clf, x, y, 6, 60, seed=1)
    assert not np.array_equal(a.x, c.x)


def test_square_stops_each_image_at_its_first_success(tiny_model, tiny_data):
    clf = KerasClassifier.from_model(tiny_model, NAMES)
    x, y = tiny_data
    r = square(clf, x, y, 10, 400)
    assert r.success.mean() >= 0.75
    assert (r.queries[r.success] < 400).all() and (r.queries[~r.success] == 400).all()
    assert (r.queries == r.steps + 1).all()


def test_a_proposal_changes_one_square_window_and_never_nothing(tiny_model):
    import tensorflow as tf

    from audit.attacks.square import SquareProgram

    program = SquareProgram(KerasClassifier.from_model(tiny_model, NAMES))
    n = 64
    x0 = np.random.default_rng(0).integers(10, 246, (n, 16, 16, 3)).astype(np.float32)
    up, down = x0 + 4, x0 - 4
    consts = {k: tf.constant(v) for k, v in {
        "x0": x0, "up": up, "down": down, "rng_key": np.arange(n),
        "max_steps": np.full(n, 99, np.int32)}.items()}
    for k in (0, 5, 50):
        # the kept point already sits at +eps everywhere: a window of +eps in every channel
        # would change nothing, so some channel must go to -eps
        out = program.window(tf.constant(up), consts, tf.fill([n], k)).numpy()
        assert ((out == up) | (out == down)).all()
        changed = (out != up).any(axis=3)
        assert changed.any(axis=(1, 2)).all()
        side = int(window_size(np.array([k]), np.array([99]), 16, 16).numpy()[0])
        for i in range(n):
            rows, cols = np.nonzero(changed[i])
            assert np.ptp(rows) < side and np.ptp(cols) < side
