"""Sparse threat models against peer libraries: success at k pixels (L0) and at a patch side.

On the shipped photos a model classifies correctly, advaudit's Sparse-RS (what ``auto`` runs
under ``--threat l0`` and ``--threat patch``, 1000 queries) and, where they are installed, peer
attacks run side by side:

* Foolbox 3: ``SaltAndPepperNoiseAttack`` and ``PointwiseAttack`` (both minimise the changed
  values, so one run per image serves every k);
* ART: ``PixelAttack`` (differential evolution over k pixels, one run per k).

Peers are never a dependency of advaudit: install them in a separate benchmark environment
(the README says how). Every peer's adversarial is rounded to the uint8 grid, classified again,
and counted at a budget only if its changed pixel positions fit it (at most k of them, or all
inside one s x s square), measured here; the model's forward rows per image are counted for
every attack through the same wrapper.

    python scripts/bench_sparse.py                        # catdog-mini, k = 1 5 20, s = 4 8 16
    python scripts/bench_sparse.py --limit 20 --peers foolbox --k 5 20
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import tensorflow as tf

from audit.attacks import ATTACKS, Goal, RunSettings
from audit.images import load_photos
from victims.loading import load_victim
from victims.registry import SAMPLES_DIR


class Counted:
    """The classifier's logits as a plain callable, counting the rows it is asked for."""

    def __init__(self, clf):
        self.clf, self.rows = clf, 0

    def __call__(self, x):
        x = tf.convert_to_tensor(x, tf.float32)
        self.rows += int(x.shape[0])
        return self.clf.logits(x)


def changed_pixels(x: np.ndarray, adv: np.ndarray) -> np.ndarray:
    return np.any(adv != x, axis=-1).reshape(len(x), -1).sum(axis=1)


def square_side(x: np.ndarray, adv: np.ndarray) -> np.ndarray:
    out = []
    for a, b in zip(x, adv, strict=True):
        rows, cols = np.nonzero(np.any(a != b, axis=-1))
        out.append(0 if rows.size == 0 else max(np.ptp(rows), np.ptp(cols)) + 1)
    return np.array(out)


def flipped(clf, adv: np.ndarray, y: np.ndarray) -> np.ndarray:
    return clf.predict(np.clip(np.round(adv), 0, 255).astype(np.float32)).argmax(1) != y


def ours(clf, x, y, threat: str, eps: int, queries: int) -> tuple[np.ndarray, float]:
    attack = ATTACKS["sparse-rs"]
    r = attack.run(clf, x, Goal.of(y), attack.budget(eps, threat=threat, queries=queries),
                   RunSettings(batch_size=32))
    fits = changed_pixels(x, r.x) <= eps if threat == "l0" else square_side(x, r.x) <= eps
    return flipped(clf, r.x, y) & fits, r.total_queries / len(x)


def foolbox_runs(clf, x, y) -> dict[str, tuple[np.ndarray, float]]:
    """Each Foolbox L0 attack once per image: (its rounded adversarial, rows per image)."""
    import foolbox as fb

    out = {}
    for name, make in (("foolbox salt&pepper", lambda: fb.attacks.SaltAndPepperNoiseAttack()),
                       ("foolbox pointwise", lambda: fb.attacks.PointwiseAttack())):
        counted = Counted(clf)
        model = fb.TensorFlowModel(counted, bounds=(0, 255))
        advs = []
        try:
            for i in range(0, len(x), 16):
                _, adv, _ = make()(model, tf.constant(x[i:i + 16]), tf.constant(y[i:i + 16]),
                                   epsilons=None)
                advs.append(np.asarray(adv))
        except Exception as exc:  # a peer that breaks on this TensorFlow is reported, not fatal
            print(f"{name}: failed ({type(exc).__name__}: {exc})", flush=True)
            continue
        out[name] = (np.clip(np.round(np.concatenate(advs)), 0, 255), counted.rows / len(x))
    return out


