"""Two audits side by side: did the new model get less robust than the base one?

The typical use is a retrained model audited in CI and compared with the last release's audit.
Everything is computed from the two results dicts' per-image rows (the rows are the truth the
summary is built from), so a comparison needs no model, and per-class numbers, robust accuracy
per class and the images that changed come from the same place.

What decides "regressed" is deliberately narrow: the overall flip rate rising, or the overall
robust accuracy falling, by more than ``tolerance`` (a fraction: 0.02 = 2 percentage points).
Per-class changes and the median minimal budget are shown beside them but do not decide: a
class holds a fraction of the images, so its rate moves by whole images and its Wilson
interval is wide, and a gate on every class would fail on noise; and the median minimal eps is
in counts, a different unit than the tolerance.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from ..errors import UsageError
from ..formatting import num
from ..metrics import wilson_interval
from . import read_results
from .rows import channel_survival

HELD, FLIPPED, MISCLASSIFIED, NOT_ATTACKED = "held", "flipped", "misclassified", "not attacked"
_EPS = 1e-12  # float noise when a change equals the tolerance


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n``, with its Wilson 95% interval."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def ci95(self) -> list[float]:
        return wilson_interval(self.k, self.n)

    def as_dict(self) -> dict:
        return {"k": self.k, "n": self.n, "value": self.value, "ci95": self.ci95}


@dataclass(frozen=True)
class Side:
    """One audit's numbers for one group of images (all, or one class)."""

    flip: Rate
    robust: Rate
    median_min_eps: float | None  # inf: more than half never flipped within the sweep
    swept: bool

    def as_dict(self) -> dict:
        eps = self.median_min_eps
        return {"flip_rate": self.flip.as_dict(), "robust_accuracy": self.robust.as_dict(),
                "median_min_eps": None if eps is None or math.isinf(eps) else eps,
                "median_min_eps_beyond_sweep": eps is not None and math.isinf(eps)}


@dataclass(frozen=True)
class Group:
    name: str  # "all" or a class name
    base: Side
    new: Side

    def change(self, metric: str) -> float | None:
        b, n = getattr(self.base, metric).value, getattr(self.new, metric).value
        return None if b is None or n is None else n - b

    def as_dict(self) -> dict:
        return {"name": self.name, "base": self.base.as_dict(), "new": self.new.as_dict(),
                "flip_rate_change": self.change("flip"),
                "robust_accuracy_change": self.change("robust")}


@dataclass(frozen=True)
class Survival:
    """One channel (``audit.channels``): of each audit's flips re-checked through it, how many
    still flip. Shown beside the rates; it does not decide a regression."""

    name: str
    base: Rate
    new: Rate

    def change(self) -> float | None:
        b, n = self.base.value, self.new.value
        return None if b is None or n is None else n - b

    def as_dict(self) -> dict:
        return {"name": self.name, "base": self.base.as_dict(), "new": self.new.as_dict(),
                "change": self.change()}


def survival(base_rows: list[dict], new_rows: list[dict]) -> list[Survival]:
    """Per channel either audit re-checked, the flips that survive it, base and new."""
    def counts(rows: list[dict]) -> dict[str, dict]:
        return channel_survival([r for r in rows if isinstance(r, dict) and r.get("attacked")
                                 and r.get("deliverable_flipped") is True])

    b, n = counts(base_rows), counts(new_rows)
    return [Survival(name, Rate(b.get(name, {}).get("n_survive", 0),
                                b.get(name, {}).get("n_checked", 0)),
                     Rate(n.get(name, {}).get("n_survive", 0), n.get(name, {}).get("n_checked", 0)))
            for name in [*b, *(k for k in n if k not in b)]]


@dataclass(frozen=True)
class ImageChange:
    """One photo present in both audits whose outcome changed."""

    key: str
    label: str
    base_state: str
    new_state: str
    base_row: dict = field(repr=False)
    new_row: dict = field(repr=False)

    def as_dict(self) -> dict:
        return {"key": self.key, "label": self.label, "base": self.base_state,
                "new": self.new_state, "new_prediction": self.new_row.get("adv_pred")
                if self.new_state == FLIPPED else self.new_row.get("clean_pred"),
                "base_min_eps": self.base_row.get("min_eps"),
                "new_min_eps": self.new_row.get("min_eps")}


@dataclass(frozen=True)
class Comparison:
    base_label: str
    new_label: str
    tolerance: float
    overall: Group
    per_class: list[Group]
    became_vulnerable: list[ImageChange]
    became_robust: list[ImageChange]
    n_matched: int
    only_in_base: int
    only_in_new: int
    differences: list[str]  # settings that differ between the two audits
    same_model: bool  # both audits name a model file with the same SHA-256
    regressions: list[str]  # why robustness regressed beyond the tolerance; empty if it did not
    survival: list[Survival] = field(default_factory=list)  # flips that survive each channel

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def as_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items()
             if k not in ("overall", "per_class", "became_vulnerable", "became_robust",
                          "survival")}
        d.update(regressed=self.regressed, overall=self.overall.as_dict(),
                 per_class=[g.as_dict() for g in self.per_class],
                 became_vulnerable=[c.as_dict() for c in self.became_vulnerable],
                 became_robust=[c.as_dict() for c in self.became_robust],
                 survival=[v.as_dict() for v in self.survival])
        return d


