"""How strong is each attack? Robust accuracy and cost per image, side by side.

For each model (catdog-mini and its colour-depth-squeezed copy by default) and budget (1, 2 and
4 counts), every attack runs on the shipped photos the model classifies correctly; the table
shows robust accuracy (correct and not flipped, of all labelled photos: lower means a stronger
attack) and the cost per attacked photo in gradient evaluations plus forward-only queries.
Every success is on the uint8 grid (what a saved PNG holds). A sweep row shows the minimal-
budget sweep's curve at each budget, which must never be above the fixed attacks' best.

    python scripts/bench_strength.py                 # the full table (about an hour on 2 cores)
    python scripts/bench_strength.py --eps 1 2 --attacks bim apgd auto --models catdog-mini
    python scripts/bench_strength.py --models catdog-mini-squeezed --attacks auto --eps 4 \
        --sweep-at 1 2 4        # the sweep's curve only
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from audit.attacks import ATTACKS, Goal, RunSettings
from audit.images import load_photos
from audit.pipeline.sweep import minimal_epsilon
from victims.loading import load_victim
from victims.registry import SAMPLES_DIR

ATTACK_NAMES = ["bim", "pgd", "mifgsm", "apgd", "square", "auto"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["catdog-mini", "catdog-mini-squeezed"])
    parser.add_argument("--eps", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--attacks", nargs="+", default=ATTACK_NAMES, choices=list(ATTACKS))
    parser.add_argument("--sweep-max-eps", type=int, default=8,
                        help="also run auto's --sweep to this budget (0: no sweep row)")
    parser.add_argument("--sweep-at", type=int, nargs="+",
                        help="budgets at which to print the sweep's curve (default: --eps)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", dest="json_path", help="also write the numbers here")
    args = parser.parse_args()
    settings = RunSettings(batch_size=args.batch_size)
    table = []
    for name in args.models:
        clf = load_victim(name).classifier
        photos, _ = load_photos(SAMPLES_DIR, clf.input_size, clf.channels)
        x = np.stack([p.pixels for p in photos]).astype(np.float32)
        y = np.array([clf.class_names.index(p.label) for p in photos])
        correct = clf.predict(x, args.batch_size).argmax(1) == y
        xs, goal = x[correct], Goal.of(y[correct], ids=np.flatnonzero(correct))
        print(f"\n{name}: {int(correct.sum())} of {len(x)} photos correct "
              f"(clean accuracy {correct.mean():.1%})", flush=True)
        print(f"{'attack':8} {'eps':>3} {'robust acc':>10} {'flipped':>8} {'grad/img':>9} "
              f"{'queries/img':>11} {'seconds':>8}", flush=True)
        best: dict[int, int] = {}
        for eps in args.eps:
            for attack_name in args.attacks:
                attack = ATTACKS[attack_name]
                started = time.perf_counter()
                r = attack.run(clf, xs, goal, attack.budget(eps), settings)
                seconds = time.perf_counter() - started
                flipped = int(r.success.sum())
                best[eps] = max(best.get(eps, 0), flipped)
                row = {"model": name, "attack": attack_name, "eps": eps,
                       "robust_accuracy": round((correct.sum() - flipped) / len(x), 4),
                       "flipped": flipped, "attacked": int(correct.sum()),
                       "grad_evals_per_image": round(r.total_grad_evals / len(xs), 2),
                       "queries_per_image": round(r.total_queries / len(xs), 2),
                       "seconds": round(seconds, 1)}
                table.append(row)
                print(f"{attack_name:8} {eps:>3} {row['robust_accuracy']:>10.1%} "
                      f"{flipped:>8} {row['grad_evals_per_image']:>9.1f} "
                      f"{row['queries_per_image']:>11.1f} {seconds:>8.1f}", flush=True)
        if args.sweep_max_eps:
            auto = ATTACKS["auto"]
            top = max(args.eps)
            started = time.perf_counter()
            found = auto.run(clf, xs, goal, auto.budget(top), settings)
            min_eps, grads, queries, _ = minimal_epsilon(
                clf, xs, goal, attack=auto, budget=auto.budget(top),
                max_eps=args.sweep_max_eps, settings=settings, found=found)
            seconds = time.perf_counter() - started
            for eps in args.sweep_at or args.eps:
                flipped = int(np.sum((min_eps > 0) & (min_eps <= eps)))
                row = {"model": name, "attack": f"sweep<={eps}", "eps": eps,
                       "robust_accuracy": round((correct.sum() - flipped) / len(x), 4),
                       "flipped": flipped, "attacked": int(correct.sum()),
                       "at_least_fixed_best": flipped >= best.get(eps, 0),
                       "grad_evals_per_image": round(grads / len(xs), 2),
                       "queries_per_image": round(queries / len(xs), 2),
                       "seconds": round(seconds, 1)}
                table.append(row)
                print(f"{'sweep':8} {eps:>3} {row['robust_accuracy']:>10.1%} {flipped:>8} "
                      f"{row['grad_evals_per_image']:>9.1f} {row['queries_per_image']:>11.1f} "
                      f"{seconds:>8.1f}  (auto at {top} + sweep to {args.sweep_max_eps}; "
                      f"best fixed attack flipped {best.get(eps, 0)})", flush=True)
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump(table, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
