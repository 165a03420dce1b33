"""The HTML report: rendering (``render``), what it shows (``context``), its charts, pictures and
words. Rendered from a results dict and the PNGs beside it, never from a model."""

from .render import render_html, render_report

__all__ = ["render_html", "render_report"]
