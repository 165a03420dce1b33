"""JUnit XML and the Markdown job summary: validated against the JUnit format's schema, failing
exactly where the gate fails, escaped against hostile names, written by audit and report."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.synthetic import synthetic_results

from audit.cli import main
from audit.formats import FORMATS
from audit.results.verdict import gate

SCHEMA = Path(__file__).resolve().parents[1] / "support" / "junit.xsd"
# photos 0, 1, 2 and 4 of the synthetic audit flip (3 holds, 5 is misclassified)
HOSTILE = ["ctrl\x01\x1f.jpg", "<img src=x onerror=alert(1)>.jpg", "a|b|c.jpg",
           "tab\there & ]]>.jpg", "**bold** [link](javascript:x) `tick`.jpg"]


@pytest.fixture(scope="module")
def schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(SCHEMA))


@pytest.fixture()
def results(tmp_path) -> dict:
    return synthetic_results(tmp_path, 24, ("cat", "dog", "bird"), file_names=HOSTILE,
                             write_pngs=False)


def junit(results: dict, fail_above: float | None) -> str:
    return FORMATS["junit"].render(results, out_dir=Path("."), fail_above=fail_above)


def cases(xml: str) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in ET.fromstring(xml).iter("testcase")}


def test_the_schema_is_not_vacuous(schema):
    good = ('<testsuites><testsuite name="s" tests="1" failures="0" errors="0" time="0" '
            'hostname="h" id="0" package="p"><testcase name="t" classname="c" time="0"/>'
            '</testsuite></testsuites>')
    assert schema.is_valid(good)
    for bad in (good.replace(' name="t"', ""),  # a test case needs a name
                good.replace('time="0"/>', 'time="-1"/>'),  # times are not negative
                good.replace('tests="1"', 'tests="one"'),
                good.replace("/></testsuite>", '><failure type="x"/><skipped/></testcase>'
                                              "</testsuite>")):  # one outcome per case
        assert not schema.is_valid(bad), bad


@pytest.mark.parametrize("fail_above", [None, 0.0, 0.5, 1.0])
def test_junit_validates_and_its_counts_add_up(schema, results, fail_above):
    xml = junit(results, fail_above)
    schema.validate(xml)
    suite = ET.fromstring(xml).find("testsuite")
    found = list(suite.iter("testcase"))
    assert int(suite.get("tests")) == len(found) == 1 + 3  # overall + one per class
    assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in found)
    assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in found)
    assert suite.get("timestamp") == "2026-01-02T03:04:05"


def test_failures_follow_the_gate_overall_and_per_class(results):
    s = results["summary"]
    rate, per = s["flip_rate"], s["per_class"]
    rates = sorted(c["flip_rate"] for c in per.values())
    assert rates[0] < rate < rates[-1]  # the synthetic classes straddle the overall rate
    just_below = rate - 1e-9
    got = cases(junit(results, just_below))
    assert got["flip rate, all classes"].find("failure").get("message") == gate(s, just_below)
    for cls, st in per.items():
        failed = got[f"flip rate, class {cls}"].find("failure") is not None
        assert failed == (st["flip_rate"] > just_below), cls
    calm = cases(junit(results, rate))  # at the gate: the exit code passes, so does the case
    assert calm["flip rate, all classes"].find("failure") is None
    assert not [c for c in cases(junit(results, None)).values() if c.find("failure") is not None]


def test_flipped_images_are_listed_and_empty_classes_skipped(results):
    r = copy.deepcopy(results)
    r["summary"]["per_class"]["bird"] = {"n_attacked": 0, "n_flipped": 0, "flip_rate": None,
                                         "transitions": {}}
    got = cases(junit(r, 0.1))
    assert got["flip rate, class bird"].find("skipped") is not None
    out = got["flip rate, class cat"].find("system-out").text
    flipped_cats = [x for x in r["images"] if x.get("flipped") and x["reference_label"] == "cat"]
    assert flipped_cats and all(x["path"].replace("\x01", "\ufffd").replace("\x1f", "\ufffd")
                                in out for x in flipped_cats)


def test_verdict_property_prefers_the_summary_verdict(results):
    def props(res):
        root = ET.fromstring(junit(res, 0.2))
        return {p.get("name"): p.get("value") for p in root.iter("property")}

    legacy = props(results)  # written before summary.verdict existed: assessed from the rows
    assert legacy["verdict"] == "not_robust" and legacy["verdict_title"].startswith("Not robust")
    assert legacy["gate"] == "failed" and legacy["fail_above"] == "0.2"
    r = copy.deepcopy(results)
    r["summary"].update(verdict="inconclusive", verdict_reasons=["trust check warns", "few"])
    assert props(r)["verdict"] == "inconclusive"
    assert props(r)["verdict_reasons"] == "trust check warns | few"


def test_fail_on_inconclusive_fails_the_overall_case_as_the_exit_code_does(results):
    r = copy.deepcopy(results)
    r["summary"].update(verdict="inconclusive", verdict_reasons=["too few images"])
    render = FORMATS["junit"].render
    quiet = cases(render(r, out_dir=Path("."), fail_above=1.0))
    assert quiet["flip rate, all classes"].find("failure") is None
    strict = cases(render(r, out_dir=Path("."), fail_above=1.0, fail_on_inconclusive=True))
    message = strict["flip rate, all classes"].find("failure").get("message")
    assert message == gate(r["summary"], 1.0, True) and "inconclusive" in message
    md = FORMATS["markdown"].render(r, out_dir=Path("."), fail_on_inconclusive=True)
    assert "\u274c failed: the verdict is inconclusive" in md


def markdown_html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable("table").render(text)


def test_markdown_escapes_hostile_names_and_keeps_tables_intact(results):
    text = FORMATS["markdown"].render(results, out_dir=Path("."), fail_above=0.2)
    html = markdown_html(text)
    assert "<img" not in html and "javascript:" not in html.replace("javascript:x", "")
    assert "<strong>bold" not in html and "<a " not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in html  # shown as text
    for table in html.split("<table>")[1:]:
        body = table.split("</table>")[0]
        widths = {row.count("<td") + row.count("<th") for row in body.split("<tr>")[1:]}
        assert len(widths) == 1, widths  # "a|b|c.jpg" did not add cells
    assert "Not robust" in text and "\u274c failed" in text
    assert "flip rate" in text and "Per class" in text and "Most fragile images" in text


def test_markdown_gate_lines(results):
    rate = results["summary"]["flip_rate"]
    render = FORMATS["markdown"].render
    assert "\u2705 passed" in render(results, out_dir=Path("."), fail_above=rate)
    assert "**Gate:** not set" in render(results, out_dir=Path("."))


def test_markdown_appends_to_the_github_step_summary(results, tmp_path, monkeypatch):
    summary = tmp_path / "step_summary.md"
    summary.write_text("## earlier step output")  # no final newline
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    FORMATS["markdown"].write(results, summary, out_dir=tmp_path)
    FORMATS["markdown"].write(results, summary, out_dir=tmp_path)
    text = summary.read_text()
    assert text.startswith("## earlier step output\n\n## ") and text.count("advaudit:") == 2
    other = tmp_path / "summary.md"
    other.write_text("stale")
    FORMATS["markdown"].write(results, other, out_dir=tmp_path)
    assert "stale" not in other.read_text()  # any other file is replaced, not appended to


@pytest.fixture()
def saved(tmp_path) -> Path:
    out = tmp_path / "audit"
    out.mkdir()
    path = out / "results.json"
    path.write_text(json.dumps(synthetic_results(out, 12, write_pngs=False)))
    return path


def test_report_writes_ci_formats_from_saved_results(saved, tmp_path, schema):
    j, md = tmp_path / "ci" / "junit.xml", tmp_path / "ci" / "summary.md"
    r = CliRunner().invoke(main, ["report", str(saved), "--fail-above", "0.3",
                                  "--junit-xml", str(j), "--markdown", str(md)])
    assert r.exit_code == 0, r.output
    assert r.output.split() == [str(saved.parent / "report.html"), str(j), str(md)]
    schema.validate(str(j))
    assert "\u274c failed" in md.read_text()
    r = CliRunner().invoke(main, ["report", str(saved), "-f", "junit"])
    assert r.exit_code == 0 and r.output.strip() == str(saved.parent / "junit.xml")


def test_unwritable_ci_output_is_one_line(saved, tmp_path):
    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "junit.xml"  # its folder is a file: cannot be created
    r = CliRunner().invoke(main, ["report", str(saved), "--junit-xml", str(target)])
    assert r.exit_code == 2
    assert "--junit-xml" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_audit_writes_junit_and_markdown_and_still_gates(tiny_model_file, photo_folder,
                                                         tmp_path, schema):
    j, md = tmp_path / "junit.xml", tmp_path / "summary.md"
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--labels", "cat,dog",
                                  "--images", str(photo_folder), "--out", str(tmp_path / "o"),
                                  "--eps", "16", "--step", "4", "--no-report", "--no-trust",
                                  "--fail-above", "0.1", "--junit-xml", str(j),
                                  "--markdown", str(md)])
    assert r.exit_code == 1, r.output
    schema.validate(str(j))
    overall = cases(j.read_text())["flip rate, all classes"]
    assert "exceeds --fail-above 10.0%" in overall.find("failure").get("message")
    assert "tiny.keras" in markdown_html(md.read_text())