def art_pixel(clf, x, y, k: int, max_iter: int) -> tuple[np.ndarray, float]:
    from art.attacks.evasion import PixelAttack
    from art.estimators.classification import TensorFlowV2Classifier

    classes = len(clf.class_names)

    def padded(z, training=False):  # ART refuses two-class models: a class that never wins
        logits = clf.logits(tf.convert_to_tensor(z, tf.float32))
        return tf.concat([logits, tf.fill([tf.shape(logits)[0], 1], -1e4)], axis=1)

    est = TensorFlowV2Classifier(model=padded, nb_classes=classes + (classes == 2),
                                 input_shape=x.shape[1:], clip_values=(0, 255))
    rows = [0]
    predict = est.predict

    def counting(z, *args, **kwargs):  # ART compiles the model, so rows are counted here
        rows[0] += len(z)
        return predict(z, *args, **kwargs)

    est.predict = counting
    # es=1: differential evolution, the one-pixel attack's own search (Su et al. 2019)
    attack = PixelAttack(est, th=k, es=1, max_iter=max_iter, targeted=False, verbose=False)
    adv = attack.generate(x, y=np.eye(classes + (classes == 2))[y])
    return np.clip(np.round(adv), 0, 255), rows[0] / len(x)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["catdog-mini"])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--side", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--peers", nargs="*", default=["foolbox", "art"])
    parser.add_argument("--art-max-iter", type=int, default=5)
    parser.add_argument("--limit", type=int, help="at most this many photos")
    parser.add_argument("--peers-only", action="store_true", help="skip advaudit's own rows")
    args = parser.parse_args()
    peers = [p for p in args.peers if importlib.util.find_spec(p)]
    for name in args.models:
        clf = load_victim(name).classifier
        photos, _ = load_photos(SAMPLES_DIR, clf.input_size, clf.channels)
        x = np.stack([p.pixels for p in photos]).astype(np.float32)
        y = np.array([clf.class_names.index(p.label) for p in photos])
        right = clf.predict(x).argmax(1) == y
        x, y = x[right][:args.limit], y[right][:args.limit]
        print(f"\n{name}: {len(x)} correctly classified photos; peers: {peers or 'none'}")
        print(f"{'attack':22} {'budget':>10} {'success':>8} {'queries/img':>11} {'seconds':>8}")

        def row(label: str, budget: str, success: np.ndarray, cost: float, took: float):
            print(f"{label:22} {budget:>10} {success.mean():8.1%} {cost:11.0f} {took:8.1f}",
                  flush=True)

        for threat, sizes in () if args.peers_only else (("l0", args.k), ("patch", args.side)):
            for eps in sizes:
                t0 = time.perf_counter()
                success, cost = ours(clf, x, y, threat, eps, args.queries)
                written = f"{eps} px" if threat == "l0" else f"{eps}x{eps}"
                row("advaudit sparse-rs", written, success, cost, time.perf_counter() - t0)
        if "foolbox" in peers:
            t0 = time.perf_counter()
            runs = foolbox_runs(clf, x, y)
            took = time.perf_counter() - t0
            for label, (adv, cost) in runs.items():
                hit = flipped(clf, adv, y)
                for k in args.k:
                    row(label, f"{k} px", hit & (changed_pixels(x, adv) <= k), cost, took)
                for s in args.side:
                    row(label, f"{s}x{s}", hit & (square_side(x, adv) <= s), cost, took)
        if "art" in peers:
            for k in args.k:
                t0 = time.perf_counter()
                try:
                    adv, cost = art_pixel(clf, x, y, k, args.art_max_iter)
                except Exception as exc:  # reported, not fatal
                    print(f"ART PixelAttack: failed ({type(exc).__name__}: {exc})", flush=True)
                    break
                hit = flipped(clf, adv, y) & (changed_pixels(x, adv) <= k)
                row("ART PixelAttack", f"{k} px", hit, cost, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
