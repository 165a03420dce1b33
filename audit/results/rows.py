"""One row per photo, and the summary aggregated from the rows.

The rows are the unit everything else is derived from: the summary, the histograms, the CSV, the
report, a merge of sharded runs. So the summary is computed from rows only, never from arrays a
run happened to keep in memory.
"""

from __future__ import annotations

import math

import numpy as np

from ..metrics import integer_histogram, wilson_interval


def json_number(v) -> float | None:
    """A float rounded for JSON, or None for a missing or non-finite value."""
    if v is None:
        return None
    v = float(v)
    return round(v, 6) if math.isfinite(v) else None


def clean_row(*, index: int, path: str, true_label: str, reference_label: str, clean_pred: str,
              clean_probs: np.ndarray, votes: int = 1) -> dict:
    """A photo's clean prediction. For a randomised model (``votes`` > 1) the probabilities are
    the shares of ``votes`` fresh draws predicting each class, and the row says so."""
    row = {
        "index": index,
        "path": path,
        "true_label": true_label,
        "reference_label": reference_label,
        "clean_pred": clean_pred,
        "clean_conf": json_number(clean_probs.max()),
        "clean_probs": [json_number(p) for p in clean_probs],
    }
    if votes > 1:
        row["votes"] = int(votes)
    return row


def attacked_row(base: dict, *, class_names: list[str], reference: int, adv_probs: np.ndarray,
                 delivered_probs: np.ndarray, flipped: bool, delivered: bool, steps: int,
                 l0: int, l2: float, linf: float, psnr: float, ssim: float,
                 min_eps: int | None, gradient_useless: bool, file_name: str,
                 grad_evals: int, queries: int, found_by: str | None,
                 survives: dict[str, bool] | None = None,
                 flip_probability: float | None = None,
                 transfer: dict | None = None) -> dict:
    """The row of an attacked photo: what the attack did in memory, what its PNG does, and,
    for a PNG that flips, which channels (``audit.channels``) the flip survives. For a
    randomised model, ``flip_probability`` is the share of the fresh draws on the PNG that
    meet the goal (the deliverable flip is their majority). With a surrogate, ``transfer``
    says where the flip was found (``found_on``: the surrogate, then confirmed on the model, or
    the model itself) and whether a gradient stage's point flipped the surrogate at all."""
    adv_pred = int(adv_probs.argmax())
    del_pred = int(delivered_probs.argmax())
    extra = {} if flip_probability is None else {
        "flip_probability": json_number(flip_probability)}
    return {
        **base,
        "attacked": True,
        "adv_pred": class_names[adv_pred],
        "adv_conf": json_number(adv_probs.max()),
        "adv_probs": [json_number(p) for p in adv_probs],
        "adv_ref_prob": json_number(adv_probs[reference]),
        "flipped": bool(flipped),
        "deliverable_pred": class_names[del_pred],
        "deliverable_conf": json_number(delivered_probs.max()),
        "deliverable_flipped": bool(delivered),
        "steps": int(steps),
        "steps_to_flip": int(steps) if flipped else None,
        "l0": int(l0),
        "l2": json_number(l2),
        "linf": json_number(linf),
        "psnr": json_number(psnr),
        "ssim": json_number(ssim),
        "min_eps": min_eps,
        "gradient_useless": bool(gradient_useless),
        "grad_evals": int(grad_evals),
        "queries": int(queries),
        "found_by": found_by,
        "survives": survives,
        "adv_path": f"adversarial/{file_name}",
        "clean_path": f"clean/{file_name}",
        **extra,
        **(transfer or {}),
    }


def not_attacked_row(base: dict, reason: str) -> dict:
    return {**base, "attacked": False, "not_attacked_because": reason}


