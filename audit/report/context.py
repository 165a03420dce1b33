"""From ``results.json`` to what the template shows: cards, table rows, charts, panels.

Only the results dict and the PNGs beside it are used, so a saved audit re-renders without the
model. Fields may be null or absent (old or hand-edited files); every access here tolerates that
instead of failing the whole report over one value.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
from markupsafe import Markup

from .. import threats
from ..channels import written
from ..images import pixels_sha256
from ..paths import UNIVERSAL_PNG, inside_or_none
from ..results.rows import universal_flips
from . import charts
from .images import (
    CardImages,
    HeatMap,
    amplification,
    card_images,
    image_size,
    mean_abs_delta_heatmap,
    png_data_uri,
    read_rgb,
)
from .text import DASH, num

CHANNEL_CSS = {"red": "ch-red", "green": "ch-green", "blue": "ch-blue", "gray": "ch-gray"}


def basename(path: object) -> str:
    text = str(path or "")
    return PurePath(text.replace("\\", "/")).name or text or DASH


def severity(row: dict) -> tuple:
    """Sort key, worst first: flips the PNG reproduces, flips at the smallest budget and in the
    fewest steps, most confident wrong answers; then the held images closest to flipping."""
    flipped = bool(row.get("flipped"))
    delivered = bool(row.get("deliverable_flipped"))
    inf = math.inf
    if not row.get("attacked"):
        return (3, inf, inf, 0.0, int(num(row.get("index")) or 0))
    group = 0 if flipped and delivered else 1 if flipped or delivered else 2
    min_eps = num(row.get("min_eps"))
    steps = num(row.get("steps_to_flip"))
    if flipped:
        tie = -(num(row.get("adv_conf")) or 0.0)
    else:
        tie = num(row.get("adv_ref_prob"))
        tie = 1.0 if tie is None else tie
    return (group, inf if min_eps is None else min_eps, inf if steps is None else steps, tie,
            int(num(row.get("index")) or 0))


@dataclass
class Bar:
    name: str
    before: float | None
    after: float | None
    is_reference: bool
    is_adv: bool


@dataclass
class Card:
    row: dict
    name: str
    images: CardImages
    bars: list[Bar]
    outcome: str  # flipped / held
    mismatch: str | None  # the PNG on disk disagrees with the in-memory attack


def confidence_bars(row: dict, names: list[str], top: int = 3) -> list[Bar]:
    """The classes worth showing: the reference, the adversarial prediction, then the likeliest."""
    before = row.get("clean_probs") or []
    after = row.get("adv_probs") or []
    ref, adv = row.get("reference_label") or row.get("true_label"), row.get("adv_pred")

    def prob(seq: list, i: int) -> float | None:
        return num(seq[i]) if i < len(seq) else None

    order = sorted(range(len(names)), key=lambda i: (
        names[i] != ref, names[i] != adv, -max(prob(before, i) or 0, prob(after, i) or 0)))
    return [Bar(names[i], prob(before, i), prob(after, i), names[i] == ref, names[i] == adv)
            for i in order[:top]]


def mismatch_note(row: dict) -> str | None:
    flipped, delivered = row.get("flipped"), row.get("deliverable_flipped")
    if flipped and delivered is False:
        pred = row.get("deliverable_pred")
        return "PNG did not reproduce the flip" + (f" (reads as {pred})" if pred else "")
    if flipped is False and delivered:
        return "flips only after PNG rounding"
    return None


def build_cards(rows: list[dict], names: list[str], out_dir: Path, max_cards: int,
                factor: int, marks: str = "diff") -> list[Card]:
    cards = []
    for row in rows[:max_cards]:
        cards.append(Card(
            row=row,
            name=basename(row.get("path")),
            images=card_images(out_dir, row.get("clean_path"), row.get("adv_path"), factor,
                               marks),
            bars=confidence_bars(row, names),
            outcome="flipped" if row.get("flipped") else "held",
            mismatch=mismatch_note(row),
        ))
    return cards


@dataclass
class TableRow:
    row: dict
    name: str
    outcome: str
    outcome_rank: int
    delivered: str
    has_card: bool


def table_rows(ordered: list[dict], carded: set[int]) -> list[TableRow]:
    out = []
    for row in ordered:
        if not row.get("attacked"):
            outcome, o_rank = f"not attacked: {row.get('not_attacked_because') or 'unknown'}", 3
            delivered = DASH
        else:
            outcome, o_rank = ("flipped", 0) if row.get("flipped") else ("held", 2)
            d = row.get("deliverable_flipped")
            delivered = DASH if d is None else "yes" if d == bool(row.get("flipped")) else "no"
        out.append(TableRow(row, basename(row.get("path")), outcome, o_rank, delivered,
                            id(row) in carded))
    return out


def _stats(values: list[float | None]) -> dict[str, float] | None:
    vals = [v for v in (num(x) for x in values) if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "mean": statistics.fmean(vals),
            "min": min(vals), "max": max(vals)}


@dataclass
class StatRow:
    name: str
    unit: str
    median: str
    mean: str
    low: str
    high: str


def perturbation_stats(attacked: list[dict], pixels: int | None) -> list[StatRow]:
    """Median/mean/min/max of each perturbation measure over attacked images."""
    out = []
    specs = [
        ("L\u221e (largest change)", "linf", "counts", lambda v: f"{v:.0f}"),
        ("L2 (total change)", "l2", "counts", lambda v: f"{v:.1f}"),
        ("L0 (pixels changed)", "l0", "% of pixels" if pixels else "pixels",
         (lambda v: f"{v / pixels * 100:.1f}%") if pixels else (lambda v: f"{v:.0f}")),
        ("PSNR", "psnr", "dB", lambda v: f"{v:.1f}"),
        ("SSIM", "ssim", "1 = identical", lambda v: f"{v:.3f}"),
    ]
    for title, key, unit, fmt in specs:
        s = _stats([r.get(key) for r in attacked])
        if s is None:
            out.append(StatRow(title, unit, DASH, DASH, DASH, DASH))
        else:
            out.append(StatRow(title, unit, fmt(s["median"]), fmt(s["mean"]), fmt(s["min"]),
                               fmt(s["max"])))
    return out


_INT_KEY = re.compile(r"-?[0-9]{1,9}")


def _int_histogram(hist: object) -> tuple[list[str], list[float]]:
    """Bars of a {"3": 5, ...} histogram; keys that are not plain integers are left out."""
    if not isinstance(hist, dict) or not hist:
        return [], []
    items = sorted(((int(k), num(v) or 0) for k, v in hist.items()
                    if _INT_KEY.fullmatch(str(k))), key=lambda kv: kv[0])
    if not items:
        return [], []
    lo, hi = items[0][0], items[-1][0]
    got = dict(items)
    keys = list(range(lo, hi + 1)) if hi - lo <= 200 else [k for k, _ in items]
    return [str(k) for k in keys], [got.get(k, 0) for k in keys]


@dataclass
class Charts:
    curve: Markup | None = None
    min_eps: Markup | None = None
    steps: Markup | None = None
    channels: list[tuple[str, Markup]] = field(default_factory=list)
    psnr: Markup | None = None
    ssim: Markup | None = None
    scatter: Markup | None = None
    trust_curve: Markup | None = None


def build_charts(results: dict, attacked: list[dict]) -> Charts:
    manifest = results.get("manifest") or {}
    budget = manifest.get("budget") or {}
    hist = results.get("histograms") or {}
    c = Charts()
    curve = [(num(p.get("eps")), num(p.get("flip_rate"))) for p in results.get("curve") or []
             if isinstance(p, dict)]
    curve = [(x, y) for x, y in curve if x is not None and y is not None]
    eps = num(budget.get("eps"))
    threat = threats.read(budget)
    if curve:
        c.curve = charts.line_chart(
            curve, x_title=threat.curve_axis() if threat else "budget", y_title="images flipped",
            marker_x=eps if threat else None,
            marker_label=f"audit budget {threat.describe(eps)}" if eps is not None and threat
            else "", width=470, height=250, label="flip rate against the budget")
    _step_charts(c, manifest, hist, attacked, bool(curve))
    c.channels = _channel_charts(hist.get("delta") or {})
    c.psnr = charts.histogram([num(r.get("psnr")) for r in attacked], x_title="PSNR (dB)",
                              css="accent", width=540, height=210,
                              label="PSNR distribution")
    c.ssim = charts.histogram([num(r.get("ssim")) for r in attacked], x_title="SSIM",
                              css="accent", width=540, height=210,
                              label="SSIM distribution")
    c.scatter = _confidence_scatter(attacked, manifest)
    if not curve:
        same_unit = threat is not None and threat.trust_probe_in_own_unit
        c.trust_curve = _trust_curve(results.get("trust") or {}, eps if same_unit else None)
    return c


def _step_charts(c: Charts, manifest: dict, hist: dict, attacked: list[dict],
                 swept: bool) -> None:
    """Images by minimal epsilon (a sweep) and by steps to flip (an iterative attack)."""
    cats, vals = _int_histogram(hist.get("min_eps"))
    n_never = sum(1 for r in attacked if r.get("min_eps") is None) if swept else 0
    if cats:
        max_eps = num((manifest.get("sweep") or {}).get("max_eps"))
        if n_never:
            cats, vals = cats + [f">{max_eps:g}" if max_eps else "never"], vals + [n_never]
        c.min_eps = charts.bar_chart(
            cats, vals, x_title="smallest budget that flips the image (counts)",
            y_title="images", css="accent", highlight=[cats[-1]] if n_never else [],
            width=300, height=250, label="images by minimal epsilon")
    cats, vals = _int_histogram(hist.get("steps_to_flip"))
    steps = num((manifest.get("budget") or {}).get("steps"))
    if cats and (steps or 2) > 1:  # one-step attacks: nothing to show
        c.steps = charts.bar_chart(cats, vals, x_title="steps until the prediction flipped",
                                   y_title="images", css="accent",
                                   width=300 if swept else 540, height=250,
                                   label="flipped images by steps to flip")


def _channel_charts(delta: dict) -> list:
    out = []
    values = delta.get("values") or []
    for name, bins in (delta.get("channels") or {}).items():
        if not isinstance(bins, list) or len(bins) != len(values) or not values:
            continue
        total = sum(num(b) or 0 for b in bins) or 1
        shares = [(num(b) or 0) / total for b in bins]
        out.append((str(name), charts.bar_chart(
            [f"{v:+d}" if isinstance(v, int) and v else str(v) for v in values], shares,
            x_title="change (counts of 255)", y_title="share", y_fmt=charts.pct_fmt,
            tip_fmt=lambda s: f"{s * 100:.2f}%",
            css=CHANNEL_CSS.get(str(name), "accent"), width=340, height=190,
            label=f"{name} channel deltas")))
    return out


def _confidence_scatter(attacked: list[dict], manifest: dict):
    points = []
    for r in attacked:
        before = _reference_prob(r, "clean_probs", manifest)
        after = num(r.get("adv_ref_prob"))
        if after is None:
            after = _reference_prob(r, "adv_probs", manifest)
        if before is not None and after is not None:
            points.append((before, after, "flipped" if r.get("flipped") else "held"))
    if not points:
        return None
    return charts.scatter_chart(points, x_title="before: confidence in the true class",
                                y_title="after the attack", width=540, height=330,
                                label="confidence before and after the attack")


def _trust_curve(trust: dict, marker: float | None):
    """The trust sample's flip rate against the budget, when the audit drew no sweep curve."""
    chart = None
    for check in trust.get("checks") or []:
        value = check.get("value") if isinstance(check, dict) else None
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            pts = [(num(v.get("eps")), num(v.get("flip_rate"))) for v in value]
            pts = [(x, y) for x, y in pts if x is not None and y is not None]
            if pts:
                chart = charts.line_chart(
                    [(0.0, 0.0), *pts], x_title="budget eps (counts of 255, per pixel)",
                    y_title="sample flipped", width=540, height=250, marker_x=marker,
                    label="flip rate of the trust sample against the budget")
    return chart


