"""A synthetic audit (results dict and PNGs) shaped like the runner's, without a model.

The report is rendered from ``results.json`` and PNGs alone, so its tests and its benchmark
(``scripts/bench_report.py``) can exercise every section on made-up data in milliseconds instead
of training and attacking a model. The numbers are internally consistent (summary, histograms and
rows agree) so assertions on them mean something.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from audit import results as contract
from audit.attacks import ATTACKS
from audit.metrics import delta_histograms
from audit.threats import THREATS


def photo(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """A smooth, photo-like picture (gradient plus blobs) that compresses like a real one."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.empty((size, size, 3), np.float32)
    for c in range(3):
        a, b, d = rng.uniform(-1, 1, 3)
        img[..., c] = 128 + 60 * (a * xx + b * yy) + 30 * np.sin(6 * d * xx + 3 * yy)
    for _ in range(4):
        cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.25)
        mask = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
        img[mask] += rng.uniform(-70, 70, 3)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_results(
    out_dir: Path,
    n_images: int = 12,
    class_names: Sequence[str] = ("cat", "dog"),
    *,
    sweep: bool = True,
    size: int = 128,
    eps: int = 4,
    file_names: Sequence[str] = (),
    write_pngs: bool = True,
    seed: int = 0,
) -> dict:
    """Results for ``n_images`` photos; ``file_names`` overrides the first photos' names.

    Roughly: 1 in 6 photos is misclassified (not attacked), most attacked ones flip, one flipped
    image per 10 does not reproduce from its PNG, and with ``sweep`` each gets a minimal eps.
    """
    rng = np.random.default_rng(seed)
    names = list(class_names)
    k = len(names)
    out_dir = Path(out_dir)
    if write_pngs:
        (out_dir / "clean").mkdir(parents=True, exist_ok=True)
        (out_dir / "adversarial").mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    deltas: list[np.ndarray] = []
    for i in range(n_images):
        label = names[i % k]
        ref = names.index(label)
        stem = file_names[i] if i < len(file_names) else f"{label}.{i}.jpg"
        clean_probs = rng.dirichlet(np.ones(k) * 0.6)
        misclassified = i % 6 == 5
        top = int(np.argmax(clean_probs))
        if misclassified and top == ref:
            clean_probs = np.roll(clean_probs, 1)
        elif not misclassified and top != ref:
            clean_probs[[ref, top]] = clean_probs[[top, ref]]
        clean_pred = names[int(np.argmax(clean_probs))]
        row: dict = {
            "index": i, "path": f"/photos/{label}/{stem}", "true_label": label,
            "reference_label": label, "clean_pred": clean_pred,
            "clean_conf": round(float(clean_probs.max()), 6),
            "clean_probs": [round(float(p), 6) for p in clean_probs], "attacked": not misclassified,
        }
        if misclassified:
            row["not_attacked_because"] = "already misclassified"
            rows.append(row)
            continue
        flipped = i % 7 != 3
        min_eps = int(rng.integers(1, eps * 2 + 1)) if sweep and (flipped or i % 2) else None
        adv_probs = clean_probs.copy()
        other = (ref + 1 + int(rng.integers(0, max(1, k - 1)))) % k
        if flipped:
            adv_probs[ref], adv_probs[other] = adv_probs[ref] * 0.3, adv_probs[other] + \
                adv_probs[ref] * 0.7
        else:
            adv_probs[ref], adv_probs[other] = adv_probs[ref] * 0.85, adv_probs[other] + \
                adv_probs[ref] * 0.15
        adv_pred = names[int(np.argmax(adv_probs))]
        flipped = adv_pred != label
        delivered = flipped and i % 10 != 1
        clean = photo(rng, size)
        delta = rng.choice(np.array([-eps, eps, -eps + 1, 0], np.int16), clean.shape,
                           p=[0.45, 0.45, 0.05, 0.05])
        adv = np.clip(clean.astype(np.int16) + delta, 0, 255).astype(np.uint8)
        real = adv.astype(np.int16) - clean
        deltas.append(real)
        name = f"{i:04d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', label)}_{i}.png"  # as the runner does
        if write_pngs:
            cv2.imwrite(str(out_dir / "clean" / name), clean[..., ::-1])
            cv2.imwrite(str(out_dir / "adversarial" / name), adv[..., ::-1])
        mse = float(np.mean(real.astype(np.float64) ** 2))
        row.update({
            "adv_pred": adv_pred, "adv_conf": round(float(adv_probs.max()), 6),
            "adv_probs": [round(float(p), 6) for p in adv_probs],
            "adv_ref_prob": round(float(adv_probs[ref]), 6), "flipped": flipped,
            "deliverable_pred": adv_pred if delivered or not flipped else label,
            "deliverable_conf": round(float(adv_probs.max()), 6),
            "deliverable_flipped": delivered, "steps": 1 + i % 5,
            "steps_to_flip": 1 + i % 5 if flipped else None,
            "l0": int(np.any(real != 0, axis=-1).sum()),
            "l2": round(float(np.sqrt((real.astype(np.float64) ** 2).sum())), 6),
            "linf": float(np.abs(real).max()),
            "psnr": round(10 * math.log10(255**2 / mse), 6) if mse else None,
            "ssim": round(float(rng.uniform(0.85, 0.99)), 6), "min_eps": min_eps,
            "gradient_useless": False, "adv_path": f"adversarial/{name}",
            "clean_path": f"clean/{name}",
        })
        rows.append(row)
    return _assemble(rows, deltas, names, sweep, eps, seed)


