"""What an audit prints: a short aligned table for people, or one JSON object for pipelines."""

from __future__ import annotations

import json
from pathlib import Path

from ..channels import written
from ..paths import UNIVERSAL_PNG
from ..results.rows import universal_flips
from .text import access_line, randomness_line


def _fmt(v, pct=True) -> str:
    if v is None:
        return "-"
    return f"{v:.1%}" if pct else f"{v:g}"


def _attack(m: dict, eps: str) -> str:
    b = m["budget"]
    stages = m.get("attack_stages") or []
    if m.get("constant_steps") is False:
        text = f"{m['attack']} {b['norm']} eps={eps}"
        if len(stages) > 1:
            text += f" ({' -> '.join(stages)})"
        if (m.get("attack_traits") or {}).get("gradient_free_stages"):
            text += f" queries={b.get('queries')}"
    else:
        text = (f"{m['attack']} {b['norm']} eps={eps} step={b['step']:g} steps={b['steps']} "
                f"loss={m['loss']}")
    text += f" target={m['target']}" if m.get("target") else ""
    return text + (f" through {written(m['channel'])}" if isinstance(m.get("channel"), str)
                   else "")


def _cost(s: dict) -> str:
    text = f"{s['grad_evals_per_image']:.1f} gradient evaluations"
    if s.get("queries_per_image"):
        text += f" + {s['queries_per_image']:.1f} queries"
    if s.get("autoattack_cost_per_image"):
        text += f" (AutoAttack standard: ~{s['autoattack_cost_per_image']:.0f})"
    return text


def summary_table(results: dict, *, results_path: Path, report_path: Path | None) -> str:
    s, m = results["summary"], results["manifest"]
    b = m["budget"]
    eps = "unbounded" if b["eps"] is None else f"{b['eps']:g}"
    lo, hi = s["flip_rate_ci95"]
    verdict = str(s.get("verdict") or "inconclusive").replace("_", " ").upper()
    reasons = s.get("verdict_reasons") or []
    rows = [
        ("verdict", verdict + (f": {reasons[0]}" if reasons else "")),
        *[("", f"also: {r}") for r in reasons[1:]],
        ("model", f"{m['model']} ({m['model_sha256'][:12]})"),
        ("attack", _attack(m, eps)),
        ("images", f"{s['n_images']} read, {s['n_attacked']} attacked, {s['n_skipped']} skipped"),
        ("clean accuracy", _fmt(s["clean_accuracy"])),
        ("flip rate", f"{_fmt(s['flip_rate'])} (95% CI {lo:.1%}-{hi:.1%})"),
        ("deliverable flips", _fmt(s["deliverable_flip_rate"])),
        ("robust accuracy", _fmt(s["robust_accuracy"])),
        ("cost / image", _cost(s)),
        ("time", f"{s['seconds']:.1f} s"),
    ]
    if s.get("flips_by"):
        rows.insert(rows.index(("robust accuracy", _fmt(s["robust_accuracy"]))) + 1,
                    ("flips by", ", ".join(f"{k} {v}" for k, v in s["flips_by"].items())))
    flips = universal_flips(results.get("images") or [], m.get("universal"))
    if flips is not None:
        u = m["universal"]
        rows.append(("universal patch", f"{u.get('side')}x{u.get('side')}, fitted on "
                     f"{u.get('fit_photos')} photos: flips {flips['flipped']} of "
                     f"{flips['attacked']} attacked ({flips['held_out_flipped']} of "
                     f"{flips['held_out_attacked']} it was not fitted on); "
                     f"{Path(results_path).parent / UNIVERSAL_PNG}"))
    survival = s.get("channel_survival")
    if isinstance(survival, dict) and survival:
        rows.append(("flips surviving", ", ".join(
            f"{written(name)} {_fmt(e.get('rate'))}" for name, e in survival.items()
            if isinstance(e, dict))))
    random = randomness_line(m, s)
    if random:
        rows.append(("randomness", random))
    access = access_line(m, s)
    if access:
        rows.append(("model access", access))
    if results["curve"]:
        rows.append(("flip rate by eps", " ".join(
            f"{c['eps']}:{c['flip_rate']:.0%}" for c in results["curve"][1:])))
    if results.get("trust"):
        warns = [c["name"] for c in results["trust"]["checks"] if c["status"] != "pass"]
        rows.append(("trust checks", "all pass" if not warns else "WARN: " + "; ".join(warns)))
    rows.append(("results", str(results_path)))
    if report_path:
        rows.append(("report", str(report_path)))
    if s.get("partial"):
        rows.insert(1, ("", f"PARTIAL: {s.get('n_pending')} photos still to do (--resume)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def summary_json(results: dict, *, results_path: Path, report_path: Path | None) -> str:
    summary = {k: v for k, v in results["summary"].items() if k != "per_class"}
    return json.dumps({"summary": summary, "results": str(results_path),
                       "report": str(report_path) if report_path else None})