def _rows(results: dict) -> list[dict]:
    return [r for r in results.get("images") or [] if isinstance(r, dict)]


def _class_names(results: dict) -> list[str]:
    names = (results.get("manifest") or {}).get("class_names")
    return [str(n) for n in names] if isinstance(names, list) else []


def state(row: dict, class_names: list[str]) -> str:
    if row.get("attacked"):
        return FLIPPED if row.get("flipped") else HELD
    if row.get("true_label") in class_names and row.get("clean_pred") != row.get("true_label"):
        return MISCLASSIFIED
    return NOT_ATTACKED


def side(rows: list[dict], class_names: list[str], swept: bool,
         cls: str | None = None) -> Side:
    """Flip rate over attacked rows (of ``cls``'s reference label), robust accuracy over the
    labelled rows (whose true label is ``cls``), as ``audit.results.summarise`` counts them."""
    attacked = [r for r in rows if r.get("attacked")
                and (cls is None or str(r.get("reference_label")) == cls)]
    labelled = [r for r in rows if r.get("true_label") in class_names
                and (cls is None or r.get("true_label") == cls)]
    robust = [r for r in labelled if r.get("clean_pred") == r.get("true_label")
              and not (r.get("attacked") and r.get("flipped"))]
    median = None
    if swept and attacked:
        budgets = [num(r.get("min_eps")) for r in attacked]
        median = statistics.median(math.inf if b is None else b for b in budgets)
    return Side(Rate(sum(bool(r.get("flipped")) for r in attacked), len(attacked)),
                Rate(len(robust), len(labelled)), median, swept)


def image_key(row: dict, images_dir: object) -> str:
    """The photo's path relative to the audited folder when it lies inside it (so two audits
    of the same photos in different checkouts match), else its path as recorded."""
    path = str(row.get("path") or "").replace("\\", "/")
    root = str(images_dir or "").replace("\\", "/").rstrip("/")
    if root and path.startswith(root + "/"):
        return path[len(root) + 1:]
    return path


def match_images(base: dict, new: dict) -> tuple[list[tuple[str, dict, dict]], int, int]:
    """Pairs of rows for the same photo: by path (relative to each audit's image folder), then
    by file name where a name is unique on both sides. Returns pairs and the unmatched counts."""
    def keyed(results: dict) -> dict[str, dict]:
        root = (results.get("manifest") or {}).get("images_dir")
        out: dict[str, dict] = {}
        for r in _rows(results):
            out.setdefault(image_key(r, root), r)
        return out

    b, n = keyed(base), keyed(new)
    pairs = [(k, b[k], n[k]) for k in b if k in n]
    rest_b = {k: v for k, v in b.items() if k not in n}
    rest_n = {k: v for k, v in n.items() if k not in b}
    names_b = Counter(PurePosixPath(k).name for k in rest_b)
    names_n = Counter(PurePosixPath(k).name for k in rest_n)
    by_name_n = {PurePosixPath(k).name: (k, v) for k, v in rest_n.items()}
    matched_n = set()
    for k, v in rest_b.items():
        name = PurePosixPath(k).name
        if names_b[name] == 1 and names_n.get(name) == 1:
            kn, vn = by_name_n[name]
            pairs.append((name, v, vn))
            matched_n.add(kn)
    only_b = len(rest_b) - len(matched_n)
    only_n = len(rest_n) - len(matched_n)
    return pairs, only_b, only_n


def setting_differences(base: dict, new: dict) -> list[str]:
    """Settings that make the two audits measure different things: shown, never an error
    (auditing the same model with a larger budget is a legitimate comparison)."""
    mb, mn = base.get("manifest") or {}, new.get("manifest") or {}
    out = []
    for key in ("attack", "loss", "target", "early_stop", "input_scale"):
        if mb.get(key) != mn.get(key):
            out.append(f"{key}: {mb.get(key)} -> {mn.get(key)}")
    bb, bn = mb.get("budget") or {}, mn.get("budget") or {}
    for key in ("norm", "eps", "step", "steps"):
        if bb.get(key) != bn.get(key):
            out.append(f"budget {key}: {bb.get(key)} -> {bn.get(key)}")
    sb, sn = (mb.get("sweep") or {}).get("max_eps"), (mn.get("sweep") or {}).get("max_eps")
    if sb != sn:
        out.append(f"sweep max eps: {sb} -> {sn}")
    if _class_names(base) != _class_names(new):
        out.append(f"classes: {','.join(_class_names(base))} -> {','.join(_class_names(new))}")
    return out + access_differences(mb, mn)


