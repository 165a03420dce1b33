"""Universal patches against a peer: advaudit's fitted content beside ART's AdversarialPatch.

One s x s content for every photo (what ``--universal`` audits). On the shipped photos a model
classifies correctly, each content is fitted on the same fitting photos and then judged the
same way: advaudit's place search (``UniversalPlacement``: per photo, Sparse-RS moves of the
fixed content, ``--queries`` of them) puts it where it works best on every photo, and the
adversarial, on the uint8 grid, is classified again. Rows:

* advaudit: ``fit_universal_patch`` (random search over the content, what ``--universal`` runs);
* ART ``AdversarialPatchTensorFlowV2`` (gradient descent on the content through random
  placements, scales fixed to the patch side, no rotation), where ART is installed: a separate
  benchmark environment, never a dependency of advaudit (the README says how); its patch
  rounded to the grid;
* random stripes (no fit at all): what the place search alone achieves.

Reported: photos flipped overall and among those not used for fitting, and the fit's model
calls (queries for advaudit; forward and backward rows for ART).

    python scripts/bench_universal.py                     # catdog-mini, an 8x8 patch, 32 fit
    python scripts/bench_universal.py --side 16 --fit 16 --queries 300
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import tensorflow as tf

from audit.attacks import Goal, RunSettings
from audit.attacks.universal_patch import UniversalPlacement, fit_universal_patch
from audit.images import load_photos
from audit.pipeline.sampling import hash_order
from audit.threats import THREATS
from victims.loading import load_victim
from victims.registry import SAMPLES_DIR

PATCH = THREATS["patch"]


def placed(clf, x, y, content: np.ndarray, queries: int) -> np.ndarray:
    """Per photo, whether the content flips it at the place the search finds (re-classified
    from the grid image)."""
    attack = UniversalPlacement(content)
    budget = attack.budget(content.shape[0], threat=PATCH, queries=queries)
    r = attack.run(clf, x, Goal.of(y), budget, RunSettings(batch_size=32))
    return clf.predict(r.x).argmax(1) != y


def art_patch(clf, x, y, side: int, max_iter: int) -> tuple[np.ndarray, int]:
    """ART's universal patch fitted on ``x`` (targeted at the other class, ART's default mode;
    a two-class model gets a third class that never wins, as ART wants)."""
    from art.attacks.evasion import AdversarialPatchTensorFlowV2
    from art.estimators.classification import TensorFlowV2Classifier

    classes = len(clf.class_names)
    rows = [0]

    def padded(z, training=False):
        rows[0] += int(z.shape[0])
        logits = clf.logits(tf.convert_to_tensor(z, tf.float32))
        if classes == 2:
            logits = tf.concat([logits, tf.fill([tf.shape(logits)[0], 1], -1e4)], axis=1)
        return logits

    n_out = classes + (classes == 2)
    est = TensorFlowV2Classifier(model=padded, nb_classes=n_out, input_shape=x.shape[1:],
                                 clip_values=(0, 255),
                                 loss_object=tf.keras.losses.CategoricalCrossentropy(
                                     from_logits=True))
    scale = side / min(x.shape[1:3])
    attack = AdversarialPatchTensorFlowV2(est, rotation_max=0.0, scale_min=scale,
                                          scale_max=scale, learning_rate=5.0,
                                          max_iter=max_iter, batch_size=16,
                                          patch_shape=(side, side, x.shape[3]), verbose=False)
    target = (y + 1) % classes
    patch, _ = attack.generate(x, y=np.eye(n_out)[target])
    return np.clip(np.round(patch), 0, 255).astype(np.uint8), rows[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="catdog-mini")
    parser.add_argument("--side", type=int, default=8)
    parser.add_argument("--fit", type=int, default=32, help="fitting photos")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--art-max-iter", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    clf = load_victim(args.model).classifier
    photos, _ = load_photos(SAMPLES_DIR, clf.input_size, clf.channels)
    x = np.stack([p.pixels for p in photos]).astype(np.float32)
    y = np.array([clf.class_names.index(p.label) for p in photos])
    right = np.flatnonzero(clf.predict(x).argmax(1) == y)
    x, y = x[right], y[right]
    fit = np.array(hash_order(list(range(len(x))), args.seed)[:args.fit])
    held = np.setdiff1d(np.arange(len(x)), fit)
    print(f"{args.model}: {len(x)} correctly classified photos, {len(fit)} to fit on, "
          f"{args.side}x{args.side} patch, {args.queries} place queries per photo")
    print(f"{'content':28} {'flipped':>12} {'held out':>12} {'fit calls':>10} {'seconds':>8}")

    def row(label: str, content: np.ndarray, calls: int, t0: float) -> None:
        hit = placed(clf, x, y, content, args.queries)
        print(f"{label:28} {f'{hit.sum()}/{len(x)}':>12} "
              f"{f'{hit[held].sum()}/{len(held)}':>12} {calls:>10,} "
              f"{time.perf_counter() - t0:8.1f}", flush=True)

    t0 = time.perf_counter()
    budget = UniversalPlacement(np.zeros((args.side,) * 2 + (x.shape[3],))).budget(
        args.side, threat=PATCH, queries=args.queries)
    fitted = fit_universal_patch(clf, x[fit], Goal.of(y[fit], ids=fit), budget,
                                 RunSettings(seed=args.seed))
    row("advaudit (random search)", fitted.content, fitted.queries, t0)
    if importlib.util.find_spec("art"):
        t0 = time.perf_counter()
        try:
            content, calls = art_patch(clf, x[fit], y[fit], args.side, args.art_max_iter)
            row("ART AdversarialPatch (TF2)", content, calls, t0)
        except Exception as exc:  # a peer that breaks is reported, not fatal
            print(f"ART AdversarialPatch: failed ({type(exc).__name__}: {exc})", flush=True)
    t0 = time.perf_counter()
    stripes = PATCH.stripes(args.side, x.shape[3], np.random.default_rng(args.seed))
    row("random stripes (no fit)", stripes.astype(np.uint8), 0, t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
