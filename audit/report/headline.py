"""What a CI format puts first: the verdict, its reasons and the gate's outcome.

The verdict is the one the results record (``summary.verdict`` with its reasons; assessed from
the results for a file written before that field existed), through ``audit.results.verdict``
like the report and the console. The gate is the function the audit's exit code uses, so the overall
JUnit case or the Markdown gate line never disagrees with the exit status.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..results.verdict import gate, verdict


@dataclass(frozen=True)
class Headline:
    verdict: str  # not_robust / robust / inconclusive
    level: str  # red / green / amber
    title: str  # "Not robust at 4/255": the report's headline
    note: str
    reasons: list[str]
    fail_above: float | None
    fail_on_inconclusive: bool
    gate_failure: str | None  # the gate's one line when it fails, else None

    @property
    def gate_passed(self) -> bool | None:
        """True/False when a gate was set, None when there was none."""
        if self.fail_above is None and not self.fail_on_inconclusive:
            return None
        return self.gate_failure is None


def headline(results: dict, fail_above: float | None = None,
             fail_on_inconclusive: bool = False) -> Headline:
    summary = results.get("summary") or {}
    v = verdict(results.get("manifest") or {}, summary, results.get("trust"),
                [r for r in results.get("images") or [] if isinstance(r, dict)])
    return Headline(v.name, v.level, v.title, v.note, list(v.reasons), fail_above,
                    fail_on_inconclusive, gate(summary, fail_above, fail_on_inconclusive))
