"""Peak memory of an audit against the number of photos: it must stay flat.

Writes N photo-like 128x128 JPEGs (half in cat/, half in dog/), runs ``advaudit audit`` on them
in a child process (catdog-mini by default, no report, no trust checks) and reads the child's
peak resident memory from the kernel (``wait4``). The audit streams photos in chunks, so the
peak must not grow with N. For the smallest N it also checks that the streamed run's per-image
results equal a run with everything in one chunk (``--chunk-size N``, the in-memory way).

    python scripts/bench_memory.py --photos 1000 5000 25000

Needs a few hundred MB of disk per 10,000 photos (under a temporary folder, removed after).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.synthetic import photo  # noqa: E402  (photo-like pictures, shared with the tests)

LIMIT_GB = 2.5


def write_photos(folder: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    pool = [photo(rng) for _ in range(64)]  # vary 64 base pictures, so writing stays fast
    for i in range(n):
        label = "cat" if i % 2 == 0 else "dog"
        (folder / label).mkdir(parents=True, exist_ok=True)
        img = np.roll(pool[i % 64], shift=(i // 64) % 128, axis=1)
        Image.fromarray(img).save(folder / label / f"{label}.{i}.jpg", quality=90)


def audit(images: Path, out: Path, model: str, extra: list[str]) -> tuple[float, float]:
    """(peak RSS in GB, seconds) of one audit in a child process."""
    cmd = [sys.executable, "-c", "import sys; from audit.cli import main; main(sys.argv[1:])",
           "audit", model, "--images", str(images), "--out", str(out), "--overwrite",
           "--no-report", "--no-trust", "--json", *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"audit failed: {proc.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024**2, seconds  # ru_maxrss is in KiB on Linux


def rows(out: Path) -> list[dict]:
    keep = ("index", "path", "clean_pred", "attacked", "adv_pred", "flipped",
            "deliverable_flipped", "steps", "l0", "l2", "linf")
    return [{k: r.get(k) for k in keep}
            for r in json.loads((out / "results.json").read_text())["images"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, nargs="+", default=[1000, 5000, 25000])
    parser.add_argument("--model", default="catdog-mini")
    parser.add_argument("--attack", default="bim")
    parser.add_argument("--chunk-size", type=int, default=256)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        base = Path(tmp)
        for n in sorted(args.photos):
            images = base / f"photos-{n}"
            write_photos(images, n)
            gb, seconds = audit(images, base / f"out-{n}", args.model,
                                ["--attack", args.attack, "--chunk-size",
                                 str(args.chunk_size)])
            results.append({"photos": n, "peak_rss_gb": round(gb, 3),
                            "seconds": round(seconds, 1)})
            print(f"{n:6d} photos: peak RSS {gb:.2f} GB, {seconds:.0f} s", flush=True)
            if n == min(args.photos):
                whole, _ = audit(images, base / f"whole-{n}", args.model,
                                 ["--attack", args.attack, "--chunk-size", str(n)])
                same = rows(base / f"out-{n}") == rows(base / f"whole-{n}")
                print(f"{n:6d} photos in one chunk: peak RSS {whole:.2f} GB; per-image "
                      f"results {'identical' if same else 'DIFFERENT'} to the streamed run",
                      flush=True)
                results[-1].update(one_chunk_peak_rss_gb=round(whole, 3), identical=same)
            shutil.rmtree(images)
    peaks = [r["peak_rss_gb"] for r in results]
    flat = max(peaks) - min(peaks) < 0.25 * min(peaks)
    ok = flat and max(peaks) < LIMIT_GB and all(r.get("identical", True) for r in results)
    print(json.dumps({"runs": results, "flat": flat, "under_limit": max(peaks) < LIMIT_GB}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
