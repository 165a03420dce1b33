"""junit.xml: the audit as test results, for CI test tabs (Jenkins, GitLab, GitHub reporters).

One test case per class, plus one for all classes together — not one per image. Per image
would turn every flipped photo into a failed test, so a model well inside its gate (say 3 flips
out of 100 under ``--fail-above 0.1``) would still show red tests, and CI tools that mark a
build unstable on any failure would disagree with the exit code. Per class keeps the failures
meaningful: the overall case fails exactly when the gate (and so the exit code) fails, and a
class case fails when that class alone flips more than the gate allows — a model robust on
average but weak on one class shows up in the test tab. The flipped images are listed in each
class case's ``system-out``; a class with nothing attacked is ``skipped``. Without
``--fail-above`` nothing fails: the numbers are still there, as properties and output.

The verdict and the headline numbers are suite properties. The layout follows the JUnit XML
format as Ant writes it and Jenkins documents it (testsuites > testsuite > properties,
testcase > failure | skipped, system-out); ``tests/support/junit.xsd`` is that format as a
schema, and a test validates this writer's output against it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..formatting import ci, num, pct
from ..report.headline import headline
from .base import Format

# characters XML 1.0 cannot carry at all; file names on disk may hold them
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def xml_text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _seconds(value: object) -> str:
    v = num(value)
    return f"{max(v, 0.0):.3f}" if v is not None else "0.000"


def _flip_lines(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        eps = f", minimal eps {r['min_eps']}" if r.get("min_eps") is not None else ""
        png = "" if r.get("deliverable_flipped") else " (the saved PNG does not flip)"
        conf = num(r.get("adv_conf"))
        lines.append(f"{r.get('path')}: {r.get('reference_label')} -> {r.get('adv_pred')}"
                     + (f" ({conf:.1%})" if conf is not None else "") + eps + png)
    return "\n".join(lines)


class JunitFormat(Format):
    name = "junit"
    file_name = "junit.xml"
    about = "JUnit XML for CI test tabs: one case per class and one overall, failing above " \
            "--fail-above; verdict as a property"

    def render(self, results, *, out_dir, fail_above: float | None = None,
               fail_on_inconclusive: bool = False, **options):
        s, m = results.get("summary") or {}, results.get("manifest") or {}
        head = headline(results, fail_above, fail_on_inconclusive)
        model = str(m.get("model") or "model")
        budget = m.get("budget") or {}
        eps = num(budget.get("eps"))
        suite_name = (f"advaudit {model}: {str(m.get('attack') or '?').upper()} "
                      f"{budget.get('norm') or '?'} eps "
                      f"{'unbounded' if eps is None else format(eps, 'g')}")
        cases = [self._overall_case(model, s, head)]
        rows = [r for r in results.get("images") or [] if isinstance(r, dict)]
        seconds = num(s.get("seconds")) or 0.0
        n_attacked = num(s.get("n_attacked")) or 0
        for cls, stats in (s.get("per_class") or {}).items():
            cases.append(self._class_case(model, str(cls), stats if isinstance(stats, dict)
                                          else {}, fail_above, rows, seconds, n_attacked))
        failures = sum(c.find("failure") is not None for c in cases)
        skipped = sum(c.find("skipped") is not None for c in cases)
        counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0",
                  "skipped": str(skipped), "time": _seconds(seconds)}
        root = ET.Element("testsuites", {"name": "advaudit", **counts})
        stamp = _TIMESTAMP.match(str(m.get("timestamp") or ""))
        suite = ET.SubElement(root, "testsuite", {
            "name": xml_text(suite_name), **counts, "id": "0", "package": "advaudit",
            "hostname": "localhost",  # not recorded in results.json; the format's fallback
            **({"timestamp": stamp.group(0)} if stamp else {}),
        })
        props = ET.SubElement(suite, "properties")
        for key, value in self._properties(results, head).items():
            ET.SubElement(props, "property", {"name": key, "value": xml_text(value)})
        suite.extend(cases)
        ET.SubElement(suite, "system-out").text = xml_text("\n".join([head.note, *head.reasons]))
        ET.SubElement(suite, "system-err")
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

    @staticmethod
    def _properties(results: dict, head) -> dict[str, object]:
        s, m = results.get("summary") or {}, results.get("manifest") or {}
        budget = m.get("budget") or {}
        props = {
            "verdict": head.verdict,
            "verdict_title": head.title,
            "verdict_reasons": " | ".join(head.reasons),
            "fail_above": "none" if head.fail_above is None else f"{head.fail_above:g}",
            "fail_on_inconclusive": str(head.fail_on_inconclusive).lower(),
            "gate": {None: "not set", True: "passed", False: "failed"}[head.gate_passed],
            "flip_rate": s.get("flip_rate"),
            "flip_rate_ci95": ci(s.get("flip_rate_ci95")),
            "robust_accuracy": s.get("robust_accuracy"),
            "clean_accuracy": s.get("clean_accuracy"),
            "deliverable_flip_rate": s.get("deliverable_flip_rate"),
            "n_attacked": s.get("n_attacked"),
            "n_flipped": s.get("n_flipped"),
            "model": m.get("model"),
            "model_sha256": m.get("model_sha256"),
            "attack": m.get("attack"),
            "norm": budget.get("norm"),
            "eps": budget.get("eps"),
            "steps": budget.get("steps"),
            "tool_version": m.get("tool_version"),
        }
        warns = [c.get("name") for c in (results.get("trust") or {}).get("checks") or []
                 if isinstance(c, dict) and c.get("status") != "pass"]
        if results.get("trust"):
            props["trust_checks"] = "all pass" if not warns else "warn: " + ", ".join(
                str(w) for w in warns)
        return {k: "" if v is None else v for k, v in props.items()}

    @staticmethod
    def _overall_case(model: str, s: dict, head) -> ET.Element:
        case = ET.Element("testcase", {"name": "flip rate, all classes",
                                       "classname": xml_text(f"advaudit.{model}"),
                                       "time": _seconds(s.get("seconds"))})
        detail = (f"{s.get('n_flipped', '?')} of {s.get('n_attacked', '?')} attacked images "
                  f"flipped: {pct(s.get('flip_rate'))} (95% CI {ci(s.get('flip_rate_ci95'))}); "
                  f"robust accuracy {pct(s.get('robust_accuracy'))}")
        if head.gate_failure:
            failure = ET.SubElement(case, "failure", {"message": xml_text(head.gate_failure),
                                                      "type": "RobustnessGate"})
            failure.text = xml_text(detail)
        ET.SubElement(case, "system-out").text = xml_text(detail)
        return case

    @staticmethod
    def _class_case(model: str, cls: str, stats: dict, fail_above: float | None,
                    rows: list[dict], seconds: float, n_attacked: float) -> ET.Element:
        n = int(num(stats.get("n_attacked")) or 0)
        k = int(num(stats.get("n_flipped")) or 0)
        rate = num(stats.get("flip_rate"))
        case = ET.Element("testcase", {
            "name": xml_text(f"flip rate, class {cls}"),
            "classname": xml_text(f"advaudit.{model}.{cls}"),
            "time": _seconds(seconds * n / n_attacked if n_attacked else 0.0)})
        if not n or rate is None:
            ET.SubElement(case, "skipped",
                          {"message": xml_text(f"no image of class {cls} was attacked")})
            return case
        flips = [r for r in rows if r.get("attacked") and r.get("flipped")
                 and str(r.get("reference_label")) == cls]
        detail = f"{k} of {n} attacked images of class {cls} flipped ({pct(rate)})"
        if fail_above is not None and rate > fail_above:
            failure = ET.SubElement(case, "failure", {
                "message": xml_text(f"class {cls}: flip rate {rate:.1%} exceeds --fail-above "
                                    f"{fail_above:.1%}"),
                "type": "RobustnessGate"})
            failure.text = xml_text(detail)
        out = detail + (":\n" + _flip_lines(flips) if flips else "")
        ET.SubElement(case, "system-out").text = xml_text(out)
        return case
