"""summary.md: the audit in GitHub-flavoured Markdown, for a CI job's summary page.

GitHub Actions renders the file named by ``$GITHUB_STEP_SUMMARY`` on the run's page, so
``--markdown "$GITHUB_STEP_SUMMARY"`` puts the verdict, the gate and the key numbers where a
reviewer looks first. GitHub documents appending to that file (``>>``), since each step may
write to it more than once; so when the target is that very file this format appends, and
anywhere else it writes a fresh file atomically like every other format.

Text from results.json (file and class names, command lines) may hold Markdown or HTML: every
such value has its markup characters backslash-escaped (CommonMark allows it for any ASCII
punctuation), so a photo named ``<img src=x>`` or ``a|b`` shows as text and cannot break a
table.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .. import threats
from ..channels import written
from ..formatting import DASH, ci, num, pct, short_sha
from ..report.headline import headline
from ..report.text import access_line, randomness_line
from .base import Format

MAX_IMAGES = 10  # the summary lists the most fragile flipped images, not all of them
# what can start markup in GitHub's Markdown: emphasis, links, code, HTML, tables, headings,
# strikethrough, entities, math and mentions (the rest only matters at a line's start)
_MARKUP = re.compile(r"([\\`*_\[\]<>|~#&$@])")
_ICON = {"red": "\U0001f534", "amber": "\U0001f7e0", "green": "\U0001f7e2"}


def md(value: object) -> str:
    """Text safe in a Markdown paragraph or table cell."""
    text = " ".join(str(DASH if value is None else value).split())
    return _MARKUP.sub(r"\\\1", text)


def md_code(value: object) -> str:
    """An inline code span that the text's own backticks cannot close."""
    text = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _fragile(rows: list[dict]) -> list[dict]:
    """Flipped images, the cheapest to flip first (minimal eps, then steps)."""
    flips = [r for r in rows if isinstance(r, dict) and r.get("attacked") and r.get("flipped")]

    def key(r: dict) -> tuple:
        eps, steps = num(r.get("min_eps")), num(r.get("steps_to_flip"))
        return (float("inf") if eps is None else eps, float("inf") if steps is None else steps,
                -(num(r.get("adv_conf")) or 0.0))

    return sorted(flips, key=key)


def _name(path: object) -> str:
    text = str(path or "")
    return text.replace("\\", "/").rsplit("/", 1)[-1] or text


def _gate_line(head, s: dict) -> str:
    if head.gate_passed is None:
        return "**Gate:** not set (pass `--fail-above` to gate the job on the flip rate)"
    if head.gate_passed:
        within = (f"flip rate {pct(s.get('flip_rate'))} is within `--fail-above` "
                  f"{pct(head.fail_above)}" if head.fail_above is not None else
                  "the verdict is not inconclusive")
        return f"**Gate:** \u2705 passed: {within}"
    return f"**Gate:** \u274c failed: {md(head.gate_failure)}"


def _per_class(per_class: dict) -> list[str]:
    if not per_class:
        return []
    out = ["", "### Per class", "", _row("class", "attacked", "flipped", "flip rate", "went to"),
           _row("---", "---:", "---:", "---:", "---")]
    for cls, st in per_class.items():
        st = st if isinstance(st, dict) else {}
        went = ", ".join(f"{md(k)} ({md(v)})" for k, v in (st.get("transitions") or {}).items())
        out.append(_row(md(cls), md(st.get("n_attacked")), md(st.get("n_flipped")),
                        pct(st.get("flip_rate")), went or DASH))
    return out


def _fragile_table(fragile: list[dict]) -> list[str]:
    if not fragile:
        return []
    shown = fragile[:MAX_IMAGES]
    out = ["", f"<details><summary>Most fragile images ({len(shown)} of {len(fragile)} "
           "flipped)</summary>", "",
           _row("image", "label", "after attack", "confidence", "min \u03b5", "steps",
                "PNG flips"),
           _row("---", "---", "---", "---:", "---:", "---:", "---")]
    for r in shown:
        out.append(_row(md(_name(r.get("path"))), md(r.get("reference_label")),
                        md(r.get("adv_pred")), pct(r.get("adv_conf")), md(r.get("min_eps")),
                        md(r.get("steps_to_flip")),
                        "yes" if r.get("deliverable_flipped") else "no"))
    return out + ["", "</details>"]