def summarise(images: list[dict], class_names: list[str]) -> dict:
    """Aggregate per-image rows into the summary block."""
    labelled = [r for r in images if r["true_label"] in class_names]
    correct = [r for r in labelled if r["clean_pred"] == r["true_label"]]
    attacked = [r for r in images if r["attacked"]]
    flipped = [r for r in attacked if r["flipped"]]
    delivered = [r for r in attacked if r["deliverable_flipped"]]
    robust = [r for r in correct if not (r["attacked"] and r["flipped"])]
    drops = [r["clean_conf"] - r["adv_ref_prob"] for r in attacked]

    per_class = {}
    for name in class_names:
        rows = [r for r in attacked if r["reference_label"] == name]
        went: dict[str, int] = {}
        for r in rows:
            if r["flipped"]:
                key = f"{name}->{r['adv_pred']}"
                went[key] = went.get(key, 0) + 1
        per_class[name] = {
            "n_attacked": len(rows),
            "n_flipped": sum(r["flipped"] for r in rows),
            "flip_rate": (sum(r["flipped"] for r in rows) / len(rows)) if rows else None,
            "transitions": went,
        }
    return {
        "n_images": len(images),
        "n_labelled": len(labelled),
        "n_correct": len(correct),
        "n_attacked": len(attacked),
        "n_flipped": len(flipped),
        "clean_accuracy": len(correct) / len(labelled) if labelled else None,
        "flip_rate": len(flipped) / len(attacked) if attacked else None,
        "flip_rate_ci95": wilson_interval(len(flipped), len(attacked)),
        "robust_accuracy": len(robust) / len(labelled) if labelled else None,
        "deliverable_flip_rate": len(delivered) / len(attacked) if attacked else None,
        "mean_confidence_drop": float(np.mean(drops)) if drops else None,
        "channel_survival": channel_survival(delivered),
        "randomness": randomness(images),
        "transfer": transfer(attacked),
        "per_class": per_class,
    }


def randomness(images: list[dict]) -> dict | None:
    """For a randomised model's rows (they carry ``votes``): how unstable the clean
    predictions were (the share of clean photos whose draws were not unanimous, the mean share
    of draws against the majority) and the mean flip probability of the attacked photos'
    PNGs; None for a deterministic model's."""
    rows = [r for r in images if isinstance(r.get("votes"), int) and r["votes"] > 1
            and isinstance(r.get("clean_conf"), (int, float))]
    if not rows:
        return None
    probs = [r["flip_probability"] for r in rows if r.get("attacked")
             and isinstance(r.get("flip_probability"), (int, float))]
    return {
        "votes": max(r["votes"] for r in rows),
        "n_clean": len(rows),
        "clean_unanimous": sum(r["clean_conf"] >= 1 - 1e-6 for r in rows) / len(rows),
        "clean_against_majority": float(np.mean([1 - r["clean_conf"] for r in rows])),
        "n_attacked": len(probs),
        "mean_flip_probability": float(np.mean(probs)) if probs else None,
    }


def transfer(attacked: list[dict]) -> dict | None:
    """With a surrogate (rows carry ``surrogate_flipped``): of the attacked photos whose
    gradient-stage point flipped the surrogate, how many flipped the audited model too (the
    transfer rate), and how many more the query stages on the model found; None otherwise."""
    rows = [r for r in attacked if isinstance(r.get("surrogate_flipped"), bool)]
    if not rows:
        return None
    tried = [r for r in rows if r["surrogate_flipped"]]
    moved = [r for r in tried if r.get("found_on") == "surrogate" and r.get("flipped")]
    direct = [r for r in rows if r.get("found_on") == "model" and r.get("flipped")]
    return {"n_attacked": len(rows), "surrogate_flips": len(tried), "transferred": len(moved),
            "transfer_rate": len(moved) / len(tried) if tried else None,
            "found_on_model": len(direct)}


