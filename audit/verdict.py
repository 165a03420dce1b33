"""The verdict an audit reaches, and the CI gate on it.

The verdict is the product: the first thing a reviewer reads and what a CI job gates on. It is
computed from the results alone (summary, manifest, trust checks), so ``advaudit report`` on a
saved results.json shows the same verdict the audit printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .formatting import ci, counts, fixed, num, pct

# Flip-rate thresholds for the verdict colour. An attack can show weakness, never prove
# robustness, so green only says this attack at this budget rarely worked.
RED_AT = 0.25
AMBER_AT = 0.05


@dataclass
class Verdict:
    level: str  # red / amber / green / grey: a CSS class
    title: str
    note: str


def verdict(manifest: dict, summary: dict, trust: dict | None) -> Verdict:
    """Traffic light on the flip rate, with the caveat each colour needs."""
    rate = num(summary.get("flip_rate"))
    b = manifest.get("budget") or {}
    attack = str(manifest.get("attack") or "attack").upper()
    at = f"{counts(b.get('eps'))}" if b.get("norm") != "l2" else f"L2 {fixed(b.get('eps'), 0)}"
    warns = [c for c in (trust or {}).get("checks") or [] if c.get("status") != "pass"]
    caveat = " Trust checks warn: read them before relying on these numbers." if warns else ""
    if rate is None or not num(summary.get("n_attacked")):
        return Verdict("grey", "No verdict", "Nothing was attacked." + caveat)
    here = f"here {pct(rate)}, 95% CI {ci(summary.get('flip_rate_ci95'))}"
    if rate >= RED_AT:
        return Verdict("red", f"Not robust at {at}",
                       f"{attack} flips at least {RED_AT:.0%} of the attacked images ({here})."
                       + caveat)
    if rate >= AMBER_AT:
        return Verdict("amber", f"Fragile at {at}",
                       f"{attack} flips between {AMBER_AT:.0%} and {RED_AT:.0%} of the attacked "
                       f"images ({here})." + caveat)
    return Verdict("green", f"Held at {at}",
                   f"{attack} flips under {AMBER_AT:.0%} of the attacked images ({here}); a "
                   "stronger attack or a larger budget may still succeed." + caveat)


def gate(summary: dict, fail_above: float | None) -> str | None:
    """Why a CI gate fails (one line), or None when it passes."""
    rate = num(summary.get("flip_rate"))
    if fail_above is not None and rate is not None and rate > fail_above:
        return f"flip rate {rate:.1%} exceeds --fail-above {fail_above:.1%}"
    return None
