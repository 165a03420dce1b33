"""The verdict an audit reaches, its reasons, and the CI gate on it.

The verdict is the product: the first thing a reviewer reads and what a CI job gates on. It is
part of the results contract (``summary.verdict`` and ``summary.verdict_reasons``), computed
from the results alone, so a merged or re-rendered audit states the same verdict.

* ``not_robust`` (red): more than ``ROBUST_MAX_FLIP`` of the attacked images flip, counting only
  flips that reproduce from their saved PNG. No trust check can undo a flip that reproduces.
* ``robust`` (green): at most that share flips, *and* the evidence is strong: a strong attack
  configuration ran (``auto``), every trust check passed (gradients informative, a large budget
  flips nearly everything, no flips at eps=0, rates grow with the budget, the attack finds
  planted adversarials; under a sparse threat model only those that apply), the gradient-free
  stage (Square; Sparse-RS under L0 and patches) found nothing the gradient attacks missed,
  and enough images were attacked for the 95% upper bound on the flip rate to stay under
  ``MAX_UPPER_BOUND``.
* ``inconclusive`` (amber): otherwise. A weak attack or a masked gradient never produces a
  green verdict; the reasons say what evidence is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import threats
from ..channels import written
from ..classifier import EOT_DRAWS, VOTES
from ..formatting import ci, num, pct
from ..metrics import wilson_interval

VERDICTS = ("not_robust", "robust", "inconclusive")
LEVELS = {"not_robust": "red", "robust": "green", "inconclusive": "amber"}
ROBUST_MAX_FLIP = 0.05  # a model holds at a budget when at most this share of images flips
MAX_UPPER_BOUND = 0.10  # ... with the 95% upper bound on that share no higher than this


def assess(manifest: dict, summary: dict, trust: dict | None, images: list[dict]
           ) -> tuple[str, list[str]]:
    """The verdict and the reasons for it, each reason one sentence a reviewer can act on."""
    n = int(num(summary.get("n_attacked")) or 0)
    if summary.get("partial"):
        return "inconclusive", [f"the audit is partial: {summary.get('n_pending')} photos were "
                                "not attacked yet; finish it with --resume"]
    if n == 0:
        return "inconclusive", ["no image was attacked (none was classified correctly), so "
                                "there is no evidence either way"]
    attack = str(manifest.get("attack") or "?")
    rate = num(summary.get("deliverable_flip_rate"))
    rate = num(summary.get("flip_rate")) if rate is None else rate
    if rate is not None and rate > ROBUST_MAX_FLIP:
        return "not_robust", [f"{pct(rate)} of the {n} attacked images flip (more than "
                              f"{ROBUST_MAX_FLIP:.0%}), each flip reproduced from its saved PNG"]
    traits = manifest.get("attack_traits")
    traits = traits if isinstance(traits, dict) else {}
    free = [str(s) for s in traits.get("gradient_free_stages") or []]
    doubts = []
    if not traits:
        doubts.append(f"the results do not say what the attack ({attack}) is capable of (written "
                      "by an older advaudit), so its strength is unknown; audit again")
    elif not traits.get("strong"):
        doubts.append(str(traits.get("weakness") or "")[:400] or
                      f"the attack ({attack}) is not a strong configuration: a model that holds "
                      "against it may still fall to a stronger one; run the default attack "
                      "(omit --attack)")
    elif not free:
        doubts.append("no gradient-free attack ran (the cascade has no gradient-free stage "
                      "under this threat model; Square searches L-inf), so gradient masking "
                      "would go unnoticed")
    if trust is None:
        doubts.append("the trust checks did not run (--no-trust), so gradient masking was not "
                      "looked for")
    else:
        for check in trust.get("checks") or []:
            if check.get("status") != "pass":
                doubts.append(f"trust check '{check.get('name')}' warns: {check.get('detail')}")
    access = manifest.get("model_access") if isinstance(manifest.get("model_access"), dict) \
        else {}
    transfer = isinstance(access.get("surrogate"), dict)  # Square beating a surrogate: expected
    missed = [r for r in images if r.get("attacked") and r.get("flipped")
              and r.get("found_by") in free and traits.get("uses_gradient") and not transfer]
    if missed:
        doubts.append(f"the gradient-free stage ({', '.join(free)}) flipped {len(missed)} images "
                      "the gradient attacks missed: the gradients are masked or misleading, so "
                      "more images may fall to a stronger gradient-free attack")
    doubts += _access_doubts(access, traits)
    doubts += _reproduction_doubts(manifest, summary, rate, n)
    upper = wilson_interval(round((rate or 0.0) * n), n)[1]
    if upper > MAX_UPPER_BOUND:
        doubts.append(f"too few images: with {n} attacked, the flip rate's 95% interval reaches "
                      f"{pct(upper)} (about 35 attacked images are needed to bound it under "
                      f"{MAX_UPPER_BOUND:.0%})")
    if doubts:
        return "inconclusive", doubts
    return "robust", [f"{pct(rate)} of the {n} attacked images flip under the strong "
                      f"'{attack}' configuration, and every trust check passes"]


def _access_doubts(access: dict, traits: dict) -> list[str]:
    """A model audited without its own gradients (a TFLite or ONNX file, or a surrogate's
    gradients): evidence of vulnerability only, never of robustness."""
    fmt = str(access.get("format") or "model")
    surrogate = access.get("surrogate") if isinstance(access.get("surrogate"), dict) else None
    where = (f"the gradient stages ran on the surrogate {surrogate.get('name')}, so what they "
             "missed may still flip this model" if surrogate else
             f"the gradient stages ({', '.join(map(str, traits.get('skipped_stages') or []))}) "
             "could not run")
    if access.get("gradients") is False:
        return [f"the audited {fmt} model is query-only: {where}, and gradient-free search "
                "alone misses what gradients find; audit the model it was exported from (its "
                ".keras file) for a robust verdict, and compare the two with advaudit compare"]
    if surrogate:
        return [f"{where}: audit the model with its own gradients (omit --surrogate) for a "
                "robust verdict"]
    return []


def _reproduction_doubts(manifest: dict, summary: dict, rate: float | None, n: int
                         ) -> list[str]:
    """In-memory flips their PNG does not reproduce; for a randomised model, also evidence
    weaker than AutoAttack's randomised version."""
    randomness = manifest.get("randomness")
    random = isinstance(randomness, dict)
    doubts = _randomness_doubts(randomness) if random else []
    in_memory = num(summary.get("flip_rate"))
    if rate is not None and in_memory is not None and in_memory > rate:
        lost = round((in_memory - rate) * n)
        doubts.append(f"{lost} flips found in memory did not win the majority of fresh draws on "
                      "their saved PNG: near the boundary the model's randomness decides, so "
                      "more draws per step (--eot) may flip them for good" if random else
                      f"{lost} flips found in memory did not reproduce from their saved PNG: "
                      "the model is not deterministic or the files were altered")
    return doubts


