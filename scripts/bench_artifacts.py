"""The model as shipped: catdog-mini audited as Keras, TFLite (float, int8) and ONNX files.

Exports the embedded catdog-mini with TensorFlow's converter (float, and full-integer int8
calibrated on the 96 shipped photos) and tf2onnx (the test extras install both; the exports are
the tests' own, ``tests/support/exports.py``), then audits each artifact on the shipped photos
at one budget: the Keras model with its own gradients; each query-only file by the cascade's
gradient-free stage alone, and again with ``--surrogate`` (the Keras model's gradients, every
flip re-checked on the file). Prints one table (the README's) and the comparison of the Keras
audit with the int8 one (``advaudit compare``): the images that became vulnerable.

    python scripts/bench_artifacts.py                  # eps 4, into a temporary folder
    python scripts/bench_artifacts.py --eps 1 --transfer-only   # skip the query-only audits
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the exports the tests make

from support.exports import to_onnx, to_tflite  # noqa: E402

import audit  # noqa: E402
from audit.images import load_photos  # noqa: E402
from audit.results.compare import compare  # noqa: E402
from victims.registry import DEFAULT_VICTIM, SAMPLES_DIR, VICTIMS  # noqa: E402

LABELS = ["cat", "dog"]


def exports(folder: Path) -> dict[str, Path]:
    victim = VICTIMS[DEFAULT_VICTIM]
    model, path = victim.load(None)
    size = tuple(int(d) for d in model.inputs[0].shape[1:3])
    photos, _ = load_photos(SAMPLES_DIR, size, 3)
    x = np.stack([p.pixels for p in photos])
    return {"keras": Path(path),
            "tflite float": to_tflite(model, folder / "catdog-mini.tflite"),
            "tflite int8": to_tflite(model, folder / "catdog-mini_int8.tflite",
                                     int8_calibration=x),
            "onnx": to_onnx(model, folder / "catdog-mini.onnx")}


def row(name: str, result, seconds: float) -> str:
    s, m = result.summary, result.manifest
    moved = s.get("transfer") or {}
    rate = moved.get("transfer_rate")
    access = m["model_access"]
    how = "own gradients" if access["gradients"] else (
        "surrogate + queries" if access["surrogate"] else "queries only")
    return (f"| {name} | {how} | {s['clean_accuracy']:.1%} | {s['n_attacked']} | "
            f"{s['flip_rate']:.1%} | {s['deliverable_flip_rate']:.1%} | "
            f"{'-' if rate is None else f'{rate:.0%}'} | {s['verdict'].replace('_', ' ')} | "
            f"{seconds:.0f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, default=4.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--transfer-only", action="store_true",
                        help="audit the exported files with --surrogate only (minutes faster)")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="advaudit-artifacts-"))
    root.mkdir(parents=True, exist_ok=True)
    files = exports(root)
    runs = [("keras", files["keras"], None)]
    for name in ("tflite float", "tflite int8", "onnx"):
        runs += [] if args.transfer_only else [(name, files[name], None)]
        runs += [(name, files[name], files["keras"])]
    print("| artifact | attacked with | clean accuracy | attacked | flip rate | deliverable "
          "| transfer rate | verdict | time |")
    print("|---|---|---:|---:|---:|---:|---:|---|---:|")
    results = {}
    for name, path, surrogate in runs:
        out = root / f"{name.replace(' ', '-')}{'-surrogate' if surrogate else ''}"
        started = time.perf_counter()
        result = audit.run(str(path), images=SAMPLES_DIR, class_names=LABELS, eps=args.eps,
                           surrogate=None if surrogate is None else str(surrogate), out=out,
                           overwrite=True, report=False)
        results[(name, surrogate is not None)] = result
        print(row(name, result, time.perf_counter() - started), flush=True)
    diff = compare(results[("keras", False)].data, results[("tflite int8", True)].data)
    print()
    for c in diff.per_class:
        print(f"{c.name}: flip rate {c.base.flip.value:.1%} -> {c.new.flip.value:.1%}")
    print(f"keras -> int8 (with surrogate): flip rate {diff.overall.change('flip'):+.1%}, "
          f"robust accuracy {diff.overall.change('robust'):+.1%}, "
          f"{len(diff.became_vulnerable)} images became vulnerable, "
          f"{len(diff.became_robust)} became robust; {root}")


if __name__ == "__main__":
    main()
