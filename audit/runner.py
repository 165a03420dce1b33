"""One audit from photos to the ``results.json`` contract.

Order matters for trust: clean predictions, the attack, then every adversarial image is written
as PNG, read back from disk and classified again, so a claimed flip is one a user can reproduce
from the file. ``results.json`` is written before anything optional (report) can fail.
"""

from __future__ import annotations

import csv
import json
import math
import platform
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import __version__, engine
from .attacks import ATTACKS, descent, start_points
from .classifier import Classifier
from .images import Photo, Skipped, load_png, save_png
from .metrics import (
    delta_histograms,
    image_quality,
    integer_histogram,
    perturbation_norms,
    summarise,
)
from .sweep import flip_curve, minimal_epsilon
from .trust import trust_checks

Progress = Callable[[str, int], Callable[[int, int], None]]

CSV_FIELDS = [
    "index", "path", "true_label", "clean_pred", "clean_conf", "attacked", "adv_pred",
    "adv_conf", "flipped", "deliverable_flipped", "steps_to_flip", "l0", "l2", "linf", "psnr",
    "ssim", "min_eps", "adv_path",
]


@dataclass
class AuditConfig:
    attack: str = "bim"
    eps: float = 4.0
    step: float = 1.0
    steps: int = 10
    norm: str = "linf"
    loss: str = "margin"
    target: str | None = None
    sweep: bool = False
    max_eps: int = 8
    batch_size: int = 32
    seed: int = 0
    early_stop: bool = True
    trust: bool = True
    jit_compile: bool = False

    def budget(self):
        return ATTACKS[self.attack].budget(self.eps, self.step, self.steps, self.norm)


def _safe_name(index: int, photo: Photo) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", photo.path.stem)[:60] or "image"
    return f"{index:04d}_{stem}.png"


def _json_number(v):
    if v is None:
        return None
    v = float(v)
    return round(v, 6) if math.isfinite(v) else None


