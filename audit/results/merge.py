"""Joining sharded audits (``advaudit audit --shard I/N``) into the audit one run would give.

Everything in results.json except timings and the trust checks is a function of the per-image
rows, so the merge rebuilds it from the shards' rows: summary, cost per image, histograms,
curve. The delta histograms are added bin by bin. PNGs are linked (or copied) into the merged
folder; their names carry the photo's global index, so shards never collide. The trust checks
ran on each shard's own sample; the merged block keeps every shard's checks (a warning in any
shard is a warning) and recomputes the gradient check exactly from the rows.

A shard folder may come back from any worker, so its results.json is data: every row must have
the shape an audit writes (``journal.row_problem``), indices must be unique across shards, and
every PNG path must be the audit's own shape and stay inside its shard (``audit.paths``), or
the shard is refused in one line before anything is written. PNGs are only ever linked to new
names inside ``--out``: a merge never replaces, moves or deletes a file.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

from ..errors import ResultsError
from ..metrics import channel_names
from ..paths import PNG_FOLDERS, UNIVERSAL_PNG, audit_png, inside, same_path, within
from .io import read_results
from .journal import is_index, row_problem
from .rows import delta_bound, min_eps_curve, row_histograms, run_summary
from .schema import SCHEMA_VERSION
from .verdict import record as record_verdict
from .yardstick import cost_per_image

SAME = ("model_sha256", "class_names", "input_scale", "attack", "budget", "loss", "target",
        "early_stop", "seed", "sweep", "universal", "channel", "randomness", "model_access")
FIX = "merge the results.json files the shard audits wrote, unedited"


def refuse_out_onto_shards(folders: list[Path], out: Path) -> None:
    """``--out`` must not be a shard folder or inside one's PNG folders, and no shard may lie
    inside ``--out``'s PNG folders: ``--overwrite`` clears those, and the merge writes there."""
    for folder in folders:
        if same_path(out, folder):
            raise ResultsError(f"--out {out} is the shard folder {folder}: merging into it "
                               "would replace that shard; pass a new folder")
        for name in PNG_FOLDERS:
            if within(out, Path(folder) / name):
                raise ResultsError(f"--out {out} is inside {Path(folder) / name}, a shard's PNG "
                                   "folder: pass a folder outside the shards")
            if within(folder, Path(out) / name):
                raise ResultsError(f"shard folder {folder} is inside {Path(out) / name}, which "
                                   "the merge writes: pass an --out that does not hold it")


