"""Where an audit's wall time goes, and how close it is to the work it cannot avoid.

Runs one real audit in this process (``audit.run``, the same call as the command line) with the
stopwatch on (``audit.timing``), then measures each part's raw rate on this machine, warm: the
compiled input gradient and a full-batch forward pass of the model, a PNG encode + atomic
write, a photo decode + resize (each the best of five rounds). The unavoidable time is the
audit's own work at those rates — its gradient evaluations and forward rows (clean pass, attack
queries, the re-check of every PNG and of every flip through each channel, the trust checks'
re-attacks), its PNGs and its decodes — and the **efficiency** is that ÷ the audit's wall time
(1.0: nothing but the work). Beside it, the one-time floor: loading the model and the first call
of one compiled gradient and one forward program, which no pipeline can avoid.

    python scripts/bench_end_to_end.py victims/samples                 # catdog-mini, 96 photos
    python scripts/bench_end_to_end.py PHOTOS --copies 5 --labels cat,dog --eps 4
    python scripts/bench_end_to_end.py PHOTOS --model my.keras --json

``--copies N`` audits N copies of the folder (linked, new names), to reach a large count from a
small folder; ``--limit N`` audits only the first N photos.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.cli.quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import audit  # noqa: E402
from audit.attacks.losses import margin  # noqa: E402
from audit.engine import value_and_grad  # noqa: E402
from audit.images import IMAGE_SUFFIXES, read_pixels, save_png  # noqa: E402
from audit.pipeline.bench import raw_gradient_rate  # noqa: E402
from audit.timing import measuring  # noqa: E402
from victims.loading import load_victim  # noqa: E402

PARTS = ("decode", "clean pass", "clean pass + probe", "stage probe", "stage apgd-ce",
         "stage apgd-t", "stage square", "attack", "sweep", "png write", "png read back",
         "metrics", "writer wait", "re-check", "trust checks", "report")


def gather(images: Path, copies: int, limit: int | None, work: Path) -> Path:
    """A folder of links to the photos, ``copies`` times over under new names."""
    photos = sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit:
        photos = photos[:limit]
    folder = work / "photos"
    for c in range(copies):
        for p in photos:
            rel = p.relative_to(images)
            dst = folder / rel.parent / f"{rel.stem}.c{c}{p.suffix}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(p.resolve(), dst)
    return folder


def rates(clf, photos: list[Path], batch_size: int, rounds: int = 5) -> dict:
    """Seconds per unit of each unavoidable part, measured warm on this machine: the best of
    ``rounds`` interleaved rounds, so a burst of load from a neighbour on a shared machine does
    not pass for the machine's speed (the unavoidable time is what the machine can do)."""
    h, w = clf.input_size
    x = np.random.default_rng(0).integers(0, 256, (batch_size, h, w, clf.channels))
    x = x.astype(np.float32)
    clf.predict(x, batch_size)
    sample = photos[:64]
    best = {"gradient_s": np.inf, "forward_s": np.inf, "png_s": np.inf, "decode_s": np.inf}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            timed = {"gradient_s": 1 / raw_gradient_rate(clf, x, repeats=8),
                     "forward_s": _seconds_each(lambda: clf.predict(x, batch_size), 8,
                                                batch_size),
                     "png_s": _seconds_each(lambda: [save_png(
                         x[i % len(x)].astype(np.uint8), Path(tmp) / f"{i}.png")
                         for i in range(16)],
                         1, 16),
                     "decode_s": _seconds_each(lambda: [_decode(p, (h, w), clf.channels)
                                                        for p in sample], 1, len(sample))}
            best = {k: min(best[k], v) for k, v in timed.items()}
    return {**best, "gradients_per_s": 1 / best["gradient_s"],
            "forwards_per_s": 1 / best["forward_s"]}


def one_time_floor(clf, batch_size: int) -> float:
    """Seconds the first call of a fresh compiled gradient program and of a fresh forward
    program cost beyond a warm call (trace, graph optimisation, kernel set-up): the least any
    audit of compiled programs pays once. An audit builds more than these two (one per attack
    stage, the trust checks' and the planted test's), so this is a floor, not its cost."""
    h, w = clf.input_size
    x = tf.constant(np.random.default_rng(1).integers(0, 256, (batch_size, h, w, clf.channels)),
                    tf.float32)
    label, target = tf.zeros([batch_size], tf.int32), tf.fill([batch_size], -1)

    def gradient(batch):
        return value_and_grad(lambda b, _: (margin(clf.logits(b), label, target), {}),
                              batch, {})[1]

    floor = 0.0
    for fn in (tf.function(gradient, autograph=False),
               tf.function(clf.probabilities, autograph=False)):
        first = _seconds_each(lambda f=fn: f(x).numpy(), 1, 1)
        warm = min(_seconds_each(lambda f=fn: f(x).numpy(), 1, 1) for _ in range(3))
        floor += max(0.0, first - warm)
    return floor


