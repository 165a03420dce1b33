"""``advaudit report``: re-render a saved results.json without the model, fail cleanly on junk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.synthetic import synthetic_results

from audit.cli import main


@pytest.fixture()
def saved_audit(tmp_path: Path) -> Path:
    out = tmp_path / "audit"
    results = synthetic_results(out, 10)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1))
    return path


def test_report_rerenders_beside_results_json(saved_audit):
    result = CliRunner().invoke(main, ["report", str(saved_audit)])
    assert result.exit_code == 0, result.output
    report = saved_audit.parent / "report.html"
    assert result.output.strip() == str(report)
    html = report.read_text()
    assert "synthetic.keras" in html and 'class="card' in html


def test_report_output_and_max_cards(saved_audit, tmp_path):
    target = tmp_path / "out" / "custom.html"
    result = CliRunner().invoke(main, ["report", str(saved_audit), "-o", str(target),
                                       "--max-cards", "2"])
    assert result.exit_code == 0, result.output
    html = target.read_text()
    assert html.count('<article class="card') == 2
    assert not (saved_audit.parent / "report.html").exists()
    # The PNGs were found through results.json's folder, not the output's.
    assert html.count("image not available") == 0


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "is not valid JSON"),
    ("[1, 2, 3]", "is not an advaudit results.json"),
    ('{"summary": {}}', "is not an advaudit results.json"),
])
def test_bad_results_file_exits_2_with_one_line(tmp_path, content, message):
    bad = tmp_path / "results.json"
    bad.write_text(content)
    result = CliRunner().invoke(main, ["report", str(bad)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "report.html").exists()


def test_missing_results_file_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


@pytest.mark.parametrize("target", ["results.json", "results.csv", "clean/x.png", "notes"])
def test_output_inside_the_audit_must_be_html(saved_audit, target):
    before = {p: p.read_bytes() for p in saved_audit.parent.rglob("*") if p.is_file()}
    (saved_audit.parent / "results.csv").write_text("index,path\n")
    before[saved_audit.parent / "results.csv"] = b"index,path\n"
    out = saved_audit.parent / target
    result = CliRunner().invoke(main, ["report", str(saved_audit), "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and "Traceback" not in result.output
    assert {p: p.read_bytes() for p in saved_audit.parent.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(("args", "named"), [
    (["--junit-xml", "results.json"], "--junit-xml"),
    (["--markdown", "results.csv"], "--markdown"),
    (["-f", "json", "-o", "results.json"], "-o"),
    (["-f", "json"], "-o"),  # the json format's default file is the results file itself
])
def test_no_format_writes_over_the_audit(saved_audit, args, named):
    before = saved_audit.read_bytes()
    args = [str(saved_audit.parent / a) if a.startswith("results.") else a for a in args]
    result = CliRunner().invoke(main, ["report", str(saved_audit), *args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {named} ") and "Traceback" not in result.output
    assert saved_audit.read_bytes() == before


def test_each_format_may_rewrite_its_own_file_in_the_audit(saved_audit, tmp_path):
    csv_path = saved_audit.parent / "results.csv"
    result = CliRunner().invoke(main, ["report", str(saved_audit), "-f", "csv", "-o",
                                       str(csv_path)])
    assert result.exit_code == 0 and csv_path.read_text().startswith("index,path")
    elsewhere = tmp_path / "share" / "audit-report"  # any name outside the audit folder
    result = CliRunner().invoke(main, ["report", str(saved_audit), "-o", str(elsewhere)])
    assert result.exit_code == 0 and elsewhere.read_text().startswith("<!DOCTYPE html>")


def test_deeply_nested_json_fails_in_one_line(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text('{"manifest": {"model": ' + "[" * 100_000 + "]" * 100_000 + '}, "summary": {}}')
    result = CliRunner().invoke(main, ["report", str(bad)])
    assert result.exit_code == 2 and "nested too deeply" in result.output
    assert len(result.output.strip().splitlines()) == 1