def _randomness_doubts(randomness: dict) -> list[str]:
    """Why an audit of a randomised model may be weaker than a deterministic one's: fewer EOT
    draws per step than AutoAttack's randomised version, or fewer votes than the audit's."""
    eot, votes = num(randomness.get("eot")) or 0, num(randomness.get("votes")) or 0
    doubts = []
    if eot < EOT_DRAWS:
        doubts.append(f"the model is random at inference and each attack evaluation averaged "
                      f"{eot:g} draws (--eot); with fewer than {EOT_DRAWS} (AutoAttack's "
                      "randomised version) the attack follows the noise as much as the model, "
                      f"so a model that holds proves little: audit with --eot {EOT_DRAWS}")
    if votes < VOTES:
        doubts.append(f"each prediction was the majority of {votes:g} draws, fewer than "
                      f"{VOTES}: audit again with this advaudit")
    return doubts


def record(results: dict) -> None:
    """Write the verdict into ``results['summary']`` (the contract's place for it)."""
    verdict_name, reasons = assess(results["manifest"], results["summary"],
                                   results.get("trust"), results.get("images") or [])
    results["summary"]["verdict"] = verdict_name
    results["summary"]["verdict_reasons"] = reasons


@dataclass
class Verdict:
    """The verdict as shown: a colour (a CSS class), a title, a note and the reasons."""

    name: str
    level: str  # red / amber / green: a CSS class
    title: str
    note: str
    reasons: list[str] = field(default_factory=list)


def verdict(manifest: dict, summary: dict, trust: dict | None,
            images: list[dict] | None = None) -> Verdict:
    """The verdict recorded in the summary (or assessed now, for an older results.json)."""
    name = summary.get("verdict")
    reasons = summary.get("verdict_reasons")
    if name not in VERDICTS or not isinstance(reasons, list):
        name, reasons = assess(manifest, summary, trust, images or [])
    reasons = [str(r) for r in reasons]
    b = manifest.get("budget") or {}
    threat = threats.read(b)
    at = threat.describe(num(b.get("eps"))) if threat else f"{b.get('norm')} {b.get('eps')}"
    if isinstance(manifest.get("channel"), str):  # audited behind a channel (--channel)
        at += f" through {written(manifest['channel'])}"
    randomness = manifest.get("randomness")
    if isinstance(randomness, dict):  # a model random at inference, attacked with EOT
        at += f" (random model: EOT over {num(randomness.get('eot')) or 0:g} draws)"
    attack = str(manifest.get("attack") or "attack").upper()
    rate = num(summary.get("flip_rate"))
    here = f"{pct(rate)} flipped, 95% CI {ci(summary.get('flip_rate_ci95'))}"
    if name == "not_robust":
        warns = [c for c in (trust or {}).get("checks") or [] if c.get("status") != "pass"]
        caveat = (" Trust checks warn: the attack may be held back, so the true flip rate may "
                  "be higher." if warns else "")
        return Verdict(name, "red", f"Not robust at {at}",
                       f"{attack} flips {here}; every flip counted reproduces from its saved "
                       "PNG." + caveat, reasons)
    if name == "robust":
        return Verdict(name, "green", f"Robust at {at}",
                       f"{attack} flips {here}, and every trust check passes. Robust means: "
                       "against these attacks, at this budget, on these images.", reasons)
    if not num(summary.get("n_attacked")):
        return Verdict(name, "amber", "Inconclusive: nothing was attacked",
                       "No image was attacked, so there is no evidence either way.", reasons)
    return Verdict(name, "amber", f"Inconclusive at {at}",
                   f"{attack} flips {here}, but the evidence cannot support calling the model "
                   "robust:", reasons)


def gate(summary: dict, fail_above: float | None, fail_on_inconclusive: bool = False
         ) -> str | None:
    """Why a CI gate fails (one line), or None when it passes."""
    rate = num(summary.get("flip_rate"))
    if fail_above is not None and rate is not None and rate > fail_above:
        return f"flip rate {rate:.1%} exceeds --fail-above {fail_above:.1%}"
    if fail_on_inconclusive and summary.get("verdict") == "inconclusive":
        reasons = summary.get("verdict_reasons") or []
        return "the verdict is inconclusive (--fail-on-inconclusive)" + (
            f": {reasons[0]}" if reasons else "")
    return None
