"""The results.json schema: its version, and the shape readers rely on, enforced once.

``advaudit report`` reads a file a user may have copied, trimmed or edited, and one odd value
should cost one blank cell, not the whole report. So before rendering, every container the report
walks (dicts of the manifest, summary, histograms and trust block; lists of images, checks,
findings, skipped inputs) is replaced by an empty one of the right type when it is anything
else. Leaf values stay as they are; formatting (``report_text.num``) copes with those.
"""

from __future__ import annotations

from typing import Any

# 1: the first release; 2: schema_version added, rows own the summary (``audit.results``).
SCHEMA_VERSION = 2


def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _dicts(v: Any) -> list[dict]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def normalise(results: dict) -> dict:
    """A copy of ``results`` whose containers have the documented types (see README)."""
    r = dict(_dict(results))
    m = dict(_dict(r.get("manifest")))
    m["budget"] = _dict(m.get("budget"))
    m["sweep"] = _dict(m.get("sweep")) or None
    m["preflight"] = _dicts(m.get("preflight"))
    stages = m.get("attack_stages")
    m["attack_stages"] = [str(x) for x in stages] if isinstance(stages, list) else []
    names = m.get("class_names")
    m["class_names"] = [str(n) for n in names] if isinstance(names, list) else []
    target = m.get("target")
    m["target"] = None if target is None or target == "" else str(target)
    r["manifest"] = m

    s = dict(_dict(r.get("summary")))
    s["per_class"] = {str(k): {**v, "transitions": _dict(v.get("transitions"))}
                      for k, v in _dict(s.get("per_class")).items() if isinstance(v, dict)}
    r["summary"] = s

    r["images"] = [{**row, **{k: row[k] if isinstance(row.get(k), list) else []
                              for k in ("clean_probs", "adv_probs")}}
                   for row in _dicts(r.get("images"))]
    h = dict(_dict(r.get("histograms")))
    delta = dict(_dict(h.get("delta")))
    values = delta.get("values")
    delta["values"] = values if isinstance(values, list) else []
    delta["channels"] = {str(k): v for k, v in _dict(delta.get("channels")).items()
                         if isinstance(v, list)}
    h["delta"] = delta
    h["steps_to_flip"] = _dict(h.get("steps_to_flip"))
    h["min_eps"] = _dict(h.get("min_eps"))
    r["histograms"] = h
    r["curve"] = _dicts(r.get("curve"))
    trust = r.get("trust")
    r["trust"] = {**trust, "checks": _dicts(trust.get("checks"))} \
        if isinstance(trust, dict) else None
    r["skipped"] = _dicts(r.get("skipped"))
    return r
