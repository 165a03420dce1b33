"""Time ``render_report`` on a synthetic 1000-image audit and print seconds and file size.

The report must stay usable for large audits: under 5 s to render and under 15 MB on disk for
1000 images of 128x128. The audit is synthetic (``tests/support/synthetic.py``), so this needs no
model and no TensorFlow. Usage: ``python scripts/bench_report.py [--images 1000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from audit.report import render_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.synthetic import synthetic_results  # noqa: E402  (a test fixture, no model)

TIME_LIMIT_S = 5.0
SIZE_LIMIT_MB = 15.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128, help="side of the square PNGs")
    parser.add_argument("--repeat", type=int, default=3, help="renders to time (best is kept)")
    parser.add_argument("--max-cards", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        results = synthetic_results(out, args.images, sweep=True, size=args.size)
        (out / "results.json").write_text(json.dumps(results))
        print(f"built {args.images} images ({args.size}x{args.size} PNGs) in "
              f"{time.perf_counter() - started:.1f} s")
        times = []
        for _ in range(max(1, args.repeat)):
            results = json.loads((out / "results.json").read_text())  # as 'advaudit report' does
            t = time.perf_counter()
            path = render_report(results, out, max_cards=args.max_cards)
            times.append(time.perf_counter() - t)
        size_mb = path.stat().st_size / 1e6
        best = min(times)
        print(f"render_report: best {best:.2f} s, all " + ", ".join(f"{t:.2f}" for t in times))
        print(f"report.html: {size_mb:.2f} MB ({path.stat().st_size} bytes)")
        ok = best < TIME_LIMIT_S and size_mb < SIZE_LIMIT_MB
        print("OK" if ok else f"OVER BUDGET (limits {TIME_LIMIT_S} s, {SIZE_LIMIT_MB} MB)")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