def run_audit(
    classifier: Classifier,
    photos: list[Photo],
    skipped: list[Skipped],
    config: AuditConfig,
    out_dir: Path,
    manifest: dict,
    progress: Progress | None = None,
) -> dict:
    """Attack every photo the model gets right (or whose label is unknown) and measure it all."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    names = classifier.class_names
    attack = ATTACKS[config.attack]
    budget = config.budget()
    early_stop = config.early_stop and attack.early_stop
    if config.target is not None and config.target not in names:
        raise ValueError(f"--target {config.target!r} is not a class ({', '.join(names)})")
    target_index = names.index(config.target) if config.target is not None else -1

    x0 = np.stack([p.pixels for p in photos]).astype(np.float32)
    clean_probs = classifier.predict(x0, config.batch_size)
    clean_pred = clean_probs.argmax(axis=1)
    true_index = np.array([names.index(p.label) if p.label in names else -1 for p in photos])
    reference = np.where(true_index >= 0, true_index, clean_pred).astype(np.int32)
    attacked = (true_index < 0) | (clean_pred == true_index)
    if target_index >= 0:
        attacked &= reference != target_index
    idx = np.flatnonzero(attacked)
    aux = {
        "label": reference[idx],
        "target": np.full(idx.size, target_index, np.int32),
    }

    rng = np.random.default_rng(config.seed)
    x_start = start_points(attack, budget, x0[idx], rng)
    d = descent(classifier, attack, budget, config.loss, config.jit_compile)
    tick = progress("attacking", idx.size) if progress else None
    attack_started = time.perf_counter()
    result = engine.run_pool(
        d, x0[idx], x_start, np.full(idx.size, budget.eps, np.float32),
        np.full(idx.size, budget.steps), aux, config.batch_size, early_stop, None, tick,
    )
    attack_seconds = time.perf_counter() - attack_started
    evaluations = result.evaluations

    adv = x0.copy()
    adv[idx] = result.x
    adv_probs = clean_probs.copy()
    if idx.size:
        adv_probs[idx] = result.extras["probs"]

    # Deliverable check: write, re-read from disk, classify again.
    adv_paths: dict[int, str] = {}
    for i in idx:
        name = _safe_name(i, photos[i])
        save_png(adv[i].astype(np.uint8), out_dir / "adversarial" / name)
        save_png(x0[i].astype(np.uint8), out_dir / "clean" / name)
        adv_paths[i] = f"adversarial/{name}"
    channels = x0.shape[-1]
    reloaded = np.stack([load_png(out_dir / adv_paths[i], channels) for i in idx]) if idx.size \
        else np.zeros((0, *x0.shape[1:]), np.uint8)
    delivered_probs = classifier.predict(reloaded.astype(np.float32), config.batch_size)

    min_eps = np.zeros(len(photos), np.int64)
    curve = []
    sweep_evaluations = 0
    if config.sweep and idx.size:
        tick = progress("epsilon sweep", idx.size) if progress else None
        found, sweep_evaluations = minimal_epsilon(
            classifier, x0[idx], aux, config.max_eps, config.loss, config.batch_size,
            on_progress=tick,
        )
        min_eps[idx] = found
        curve = flip_curve(found, config.max_eps)

    norms = perturbation_norms(x0[idx], adv[idx])
    quality = image_quality(x0[idx], adv[idx]) if idx.size else {"psnr": [], "ssim": []}
    position = {int(i): k for k, i in enumerate(idx)}
    images = []
    for i, photo in enumerate(photos):
        k = position.get(i)
        ref = int(reference[i])
        row = {
            "index": i,
            "path": str(photo.path),
            "true_label": photo.label,
            "reference_label": names[ref],
            "clean_pred": names[int(clean_pred[i])],
            "clean_conf": _json_number(clean_probs[i].max()),
            "clean_probs": [_json_number(p) for p in clean_probs[i]],
            "attacked": k is not None,
        }
        if k is None:
            misclassified = true_index[i] >= 0 and clean_pred[i] != true_index[i]
            row["not_attacked_because"] = (
                "already misclassified" if misclassified else "already the target class"
            )
            images.append(row)
            continue
        adv_pred = int(adv_probs[i].argmax())
        del_pred = int(delivered_probs[k].argmax())
        def goal(p: int, ref: int = ref) -> bool:
            return p == target_index if target_index >= 0 else p != ref

        flipped = goal(adv_pred)
        row.update({
            "adv_pred": names[adv_pred],
            "adv_conf": _json_number(adv_probs[i].max()),
            "adv_probs": [_json_number(p) for p in adv_probs[i]],
            "adv_ref_prob": _json_number(adv_probs[i][ref]),
            "flipped": flipped,
            "deliverable_pred": names[del_pred],
            "deliverable_conf": _json_number(delivered_probs[k].max()),
            "deliverable_flipped": goal(del_pred),
            "steps": int(result.steps[k]),
            "steps_to_flip": int(result.steps[k]) if flipped else None,
            "l0": int(norms["l0"][k]),
            "l2": _json_number(norms["l2"][k]),
            "linf": _json_number(norms["linf"][k]),
            "psnr": _json_number(quality["psnr"][k]),
            "ssim": _json_number(quality["ssim"][k]),
            "min_eps": int(min_eps[i]) if config.sweep and min_eps[i] > 0 else None,
            "gradient_useless": bool(result.grad_useless[k]),
            "adv_path": adv_paths[i],
            "clean_path": adv_paths[i].replace("adversarial/", "clean/", 1),
        })
        images.append(row)

    summary = summarise(images, names)
    bound = max(1, int(math.ceil(max([r["linf"] or 0 for r in images if r["attacked"]] or [1]))))
    flips = [r for r in images if r["attacked"] and r["flipped"]]
    histograms = {
        "delta": delta_histograms(x0[idx], adv[idx], bound),
        "steps_to_flip": integer_histogram([r["steps_to_flip"] for r in flips]),
        "min_eps": integer_histogram([r["min_eps"] for r in images if r.get("min_eps")]),
    }

    trust = None
    if config.trust and idx.size:
        tick = progress("trust checks", 1) if progress else None
        eps_values = [1, 2, 4, config.max_eps] if config.sweep else [
            max(1, budget.eps // 2), budget.eps, 2 * budget.eps] if math.isfinite(budget.eps) \
            else [1, 2, 4]
        trust = trust_checks(classifier, x0[idx], aux, eps_values, config.loss,
                             config.batch_size, result.grad_useless, seed=config.seed)
        if tick:
            tick(0, 1)

    seconds = time.perf_counter() - started
    step_count = int(result.steps.sum())
    summary.update({
        "n_skipped": len(skipped),
        "seconds": round(seconds, 3),
        "attack_seconds": round(attack_seconds, 3),
        "img_steps_per_s": round(evaluations / attack_seconds, 3) if attack_seconds > 0 else None,
        "grad_evals_per_image": round(evaluations / idx.size, 3) if idx.size else 0.0,
        "steps_per_image": round(step_count / idx.size, 3) if idx.size else 0.0,
        "sweep_grad_evals_per_image": round(sweep_evaluations / idx.size, 3)
        if config.sweep and idx.size else None,
    })
    manifest = dict(manifest)
    manifest.update({
        "tool": "advaudit",
        "tool_version": __version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "python_version": platform.python_version(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": config.seed,
        "attack": config.attack,
        "attack_about": attack.about,
        "loss": attack.loss or config.loss,
        "target": config.target,
        "early_stop": early_stop,
        "budget": {
            "norm": budget.norm,
            "eps": budget.eps if math.isfinite(budget.eps) else None,
            "step": budget.step,
            "steps": budget.steps,
            "unit": "counts (0..255)",
        },
        "sweep": {"max_eps": config.max_eps, "schedule": "BIM, 1 count/step, "
                  "min(e+4, ceil(1.25e)) steps (Kurakin et al. 2017)"} if config.sweep else None,
        "class_names": names,
        "input_scale": classifier.input_scale,
        "batch_size": config.batch_size,
    })
    results = {
        "manifest": manifest,
        "summary": summary,
        "images": images,
        "histograms": histograms,
        "curve": curve,
        "trust": trust,
        "skipped": [asdict(s) for s in skipped],
    }
    write_results(results, out_dir)
    return results


def write_results(results: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    with open(out_dir / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in results["images"]:
            writer.writerow(row)
