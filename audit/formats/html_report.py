"""report.html: the self-contained robustness report (``audit.report``)."""

from __future__ import annotations

from ..report import render_html
from .base import Format


class HtmlFormat(Format):
    name = "html"
    file_name = "report.html"
    about = "self-contained HTML report for reviewers"

    def render(self, results, *, out_dir, max_cards: int = 48,
               results_name: str = "results.json", **options):
        return render_html(results, out_dir, max_cards, results_name)