def _seconds_each(work, repeats: int, items: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        work()
    return (time.perf_counter() - started) / max(1, repeats * items)


def _decode(path: Path, size: tuple[int, int], channels: int) -> None:
    try:
        read_pixels(path, size, channels)
    except ValueError:  # a photo the audit skips costs its failed decode too
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", type=Path)
    ap.add_argument("--model", default="catdog-mini")
    ap.add_argument("--labels", help="class names, comma-separated (default: the model's)")
    ap.add_argument("--eps", type=float, default=4)
    ap.add_argument("--copies", type=int, default=1)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of each raw-rate measurement")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if min(args.rounds, args.copies, args.batch_size, args.chunk_size) < 1:
        ap.error("--rounds, --copies, --batch-size and --chunk-size must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="advaudit-e2e-"))
    try:
        folder = gather(args.images, args.copies, args.limit, work)
        labels = args.labels.split(",") if args.labels else None
        started = time.perf_counter()
        with measuring() as watch:
            result = audit.run(args.model, folder, class_names=labels, eps=args.eps,
                               out=work / "out", batch_size=args.batch_size,
                               chunk_size=args.chunk_size)
            with_report = time.perf_counter() - started
        started = time.perf_counter()
        clf = load_victim(args.model, labels=labels).classifier
        load_s = time.perf_counter() - started
        r = rates(clf, sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()),
                  args.batch_size, args.rounds)
        r["setup_s"] = load_s + one_time_floor(clf, args.batch_size)
        report(result, watch, r, with_report, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(result, watch, r: dict, wall: float, args) -> None:
    s, trust = result.summary, (result.data.get("trust") or {}).get("cost") or {}
    n, attacked = s["n_images"] + s["n_skipped"], s["n_attacked"]
    # the attack's work, and the trust checks' (the verdict needs both)
    grads = (s.get("grad_evals_per_image") or 0) * attacked + trust.get("grad_evals", 0)
    queries = (s.get("queries_per_image") or 0) * attacked + trust.get("queries", 0)
    # a photo the clean pass classified apart costs a forward pass; one classified with the
    # first stage's step (auto's probe) costs none beyond that stage's gradient, unless it was
    # not attacked: then the forward pass is what it needed
    looked = any(k.startswith("clean pass + ") for k in watch.counts)
    clean = s["n_images"] - attacked if looked else s["n_images"]
    # the re-check classifies each saved PNG, and each flip through every channel
    rechecked = watch.counts.get("re-check", attacked)
    work = {"decode": n * r["decode_s"],
            "forward (clean pass, queries, re-check)": (clean + queries + rechecked)
            * r["forward_s"],
            "gradients": grads * r["gradient_s"],
            "png write": 2 * attacked * r["png_s"]}
    needed = sum(work.values())
    out = {"photos": n, "attacked": attacked, "wall_s": round(wall, 2),
           "parts_s": {k: round(v, 2) for k, v in watch.seconds.items()},
           "parts_items": dict(watch.counts),
           "work": {"gradient_evals": round(grads), "queries": round(queries),
                    "re-checked": rechecked, "trust_checks": trust},
           "rates": {k: round(v, 6) for k, v in r.items()},
           "unavoidable_s": {k: round(v, 2) for k, v in work.items()},
           "efficiency": round(needed / wall, 3), "flip_rate": s["flip_rate"],
           "setup_floor_s": round(r["setup_s"], 2),
           "efficiency_ceiling": round(needed / (needed + r["setup_s"]), 3)}
    if args.json:
        print(json.dumps(out))
        return
    print(f"end to end: {n} photos, {attacked} attacked, flip rate {s['flip_rate']:.1%}, "
          f"wall {wall:.1f} s (report included)")
    print("part                 seconds   calls   items")
    for name in sorted(watch.seconds, key=lambda k: PARTS.index(k) if k in PARTS else 99):
        print(f"  {name:<18} {watch.seconds[name]:8.1f} {watch.calls[name]:7d} "
              f"{watch.counts[name]:7d}")
    print(f"raw rates: {r['gradients_per_s']:.0f} gradients/s, {r['forwards_per_s']:.0f} "
          f"forward rows/s, PNG {r['png_s'] * 1000:.2f} ms, decode {r['decode_s'] * 1000:.2f} ms")
    print("unavoidable at those rates:")
    for k, v in work.items():
        print(f"  {k:<40} {v:7.1f} s")
    print(f"efficiency {needed:.1f} / {wall:.1f} s = {needed / wall:.3f}")
    print(f"one-time floor: loading the model and the first call of one gradient and one "
          f"forward program, {r['setup_s']:.1f} s; even an audit that paid nothing else would "
          f"reach at most {needed / (needed + r['setup_s']):.3f}")


if __name__ == "__main__":
    main()
