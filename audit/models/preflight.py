"""Checks run on a model before any attack; findings go to the console and ``results.json``.

A model random at inference is not refused: the determinism check measures the randomness
(status ``random``) and the audit attacks it with EOT (``Classifier.randomised``)."""

from __future__ import annotations

import numpy as np

from ..classifier import BINARY_LOGIT, LOGITS, SIGMOID, SOFTMAX, VOTES, ModelClassifier

RANDOM = "random"  # the determinism check's status for a model random at inference
PASSES = 4  # inference passes compared on the same random images


def is_random(findings: list[dict]) -> bool:
    """Whether the preflight found the model random at inference."""
    return any(f["check"] == "determinism" and f["status"] == RANDOM for f in findings)


def _randomness(clf: ModelClassifier, x: np.ndarray, differ: float) -> str:
    """How random the model is, in one line: how far two passes differ, and how often a
    single draw's label leaves the majority of ``VOTES`` draws on the same images."""
    shares = clf.randomised(1).predict(x)
    away = float(np.mean(1.0 - shares.max(axis=1)))
    return (f"random at inference (dropout left on, noise or random preprocessing?): "
            f"{PASSES} passes differ by up to {differ:.2g} in probability, and over {VOTES} "
            f"draws on {len(x)} random images {away:.0%} of the labels leave the majority; audited "
            f"with EOT (the attacks average --eot draws) and every prediction the majority of "
            f"{VOTES} fresh draws")


def preflight(clf: ModelClassifier, labels_given: bool, seed: int = 0) -> list[dict]:
    """The checks, in order; a query-only model (TFLite, ONNX) also gets a ``gradients``
    finding that says which attacks can run on it."""
    findings = []
    h, w, c = clf.input_shape
    layout = getattr(clf, "layout", "NHWC")
    findings.append({
        "check": "input", "status": "ok",
        "detail": f"{layout} {h}x{w}x{c} "
        f"({'grayscale' if c == 1 else 'RGB'}), white pixel = {clf.input_scale:g}",
    })
    kind_text = {
        SOFTMAX: "softmax probabilities",
        LOGITS: "logits (no final activation)",
        SIGMOID: "single sigmoid unit, attacked as the two logits [0, z]",
        BINARY_LOGIT: "single logit (--binary-logit), attacked as the two logits [0, z]",
    }[clf.output_kind]
    findings.append({"check": "output", "status": "ok", "detail": kind_text})
    split = clf.logits_split
    findings.append({
        "check": "logits",
        "status": "ok" if split else "warn",
        "detail": clf.logits_source if split else
        f"{clf.logits_source}; saturated probabilities may hide gradients" if clf.gradients else
        f"{clf.logits_source}; query attacks read a margin of log-probabilities, flat where "
        "the outputs saturate",
    })
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (4, h, w, c)).astype(np.float32)
    # several passes: a model random per image (a random flip or crop, say) can agree on a
    # few images in two passes by chance; four passes on four images rarely all agree
    a, *more = [clf.predict(x) for _ in range(PASSES)]
    b = max(more, key=lambda p: float(np.nanmax(np.abs(p - a), initial=0.0)))
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        findings.append({
            "check": "finite", "status": "fail",
            "detail": "the model's outputs are not finite (NaN or infinity) on random images, so "
            "no prediction or flip can be trusted: check its weights and --input-scale",
        })
    # NaN where both passes give NaN is the finite check's finding, not randomness (dropout)
    same = np.allclose(a, b, atol=1e-6, equal_nan=True)
    findings.append({
        "check": "determinism",
        "status": "ok" if same else RANDOM,
        "detail": f"{PASSES} inference passes (training=False) agree" if same else
        _randomness(clf, x, float(np.nanmax(np.abs(a - b)))),
    })
    if not clf.gradients:
        findings.append(_gradients(clf))
    n = len(clf.class_names)
    findings.append({
        "check": "classes",
        "status": "ok" if labels_given or not clf.class_names[0].startswith("class_") else "warn",
        "detail": f"{n} classes: {', '.join(clf.class_names)}"
        + ("" if labels_given or not clf.class_names[0].startswith("class_")
           else " (pass --labels to name them; photo folders are matched against these names)"),
    })
    return findings


def _gradients(clf: ModelClassifier) -> dict:
    """A query-only model's finding: what can run on it, and what would need a surrogate."""
    if clf.surrogate is not None:
        return {"check": "gradients", "status": "ok",
                "detail": f"{clf.source} model, query-only: gradient stages run on the "
                "surrogate and every flip they find is re-checked on this model; query "
                "stages run on this model"}
    return {"check": "gradients", "status": "warn",
            "detail": f"{clf.source} model, query-only: only the gradient-free attacks (Square, "
            "Sparse-RS) can run on it; pass --surrogate MODEL.keras (the model it was "
            "exported from) to run the gradient stages too"}
