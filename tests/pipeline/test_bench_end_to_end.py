"""The end-to-end bench (``scripts/bench_end_to_end.py``) on a few shipped photos: it runs the
audit and counts as its work every part the audit must compute — the trust checks' re-attacks
and the re-check of every PNG and of every flip through each channel among them."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

from audit.channels import CHANNELS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_end_to_end.py"


def test_the_bench_counts_every_part_of_the_audits_work(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [
        str(SCRIPT), str(ROOT / "victims" / "samples"), "--limit", "6", "--batch-size", "4",
        "--chunk-size", "4", "--rounds", "1", "--json"])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    attacked, work = out["attacked"], out["work"]
    assert out["photos"] == 6 and attacked >= 4
    flipped = round(out["flip_rate"] * attacked)
    assert flipped >= 1
    # each attacked photo's PNG once, each flip once more through every channel
    assert work["re-checked"] == attacked + len(CHANNELS) * flipped
    assert work["re-checked"] == out["parts_items"]["re-check"]
    trust = work["trust_checks"]
    assert trust["grad_evals"] > 0 and trust["queries"] > 0
    assert work["gradient_evals"] >= trust["grad_evals"] + attacked  # probe: 1 per photo
    assert {"trust checks", "re-check", "channels", "png write"} <= set(out["parts_s"])
    assert 0 < out["efficiency"] and out["setup_floor_s"] > 0
    assert 0 < out["efficiency_ceiling"] <= 1