class MarkdownFormat(Format):
    name = "markdown"
    file_name = "summary.md"
    about = "GitHub-flavoured Markdown summary (verdict, gate, key numbers) for " \
            "$GITHUB_STEP_SUMMARY"

    def render(self, results, *, out_dir, fail_above: float | None = None,
               fail_on_inconclusive: bool = False, **options):
        s, m = results.get("summary") or {}, results.get("manifest") or {}
        head = headline(results, fail_above, fail_on_inconclusive)
        budget = m.get("budget") or {}
        icon = _ICON.get(head.level, "\u26aa")
        out = [f"## {icon} advaudit: {md(head.title)} {DASH} {md(m.get('model'))}", ""]
        out += [f"> {md(head.note)}", ""] + [f"- {md(reason)}" for reason in head.reasons]
        out += ["", _gate_line(head, s)]
        threat = threats.read(budget)
        eps = threat.eps_text(num(budget.get("eps"))) if threat else budget.get("eps")
        out += ["", f"{md(str(m.get('attack') or '?').upper())}, {md(budget.get('norm'))} "
                f"\u03b5 {md(eps)}, {md(budget.get('steps'))} steps, {md(m.get('loss'))} loss "
                f"on {md(s.get('n_images'))} images ({md(s.get('n_attacked'))} attacked)", ""]
        out += [_row("", "value", "95% CI"), _row("---", "---:", "---:"),
                _row("Flip rate", f"{pct(s.get('flip_rate'))} ({md(s.get('n_flipped'))} of "
                     f"{md(s.get('n_attacked'))})", ci(s.get("flip_rate_ci95"))),
                _row("Robust accuracy", pct(s.get("robust_accuracy")), ""),
                _row("Clean accuracy", pct(s.get("clean_accuracy")), ""),
                _row("Deliverable flip rate", pct(s.get("deliverable_flip_rate")), "")]
        out += [_row(f"Flips that survive {md(written(name))}",
                     f"{pct(e.get('rate'))} ({md(e.get('n_survive'))} of "
                     f"{md(e.get('n_checked'))})", "")
                for name, e in (s.get("channel_survival") or {}).items()
                if isinstance(e, dict)] if isinstance(s.get("channel_survival"), dict) else []
        random = randomness_line(m, s)
        out += ["", f"*{md(random)}*"] if random else []
        access = access_line(m, s)
        out += ["", f"*{md(access)}*"] if access else []
        out += _per_class(s.get("per_class") or {})
        out += _fragile_table(_fragile(results.get("images") or []))
        checks = [c for c in (results.get("trust") or {}).get("checks") or []
                  if isinstance(c, dict) and c.get("status") != "pass"]
        if checks:
            out += ["", "**Trust checks warn** (read them before relying on these numbers):"]
            out += [f"- {md(c.get('name'))}: {md(c.get('detail'))}" for c in checks]
        out += ["", f"<sub>advaudit {md(m.get('tool_version'))} \u00b7 model SHA-256 "
                f"{md(short_sha(m.get('model_sha256')))} \u00b7 "
                f"{md_code(m.get('command_line') or 'advaudit audit')}</sub>", ""]
        return "\n".join(out)

    def write(self, results, path=None, *, out_dir, **options) -> Path:
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if path is not None and step_summary and _same_file(Path(path), Path(step_summary)):
            text = self.render(results, out_dir=Path(out_dir), **options)
            with open(path, "ab+") as fh:  # a blank line between what is there and ours
                if fh.tell():
                    fh.seek(-1, os.SEEK_END)
                    text = ("\n" if fh.read(1) == b"\n" else "\n\n") + text
                fh.write(text.encode("utf-8"))
            return Path(path)
        return super().write(results, path, out_dir=out_dir, **options)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