def _number(value: object) -> float:
    """A summary's number as a float; 0 for anything else (timings only feed timings)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    value = float(value)
    return value if value == value and abs(value) != float("inf") else 0.0


def _check_shard(path: Path, res: dict) -> None:
    """The containers and settings a merge reads from one shard, or a one-line error."""
    m, s = res.get("manifest"), res.get("summary")
    problem = None
    if not isinstance(m, dict) or not isinstance(s, dict):
        problem = "its manifest or summary is not a JSON object"
    elif not isinstance(m.get("class_names"), list) or not m["class_names"] or \
            not all(isinstance(n, str) for n in m["class_names"]):
        problem = "its manifest.class_names is not a list of class names"
    elif not isinstance(res.get("images"), list):
        problem = "its images is not a list of rows"
    elif not isinstance(res.get("skipped", []), list) or \
            not all(isinstance(x, dict) for x in res.get("skipped", [])):
        problem = "its skipped is not a list of objects"
    elif m.get("sweep") is not None and not (
            isinstance(m["sweep"], dict) and is_index(m["sweep"].get("max_eps"))
            and 1 <= m["sweep"]["max_eps"] <= 255):
        problem = "its manifest.sweep has no max_eps between 1 and 255"
    elif m.get("attack_stages") is not None and not (
            isinstance(m["attack_stages"], list)
            and all(isinstance(x, str) for x in m["attack_stages"])):
        problem = "its manifest.attack_stages is not a list of names"
    elif res.get("trust") is not None and not isinstance(res["trust"], dict):
        problem = "its trust block is not a JSON object"
    shard = m.get("shard") if isinstance(m, dict) else None
    if problem is None and shard is not None and not (
            isinstance(shard, dict) and is_index(shard.get("index"))
            and is_index(shard.get("count")) and 1 <= shard["index"] <= shard["count"]):
        problem = "its manifest.shard is not {index, count} with 1 <= index <= count"
    if problem is not None:
        raise ResultsError(f"{path}: {problem}; {FIX}")


def _png_links(folders: list[Path], shards: list[dict], out_dir: Path
               ) -> list[tuple[Path, Path]]:
    """(source, destination) of every PNG the merge links, each checked: rows of the audit's
    shape, indices unique across shards, sources inside their shard, destinations of the
    audit's own shape inside ``out_dir`` and each named once."""
    links: list[tuple[Path, Path]] = []
    indices: dict[int, Path] = {}
    targets: set[str] = set()
    for folder, res in zip(folders, shards, strict=True):
        where = Path(folder) / "results.json"
        names = res["manifest"]["class_names"]
        for row in res["images"]:
            problem = row_problem(row, names, Path(folder), where=str(where))
            if problem is not None:
                raise ResultsError(f"{where}: {problem}; {FIX}")
            index = row["index"]
            if index in indices:
                raise ResultsError(f"{where}: photo index {index} is also in "
                                   f"{indices[index]}; {FIX}")
            indices[index] = where
            if not row["attacked"]:
                continue
            for key in ("clean_path", "adv_path"):
                what = f"{where}: row {index}'s {key}"
                rel = audit_png(row[key], what=what)
                src = inside(Path(folder), rel, what=what)
                if not src.is_file():
                    raise ResultsError(f"{what}: {rel} is not a file in {folder}; copy the "
                                       "shard's whole output folder and merge again")
                if rel in targets:
                    raise ResultsError(f"{what}: {rel} is named by another row too; {FIX}")
                targets.add(rel)
                links.append((src, inside(out_dir, rel, what=f"--out {out_dir}")))
    if isinstance(shards[0]["manifest"].get("universal"), dict):  # the same in every shard
        src = Path(folders[0]) / UNIVERSAL_PNG
        if src.is_symlink() or not src.is_file():
            raise ResultsError(f"{src} is not there (the audit's universal patch): copy the "
                               "shard's whole output folder and merge again")
        links.append((src, Path(out_dir) / UNIVERSAL_PNG))
    return links


def _link(src: Path, dst: Path) -> None:
    """Hard-link (or copy) ``src`` to ``dst``, a new file: it never replaces or removes
    anything, so a path no audit of ours wrote cannot be harmed by a merge."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            os.link(src, dst, follow_symlinks=False)
        except FileExistsError:
            raise
        except OSError:  # another file system, or no hard links there: a copy
            with open(src, "rb") as fin, open(dst, "xb") as fout:
                shutil.copyfileobj(fin, fout)
            shutil.copystat(src, dst)
    except FileExistsError:
        raise ResultsError(f"--out: {dst} already exists, and a merge never replaces a file: "
                           "merge into a new --out (or --overwrite an earlier merge)") from None


def _delta(res: dict) -> dict:
    """A shard's delta histogram ({values, channels}); an empty one when it is malformed."""
    h = res.get("histograms")
    d = h.get("delta") if isinstance(h, dict) else None
    if not isinstance(d, dict) or not isinstance(d.get("values"), list) or \
            not isinstance(d.get("channels"), dict):
        return {"values": [], "channels": {}}
    return {"values": d["values"],
            "channels": {k: v for k, v in d["channels"].items() if isinstance(v, list)}}


def _add_histograms(deltas: list[dict], bound: int) -> dict:
    names: list[str] = []
    for d in deltas:
        names += [n for n in d["channels"] if n not in names]
    names = names or channel_names(3)
    channels = {}
    for name in names:
        bins = [0] * (2 * bound + 1)
        for d in deltas:
            for value, count in zip(d["values"], d["channels"].get(name, []), strict=False):
                if is_index(count) and isinstance(value, int) and not isinstance(value, bool):
                    bins[min(max(value, -bound), bound) + bound] += count
        channels[name] = bins
    return {"values": list(range(-bound, bound + 1)), "channels": channels}


def _sweep_total(shards: list[dict], key: str) -> int:
    """A sweep cost over all shards, from each shard's per-image figure and attacked rows."""
    return round(sum(_number(res["summary"].get(key)) * sum(r["attacked"] for r in res["images"])
                     for res in shards))