def channel_survival(delivered: list[dict]) -> dict[str, dict]:
    """Per channel, of the flips whose PNG was re-checked through it, how many still flip:
    {name: {n_checked, n_survive, rate}} (rows of an older audit, without ``survives``, are
    not counted)."""
    out: dict[str, dict] = {}
    for row in delivered:
        survives = row.get("survives")
        if not isinstance(survives, dict):
            continue
        for name, ok in survives.items():
            if isinstance(name, str) and isinstance(ok, bool):
                entry = out.setdefault(name, {"n_checked": 0, "n_survive": 0})
                entry["n_checked"] += 1
                entry["n_survive"] += ok
    for entry in out.values():
        entry["rate"] = entry["n_survive"] / entry["n_checked"]
    return out


def row_histograms(images: list[dict]) -> dict:
    """Histograms that are functions of the rows alone (steps to flip, minimal budgets)."""
    flips = [r for r in images if r["attacked"] and r["flipped"]]
    return {
        "steps_to_flip": integer_histogram([r["steps_to_flip"] for r in flips]),
        "min_eps": integer_histogram([r["min_eps"] for r in images if r.get("min_eps")]),
    }


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        key = str(v or "unknown")
        out[key] = out.get(key, 0) + 1
    return out


def run_summary(images: list[dict], class_names: list[str], *, n_skipped: int, pending: int,
                seconds: float, attack_seconds: float, evaluations: int,
                sweep_grad_evals: int | None, sweep_queries: int | None = None) -> dict:
    """The whole summary block: ``summarise`` plus the run's bookkeeping and cost per image
    (from the rows' own counts, so shards merge into exactly the numbers one run gives)."""
    summary = summarise(images, class_names)
    attacked = [r for r in images if r["attacked"]]
    n = len(attacked)

    def per_image(key: str) -> float:
        return round(sum(r.get(key) or 0 for r in attacked) / n, 3) if n else 0.0

    summary.update({
        "n_skipped": n_skipped,
        "partial": pending > 0,
        "n_pending": pending,
        "seconds": round(seconds, 3),
        "attack_seconds": round(attack_seconds, 3),
        "img_steps_per_s": round(evaluations / attack_seconds, 3) if attack_seconds > 0 else None,
        "grad_evals_per_image": per_image("grad_evals"),
        "queries_per_image": per_image("queries"),
        "steps_per_image": per_image("steps"),
        "cost_per_image": round(per_image("grad_evals") + per_image("queries"), 3),
        "flips_by": _count(r.get("found_by") for r in attacked if r.get("flipped")),
        "sweep_grad_evals_per_image": round(sweep_grad_evals / n, 3)
        if sweep_grad_evals is not None and n else None,
        "sweep_queries_per_image": round(sweep_queries / n, 3)
        if sweep_queries is not None and n else None,
    })
    return summary


def delta_bound(images: list[dict]) -> int:
    """The histogram's half-width: the largest L-inf change of any attacked photo (at least 1)."""
    linfs = [r.get("linf") or 0 for r in images if r.get("attacked")]
    return max(1, int(math.ceil(max(linfs or [1]))))


def min_eps_curve(images: list[dict], max_eps: int) -> list[dict]:
    """Share of attacked photos flipped by some budget <= e, for e = 0..max_eps."""
    found = [r.get("min_eps") or 0 for r in images if r.get("attacked")]
    n = max(1, len(found))
    return [{"eps": e, "flip_rate": sum(1 for f in found if 0 < f <= e) / n}
            for e in range(max_eps + 1)]


def universal_flips(images: list[dict], universal: object) -> dict | None:
    """How many attacked photos an audit's universal patch flips (from their saved PNGs),
    overall and among the photos it was not fitted on; None without a universal patch."""
    if not isinstance(universal, dict):
        return None
    fitted = universal.get("fit_indices")
    fitted = {i for i in fitted if isinstance(i, int)} if isinstance(fitted, list) else set()
    attacked = [r for r in images if isinstance(r, dict) and r.get("attacked")]
    held = [r for r in attacked if r.get("index") not in fitted]

    def flips(rows: list[dict]) -> int:
        return sum(1 for r in rows if r.get("deliverable_flipped") is True)

    return {"attacked": len(attacked), "flipped": flips(attacked),
            "held_out_attacked": len(held), "held_out_flipped": flips(held)}