def _reference_prob(row: dict, key: str, manifest: dict) -> float | None:
    names = [str(n) for n in manifest.get("class_names") or []]
    ref = row.get("reference_label") or row.get("true_label")
    probs = row.get(key) or []
    if ref in names and names.index(ref) < len(probs):
        return num(probs[names.index(ref)])
    return None


@dataclass
class ClassRow:
    name: str
    n_attacked: int
    n_flipped: int
    rate: float | None
    transitions: list[tuple[str, str, int]]


def class_rows(summary: dict) -> list[ClassRow]:
    out = []
    for name, c in (summary.get("per_class") or {}).items():
        if not isinstance(c, dict):
            continue
        moves = []
        for key, n in (c.get("transitions") or {}).items():
            src, _, dst = str(key).partition("->")
            moves.append((src, dst, int(num(n) or 0)))
        moves.sort(key=lambda m: -m[2])
        out.append(ClassRow(str(name), int(num(c.get("n_attacked")) or 0),
                            int(num(c.get("n_flipped")) or 0), num(c.get("flip_rate")), moves))
    return out


@dataclass
class UniversalView:
    """The audit's universal patch as the report shows it: the picture (when the file beside
    results.json is there and matches the manifest's fingerprint), how it was fitted and how
    many photos it flips."""

    side: int | None
    fit_photos: int | None
    fit_flipped: int | None
    fit_queries: int | None
    flips: dict
    uri: str | None
    problem: str | None  # why the picture is not shown