def _merge_trust(shards: list[dict], images: list[dict]) -> dict | None:
    blocks = [s.get("trust") for s in shards if s.get("trust")]
    if not blocks:
        return None
    checks: dict[str, dict] = {}
    for block in blocks:
        found = block.get("checks")
        for check in found if isinstance(found, list) else []:
            if not isinstance(check, dict):
                continue
            merged = checks.setdefault(str(check.get("name")), {**check, "shards": []})
            merged["shards"].append({k: check.get(k) for k in ("status", "value", "detail")})
            if check.get("status") != "pass":
                merged.update(status=check.get("status"), detail=check.get("detail"))
    useless = checks.get("input gradients are informative")
    attacked = [r for r in images if r["attacked"]]
    if useless is not None and attacked:
        share = sum(bool(r.get("gradient_useless")) for r in attacked) / len(attacked)
        useless.update(value=share, status="pass" if share == 0 else "warn")
    costs = [b.get("cost") if isinstance(b.get("cost"), dict) else {} for b in blocks]
    return {"sample_size": int(sum(_number(b.get("sample_size")) for b in blocks)),
            "merged_from_shards": len(blocks), "checks": list(checks.values()),
            "cost": {k: int(sum(_number(c.get(k)) for c in costs))
                     for k in ("grad_evals", "queries")}}


def read_shards(folders: list[Path]) -> list[dict]:
    """Every shard's results.json, checked to be shards of one audit (all of them, once)."""
    shards = [read_results(Path(f) / "results.json") for f in folders]
    for folder, res in zip(folders, shards, strict=True):
        _check_shard(Path(folder) / "results.json", res)
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
    if len(seen) < count:  # a crafted count of 10**12 must not be listed in full
        missing = list(islice((i for i in range(1, count + 1) if i not in seen), 20))
        more = " ..." if count - len(seen) > len(missing) else ""
        raise ResultsError(f"shards {', '.join(map(str, missing))}{more} of {count} are "
                           "missing: pass every shard's output folder")
    return shards


def merge_results(folders: list[Path], out_dir: Path, *,
                  before_writing: Callable[[], None] | None = None) -> dict:
    """Merge the results.json of shard folders into ``out_dir`` (PNGs linked there).

    Everything is read and checked before anything is written; ``before_writing`` then runs
    (``--overwrite`` clears the earlier audit there), and the PNGs are linked."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    shards = read_shards(folders)
    first = shards[0]["manifest"]
    links = _png_links(folders, shards, out_dir)
    if before_writing is not None:
        before_writing()
    for src, dst in links:
        _link(src, dst)
    images: list[dict] = [row for res in shards for row in res["images"]]
    skipped: list[dict] = [entry for res in shards for entry in res.get("skipped", [])]
    images.sort(key=lambda r: r["index"])
    sums = [res["summary"] for res in shards]
    attack_seconds = sum(_number(s.get("attack_seconds")) for s in sums)
    evaluations = sum(_number(s.get("img_steps_per_s")) * _number(s.get("attack_seconds"))
                      for s in sums)
    sweep = first.get("sweep")
    summary = run_summary(
        images, first["class_names"], n_skipped=len(skipped), pending=0,
        seconds=sum(_number(s.get("seconds")) for s in sums) + time.perf_counter() - started,
        attack_seconds=attack_seconds, evaluations=round(evaluations),
        sweep_grad_evals=_sweep_total(shards, "sweep_grad_evals_per_image") if sweep else None,
        sweep_queries=_sweep_total(shards, "sweep_queries_per_image") if sweep else None)
    reference = cost_per_image((first.get("attack_traits") or {}).get("yardstick"), images)
    if reference is not None:
        summary["autoattack_cost_per_image"] = reference
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
        "histograms": {"delta": _add_histograms([_delta(r) for r in shards], bound),
                       **row_histograms(images)},
        "curve": min_eps_curve(images, sweep["max_eps"]) if sweep and summary["n_attacked"]
        else [],
        "trust": _merge_trust(shards, images),
        "skipped": skipped,
    }
    record_verdict(results)
    return results
