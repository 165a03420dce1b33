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
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import engine
from ..classifier import Classifier
from ..engine.gradient import per_sample, reduce_all_but_batch, useless_gradient
from .base import DEFAULT_RUN, Attack, AttackResult, grid_radius
from .gradient import grid_projection, objective
from .losses import succeeded


class ProbeProgram:
    """One compiled probe for a classifier, loss and norm; the radius is an input."""

    def __init__(self, classifier: Classifier, loss: str, norm: str):
        self.f = objective(classifier, loss)
        self.on_grid = grid_projection(norm)
        self.classifier = classifier
        self.norm = norm
        self._compiled_fns = {"probe": tf.function(self._probe)}  # as engine Programs keep theirs
        self.call = self._compiled_fns["probe"]

    def _probe(self, x0: tf.Tensor, radius: tf.Tensor, consts: dict[str, tf.Tensor]):
        _, grad, _ = engine.value_and_grad(self.f, x0, consts)
        finite, useless = useless_gradient(grad)
        grad = tf.where(per_sample(finite, grad), grad, tf.zeros_like(grad))
        if self.norm == "l2":
            direction = grad / tf.maximum(
                tf.sqrt(reduce_all_but_batch(tf.reduce_sum, tf.square(grad))), 1e-12)
        else:
            direction = tf.sign(grad)
        r = per_sample(radius, x0)
        x = self.on_grid(x0 - r * direction, x0, radius)
        probs = tf.nn.softmax(self.classifier.logits(x, consts), axis=-1)
        return x, probs, succeeded(probs, consts["label"], consts["target"]), useless


class SignProbe(Attack):
    name = "probe"
    about = ("one sign step of the whole budget from the clean image (FGSM), checked by one "
             "forward pass: 1 gradient + 1 query per image; auto's first, transparent stage")
    norms = ("linf", "l2")
    fixed = {"steps": 1, "step": "eps"}
    transparent = True

    def run(self, classifier, x0, goal, budget, settings=DEFAULT_RUN, *, x_start=None):
        """Every row in batches of ``settings.batch_size``; ``x_start`` is ignored (the probe
        always steps from the clean image). A flip is reported to ``on_settled`` at once."""
        x0 = np.asarray(x0, np.float32)
        n, n_classes = len(x0), len(classifier.class_names)
        loss = self.effective_loss(settings)
        program = classifier.program(("probe", loss, budget.norm),
                                     lambda: ProbeProgram(classifier, loss, budget.norm))
        out = AttackResult(
            x=x0.copy(), success=np.zeros(n, bool), probs=np.zeros((n, n_classes), np.float32),
            steps=np.ones(n, np.int64), grad_evals=np.ones(n, np.int64),
            queries=np.ones(n, np.int64), grad_useless=np.zeros(n, bool), found_by=[None] * n)
        radius = tf.fill([settings.batch_size], np.float32(grid_radius(budget)))
        consts = goal.consts()
        b = settings.batch_size
        for lo in range(0, n, b):
            rows = np.arange(lo, min(n, lo + b))
            padded = np.resize(rows, b)  # every call one shape: one trace for the whole audit
            x, probs, success, useless = (t.numpy()[:len(rows)] for t in program.call(
                tf.constant(x0[padded]), radius,
                {k: tf.constant(v[padded]) for k, v in consts.items()}))
            out.x[rows[success]] = x[success]
            out.probs[rows], out.success[rows], out.grad_useless[rows] = probs, success, useless
            for i in rows[success]:
                out.found_by[i] = self.name
            if settings.on_progress is not None:
                settings.on_progress(len(rows), 0)
            if settings.on_settled is not None and success.any():
                settings.on_settled(rows[success], out.take(rows[success]))
        return out
