"""Human-readable views of a results dict: the HTML report (``render``, ``context``, charts,
pictures, words), the compare diff page (``diff``), the console summary (``console``) and the
headline every view opens with (``headline``). Rendered from results and the PNGs beside them,
never from a model.

May import the ground floor, ``audit.results`` and the ``reports_templates`` package; never an
attack, the engine or the pipeline."""

from .render import render_html, render_report

__all__ = ["render_html", "render_report"]
