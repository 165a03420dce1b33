"""APGD: its step-size schedule against hand-computed values, its strength against BIM on a
tiny trained model, restarts and target classes on the images still standing."""

import numpy as np
import pytest
import tensorflow as tf

from audit.attacks import ATTACKS, Goal, RunSettings
from audit.attacks.apgd import (
    CHECKPOINT_SLOTS,
    checkpoint_fractions,
    checkpoints,
    schedule_init,
    schedule_update,
)
from audit.models.keras_model import KerasClassifier

NAMES = ["cat", "dog"]


@pytest.fixture(scope="module")
def clf(tiny_model):
    return KerasClassifier.from_model(tiny_model, NAMES)


def run(clf, name, x, y, eps, steps, *, step=1.0, loss="margin", target=-1, attack=None,
        early_stop=True, seed=0):
    a = attack or ATTACKS[name]
    return a.run(clf, x, Goal.of(y, target), a.budget(eps, step, steps),
                 RunSettings(loss=loss, batch_size=8, early_stop=early_stop, seed=seed))


def test_checkpoints_follow_the_published_fractions():
    # p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)
    assert checkpoint_fractions()[:9] == [22, 41, 57, 70, 80, 87, 93, 99, 105]
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(20) == [5, 9, 12, 14, 16, 18, 19, 20]  # ceil(p_j * 20)
    assert checkpoints(10) == [3, 5, 6, 7, 8, 9, 10]  # 0.93 and 0.99 both round to 10
    assert checkpoints(1) == [1]
    assert CHECKPOINT_SLOTS == len(checkpoints(1000)) == 8


def test_step_size_halves_on_stagnation_and_restarts_from_the_best():
    # Scripted losses (minimised) for 20 iterations, checkpoints 5, 9, 12, 14, 16, 18, 19, 20:
    # at 5 only 1 of 5 steps lowered the loss (condition 1); at 9, 3 of 4 did and the best did
    # not improve, but the step was halved at 5, so condition 2 does not apply; at 12, 3 of 3
    # did without a new best (condition 2); at 16 and 19 nothing fell (condition 1); at 14, 18
    # and 20 every step fell to a new best.
    values = [10, 10, 9, 9.5, 9.6, 9.7, 9.8, 9.5, 9.3, 9.1, 9.08, 9.05, 9.02, 8, 7, 7, 7, 6, 5,
              5, 4]
    marks = tf.constant([checkpoints(20)], tf.int32)
    state = schedule_init(tf.constant([2.0]))
    etas, bests, restarts = [], [], []
    for k, v in enumerate(values):
        state, better, restart = schedule_update(state, tf.constant([v], tf.float32),
                                                 tf.constant([k], tf.int32), marks)
        etas.append(float(state["eta"][0]))
        bests.append(bool(better[0]))
        restarts.append(bool(restart[0]))
    assert [k for k, r in enumerate(restarts) if r] == [5, 12, 16, 19]
    assert [k for k, b in enumerate(bests) if b] == [0, 2, 13, 14, 17, 18, 20]
    expected = [2.0] * 5 + [1.0] * 7 + [0.5] * 4 + [0.25] * 3 + [0.125] * 2
    assert etas == expected
    assert float(state["loss_best"][0]) == 4.0


def test_step_size_never_halves_while_every_step_improves():
    marks = tf.constant([checkpoints(30)], tf.int32)
    state = schedule_init(tf.constant([8.0]))
    for k in range(31):
        state, _, restart = schedule_update(state, tf.constant([-float(k)]),
                                            tf.constant([k], tf.int32), marks)
        assert not bool(restart[0])
    assert float(state["eta"][0]) == 8.0


def test_apgd_flips_at_least_as_many_as_bim_at_equal_budget(clf, tiny_data):
    x, y = tiny_data
    for eps in (5, 6, 7):
        bim = run(clf, "bim", x, y, eps, 10)
        apgd = run(clf, "apgd", x, y, eps, 10)
        assert apgd.success.sum() >= bim.success.sum() > 0, eps
    # few iterations: BIM's unit steps cannot reach the ball's surface, APGD's 2 eps can
    bim = run(clf, "bim", x, y, 7, 3)
    apgd = run(clf, "apgd", x, y, 7, 3)
    assert apgd.success.sum() > bim.success.sum() + 5


def test_every_success_holds_on_the_grid(clf, tiny_data):
    x, y = tiny_data
    for loss in ("margin", "ce", "dlr"):
        r = run(clf, "apgd", x, y, 6, 10, loss=loss)
        assert r.success.any() and not r.success.all()
        np.testing.assert_array_equal(r.x, np.round(r.x))
        assert np.abs(r.x - x).max() <= 6
        np.testing.assert_array_equal(clf.predict(r.x).argmax(1) != y, r.success)


def test_restarts_run_on_survivors_and_add_their_cost(clf, tiny_data):
    from audit.attacks.apgd import APGD

    x, y = tiny_data
    one = run(clf, "apgd", x, y, 5, 10)
    three = run(clf, "apgd", x, y, 5, 10, attack=APGD(restarts=3))
    assert three.success.sum() >= one.success.sum()
    held = ~three.success
    assert (three.grad_evals[held] == 3 * 11).all()  # three runs of 1 + 10 evaluations
    assert (three.steps[held] == 30).all()
    assert (three.queries == 0).all()


def test_seeded_random_start_is_reproducible(clf, tiny_data):
    x, y = tiny_data
    a = run(clf, "apgd", x, y, 5, 10, seed=3)
    b = run(clf, "apgd", x, y, 5, 10, seed=3)
    np.testing.assert_array_equal(a.x, b.x)


def test_apgd_and_apgd_t_draw_different_random_starts(clf, tiny_data):
    # with two classes APGD-T's one run is APGD with the margin loss: from the same start it
    # would repeat APGD's search exactly, so a cascade running both must start them apart
    x, y = tiny_data
    a = run(clf, "apgd", x, y, 5, 2, early_stop=False)
    t = run(clf, "apgd-t", x, y, 5, 2, early_stop=False)
    assert not np.array_equal(a.x, t.x)


def test_targeted_apgd_reaches_the_target_and_keeps_budget(clf, tiny_data):
    x, y = tiny_data
    cats = x[y == 0]
    r = run(clf, "apgd", cats, np.zeros(len(cats), np.int32), 16, 10, target=1)
    assert r.success.mean() >= 0.9 and (r.probs.argmax(1)[r.success] == 1).all()


def test_apgd_t_aims_at_the_top_other_classes_in_order():
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(h))
    c = KerasClassifier.from_model(model, [f"c{i}" for i in range(5)])
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3)).astype(np.float32)
    label = c.predict(x).argmax(1).astype(np.int32)
    a = ATTACKS["apgd-t"]
    order = a.loss_targets(c, x, Goal.of(label), RunSettings(batch_size=4),
                           _NoCost())
    logits = c.logits(tf.constant(x)).numpy()
    logits[np.arange(6), label] = -np.inf
    expected = np.argsort(-logits, axis=1)[:, :4]
    np.testing.assert_array_equal(np.stack(order, 1), expected)
    # a fixed --target gives that one run only
    fixed = a.loss_targets(c, x, Goal.of(label, 2), RunSettings(), _NoCost())
    assert len(fixed) == 1 and (fixed[0] == 2).all()
    r = a.run(c, x, Goal.of(label), a.budget(255, 1, 5), RunSettings(batch_size=4))
    assert r.success.all() and (r.queries == 1).all()
    np.testing.assert_array_equal(c.predict(r.x).argmax(1) != label, r.success)


class _NoCost:
    def charge(self, idx, **cost):
        pass
