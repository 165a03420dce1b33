"""The verdict rules, case by case, and on a real masked model: a weak attack or a masked
gradient never produces a green "robust"."""

from __future__ import annotations

import copy
import json
import re

import pytest
from click.testing import CliRunner
from support.models import squeezed

from audit.attacks import ATTACKS
from audit.metrics import wilson_interval
from audit.results.verdict import assess, gate, verdict
from audit.threats import THREATS

PASS = {"sample_size": 16, "checks": [
    {"name": "eps=0 changes nothing", "status": "pass", "detail": "ok"},
    {"name": "input gradients are informative", "status": "pass", "detail": "ok", "value": 0.0},
]}


def case(*, attack="auto", n=81, flipped=0, delivered=None, trust=PASS, found_by=None,
         partial=False):
    delivered = flipped if delivered is None else delivered
    manifest = {"attack": attack, "budget": {"norm": "linf", "eps": 4.0},
                "attack_traits": ATTACKS[attack].traits(THREATS["linf"], 2)}
    summary = {"n_attacked": n, "flip_rate": flipped / n if n else None,
               "deliverable_flip_rate": delivered / n if n else None,
               "flip_rate_ci95": wilson_interval(flipped, n), "partial": partial,
               "n_pending": 5 if partial else 0}
    images = [{"attacked": True, "flipped": k < flipped, "found_by": found_by if k < flipped
               else None} for k in range(n)]
    return manifest, summary, copy.deepcopy(trust), images


@pytest.mark.parametrize("kwargs,expected,needle", [
    ({"flipped": 30}, "not_robust", "reproduced from its saved PNG"),
    ({"flipped": 30, "attack": "bim", "trust": None}, "not_robust",
     "of the 81 attacked images flip"),
    ({"flipped": 2}, "robust", "every trust check passes"),
    ({"flipped": 2, "attack": "bim"}, "inconclusive", "not a strong configuration"),
    ({"flipped": 2, "trust": None}, "inconclusive", "did not run"),
    ({"flipped": 2, "found_by": "square"}, "inconclusive",
     "gradient-free stage (square) flipped 2"),
    ({"flipped": 2, "attack": "square", "found_by": "square"}, "inconclusive",
     "not a strong configuration"),
    ({"n": 12}, "inconclusive", "too few images"),
    ({"partial": True}, "inconclusive", "partial"),
    ({"n": 0}, "inconclusive", "no image was attacked"),
    # flips that do not reproduce from their PNG prove nothing, but they are a warning sign
    ({"flipped": 30, "delivered": 1}, "inconclusive", "29 flips found in memory did not"),
])
def test_verdict_rules(kwargs, expected, needle):
    name, reasons = assess(*case(**kwargs))
    assert name == expected
    assert any(needle in r for r in reasons), reasons


def test_any_trust_warning_makes_a_low_flip_rate_inconclusive():
    for check in PASS["checks"]:
        trust = copy.deepcopy(PASS)
        warned = next(c for c in trust["checks"] if c["name"] == check["name"])
        warned.update(status="warn", detail="something is off")
        name, reasons = assess(*case(flipped=1, trust=trust))
        assert name == "inconclusive"
        assert any(check["name"] in r and "something is off" in r for r in reasons)


def test_display_and_gate():
    m, s, t, images = case(flipped=2, attack="bim")
    name, reasons = assess(m, s, t, images)
    s.update(verdict=name, verdict_reasons=reasons)
    v = verdict(m, s, t)
    assert (v.level, v.title) == ("amber", "Inconclusive at 4/255") and v.reasons == reasons
    assert gate(s, None) is None
    assert "inconclusive" in gate(s, None, fail_on_inconclusive=True)
    assert "exceeds --fail-above 1.0%" in gate(s, 0.01)
    m, s, t, images = case(flipped=2)
    assert verdict(m, s, t, images).level == "green"  # assessed when not recorded


def test_a_masked_model_is_never_called_robust(tiny_model, photo_folder, tmp_path):
    model = tmp_path / "squeezed.keras"
    squeezed(tiny_model).save(model)
    from audit.cli import main

    r = CliRunner().invoke(main, ["audit", str(model), "--images", str(photo_folder), "--out",
                                  str(tmp_path / "o"), "--labels", "cat,dog", "--attack", "bim",
                                  "--eps", "4"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    s = res["summary"]
    assert s["flip_rate"] == 0 and s["verdict"] == "inconclusive"
    assert any("input gradients are informative" in x for x in s["verdict_reasons"])
    assert "INCONCLUSIVE" in r.output
    html = (tmp_path / "o" / "report.html").read_text()
    assert re.findall(r'<header class="verdict v-(\w+)"', html) == ["amber"]
    assert "Inconclusive at 4/255" in html
    gated = CliRunner().invoke(main, ["audit", str(model), "--images", str(photo_folder),
                                      "--out", str(tmp_path / "g"), "--labels", "cat,dog",
                                      "--attack", "bim", "--no-report",
                                      "--fail-on-inconclusive"])
    assert gated.exit_code == 1 and "inconclusive" in gated.output


def test_results_that_do_not_record_the_attack_traits_are_never_robust():
    """An older results.json names its attack but says nothing of what it can do."""
    m, s, t, images = case(flipped=2)
    del m["attack_traits"]
    name, reasons = assess(m, s, t, images)
    assert name == "inconclusive" and any("older advaudit" in r for r in reasons)


def test_l2_auto_has_no_gradient_free_stage():
    m, s, t, images = case(flipped=2)
    m["attack_traits"] = ATTACKS["auto"].traits(THREATS["l2"], 2)
    name, reasons = assess(m, s, t, images)
    assert name == "inconclusive" and any("no gradient-free attack ran" in r for r in reasons)


@pytest.mark.parametrize("access,needle", [
    ({"format": "tflite", "gradients": False, "surrogate": None},
     "query-only: the gradient stages (probe, apgd-ce, apgd-t) could not run"),
    ({"format": "onnx", "gradients": False, "surrogate": {"name": "m.keras"}},
     "query-only: the gradient stages ran on the surrogate m.keras"),
    ({"format": "keras", "gradients": True, "surrogate": {"name": "other.keras"}},
     "omit --surrogate"),
])
def test_a_model_audited_without_its_own_gradients_is_never_robust(access, needle):
    """A query-only file (or a surrogate's gradients) that holds has met random search and
    another model's gradients only: amber at best, red when it flips."""
    manifest, summary, trust, images = case(flipped=2)
    manifest["model_access"] = access
    manifest["attack_traits"] = ATTACKS["auto"].traits(
        THREATS["linf"], 2, gradients=access["gradients"] or bool(access["surrogate"]))
    name, reasons = assess(manifest, summary, trust, images)
    assert name == "inconclusive" and any(needle in r for r in reasons), reasons
    manifest, summary, trust, images = case(flipped=30)
    manifest["model_access"] = access
    assert assess(manifest, summary, trust, images)[0] == "not_robust"


def test_square_beating_a_surrogate_is_not_masking_on_the_model():
    manifest, summary, trust, images = case(flipped=2, found_by="square")
    manifest["model_access"] = {"format": "keras", "gradients": True,
                                "surrogate": {"name": "other.keras"}}
    _, reasons = assess(manifest, summary, trust, images)
    assert not any("gradients are masked" in r for r in reasons), reasons
