"""Every registered attack on a tiny trained model, as a table over the registry: budgets
respected, the pixel grid kept, eps=0 inert, success where it must be."""

import numpy as np
import pytest
import tensorflow as tf

from audit.attacks import ATTACKS, Goal, RunSettings, losses
from audit.attacks.auto import stages
from audit.errors import UsageError
from audit.models.keras_model import KerasClassifier
from audit.threats import THREATS

NAMES = ["cat", "dog"]
BUDGETED = [name for name, a in ATTACKS.items() if "eps" not in a.fixed]
THREAT_CASES = [(name, threat) for name in BUDGETED for threat in ATTACKS[name].threats]
# budgets that flip the tiny model (16 x 16 ramps) under each threat model
FLIP_EPS = {"linf": 16, "l2": 200, "l0": 24, "patch": 8}


@pytest.fixture(scope="module")
def clf(tiny_model):
    return KerasClassifier.from_model(tiny_model, NAMES)


def attack(clf, name, x, y, eps, step, steps, target=-1, threat=None, loss="margin", seed=0,
           early_stop=True, x_start=None, queries=500, batch_size=8):
    """``threat`` None: the first threat model the attack searches (L-inf, or L0)."""
    a = ATTACKS[name]
    threat = threat or a.threats[0]
    return a.run(clf, x, Goal.of(y, target), a.budget(eps, step, steps, threat, queries),
                 RunSettings(loss=loss, batch_size=batch_size, early_stop=early_stop, seed=seed),
                 x_start=x_start)


@pytest.mark.parametrize("name", BUDGETED)
def test_zero_budget_changes_nothing(clf, tiny_data, name):
    x, y = tiny_data
    r = attack(clf, name, x, y, 0, 1, 5)
    np.testing.assert_array_equal(r.x, x)
    assert not r.success.any()


def changed_square(x, adv):
    """Per image, the side of the smallest square holding every changed pixel (test's own)."""
    sides = []
    for a, b in zip(x, adv, strict=True):
        rows, cols = np.nonzero(np.any(a != b, axis=-1))
        sides.append(0 if rows.size == 0 else
                     max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1))
    return np.array(sides)


@pytest.mark.parametrize("name,threat", THREAT_CASES)
def test_perturbation_stays_in_budget_box_and_grid(clf, tiny_data, name, threat):
    x, y = tiny_data
    eps = {"linf": 6.0, "l2": 40.0, "l0": 5.0, "patch": 4.0}[threat]
    step = 15.0 if threat == "l2" else 2.0
    r = attack(clf, name, x, y, eps, step, 8, threat=threat, early_stop=False, queries=40)
    delta = (r.x - x).reshape(len(x), -1)
    if threat == "l2":
        assert np.linalg.norm(delta, axis=1).max() <= eps + 1e-4
    elif threat == "linf":
        assert np.abs(delta).max() <= eps
    elif threat == "l0":
        assert np.any(r.x != x, axis=-1).sum(axis=(1, 2)).max() <= eps
    else:
        assert changed_square(x, r.x).max() <= eps
    assert THREATS[threat].within(x, r.x, eps).all()
    np.testing.assert_array_equal(r.x, np.round(r.x))
    assert r.x.min() >= 0 and r.x.max() <= 255
    assert np.abs(delta).max() > 0


def test_fractional_linf_budget_stays_inside_after_rounding(clf, tiny_data):
    # 4.5 counts: x0 + 4.5 rounds half-to-even onto 4 or 5; the grid radius is 4.
    x, y = tiny_data
    r = attack(clf, "bim", x, y, 4.5, 1, 8, early_stop=False)
    assert np.abs(r.x - x).max() == 4


@pytest.mark.parametrize("name", BUDGETED)
def test_untargeted_attacks_flip_the_trained_model(clf, tiny_data, name):
    x, y = tiny_data
    probs = clf.predict(x)
    assert (probs.argmax(1) == y).all()  # the tiny model is right on every clean image
    threat = ATTACKS[name].threats[0]
    r = attack(clf, name, x, y, FLIP_EPS[threat], 4, 10)
    assert r.success.mean() >= 0.9
    assert (r.probs.argmax(1) != y)[r.success].all()
    # and the probabilities reported match a fresh forward pass of the returned images
    np.testing.assert_allclose(clf.predict(r.x), r.probs, atol=1e-5)
    assert [f is not None for f in r.found_by] == list(r.success)
    assert {f for f in r.found_by if f} <= {name, *stages(THREATS[threat])}
    if ATTACKS[name].uses_gradient:  # each point it stepped from or ended at was evaluated
        assert r.total_grad_evals + r.total_queries >= int((r.steps + 1).sum())
    else:
        assert r.total_grad_evals == 0 and r.total_queries == int((r.steps + 1).sum())


