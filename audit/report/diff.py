"""compare.html: two audits side by side, one self-contained file like report.html.

Same rules as the report (``audit.report.render``): the report's stylesheet inlined, pictures as
data URIs read only from inside each audit's folder, autoescape on, and a Content-Security-Policy
that allows no script at all (this page has none) and no remote resource.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from ..channels import written
from ..fileio import atomic_write_text
from ..formatting import num
from ..results.compare import FLIPPED, Comparison, ImageChange
from .context import basename
from .images import CardImages, amplification, card_images
from .render import STYLESHEET, _environment, _source  # one Jinja environment per process

TEMPLATE = "compare.html.j2"
MAX_CARDS = 48
CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'; "
       "base-uri 'none'; form-action 'none'")


@dataclass
class ChangeCard:
    name: str
    key: str
    label: str
    base_state: str
    new_state: str
    prediction: str
    base_min_eps: object
    new_min_eps: object
    images: CardImages | None


def _card(change: ImageChange, new_dir: Path | None, factor: int) -> ChangeCard:
    row = change.new_row
    flipped = change.new_state == FLIPPED
    pictures = None
    if new_dir is not None and flipped:
        pictures = card_images(new_dir, row.get("clean_path"), row.get("adv_path"), factor)
    return ChangeCard(
        name=basename(change.key), key=change.key, label=change.label,
        base_state=change.base_state, new_state=change.new_state,
        prediction=str(row.get("adv_pred") if flipped else row.get("clean_pred")),
        base_min_eps=change.base_row.get("min_eps"), new_min_eps=row.get("min_eps"),
        images=pictures)


def eps_text(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return "beyond the sweep" if math.isinf(value) else f"{value:g}"


def render_compare_html(comparison: Comparison, *, new_dir: Path | None = None,
                        max_cards: int = MAX_CARDS) -> str:
    """The diff page as a string. ``new_dir`` is the new audit's folder, where the pictures of
    images that became vulnerable are read from (none are shown without it)."""
    env = _environment()
    shown = comparison.became_vulnerable[:max_cards]
    factor = amplification(max((num(c.new_row.get("linf")) or 0.0 for c in shown), default=0))
    cards = [_card(c, Path(new_dir) if new_dir else None, factor)
             for c in shown]
    return env.get_template(TEMPLATE).render(
        c=comparison, cards=cards, max_cards=max_cards, eps_text=eps_text, channel_name=written,
        css=Markup(_source(env, STYLESHEET)), csp=CSP)


def write_compare_html(comparison: Comparison, path: Path, *, new_dir: Path | None = None,
                       max_cards: int = MAX_CARDS) -> Path:
    return atomic_write_text(Path(path), render_compare_html(
        comparison, new_dir=new_dir, max_cards=max_cards))