def _assemble(rows: list[dict], deltas: list[np.ndarray], names: list[str], sweep: bool,
              eps: int, seed: int) -> dict:
    """Summary and histograms through ``audit.results``, exactly as a real audit builds them."""
    attacked = [r for r in rows if r["attacked"]]
    bound = eps
    stacked = np.stack(deltas).astype(np.int32) if deltas else np.zeros((0, 1, 1, 3), np.int32)
    max_eps = 2 * eps
    found = [r["min_eps"] for r in attacked]
    curve = [{"eps": e, "flip_rate": sum(1 for f in found if f and f <= e) / max(1, len(found))}
             for e in range(max_eps + 1)] if sweep else []
    summary = contract.summarise(rows, names)
    summary.update({
        "n_skipped": 1, "seconds": 12.5, "attack_seconds": 9.0,
        "img_steps_per_s": 40.0, "grad_evals_per_image": 6.5, "steps_per_image": 3.0,
        "sweep_grad_evals_per_image": 12.0 if sweep else None,
    })
    manifest = {
        "command_line": f"advaudit audit synthetic.keras --labels {','.join(names)} --seed {seed}"
                        + (" --sweep" if sweep else ""),
        "model": "synthetic.keras", "model_path": "/models/synthetic.keras",
        "model_sha256": "ab12" * 16, "images_dir": "/photos",
        "preflight": [
            {"check": "input", "status": "ok", "detail": "NHWC 128x128x3 (RGB), white pixel = 1"},
            {"check": "output", "status": "warn", "detail": "logits, softmax added"},
        ],
        "tool": "advaudit", "tool_version": "0.1.0", "tensorflow_version": "2.21.0",
        "keras_version": "3.15.1", "python_version": "3.11.7",
        "timestamp": "2026-01-02T03:04:05+00:00", "seed": seed, "attack": "bim",
        "attack_traits": ATTACKS["bim"].traits(THREATS["linf"], 2),
        "attack_about": "iterated sign steps clipped to the eps ball (Kurakin et al. 2017)",
        "loss": "margin", "target": None, "early_stop": True,
        "budget": {"norm": "linf", "eps": float(eps), "step": 1.0, "steps": 10,
                   "unit": "counts (0..255)"},
        "sweep": {"max_eps": max_eps, "schedule": "BIM, 1 count/step"} if sweep else None,
        "class_names": names, "input_scale": 1.0, "batch_size": 32,
    }
    trust = {"sample_size": min(16, len(attacked)), "checks": [
        {"name": "eps=0 changes nothing", "status": "pass",
         "detail": "an attack with a zero budget left every image and prediction as it was"},
        {"name": "large budget flips almost everything", "status": "warn", "value": 0.9,
         "detail": "64 counts, 20 steps flip 90% of the sample: suspect gradient masking"},
        {"name": "flip rate grows with the budget", "status": "pass",
         "value": [{"eps": 2, "flip_rate": 0.4}, {"eps": 4, "flip_rate": 0.7},
                   {"eps": 8, "flip_rate": 0.9}],
         "detail": "independent attacks at growing budgets never flip fewer images"},
    ]}
    return {
        "schema_version": contract.SCHEMA_VERSION,
        "manifest": manifest, "summary": summary, "images": rows,
        "histograms": {
            "delta": delta_histograms(np.zeros_like(stacked), stacked, bound),
            **contract.row_histograms(rows),
        },
        "curve": curve, "trust": trust,
        "skipped": [{"path": "/photos/cat/broken.jpg", "reason": "cannot decode image"}],
    }