@pytest.mark.parametrize("name", list(ATTACKS))
def test_cost_accounting_matches_the_model_calls(tiny_model, tiny_data, name):
    # batch slots of one, so every model call is one image: what the attack says it spent is
    # what the model saw, forward (gradient evaluations + queries) and backward (gradients)
    from support.models import counted

    model, calls = counted(tiny_model)
    c = KerasClassifier.from_model(model, NAMES)
    x, y = tiny_data
    x, y = x[:4], y[:4]
    calls.forward = calls.backward = 0
    r = attack(c, name, x, y, 6, 2, 5, queries=12, batch_size=1)
    assert calls.forward == r.total_grad_evals + r.total_queries > 0
    assert calls.backward == r.total_grad_evals
    assert (r.total_grad_evals > 0) == ATTACKS[name].uses_gradient


@pytest.mark.parametrize("name", BUDGETED)
def test_an_image_result_depends_on_seed_and_id_only(clf, tiny_data, name):
    # a chunk or shard of the photos, in other batch slots, gets the same result per image
    x, y = tiny_data
    a = ATTACKS[name]
    budget = a.budget(6, 2, 6, a.threats[0], 40)
    whole = a.run(clf, x[:8], Goal.of(y[:8], ids=np.arange(8)), budget,
                  RunSettings(batch_size=8, seed=5))
    part = a.run(clf, x[4:8], Goal.of(y[4:8], ids=np.arange(4, 8)), budget,
                 RunSettings(batch_size=2, seed=5))
    np.testing.assert_array_equal(whole.x[4:], part.x)
    np.testing.assert_array_equal(whole.grad_evals[4:] + whole.queries[4:],
                                  part.grad_evals + part.queries)


def test_targeted_attack_moves_toward_target(clf, tiny_data):
    x, y = tiny_data
    cats = x[y == 0]
    before = clf.predict(cats)[:, 1]
    r = attack(clf, "bim", cats, np.zeros(len(cats)), 16, 4, 10, target=1)
    after = clf.predict(r.x)[:, 1]
    assert np.all(after > before)
    assert r.success.mean() >= 0.9 and (r.probs.argmax(1)[r.success] == 1).all()


def test_early_stop_stops_at_the_first_flip(clf, tiny_data):
    x, y = tiny_data
    stopped = attack(clf, "bim", x, y, 16, 2, 10)
    full = attack(clf, "bim", x, y, 16, 2, 10, early_stop=False)
    assert stopped.total_grad_evals < full.total_grad_evals
    assert (stopped.steps[stopped.success] < 10).all()
    # an image retired after k steps was still correct after k-1 steps
    for i in np.flatnonzero(stopped.success)[:5]:
        k = stopped.steps[i]
        again = attack(clf, "bim", x[i:i + 1], y[i:i + 1], 16, 2, k - 1, early_stop=False)
        assert clf.predict(again.x).argmax(1)[0] == y[i]


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_random_start_is_keyed_by_seed_and_image(tiny_data, norm):
    x, y = tiny_data
    a = ATTACKS["pgd"]
    b = a.budget(4 if norm == "linf" else 60, 1, 5, norm)
    goal = Goal.of(y)
    s1 = a.start(x, b, goal, 3)
    np.testing.assert_array_equal(s1, a.start(x, b, goal, 3))
    assert not np.array_equal(s1, a.start(x, b, goal, 4))
    # an image's start depends on its id, not on which batch it is in or where
    part = np.arange(5, 11)
    np.testing.assert_array_equal(a.start(x[part], b, goal.take(part), 3), s1[part])
    delta = (s1 - x).reshape(len(x), -1)
    if norm == "linf":
        assert np.abs(delta).max() <= 4
    else:
        assert np.linalg.norm(delta, axis=1).max() <= 60 + 1e-4
    assert np.array_equal(s1, np.round(s1)) and np.abs(delta).max() > 0


def test_seed_attack_takes_four_unit_sign_steps(clf, tiny_data):
    x, y = tiny_data
    r = attack(clf, "seed", x, y, 99, 99, 99)  # the seed attack dictates its own budget
    assert (r.steps == 4).all()
    delta = r.x - x
    assert np.abs(delta).max() == 4
    # every pixel moved by +-1 per step; interior pixels with a steady gradient sign move 4
    assert np.isin(np.abs(delta), [0, 1, 2, 3, 4]).all()
    assert np.mean(np.abs(delta) == 4) > 0.5


@pytest.mark.parametrize("kwargs,needle", [
    ({"eps": float("nan")}, "--eps nan"),
    ({"eps": -1.0}, "--eps -1.0"),
    ({"eps": float("inf")}, "--eps inf"),
    ({"step": 0.0}, "--step 0.0"),
    ({"step": -3.0}, "--step -3.0"),
    ({"steps": 0}, "--steps 0"),
    ({"threat": "l2"}, "--threat l2 is not available with --attack bim"),
    ({"threat": "l0"}, "--threat l0 is not available with --attack bim"),
])
def test_budgets_are_validated(kwargs, needle):
    args = {"eps": 4.0, "step": 1.0, "steps": 10, "threat": "linf", **kwargs}
    with pytest.raises(UsageError, match=needle.replace("-", r"\-")):
        ATTACKS["bim"].budget(**args)


