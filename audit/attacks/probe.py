"""The one-step probe: a full-budget sign step (FGSM) from the clean image, checked with one
forward pass — the cheapest thing that settles an undefended model's images.

On an undefended model most images flip at APGD's first move, and APGD pays two gradient
evaluations for that: one at its random start and one at the moved point, whose gradient is
thrown away once the point is seen to flip. The probe pays one gradient and one forward query.
It runs before APGD in ``auto`` as a *transparent* stage: it neither chooses start points nor
judges whether the gradient is useful, so an image it does not flip goes on through the
cascade exactly as if the probe had not run (same random starts, same masking flags) and only
its cost grows by one gradient and one query. The set of flipped images can therefore only
grow; a model that needs the full cascade pays about 1% more.

Its gradient is taken at the clean image, so the forward pass under it is the clean pass: an
audit classifies each chunk and takes the probe's step in one program (``SignProbe.look``),
the label the loss moves away from being the photo's own where it has one and otherwise the
class the same forward pass gave it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from .. import engine
from ..classifier import Classifier
from ..engine.gradient import per_sample, useless_gradient
from ..threats import BALLS, BallThreat
from .base import DEFAULT_RUN, Attack, AttackResult, Budget, Look, RunSettings
from .losses import attack_loss


class ProbeProgram:
    """The compiled probe for a classifier, loss and threat model (the radius is an input):
    ``probe`` alone, or ``look``, which also returns the clean pass."""

    def __init__(self, classifier: Classifier, loss: str, threat: BallThreat):
        self.classifier, self.loss, self.threat = classifier, loss, threat
        self.on_grid = threat.projection()
        self._compiled_fns: dict = {}  # traced on first use, as engine Programs keep theirs

    def compiled(self, name: str):
        if name not in self._compiled_fns:
            self._compiled_fns[name] = tf.function(getattr(self, "_" + name), autograph=False)
        return self._compiled_fns[name]

    def _objective(self, x, consts):
        """The loss at x, away from ``label`` or, where that is -1, from the class x gets."""
        logits, probs = self.classifier.scores(x, consts)
        pred = tf.argmax(probs, axis=-1, output_type=tf.int32)
        label = tf.where(consts["label"] >= 0, consts["label"], pred)
        values = attack_loss(self.loss, logits, label, consts["target"])
        return values, {"probs": probs, "pred": pred, "label": label}

    def _look(self, x0, radius, consts):
        _, grad, clean = engine.value_and_grad(self._objective, x0, consts)
        finite, useless = useless_gradient(grad)
        grad = tf.where(per_sample(finite, grad), grad, tf.zeros_like(grad))
        step = per_sample(radius, x0) * self.threat.steepest_direction(grad)
        x = self.on_grid(x0 - step, x0, radius)
        _, probs = self.classifier.scores(x, consts)
        success = self.classifier.met(probs, clean["label"], consts["target"])
        return clean["probs"], clean["pred"], x, probs, success, useless

    def _probe(self, x0, radius, consts):
        return self._look(x0, radius, consts)[2:]


class SignProbe(Attack):
    name = "probe"
    about = ("one sign step of the whole budget from the clean image (FGSM), checked by one "
             "forward pass: 1 gradient + 1 query per image; auto's first, transparent stage")
    threats = BALLS
    fixed = {"steps": 1, "step": "eps"}
    transparent = True

    def program(self, classifier: Classifier, loss: str, threat: BallThreat) -> ProbeProgram:
        return classifier.program(("probe", loss, threat.name),
                                  lambda: ProbeProgram(classifier, loss, threat))

    def run(self, classifier, x0, goal, budget, settings=DEFAULT_RUN, *, x_start=None):
        """Every row in batches of ``settings.batch_size``; ``x_start`` is ignored (the probe
        always steps from the clean image). A flip is reported to ``on_settled`` at once."""
        x0 = np.asarray(x0, np.float32)
        program = self.program(classifier, self.effective_loss(settings), budget.threat)
        out = _empty(x0, len(classifier.class_names))
        for rows, (x, probs, success, useless) in _batches(
                program.compiled("probe"), x0, goal.consts(), budget, settings.batch_size):
            self._fold(out, rows, x, probs, success, useless)
            if settings.on_progress is not None:
                settings.on_progress(len(rows), 0)
            if settings.on_settled is not None and success.any():
                settings.on_settled(rows[success], out.take(rows[success]))
        return out

    def look(self, classifier: Classifier, x0: np.ndarray, *, label: np.ndarray,
             target: int, budget: Budget, settings: RunSettings) -> Look:
        """The clean pass and the probe in one program over every row: ``label`` is each
        photo's class where known, else -1 (the probe then moves away from the class the clean
        pass gives it). Rows whose clean class misses their label get a result too; the caller
        does not attack those."""
        x0 = np.asarray(x0, np.float32)
        n = len(x0)
        program = self.program(classifier, self.effective_loss(settings), budget.threat)
        consts = {"label": np.asarray(label, np.int32),
                  "target": np.full(n, target, np.int32)}
        clean = np.zeros((n, len(classifier.class_names)), np.float32)
        pred = np.zeros(n, np.int64)
        out = _empty(x0, len(classifier.class_names))
        for rows, (p0, c0, x, probs, success, useless) in _batches(
                program.compiled("look"), x0, consts, budget, settings.batch_size):
            clean[rows], pred[rows] = p0, c0
            self._fold(out, rows, x, probs, success, useless)
        return Look(clean, pred, out)

    def _fold(self, out: AttackResult, rows, x, probs, success, useless) -> None:
        out.x[rows[success]] = x[success]  # a miss keeps the clean image
        out.probs[rows], out.success[rows], out.grad_useless[rows] = probs, success, useless
        for i in rows[success]:
            out.found_by[i] = self.name


def _empty(x0: np.ndarray, n_classes: int) -> AttackResult:
    n = len(x0)
    return AttackResult(
        x=x0.copy(), success=np.zeros(n, bool), probs=np.zeros((n, n_classes), np.float32),
        steps=np.ones(n, np.int64), grad_evals=np.ones(n, np.int64),
        queries=np.ones(n, np.int64), grad_useless=np.zeros(n, bool), found_by=[None] * n)


def _batches(fn, x0: np.ndarray, consts: dict[str, np.ndarray], budget: Budget,
             batch_size: int) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """``fn`` over ``x0`` in batches of one shape (the last one padded by repeating rows, so
    one trace serves the whole audit); each batch's rows and outputs, padding dropped."""
    radius = tf.fill([batch_size], np.float32(budget.radius))
    for lo in range(0, len(x0), batch_size):
        rows = np.arange(lo, min(len(x0), lo + batch_size))
        padded = np.resize(rows, batch_size)
        outputs = fn(tf.constant(x0[padded]), radius,
                     {k: tf.constant(v[padded]) for k, v in consts.items()})
        yield rows, [t.numpy()[:len(rows)] for t in outputs]
