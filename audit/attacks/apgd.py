"""APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks"): PGD whose step size needs no tuning.

It starts with a step of 2 eps, takes momentum steps (alpha 0.75, none on the first step) and at
checkpoints w_j = ceil(p_j N) of its N iterations (p_0 = 0, p_1 = 0.22,
p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)) halves the step and restarts from the best point
when the search stagnates: fewer than rho = 0.75 of the steps since the last checkpoint raised
the loss (condition 1), or the step was not halved at the last checkpoint and the best loss has
not improved since (condition 2). Each image runs its own schedule from its own step count, so
it can leave its batch slot at its first success and the next image takes the slot.

The grid rule: the result that counts is the saved uint8 PNG. APGD keeps its continuous iterate
z inside the ball, but evaluates loss, gradient and success at z rounded onto the pixel grid
(inside the budget; a straight-through evaluation), and moves z with that gradient. Every
success it reports is therefore exact on the grid, at no extra model call, and the search keeps
going on the grid when a rounded point has not flipped yet.

``APGD`` is untargeted (or aims at ``--target``) with the user's loss: ``--loss ce`` is
APGD-CE, ``--loss dlr`` APGD-DLR. ``APGDTargeted`` is APGD-T: targeted DLR runs toward each of
the top-k other classes of the clean image in turn, on the images still standing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from .. import engine
from ..classifier import Classifier
from ..engine.gradient import per_sample, useless_gradient
from ..threats import BALLS, BallThreat
from .base import DEFAULT_RUN, Attack, Goal, RunSettings
from .losses import attack_loss
from .rounds import Rounds, keep_better, kept_init

RHO = 0.75  # share of loss-raising steps below which the step size is halved
MOMENTUM = 0.75
FIRST_CHECKPOINT = 22  # p_1 in hundredths of the iterations
SHRINK, MIN_GAP = 3, 6  # p_{j+1} - p_j = max(p_j - p_{j-1} - 0.03, 0.06), in hundredths


def checkpoint_fractions() -> list[int]:
    """p_1, p_2, ... in hundredths, up to the first one past 1 (exact integers: 22, 41, 57...)."""
    p = [0, FIRST_CHECKPOINT]
    while p[-1] <= 100:
        p.append(p[-1] + max(p[-1] - p[-2] - SHRINK, MIN_GAP))
    return p[1:]


def checkpoints(n_iter: int) -> list[int]:
    """The iterations w_j = ceil(p_j n_iter) <= n_iter at which APGD tests for stagnation,
    without repeats (with few iterations neighbouring p_j round to the same one)."""
    out: list[int] = []
    for p in checkpoint_fractions():
        w = -(-p * n_iter // 100)
        if w > n_iter:
            break
        if not out or w > out[-1]:
            out.append(w)
    return out


CHECKPOINT_SLOTS = sum(1 for p in checkpoint_fractions() if p <= 100)

SCHEDULE = ("eta", "loss_prev", "loss_best", "n_rose", "w_last", "improved", "halved_last")


def schedule_init(eta: tf.Tensor) -> dict[str, tf.Tensor]:
    b = tf.shape(eta)[0]
    false = tf.zeros([b], tf.bool)
    return {"eta": eta, "loss_prev": tf.zeros([b]), "loss_best": tf.fill([b], np.float32(np.inf)),
            "n_rose": tf.zeros([b], tf.int32), "w_last": tf.zeros([b], tf.int32),
            "improved": false, "halved_last": false}


def schedule_update(s: dict[str, tf.Tensor], values: tf.Tensor, k: tf.Tensor,
                    marks: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor, tf.Tensor]:
    """APGD's bookkeeping after evaluating iterate ``k`` (per sample) with loss ``values``.

    The engine minimises, so APGD's "loss rose" is ``values`` falling. ``marks`` holds each
    sample's checkpoints (padded with -1). Returns the new schedule state, whether this iterate
    is the best so far, and whether to halve the step and restart from the best point.
    """
    first = k == 0
    rose = ~first & (values < s["loss_prev"])
    n_rose = s["n_rose"] + tf.cast(rose, tf.int32)
    better = first | (values < s["loss_best"])
    loss_best = tf.where(better, values, s["loss_best"])
    improved = s["improved"] | (better & ~first)
    check = tf.reduce_any(tf.equal(marks, k[:, None]), axis=1)
    window = tf.cast(k - s["w_last"], tf.float32)
    too_few_rises = tf.cast(n_rose, tf.float32) < RHO * window
    stuck = ~s["halved_last"] & ~improved
    halve = check & (too_few_rises | stuck)
    new = {
        "eta": tf.where(halve, s["eta"] / 2, s["eta"]),
        "loss_prev": tf.where(halve, loss_best, values),  # a restart continues from the best
        "loss_best": loss_best,
        "n_rose": tf.where(check, 0, n_rose),
        "w_last": tf.where(check, k, s["w_last"]),
        "improved": improved & ~check,
        "halved_last": tf.where(check, halve, s["halved_last"]),
    }
    return new, better, halve


@dataclass(eq=False)
class APGDProgram(engine.Program):
    """One APGD run per sample; consts: x0, radius, label, target (the goal), loss_target (the
    class the loss aims at; -1 untargeted) and checkpoints."""

    classifier: Classifier
    loss: str
    threat: BallThreat
    jit_compile: bool = False

    def __post_init__(self):
        self.n_classes = len(self.classifier.class_names)
        self.on_grid = self.threat.projection()
        self.inside = self.threat.inside()

    def objective(self, x, consts):
        logits, probs = self.classifier.scores(x, consts)
        values = attack_loss(self.loss, logits, consts["label"], consts["loss_target"])
        return values, {"probs": probs}

    def init(self, x_start, consts):
        z = self.inside(x_start, consts["x0"], consts["radius"])
        x = self.on_grid(z, consts["x0"], consts["radius"])
        return {"x": x, "z": z, "z_prev": z, "z_best": z, "g_best": tf.zeros_like(z),
                "grad_useless": tf.zeros([tf.shape(x)[0]], tf.bool),
                **schedule_init(2.0 * tf.cast(consts["radius"], tf.float32)),
                **kept_init(x, self.n_classes)}

    def step(self, state, consts, taken):
        x0, radius = consts["x0"], consts["radius"]
        x = state["x"]
        values, grad, extras = engine.value_and_grad(self.objective, x, consts)
        probs = extras["probs"]
        success = self.classifier.met(probs, consts["label"], consts["target"])
        finite, useless = useless_gradient(grad)
        grad = tf.where(per_sample(finite, grad), grad, tf.zeros_like(grad))
        schedule, better, restart = schedule_update(
            {k: state[k] for k in SCHEDULE}, values, taken, consts["checkpoints"])
        z_best = tf.where(per_sample(better, x), state["z"], state["z_best"])
        g_best = tf.where(per_sample(better, x), grad, state["g_best"])
        base = tf.where(per_sample(restart, x), z_best, state["z"])
        g = tf.where(per_sample(restart, x), g_best, grad)
        direction = self.threat.steepest_direction(g)
        eta = per_sample(schedule["eta"], x)
        z_plain = self.inside(base - eta * direction, x0, radius)
        alpha = per_sample(tf.where(taken == 0, 1.0, MOMENTUM), x)
        z_next = self.inside(
            base + alpha * (z_plain - base) + (1 - alpha) * (base - state["z_prev"]), x0, radius)
        new_state = {
            "x": self.on_grid(z_next, x0, radius), "z": z_next, "z_prev": base,
            "z_best": z_best, "g_best": g_best,
            "grad_useless": tf.where(taken == 0, useless, state["grad_useless"]),
            **schedule, **keep_better(state, x, probs, values, success),
        }
        # A useless first gradient with no momentum yet: z never moves, every step repeats this
        stuck = (taken == 0) & useless
        return new_state, success, {"probs": probs, "values": values, engine.STUCK: stuck}


class APGD(Attack):
    name = "apgd"
    about = ("PGD with momentum and a step size halved on stagnation from 2 eps, random start, "
             "evaluated on the pixel grid (Croce & Hein 2020)")
    constant_steps = False
    threats = BALLS  # any ball: its projection and steepest step come from the threat model
    default_steps = 100
    fixed = {"step": "eps"}  # no step to choose: it starts at 2 eps, clipped to the ball

    def __init__(self, restarts: int = 1):
        self.restarts = restarts

    def program(self, classifier: Classifier, loss: str, threat: BallThreat,
                jit_compile: bool) -> APGDProgram:
        """Compiled once per classifier, loss and threat model (the radius is an input)."""
        return classifier.program(("apgd", loss, threat.name, jit_compile),
                                  lambda: APGDProgram(classifier, loss, threat, jit_compile))

    def loss_targets(self, classifier: Classifier, x0: np.ndarray, goal: Goal,
                     settings: RunSettings, rounds: Rounds) -> list[np.ndarray]:
        """The class each run's loss aims at, per image: one run toward the goal."""
        return [goal.target]

    def run(self, classifier, x0, goal, budget, settings=DEFAULT_RUN, *, x_start=None):
        x0 = np.asarray(x0, np.float32)
        n = len(x0)
        rounds = Rounds(x0, len(classifier.class_names))
        if n == 0:
            return rounds.result(self.name)
        loss = self.effective_loss(settings)
        program = self.program(classifier, loss, budget.threat, settings.jit_compile)
        radius = np.full(n, budget.radius, np.float32)
        marks = np.full((n, CHECKPOINT_SLOTS), -1, np.int32)
        w = checkpoints(budget.steps)
        marks[:, :len(w)] = w
        plan = [(t, r) for t in self.loss_targets(classifier, x0, goal, settings, rounds)
                for r in range(self.restarts)]
        for run_index, (loss_target, restart) in enumerate(plan):
            idx = rounds.standing()
            if idx.size == 0:
                break
            last = run_index == len(plan) - 1
            if x_start is not None and run_index == 0:
                start = np.asarray(x_start, np.float32)[idx]
            else:
                # drawn per image from (seed, image id), so batching, chunking and sharding do
                # not change it; salted by the attack's name, so APGD and APGD-T in one cascade
                # start apart
                salt = zlib.crc32(self.name.encode())
                start = np.stack([
                    budget.threat.random_start(x0[i], budget.radius, np.random.default_rng(
                        [settings.seed, int(goal.ids[i]), run_index, salt])) for i in idx])
            pool = engine.run_pool(
                program, start,
                {"x0": x0[idx], "radius": radius[idx], "checkpoints": marks[idx],
                 "loss_target": np.asarray(loss_target, np.int32)[idx], **goal.take(idx).consts()},
                max_steps=budget.steps if radius[0] > 0 else 0,
                **{**settings.pool_options(),
                   "on_progress": settings.on_progress if last else _evaluations_only(settings)},
                on_finished=rounds.reporter(
                    idx, settings.on_settled, name=self.name, final=last,
                    grads_per_step=program.grads_per_step,
                    queries_per_step=program.queries_per_step, comparable=restart > 0))
            rounds.add(idx, pool, grads_per_step=program.grads_per_step,
                       queries_per_step=program.queries_per_step, comparable=restart > 0)
            if not last and settings.on_progress is not None:
                settings.on_progress(0, int(pool.success.sum()))
        return rounds.result(self.name)