def _access(manifest: dict) -> str:
    """How an audit could reach its model: format, own gradients or not, surrogate."""
    a = manifest.get("model_access") if isinstance(manifest.get("model_access"), dict) else {}
    text = str(a.get("format") or "keras")
    if a.get("gradients") is False:
        text += " (query-only)"
    surrogate = a.get("surrogate") if isinstance(a.get("surrogate"), dict) else None
    return text + (f" with gradients from surrogate {surrogate.get('name')}" if surrogate else "")


def access_differences(mb: dict, mn: dict) -> list[str]:
    """Two artifacts of one model (the .keras file and its int8 .tflite, say): what the audits
    could ask of each. A query-only audit without a surrogate ran no gradient stage, so its
    flip rate is a lower bound, and a fall next to a gradient audit is not more robustness."""
    before, after = _access(mb), _access(mn)
    if before == after:
        return []
    out = [f"model access: {before} -> {after}"]
    for side, m in (("base", mb), ("new", mn)):
        skipped = (m.get("attack_traits") or {}).get("skipped_stages") \
            if isinstance(m.get("attack_traits"), dict) else None
        access = m.get("model_access") if isinstance(m.get("model_access"), dict) else {}
        if skipped:
            out.append(f"the {side} audit could not run {', '.join(map(str, skipped))} (no "
                       "gradients): its flip rate is a lower bound, so a lower rate there is "
                       "not evidence of more robustness; audit it with --surrogate")
        elif isinstance(access.get("surrogate"), dict):
            out.append(f"the {side} audit's gradient stages ran on a surrogate: a lower flip "
                       "rate there may be what did not transfer, not more robustness")
    return out


def _same_model(base: dict, new: dict) -> bool:
    sha = (base.get("manifest") or {}).get("model_sha256")
    return bool(sha) and sha == (new.get("manifest") or {}).get("model_sha256")


def _label(results: dict, fallback: str) -> str:
    m = results.get("manifest") or {}
    sha = str(m.get("model_sha256") or "")[:12]
    return f"{m.get('model') or fallback}" + (f" ({sha})" if sha else "")


def compare(base: dict, new: dict, *, tolerance: float = 0.0, base_name: str = "base",
            new_name: str = "new") -> Comparison:
    """Compare two results dicts (as ``audit.results.read_results`` returns them)."""
    if not (0.0 <= tolerance <= 1.0) or math.isnan(tolerance):
        raise UsageError(f"--tolerance {tolerance} is not a fraction between 0 and 1 (0.02 = 2 "
                         "percentage points)")
    names_b, names_n = _class_names(base), _class_names(new)
    rows_b, rows_n = _rows(base), _rows(new)
    swept_b = bool((base.get("manifest") or {}).get("sweep"))
    swept_n = bool((new.get("manifest") or {}).get("sweep"))
    overall = Group("all", side(rows_b, names_b, swept_b), side(rows_n, names_n, swept_n))
    classes = names_b + [c for c in names_n if c not in names_b]
    per_class = [Group(c, side(rows_b, names_b, swept_b, c), side(rows_n, names_n, swept_n, c))
                 for c in classes]
    pairs, only_b, only_n = match_images(base, new)
    worse, better = [], []
    for key, rb, rn in sorted(pairs, key=lambda p: p[0]):
        sb, sn = state(rb, names_b), state(rn, names_n)
        label = str(rn.get("reference_label") or rn.get("true_label") or "")
        if sb == HELD and sn in (FLIPPED, MISCLASSIFIED):
            worse.append(ImageChange(key, label, sb, sn, rb, rn))
        elif sb in (FLIPPED, MISCLASSIFIED) and sn == HELD:
            better.append(ImageChange(key, label, sb, sn, rb, rn))
    regressions = []
    flip_up = overall.change("flip")
    if flip_up is not None and flip_up > tolerance + _EPS:
        regressions.append(
            f"flip rate rose from {overall.base.flip.value:.1%} to {overall.new.flip.value:.1%} "
            f"(+{flip_up * 100:.1f} points, tolerance {tolerance * 100:.1f})")
    robust_change = overall.change("robust")
    if robust_change is not None and -robust_change > tolerance + _EPS:
        regressions.append(
            f"robust accuracy fell from {overall.base.robust.value:.1%} to "
            f"{overall.new.robust.value:.1%} ({robust_change * 100:.1f} points, tolerance "
            f"{tolerance * 100:.1f})")
    return Comparison(
        base_label=_label(base, base_name), new_label=_label(new, new_name),
        tolerance=tolerance, overall=overall, per_class=per_class, became_vulnerable=worse,
        became_robust=better, n_matched=len(pairs), only_in_base=only_b, only_in_new=only_n,
        differences=setting_differences(base, new), regressions=regressions,
        same_model=_same_model(base, new), survival=survival(rows_b, rows_n))


def compare_files(base: Path, new: Path, *, tolerance: float = 0.0) -> Comparison:
    """``compare`` on two results.json files; a bad file is a one-line ``ResultsError``."""
    return compare(read_results(base), read_results(new), tolerance=tolerance,
                   base_name=str(base), new_name=str(new))