@dataclass
class SurvivalRow:
    """One channel's line in the report: of the flips re-checked through it, how many live."""

    channel: str  # as views write it ("JPEG q=85")
    n_survive: int
    n_checked: int
    rate: float


def survival_rows(summary: dict) -> list[SurvivalRow]:
    """The summary's ``channel_survival`` as table rows; malformed entries are left out."""
    block = summary.get("channel_survival")
    rows = []
    for name, entry in (block.items() if isinstance(block, dict) else []):
        if not isinstance(entry, dict):
            continue
        k, n = num(entry.get("n_survive")), num(entry.get("n_checked"))
        if k is None or n is None or not 0 <= k <= n or n == 0:
            continue
        rows.append(SurvivalRow(written(str(name)), int(k), int(n), k / n))
    return rows


UNIVERSAL_SHOWN_SIDE = 128  # the patch is drawn this large, pixel by pixel


def universal_view(manifest: dict, images: list[dict], out_dir: Path) -> UniversalView | None:
    """None for an audit without ``--universal``. The picture is always ``universal_patch.png``
    of this folder, never a path read from the results; a file that is missing, a link, not a
    picture or not the patch the manifest fingerprints is named as such instead of shown."""
    record = manifest.get("universal")
    flips = universal_flips(images, record)
    if flips is None:
        return None

    def whole(value: object) -> int | None:
        v = num(value)
        return int(v) if v is not None and float(v).is_integer() and v >= 0 else None

    side = whole(record.get("side"))
    path = inside_or_none(out_dir, UNIVERSAL_PNG)
    img = None if path is None or path.is_symlink() else read_rgb(path)
    uri, problem = None, None
    if img is None:
        problem = f"{UNIVERSAL_PNG} is not in this folder (or is no picture)"
    else:
        img = img[..., None] if img.ndim == 2 else img
        if pixels_sha256(img) != record.get("sha256"):
            problem = (f"{UNIVERSAL_PNG} in this folder is not the patch this audit fitted (its "
                       "pixels do not match the fingerprint in results.json)")
        else:
            factor = max(1, UNIVERSAL_SHOWN_SIDE // max(img.shape[:2]))
            uri = png_data_uri(np.repeat(np.repeat(img, factor, axis=0), factor, axis=1))
    return UniversalView(side, whole(record.get("fit_photos")), whole(record.get("fit_flipped")),
                         whole(record.get("fit_queries")), flips, uri, problem)


@dataclass
class Context:
    cards: list[Card]
    table: list[TableRow]
    charts: Charts
    heatmap: HeatMap | None
    stats: list[StatRow]
    classes: list[ClassRow]
    factor: int
    marks: str  # the third card picture: "diff", or changes marked ("pixels", "outline")
    bound: float
    image_hw: tuple[int, int] | None
    n_flipped_attacked: int
    wrong_conf_median: float | None  # how sure the model is of its adversarial answer
    universal: UniversalView | None = None
    survival: list[SurvivalRow] = field(default_factory=list)


def build_context(results: dict, out_dir: Path, max_cards: int) -> Context:
    names = [str(n) for n in (results.get("manifest") or {}).get("class_names") or []]
    rows = [r for r in results.get("images") or [] if isinstance(r, dict)]
    ordered = sorted(rows, key=severity)
    attacked = [r for r in ordered if r.get("attacked")]
    values = ((results.get("histograms") or {}).get("delta") or {}).get("values") or []
    linfs = [v for v in (num(r.get("linf")) for r in attacked) if v is not None]
    bound = max([abs(num(v) or 0) for v in values] + linfs + [1.0])
    factor = amplification(bound)
    threat = threats.read((results.get("manifest") or {}).get("budget"))
    marks = threat.marks if threat else "diff"
    cards = build_cards(attacked, names, out_dir, max(0, max_cards), factor, marks)
    carded = {id(c.row) for c in cards}
    flipped = [r for r in attacked if r.get("flipped")]
    heat = mean_abs_delta_heatmap(out_dir, [(r.get("clean_path"), r.get("adv_path"))
                                            for r in flipped])
    hw = (heat.height, heat.width) if heat else image_size(
        out_dir, [r.get("clean_path") for r in attacked[:5]])
    return Context(
        cards=cards,
        table=table_rows(ordered, carded),
        charts=build_charts(results, attacked),
        heatmap=heat,
        stats=perturbation_stats(attacked, hw[0] * hw[1] if hw else None),
        classes=class_rows(results.get("summary") or {}),
        factor=factor,
        marks=marks,
        bound=bound,
        image_hw=hw,
        n_flipped_attacked=len(flipped),
        wrong_conf_median=(_stats([r.get("adv_conf") for r in flipped]) or {}).get("median"),
        universal=universal_view(results.get("manifest") or {}, rows, out_dir),
        survival=survival_rows(results.get("summary") or {}),
    )

