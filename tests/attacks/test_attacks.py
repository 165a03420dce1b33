"""Each attack on a tiny trained model: budgets respected, grid kept, success where it must."""

import numpy as np
import pytest
import tensorflow as tf

from audit import engine, losses
from audit.attacks import ATTACKS, descent, start_points
from audit.classifier import Classifier
from audit.sweep import kurakin_steps, minimal_epsilon

NAMES = ["cat", "dog"]


@pytest.fixture(scope="module")
def clf(tiny_model):
    return Classifier.from_model(tiny_model, NAMES)


def attack(clf, name, x, y, eps, step, steps, target=-1, norm="linf", loss="margin", seed=0,
           early_stop=None):
    a = ATTACKS[name]
    b = a.budget(eps, step, steps, norm)
    n = len(x)
    aux = {"label": y.astype(np.int32), "target": np.full(n, target, np.int32)}
    start = start_points(a, b, x, np.random.default_rng(seed))
    r = engine.run_pool(descent(clf, a, b, loss), x, start, np.full(n, b.eps, np.float32),
                        np.full(n, b.steps), aux, 8, a.early_stop if early_stop is None
                        else early_stop)
    return r


@pytest.mark.parametrize("name", ["fgsm", "bim", "pgd", "mifgsm"])
def test_zero_budget_changes_nothing(clf, tiny_data, name):
    x, y = tiny_data
    r = attack(clf, name, x, y, 0, 1, 5)
    np.testing.assert_array_equal(r.x, x)
    assert not r.done.any()


@pytest.mark.parametrize("name,norm", [("fgsm", "linf"), ("bim", "linf"), ("pgd", "linf"),
                                       ("mifgsm", "linf"), ("pgd", "l2")])
def test_perturbation_stays_in_budget_box_and_grid(clf, tiny_data, name, norm):
    x, y = tiny_data
    eps = 40.0 if norm == "l2" else 6.0
    step = 15.0 if norm == "l2" else 2.0
    r = attack(clf, name, x, y, eps, step, 8, norm=norm, early_stop=False)
    delta = (r.x - x).reshape(len(x), -1)
    if norm == "l2":
        assert np.linalg.norm(delta, axis=1).max() <= eps + 1e-4
    else:
        assert np.abs(delta).max() <= eps
    np.testing.assert_array_equal(r.x, np.round(r.x))
    assert r.x.min() >= 0 and r.x.max() <= 255
    assert np.abs(delta).max() > 0


@pytest.mark.parametrize("name", ["fgsm", "bim", "pgd", "mifgsm"])
def test_untargeted_attacks_flip_the_trained_model(clf, tiny_data, name):
    x, y = tiny_data
    probs = clf.predict(x)
    assert (probs.argmax(1) == y).all()  # the tiny model is right on every clean image
    r = attack(clf, name, x, y, 16, 4, 10)
    assert r.done.mean() >= 0.9
    assert (r.extras["probs"].argmax(1) != y)[r.done].all()
    # and the probabilities reported match a fresh forward pass of the returned images
    np.testing.assert_allclose(clf.predict(r.x), r.extras["probs"], atol=1e-5)


def test_targeted_attack_moves_toward_target(clf, tiny_data):
    x, y = tiny_data
    cats = x[y == 0]
    before = clf.predict(cats)[:, 1]
    r = attack(clf, "bim", cats, np.zeros(len(cats)), 16, 4, 10, target=1)
    after = clf.predict(r.x)[:, 1]
    assert np.all(after > before)
    assert r.done.mean() >= 0.9 and (r.extras["probs"].argmax(1)[r.done] == 1).all()


def test_early_stop_stops_at_the_first_flip(clf, tiny_data):
    x, y = tiny_data
    stopped = attack(clf, "bim", x, y, 16, 2, 10)
    full = attack(clf, "bim", x, y, 16, 2, 10, early_stop=False)
    assert stopped.evaluations < full.evaluations
    assert (stopped.steps[stopped.done] < 10).all()
    # an image retired after k steps was still correct after k-1 steps
    for i in np.flatnonzero(stopped.done)[:5]:
        k = stopped.steps[i]
        again = attack(clf, "bim", x[i:i + 1], y[i:i + 1], 16, 2, k - 1, early_stop=False)
        assert clf.predict(again.x).argmax(1)[0] == y[i]


def test_pgd_random_start_is_seeded(clf, tiny_data):
    x, _ = tiny_data
    a = ATTACKS["pgd"]
    b = a.budget(4, 1, 5)
    s1 = start_points(a, b, x, np.random.default_rng(3))
    s2 = start_points(a, b, x, np.random.default_rng(3))
    s3 = start_points(a, b, x, np.random.default_rng(4))
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(s1, s3)
    assert np.abs(s1 - x).max() <= 4 and np.array_equal(s1, np.round(s1))


def test_seed_attack_takes_four_unit_sign_steps(clf, tiny_data):
    x, y = tiny_data
    r = attack(clf, "seed", x, y, 99, 99, 99)  # the seed attack dictates its own budget
    assert (r.steps == 4).all()
    delta = r.x - x
    assert np.abs(delta).max() == 4
    # every pixel moved by +-1 per step; interior pixels with a steady gradient sign move 4
    assert np.isin(np.abs(delta), [0, 1, 2, 3, 4]).all()
    assert np.mean(np.abs(delta) == 4) > 0.5


def test_losses_against_hand_values():
    logits = tf.constant([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0]])
    label = tf.constant([0, 1])
    untargeted = tf.constant([-1, -1])
    np.testing.assert_allclose(losses.margin(logits, label, untargeted).numpy(), [1.5, 2.0])
    np.testing.assert_allclose(
        losses.margin(logits, label, tf.constant([2, 0])).numpy(), [3.0, 3.0])
    probs = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(
        losses.probability_margin(tf.constant(probs), label, tf.constant([1, -1])).numpy(),
        [probs[0, 0] - probs[0, 1], probs[1, 1] - probs[1, 2]], rtol=1e-6)
    ce = losses.cross_entropy(logits, label, untargeted).numpy()
    np.testing.assert_allclose(ce, np.log(probs[[0, 1], [0, 1]]), rtol=1e-5)


def test_sweep_equals_running_every_budget(clf, tiny_data):
    x, y = tiny_data
    x, y = x[:12], y[:12]
    max_eps = 12
    aux = {"label": y.astype(np.int32), "target": np.full(len(x), -1, np.int32)}
    found, evals = minimal_epsilon(clf, x, aux, max_eps, "margin", 8, chunk=5)
    brute = np.zeros(len(x), int)
    brute_evals = 0
    for e in range(max_eps, 0, -1):
        r = attack(clf, "bim", x, y, e, 1, kurakin_steps(e))
        brute_evals += r.evaluations
        brute[r.done] = e
    np.testing.assert_array_equal(found, brute)
    assert (found > 0).any() and evals < brute_evals


def test_sigmoid_and_logit_heads_are_attacked_through_logits():
    from conftest import ramp_images, train_tiny

    x, y = ramp_images(16, np.random.default_rng(5))
    for head in ("sigmoid", "logits"):
        model = train_tiny(head=head)
        c = Classifier.from_model(model, NAMES)
        assert c.output_kind == head and "pre-activation" in c.logits_source or head == "logits"
        assert (c.predict(x).argmax(1) == y).mean() > 0.9
        r = attack(c, "bim", x, y, 16, 4, 10)
        assert r.done.mean() >= 0.9
