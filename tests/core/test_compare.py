"""audit.results.compare on synthetic audits: numbers equal the summary's, regressions follow the
tolerance, photos are matched across moved folders, changed images are named."""

from __future__ import annotations

import copy
import math

import pytest
from support.synthetic import synthetic_results

from audit.errors import UsageError
from audit.metrics import wilson_interval
from audit.report.diff import render_compare_html
from audit.results import summarise
from audit.results.compare import FLIPPED, HELD, MISCLASSIFIED, compare, match_images


@pytest.fixture()
def base(tmp_path) -> dict:
    return synthetic_results(tmp_path, 60, ("cat", "dog", "bird"), write_pngs=False)


def held_rows(results: dict) -> list[dict]:
    return [r for r in results["images"] if r.get("attacked") and not r["flipped"]]


def weakened(results: dict, n: int) -> dict:
    """The same audit with ``n`` held images flipped: a model that got less robust."""
    new = copy.deepcopy(results)
    for r in held_rows(new)[:n]:
        r.update(flipped=True, adv_pred="dog" if r["reference_label"] != "dog" else "cat")
    new["summary"] = summarise(new["images"], new["manifest"]["class_names"])
    return new


def test_equal_audits_do_not_regress_and_numbers_match_the_summary(base):
    c = compare(base, copy.deepcopy(base))
    s = base["summary"]
    assert not c.regressed and c.regressions == []
    assert c.overall.change("flip") == 0 and c.overall.change("robust") == 0
    assert c.overall.base.flip.value == pytest.approx(s["flip_rate"])
    assert c.overall.base.flip.ci95 == s["flip_rate_ci95"]
    assert c.overall.base.robust.value == pytest.approx(s["robust_accuracy"])
    for g in c.per_class:
        st = s["per_class"][g.name]
        assert (g.base.flip.k, g.base.flip.n) == (st["n_flipped"], st["n_attacked"])
        assert g.base.flip.ci95 == wilson_interval(st["n_flipped"], st["n_attacked"])
    assert c.became_vulnerable == [] and c.n_matched == 60
    assert c.same_model and c.differences == []


def test_a_weaker_model_regresses_and_its_newly_flipped_images_are_named(base):
    n_held = len(held_rows(base))
    assert n_held >= 3
    new = weakened(base, 2)
    c = compare(base, new)
    assert c.regressed and c.regressions[0].startswith("flip rate rose from")
    assert len(c.regressions) == 2  # robust accuracy fell too
    names = {r["path"].rsplit("/", 1)[1] for r in held_rows(base)[:2]}
    assert {ch.key.rsplit("/", 1)[1] for ch in c.became_vulnerable} == names
    assert all((ch.base_state, ch.new_state) == (HELD, FLIPPED) for ch in c.became_vulnerable)
    rise = c.overall.change("flip")
    assert rise == pytest.approx(2 / c.overall.base.flip.n)
    assert not compare(base, new, tolerance=rise).regressed  # exactly at the tolerance: passes
    assert compare(base, new, tolerance=rise - 0.001).regressed
    back = compare(new, base)
    assert not back.regressed and len(back.became_robust) == 2


def test_misclassified_before_the_attack_counts_as_vulnerable(base):
    new = copy.deepcopy(base)
    row = held_rows(new)[0]
    wrong = "dog" if row["true_label"] != "dog" else "cat"
    row.update(attacked=False, clean_pred=wrong, not_attacked_because="already misclassified")
    c = compare(base, new)
    assert [(ch.base_state, ch.new_state) for ch in c.became_vulnerable] == [(HELD,
                                                                               MISCLASSIFIED)]


def test_photos_match_across_moved_folders_and_by_unique_file_name(base):
    moved = copy.deepcopy(base)
    moved["manifest"]["images_dir"] = "/ci/run-2/photos"
    for r in moved["images"]:
        r["path"] = r["path"].replace("/photos/", "/ci/run-2/photos/", 1)
    pairs, only_b, only_n = match_images(base, moved)
    assert len(pairs) == 60 and only_b == only_n == 0
    renamed = copy.deepcopy(base)
    renamed["manifest"]["images_dir"] = "/other"
    for r in renamed["images"]:
        r["path"] = "/other/flat/" + r["path"].rsplit("/", 1)[1]
    assert len(match_images(base, renamed)[0]) == 60
    first = renamed["images"][0]["path"].rsplit("/", 1)[1]
    renamed["images"][1]["path"] = "/other/flat2/" + first  # that name is no longer unique
    pairs, only_b, only_n = match_images(base, renamed)
    assert len(pairs) == 58 and only_b == 2 and only_n == 2


def test_median_minimal_eps_counts_images_that_never_flipped(base):
    c = compare(base, base)
    found = sorted(math.inf if r.get("min_eps") is None else r["min_eps"]
                   for r in base["images"] if r.get("attacked"))
    mid = len(found) // 2
    expected = found[mid] if len(found) % 2 else (found[mid - 1] + found[mid]) / 2
    assert c.overall.base.median_min_eps == expected
    unswept = copy.deepcopy(base)
    unswept["manifest"]["sweep"] = None
    assert compare(unswept, unswept).overall.new.median_min_eps is None


def test_bad_tolerance_is_a_usage_error(base):
    with pytest.raises(UsageError, match="--tolerance"):
        compare(base, base, tolerance=1.5)


def test_the_diff_page_is_self_contained_and_escaped(base):
    hostile = copy.deepcopy(base)
    row = held_rows(hostile)[0]
    row["path"] = "/photos/cat/<script>alert(1)</script>.jpg"
    new = copy.deepcopy(hostile)
    new_row = held_rows(new)[0]
    new_row.update(flipped=True, adv_pred="<b>dog</b>")
    html = render_compare_html(compare(hostile, new))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in html
    assert "<b>dog</b>" not in html and "&lt;b&gt;dog&lt;/b&gt;" in html
    assert "script-src &#39;none&#39;" in html and "http://" not in html and "https://" not in html
    assert "Robustness regressed" in html


def test_artifacts_audited_differently_say_what_each_could_ask():
    from audit.results.compare import access_differences

    keras_side = {"model_access": {"format": "keras", "gradients": True, "surrogate": None}}
    int8 = {"model_access": {"format": "tflite", "gradients": False,
                             "surrogate": {"name": "m.keras"}},
            "attack_traits": {"skipped_stages": []}}
    alone = {"model_access": {"format": "tflite", "gradients": False, "surrogate": None},
             "attack_traits": {"skipped_stages": ["probe", "apgd-ce", "apgd-t"]}}
    lines = access_differences(keras_side, int8)
    assert lines[0] == ("model access: keras -> tflite (query-only) with gradients from "
                        "surrogate m.keras")
    assert "what did not transfer" in lines[1]
    assert "lower bound" in access_differences(keras_side, alone)[1]
    assert access_differences(keras_side, dict(keras_side)) == []  # same access: nothing said
    assert access_differences({}, keras_side) == []  # an older audit: a Keras model
