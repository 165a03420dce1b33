"""``advaudit compare`` on real audits of the tiny model: a larger budget (a deliberately weaker
result) is flagged and exits 1, a repeated audit exits 0, bad files fail in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.models import write_photo_folder
from support.synthetic import synthetic_results

from audit.cli import main


def run_audit(model: Path, photos: Path, out: Path, *budget: str) -> Path:
    r = CliRunner().invoke(main, ["audit", str(model), "--labels", "cat,dog", "--images",
                                  str(photos), "--out", str(out), "--no-report", "--no-trust",
                                  *budget])
    assert r.exit_code == 0, r.output
    return out / "results.json"


@pytest.fixture(scope="module")
def audits(tiny_model_file, tmp_path_factory) -> dict[str, Path]:
    tmp_path = tmp_path_factory.mktemp("audits")
    photo_folder = write_photo_folder(tmp_path / "photos")
    small = ("--eps", "1", "--step", "1", "--steps", "1")
    return {
        "base": run_audit(tiny_model_file, photo_folder, tmp_path / "base", *small),
        "again": run_audit(tiny_model_file, photo_folder, tmp_path / "again", *small),
        "weak": run_audit(tiny_model_file, photo_folder, tmp_path / "weak", "--eps", "16",
                          "--step", "4"),
    }


def test_a_larger_budget_is_flagged_as_a_regression(audits, tmp_path):
    base = json.loads(audits["base"].read_text())["summary"]
    weak = json.loads(audits["weak"].read_text())["summary"]
    assert base["flip_rate"] < weak["flip_rate"]  # the premise: the new audit is worse
    html = tmp_path / "diff.html"
    r = CliRunner().invoke(main, ["compare", str(audits["base"]), str(audits["weak"]),
                                  "--html", str(html)])
    assert r.exit_code == 1, r.output
    assert "REGRESSED: flip rate rose from" in r.stderr
    assert "settings differ: budget eps: 1.0 -> 16.0" in r.stdout
    n_new = weak["n_flipped"] - base["n_flipped"]
    assert f"{n_new} images became vulnerable" in r.stdout
    page = html.read_text()
    assert "Robustness regressed" in page and page.count('<article class="card') == n_new
    assert page.count("data:image/png;base64,") >= 2 * n_new  # pictures from the new audit
    lenient = CliRunner().invoke(main, ["compare", str(audits["base"]), str(audits["weak"]),
                                        "--tolerance", "1"])
    assert lenient.exit_code == 0, lenient.output


def test_a_repeated_audit_is_not_a_regression(audits):
    r = CliRunner().invoke(main, ["compare", str(audits["base"]), str(audits["again"]),
                                  "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["regressed"] is False and got["became_vulnerable"] == []
    assert got["overall"]["flip_rate_change"] == 0 and got["n_matched"] == 12


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"),
    ("{not json", "is not valid JSON"),
    ('{"summary": {}}', "is not an advaudit results.json"),
])
def test_bad_files_fail_in_one_line(tmp_path, content, message):
    good = tmp_path / "results.json"
    good.write_text(json.dumps(synthetic_results(tmp_path, 6, write_pngs=False)))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    r = CliRunner().invoke(main, ["compare", str(good), str(bad)])
    assert r.exit_code == 2 and message in r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
