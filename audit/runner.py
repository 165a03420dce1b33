"""One audit from photos to the ``results.json`` contract.

Order matters for trust: clean predictions, the attack, then every adversarial image is written
as PNG, read back from disk and classified again, so a claimed flip is one a user can reproduce
from the file. ``results.json`` is written before anything optional (the report) can fail.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from . import results as contract
from .attacks import ATTACKS, Attack, Budget, Goal, RunSettings
from .attacks.base import DEFAULT_QUERIES
from .classifier import Classifier
from .errors import UsageError
from .formats import FORMATS
from .images import Photo, Skipped, load_png, save_png
from .metrics import delta_histograms, image_quality, perturbation_norms
from .sweep import flip_curve, minimal_epsilon
from .trust import trust_checks

Progress = Callable[[str, int], Callable[[int, int], None] | None]


@dataclass
class AuditConfig:
    """What to attack with and how; validated when the audit starts."""

    attack: str = "bim"
    eps: float = 4.0
    step: float = 1.0
    steps: int | None = None  # None: the attack's default
    queries: int = DEFAULT_QUERIES
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

    @property
    def attack_impl(self) -> Attack:
        if self.attack not in ATTACKS:
            raise UsageError(f"--attack {self.attack!r} is not an attack; choose one of "
                             f"{', '.join(ATTACKS)}")
        return ATTACKS[self.attack]

    def budget(self) -> Budget:
        return self.attack_impl.budget(self.eps, self.step, self.steps, self.norm, self.queries)

    def target_index(self, class_names: list[str]) -> int:
        if self.target is None:
            return -1
        if self.target not in class_names:
            raise UsageError(f"--target {self.target!r} is not one of {', '.join(class_names)}")
        return class_names.index(self.target)


def png_name(index: int, photo: Photo) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", photo.path.stem)[:60] or "image"
    return f"{index:04d}_{stem}.png"


def _trust_budgets(config: AuditConfig, budget: Budget) -> list[float]:
    if config.sweep:
        return [1, 2, 4, config.max_eps]
    if math.isfinite(budget.eps):
        return [max(1, budget.eps // 2), budget.eps, 2 * budget.eps]
    return [1, 2, 4]


def run_audit(
    classifier: Classifier,
    photos: list[Photo],
    skipped: list[Skipped],
    config: AuditConfig,
    out_dir: Path,
    *,
    model: contract.ModelInfo,
    images_dir: str,
    command_line: str,
    progress: Progress | None = None,
) -> dict:
    """Attack every photo the model gets right (or whose label is unknown) and measure it all."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    names = classifier.class_names
    attack = config.attack_impl
    budget = config.budget()
    target_index = config.target_index(names)
    settings = RunSettings(loss=config.loss, batch_size=config.batch_size,
                           early_stop=config.early_stop, seed=config.seed,
                           jit_compile=config.jit_compile)
    early_stop = settings.early_stop and attack.early_stop

    x0 = np.stack([p.pixels for p in photos]).astype(np.float32)
    clean_probs = classifier.predict(x0, config.batch_size)
    clean_pred = clean_probs.argmax(axis=1)
    true_index = np.array([names.index(p.label) if p.label in names else -1 for p in photos])
    reference = np.where(true_index >= 0, true_index, clean_pred).astype(np.int32)
    to_attack = (true_index < 0) | (clean_pred == true_index)
    if target_index >= 0:
        to_attack &= reference != target_index
    idx = np.flatnonzero(to_attack)
    goal = Goal.of(reference[idx], target_index)

    tick = progress("attacking", idx.size) if progress else None
    attack_started = time.perf_counter()
    result = attack.run(classifier, x0[idx], goal, budget, replace(settings, on_progress=tick))
    attack_seconds = time.perf_counter() - attack_started

    # Deliverable check: write, re-read from disk, classify again.
    names_on_disk = [png_name(int(i), photos[i]) for i in idx]
    for k, i in enumerate(idx):
        save_png(result.x[k].astype(np.uint8), out_dir / "adversarial" / names_on_disk[k])
        save_png(x0[i].astype(np.uint8), out_dir / "clean" / names_on_disk[k])
    channels = x0.shape[-1]
    reloaded = np.stack([load_png(out_dir / "adversarial" / n, channels)
                         for n in names_on_disk]) if idx.size \
        else np.zeros((0, *x0.shape[1:]), np.uint8)
    delivered_probs = classifier.predict(reloaded.astype(np.float32), config.batch_size)

    min_eps = np.zeros(idx.size, np.int64)
    curve: list[dict] = []
    sweep_evaluations = 0
    if config.sweep and idx.size:
        tick = progress("epsilon sweep", idx.size) if progress else None
        min_eps, sweep_evaluations = minimal_epsilon(
            classifier, x0[idx], goal, config.max_eps, replace(settings, on_progress=tick))
        curve = flip_curve(min_eps, config.max_eps)

    flipped = goal.met(result.probs.argmax(axis=1))
    delivered = goal.met(delivered_probs.argmax(axis=1))
    norms = perturbation_norms(x0[idx], result.x)
    quality = image_quality(x0[idx], result.x) if idx.size else {"psnr": [], "ssim": []}
    position = {int(i): k for k, i in enumerate(idx)}
    images = []
    for i, photo in enumerate(photos):
        ref = int(reference[i])
        base = contract.clean_row(index=i, path=str(photo.path), true_label=photo.label,
                                  reference_label=names[ref],
                                  clean_pred=names[int(clean_pred[i])],
                                  clean_probs=clean_probs[i])
        k = position.get(i)
        if k is None:
            misclassified = true_index[i] >= 0 and clean_pred[i] != true_index[i]
            images.append(contract.not_attacked_row(
                base, "already misclassified" if misclassified else "already the target class"))
            continue
        images.append(contract.attacked_row(
            base, class_names=names, reference=ref, adv_probs=result.probs[k],
            delivered_probs=delivered_probs[k], flipped=flipped[k], delivered=delivered[k],
            steps=int(result.steps[k]), l0=norms["l0"][k], l2=norms["l2"][k],
            linf=norms["linf"][k], psnr=quality["psnr"][k], ssim=quality["ssim"][k],
            min_eps=int(min_eps[k]) if config.sweep and min_eps[k] > 0 else None,
            gradient_useless=bool(result.grad_useless[k]), file_name=names_on_disk[k]))

    summary = contract.summarise(images, names)
    bound = max(1, int(math.ceil(max([r["linf"] or 0 for r in images if r["attacked"]] or [1]))))
    histograms = {"delta": delta_histograms(x0[idx], result.x, bound),
                  **contract.row_histograms(images)}

    trust = None
    if config.trust and idx.size:
        tick = progress("trust checks", 1) if progress else None
        trust = trust_checks(classifier, x0[idx], goal, _trust_budgets(config, budget),
                             settings, result.grad_useless)
        if tick:
            tick(0, 1)

    seconds = time.perf_counter() - started
    evaluations = result.total_grad_evals + result.total_queries
    n = idx.size
    summary.update({
        "n_skipped": len(skipped),
        "seconds": round(seconds, 3),
        "attack_seconds": round(attack_seconds, 3),
        "img_steps_per_s": round(evaluations / attack_seconds, 3) if attack_seconds > 0 else None,
        "grad_evals_per_image": round(result.total_grad_evals / n, 3) if n else 0.0,
        "steps_per_image": round(int(result.steps.sum()) / n, 3) if n else 0.0,
        "sweep_grad_evals_per_image": round(sweep_evaluations / n, 3)
        if config.sweep and n else None,
    })
    manifest = contract.build_manifest(
        model=model, command_line=command_line, images_dir=images_dir, attack=attack,
        budget=budget, loss=attack.effective_loss(settings), target=config.target,
        early_stop=early_stop, seed=config.seed,
        sweep={"max_eps": config.max_eps, "schedule": "BIM, 1 count/step, "
               "min(e+4, ceil(1.25e)) steps (Kurakin et al. 2017)"} if config.sweep else None,
        class_names=names, input_scale=classifier.input_scale, batch_size=config.batch_size)
    results = {
        "schema_version": contract.SCHEMA_VERSION,
        "manifest": manifest,
        "summary": summary,
        "images": images,
        "histograms": histograms,
        "curve": curve,
        "trust": trust,
        "skipped": [asdict(s) for s in skipped],
    }
    for name in ("json", "csv"):
        FORMATS[name].write(results, out_dir=out_dir)
    return results