@pytest.mark.parametrize("threat,eps,needle", [
    ("l0", 2.5, "--eps 2.5 is not a whole number of pixels"),
    ("patch", -1.0, "--eps -1.0 is not a budget"),
    ("l0", 256.0, "is the whole 16x16 input"),
    ("patch", 17.0, "does not fit the 16x16 input; give at most 16"),
])
def test_sparse_budgets_are_validated(clf, tiny_data, threat, eps, needle):
    x, y = tiny_data
    with pytest.raises(UsageError, match=needle.replace("-", r"\-")):
        attack(clf, "sparse-rs", x[:2], y[:2], eps, 1, 1, threat=threat, queries=5)


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


def test_dlr_loss_against_hand_values():
    z = tf.constant([[4.0, 1.0, 3.0, 0.0, -2.0]])
    label, none = tf.constant([0]), tf.constant([-1])
    # untargeted: (z_y - max_other) / (z_1 - z_3) = (4 - 3) / (4 - 1)
    np.testing.assert_allclose(losses.dlr(z, label, none).numpy(), [1 / 3], rtol=1e-6)
    # targeted at 1: (max_{j != 1} z_j - z_1) / (z_1 - (z_3 + z_4) / 2) = (4 - 1) / (4 - 0.5)
    np.testing.assert_allclose(losses.dlr(z, label, tf.constant([1])).numpy(), [3 / 3.5],
                               rtol=1e-6)
    # scaling the logits does not change it; with two classes it is the logit margin
    np.testing.assert_allclose(losses.dlr(10 * z, label, none).numpy(), [1 / 3], rtol=1e-6)
    two = tf.constant([[2.0, -1.0]])
    np.testing.assert_allclose(losses.dlr(two, label, none).numpy(), [3.0])


@pytest.mark.parametrize("head", ["sigmoid", "logits"])
def test_sigmoid_and_logit_heads_are_attacked_through_logits(head):
    from support.models import ramp_images, train_tiny

    x, y = ramp_images(16, np.random.default_rng(5))
    c = KerasClassifier.from_model(train_tiny(head=head), NAMES)
    assert c.output_kind == head
    if head == "sigmoid":
        assert c.logits_source.startswith("pre-activation of final Dense")
    assert (c.predict(x).argmax(1) == y).mean() > 0.9
    r = attack(c, "bim", x, y, 16, 4, 10)
    assert r.success.mean() >= 0.9


# Gradient evaluations per image on a gradient-masked model: attacks whose iterate can never
# move again once the gradient is zero (no momentum) give up after one or two instead of
# spending every step; auto's later gradient stages skip such an image (Square takes it).
MASKED_COST = {"fgsm": 2, "bim": 2, "pgd": 2, "apgd": 1, "apgd-t": 1,
               "auto": 2,  # its probe's gradient, then APGD-CE's first (useless) one
               "mifgsm": 21,  # momentum keeps MI-FGSM moving: it runs all its steps
               "seed": 5}  # the classic procedure always takes its four steps


@pytest.mark.parametrize("name", [n for n in ATTACKS if ATTACKS[n].uses_gradient])
def test_a_zero_gradient_ends_the_attacks_that_cannot_move(tiny_model, tiny_data, name):
    from support.models import squeezed

    c = KerasClassifier.from_model(squeezed(tiny_model), NAMES)
    x, y = tiny_data
    right = c.predict(x).argmax(1) == y
    x, y = x[right][:6], y[right][:6]
    stopped = attack(c, name, x, y, 4, 1, 20, queries=20)
    full = attack(c, name, x, y, 4, 1, 20, queries=20, early_stop=False)
    # giving up loses nothing: every image ends where running all its steps leaves it
    np.testing.assert_array_equal(stopped.x, full.x)
    np.testing.assert_array_equal(stopped.success, full.success)
    assert stopped.grad_useless.all()
    assert stopped.grad_evals.max() == MASKED_COST[name]
    assert full.total_grad_evals >= stopped.total_grad_evals


@pytest.mark.parametrize("name", ["bim", "mifgsm"])
def test_one_program_serves_every_step_size(tiny_model, tiny_data, name):
    """A sign attack's step size is an input of its compiled step: two step sizes share one
    trace, and each run equals a program with the size built into its rule (scaling a unit
    sign step is exact, so not one pixel differs)."""
    from audit import engine
    from audit.attacks.gradient import goal_met, objective

    fresh = KerasClassifier.from_model(tiny_model, NAMES)  # a program cache of its own
    x, y = tiny_data
    a = ATTACKS[name]
    runs = {step: attack(fresh, name, x, y, 16, step, 6, early_stop=False) for step in (1, 4)}
    (program,) = fresh.programs.values()
    assert program.trace_count() == 1
    for step, got in runs.items():
        budget = a.budget(16, step, 6)
        baked = engine.Descent(objective(fresh, "margin"), a.rule(budget),
                               budget.threat.projection(), goal_met(fresh))
        consts = {"x0": x, "radius": np.full(len(x), budget.radius, np.float32),
                  **Goal.of(y).consts()}
        want = engine.run_pool(baked, x, consts, max_steps=6, batch_size=8, early_stop=False)
        np.testing.assert_array_equal(got.x, want.x)
        assert not np.array_equal(got.x, x)
    assert not np.array_equal(runs[1].x, runs[4].x)