def _evaluations_only(settings: RunSettings):
    """A progress callback for all runs but the last: jobs that fail there are not done yet."""
    if settings.on_progress is None:
        return None
    return lambda evaluated, finished: settings.on_progress(evaluated, 0)


class APGDTargeted(APGD):
    name = "apgd-t"
    about = ("APGD with the targeted DLR loss toward each of the top-k other classes in turn, "
             "on the images still standing (Croce & Hein 2020)")
    loss = "dlr"

    def __init__(self, restarts: int = 1, targets: int = 9):
        super().__init__(restarts)
        self.targets = targets

    def loss_targets(self, classifier, x0, goal, settings, rounds):
        """``--target`` when given; else the top-k classes of the clean image after its label
        (one forward pass per image, counted as a query)."""
        if (goal.target >= 0).all():
            return [goal.target]
        b = settings.batch_size
        consts = goal.consts()
        logits = np.concatenate([  # logits, not probabilities: those tie once they underflow
            classifier.logits(tf.constant(x0[i:i + b]),
                              {k: tf.constant(v[i:i + b]) for k, v in consts.items()}).numpy()
            for i in range(0, len(x0), b)])
        rounds.charge(np.arange(len(x0)), queries=1)
        logits[np.arange(len(x0)), goal.label] = -np.inf
        order = np.argsort(-logits, axis=1, kind="stable")
        k = min(self.targets, logits.shape[1] - 1)
        return [np.where(goal.target >= 0, goal.target, order[:, j]) for j in range(k)]

