"""Joining sharded audits (``advaudit audit --shard I/N``) into the audit one run would give.

Everything in results.json except timings and the trust checks is a function of the per-image
rows, so the merge rebuilds it from the shards' rows: summary, cost per image, histograms,
curve. The delta histograms are added bin by bin. PNGs are linked (or copied) into the merged
folder; their names carry the photo's global index, so shards never collide. The trust checks
ran on each shard's own sample; the merged block keeps every shard's checks (a warning in any
shard is a warning) and recomputes the gradient check exactly from the rows.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..attacks.auto import yardstick
from ..errors import ResultsError
from ..metrics import channel_names
from ..verdict import record as record_verdict
from .io import read_results
from .rows import delta_bound, min_eps_curve, row_histograms, run_summary
from .schema import SCHEMA_VERSION

SAME = ("model_sha256", "class_names", "input_scale", "attack", "budget", "loss", "target",
        "early_stop", "seed", "sweep")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _add_histograms(deltas: list[dict], bound: int) -> dict:
    names: list[str] = []
    for d in deltas:
        names += [n for n in d.get("channels", {}) if n not in names]
    names = names or channel_names(3)
    channels = {}
    for name in names:
        bins = [0] * (2 * bound + 1)
        for d in deltas:
            for value, count in zip(d.get("values", []), d.get("channels", {}).get(name, []),
                                    strict=False):
                bins[min(max(int(value), -bound), bound) + bound] += int(count)
        channels[name] = bins
    return {"values": list(range(-bound, bound + 1)), "channels": channels}


def _merge_trust(shards: list[dict], images: list[dict]) -> dict | None:
    blocks = [s.get("trust") for s in shards if s.get("trust")]
    if not blocks:
        return None
    checks: dict[str, dict] = {}
    for block in blocks:
        for check in block.get("checks", []):
            merged = checks.setdefault(check["name"], {**check, "shards": []})
            merged["shards"].append({k: check.get(k) for k in ("status", "value", "detail")})
            if check.get("status") != "pass":
                merged.update(status=check["status"], detail=check.get("detail"))
    useless = checks.get("input gradients are informative")
    attacked = [r for r in images if r["attacked"]]
    if useless is not None and attacked:
        share = sum(bool(r.get("gradient_useless")) for r in attacked) / len(attacked)
        useless.update(value=share, status="pass" if share == 0 else "warn")
    return {"sample_size": sum(b.get("sample_size", 0) for b in blocks),
            "merged_from_shards": len(blocks), "checks": list(checks.values())}


def merge_results(folders: list[Path], out_dir: Path) -> dict:
    """Merge the results.json of shard folders into ``out_dir`` (PNGs linked there)."""
    started = time.perf_counter()
    shards = [read_results(Path(f) / "results.json") for f in folders]
    first = shards[0]["manifest"]
    seen: dict[int, str] = {}
    for folder, res in zip(folders, shards, strict=True):
        m, s = res["manifest"], res["summary"]
        if s.get("partial"):
            raise ResultsError(f"{folder} holds a partial audit ({s.get('n_pending')} photos "
                               "pending): finish it with --resume before merging")
        for key in SAME:
            if m.get(key) != first.get(key):
                raise ResultsError(f"{folder} is not a shard of the same audit as {folders[0]} "
                                   f"({key} differs): merge shards of one command only")
        shard = m.get("shard") or {}
        if not shard or shard.get("count") != (first.get("shard") or {}).get("count"):
            raise ResultsError(f"{folder} is not a shard (run the audits with --shard I/N, "
                               "the same N for all)")
        if shard["index"] in seen:
            raise ResultsError(f"{folder} and {seen[shard['index']]} are both shard "
                               f"{shard['index']}/{shard['count']}")
        seen[shard["index"]] = str(folder)
    count = first["shard"]["count"]
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise ResultsError(f"shards {', '.join(map(str, missing))} of {count} are missing: pass "
                           "every shard's output folder")

    out_dir = Path(out_dir)
    images: list[dict] = []
    skipped: list[dict] = []
    for folder, res in zip(folders, shards, strict=True):
        for row in res["images"]:
            if row.get("attacked"):
                for key in ("clean_path", "adv_path"):
                    _link(Path(folder) / row[key], out_dir / row[key])
            images.append(row)
        skipped += res.get("skipped", [])
    images.sort(key=lambda r: r["index"])
    sums = [res["summary"] for res in shards]
    attack_seconds = sum(s.get("attack_seconds") or 0 for s in sums)
    evaluations = sum((s.get("img_steps_per_s") or 0) * (s.get("attack_seconds") or 0)
                      for s in sums)
    sweep = first.get("sweep")
    summary = run_summary(
        images, first["class_names"], n_skipped=len(skipped), pending=0,
        seconds=sum(s.get("seconds") or 0 for s in sums) + time.perf_counter() - started,
        attack_seconds=attack_seconds, evaluations=round(evaluations),
        sweep_grad_evals=round(sum((s.get("sweep_grad_evals_per_image") or 0) * s["n_attacked"]
                                   for s in sums)) if sweep else None,
        sweep_queries=round(sum((s.get("sweep_queries_per_image") or 0) * s["n_attacked"]
                                for s in sums)) if sweep else None)
    if first.get("attack") == "auto":
        summary["autoattack_cost_per_image"] = yardstick(images, len(first["class_names"]))
    bound = delta_bound(images)
    manifest = {**first, "shard": None,
                "merged_from": [{"folder": str(f), "command_line": r["manifest"].get(
                    "command_line"), "shard": r["manifest"]["shard"]}
                                for f, r in zip(folders, shards, strict=True)]}
    results = {
        "schema_version": SCHEMA_VERSION,
        "manifest": manifest,
        "summary": summary,
        "images": images,
        "histograms": {"delta": _add_histograms([r["histograms"]["delta"] for r in shards],
                                                bound), **row_histograms(images)},
        "curve": min_eps_curve(images, sweep["max_eps"]) if sweep and summary["n_attacked"]
        else [],
        "trust": _merge_trust(shards, images),
        "skipped": skipped,
    }
    record_verdict(results)
    return results
