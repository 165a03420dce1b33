"""Words and numbers for the report: formatting, the verdict and its plain-language sentence.

Kept apart from layout so the sentence a reviewer reads first ("10 steps of 1/255 ... flip 77%
of the 57 correctly classified cats and dogs") is built from the data alone and can be tested
without rendering HTML. Everything here returns plain ``str``; escaping is the template's job.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DASH = "\u2013"

# Flip-rate thresholds for the verdict colour. An attack can show weakness, never prove
# robustness, so green only says this attack at this budget rarely worked.
RED_AT = 0.25
AMBER_AT = 0.05


def num(v: object) -> float | None:
    """A finite float, or None for null, text, NaN or infinity in a hand-edited results.json."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def sort_value(v: object) -> str:
    """What the table's sort script compares: the number itself, or "" (sorts last)."""
    f = num(v)
    return "" if f is None else f"{f:g}"


def pct(v: object, digits: int = 1) -> str:
    f = num(v)
    return DASH if f is None else f"{f * 100:.{digits}f}%"


def fixed(v: object, digits: int = 1, unit: str = "") -> str:
    f = num(v)
    return DASH if f is None else f"{f:.{digits}f}{unit}"


def counts(v: object) -> str:
    """A budget on the 0..255 scale written as the fraction people recognise: 4/255."""
    f = num(v)
    return "unbounded" if f is None else f"{f:g}/255"


def seconds(v: object) -> str:
    f = num(v)
    if f is None:
        return DASH
    if f < 60:
        return f"{f:.1f} s"
    m, s = divmod(round(f), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def ci(interval: object) -> str:
    if isinstance(interval, (list, tuple)) and len(interval) == 2 and \
            all(num(x) is not None for x in interval):
        return f"{pct(interval[0])}{DASH}{pct(interval[1])}"
    return DASH


def short_sha(sha: object) -> str:
    return str(sha)[:12] if sha else DASH


_SIMPLE_WORD = re.compile(r"[a-z]{2,30}")


def plural(name: str) -> str:
    """English plural of a simple lower-case class name (cat -> cats, fox -> foxes)."""
    if name.endswith(("s", "x", "z", "ch", "sh")):
        return name + "es"
    if name.endswith("y") and name[-2] not in "aeiou":
        return name[:-1] + "ies"
    return name + "s"


def join_words(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def class_phrase(names: list[str]) -> str:
    """'cats and dogs' for a few plain names; a neutral phrase for many or unusual ones."""
    names = [str(n) for n in names]
    if not names or len(names) > 3:
        return f"images in {len(names)} classes" if names else "images"
    if all(_SIMPLE_WORD.fullmatch(n) for n in names):
        return join_words([plural(n) for n in names])
    return "images of " + join_words(names)


def budget_phrase(manifest: dict) -> tuple[str, bool]:
    """The attack's reach in counts, and whether its subject is singular (verb agreement)."""
    b = manifest.get("budget") or {}
    eps, step = num(b.get("eps")), num(b.get("step"))
    steps = int(num(b.get("steps")) or 0)
    up_to = "Up to " if manifest.get("early_stop") and steps > 1 else ""
    if b.get("norm") == "l2":
        size = f"an L2 size of at most {eps:g} counts per image" if eps is not None else \
            "an unbounded L2 size"
        if steps <= 1:
            return f"One change of {size}", True
        return f"{up_to}{steps} steps, within {size},", False
    per_pixel = eps
    if step is not None and steps:
        per_pixel = steps * step if eps is None else min(eps, steps * step)
    reach = f"at most {counts(per_pixel)} per pixel"
    if steps <= 1:
        return f"One change of {reach}", True
    return f"{up_to}{steps} steps of {counts(step)}, {reach} in total,", False


def plain_sentence(manifest: dict, summary: dict) -> str:
    """One sentence a non-specialist can repeat, built only from the audit's own numbers."""
    names = [str(n) for n in manifest.get("class_names") or []]
    n_attacked = int(num(summary.get("n_attacked")) or 0)
    rate = num(summary.get("flip_rate"))
    if n_attacked == 0 or rate is None:
        return "No image was attacked (none was classified correctly), so there is nothing to " \
               "measure yet."
    subject, singular = budget_phrase(manifest)
    n_correct = int(num(summary.get("n_correct")) or 0)
    pool = (f"the {n_attacked} correctly classified {class_phrase(names)}"
            if n_attacked == n_correct else f"the {n_attacked} attacked photos")
    target = manifest.get("target")
    if target:
        verb = "turns" if singular else "turn"
        what = plural(target) if _SIMPLE_WORD.fullmatch(str(target)) else f"'{target}'"
        return f"{subject} {verb} {pct(rate, 0)} of {pool} into {what}."
    verb = "flips" if singular else "flip"
    return f"{subject} {verb} {pct(rate, 0)} of {pool}."


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
