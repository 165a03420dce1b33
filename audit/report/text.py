"""Words and numbers for the report: formatting and the plain-language sentence.

Kept apart from layout so the sentence a reviewer reads first ("10 steps of 1/255 ... flip 77%
of the 57 correctly classified cats and dogs") is built from the data alone and can be tested
without rendering HTML. Everything here returns plain ``str``; escaping is the template's job.
"""

from __future__ import annotations

import re

from .. import threats
from ..formatting import DASH, ci, counts, fixed, num, pct, seconds, short_sha, sort_value

__all__ = ["DASH", "ci", "class_phrase", "counts", "fixed", "num", "pct", "plain_sentence",
           "randomness_line", "access_line", "seconds", "short_sha", "sort_value"]


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
    threat = threats.read(b)
    if threat is None:  # a threat model this advaudit does not know
        return f"Changes within a {b.get('norm')} budget of {fixed(eps, 0)}", False
    if manifest.get("constant_steps") is False or not isinstance(threat, threats.BallThreat):
        return threat.search_phrase(eps)  # a search (APGD, Square, auto): no fixed steps
    up_to = "Up to " if manifest.get("early_stop") and steps > 1 else ""
    return threat.steps_phrase(eps, step, steps, up_to)


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


def randomness_line(manifest: dict, summary: dict) -> str | None:
    """How a model random at inference was audited and how random it proved, in one line
    (console, report, Markdown); None for a deterministic model's audit."""
    how = manifest.get("randomness")
    if not isinstance(how, dict):
        return None
    seen = summary.get("randomness")
    seen = seen if isinstance(seen, dict) else {}
    line = (f"random at inference: attacked with EOT over {fixed(how.get('eot'), 0)} draws per "
            f"step, each prediction the majority of {fixed(how.get('votes'), 0)} fresh draws")
    if num(seen.get("n_clean")):
        line += (f"; clean photos: {pct(seen.get('clean_unanimous'))} unanimous, "
                 f"{pct(seen.get('clean_against_majority'))} of draws against the majority")
    if num(seen.get("mean_flip_probability")) is not None:
        line += (f"; adversarial PNGs: mean flip probability "
                 f"{pct(seen.get('mean_flip_probability'))}")
    return line


def access_line(manifest: dict, summary: dict) -> str | None:
    """What the audit could ask of a query-only model (TFLite, ONNX) or through a surrogate,
    in one line (console, report, Markdown): which stages ran where, which could not run and
    why, and the transfer rate; None for a model audited with its own gradients."""
    access = manifest.get("model_access")
    if not isinstance(access, dict):
        return None
    traits = manifest.get("attack_traits") if isinstance(manifest.get("attack_traits"), dict) \
        else {}
    surrogate = access.get("surrogate") if isinstance(access.get("surrogate"), dict) else None
    if access.get("gradients") is not False and surrogate is None:
        return None
    fmt = str(access.get("format") or "model")
    line = f"{fmt} model" + (", query-only" if access.get("gradients") is False else "")
    skipped = [str(x) for x in traits.get("skipped_stages") or []]
    if skipped:
        line += (f": could not run {', '.join(skipped)} (they need the model's gradients; "
                 "--surrogate MODEL.keras runs them on the model it was exported from)")
    if surrogate is not None:
        line += f": gradient stages ran on the surrogate {surrogate.get('name')}"
        moved = summary.get("transfer") if isinstance(summary.get("transfer"), dict) else {}
        if num(moved.get("surrogate_flips")) is not None:
            line += (f"; {fixed(moved.get('transferred'), 0)} of "
                     f"{fixed(moved.get('surrogate_flips'), 0)} surrogate flips transferred "
                     f"(transfer rate {pct(moved.get('transfer_rate'))}), and the query stages "
                     f"on the model itself flipped {fixed(moved.get('found_on_model'), 0)} more")
    free = [str(x) for x in traits.get("gradient_free_stages") or [] if str(x) not in skipped]
    if free:
        line += f"; {', '.join(free)} ran on the model itself"
    return line
