"""Jinja2 templates and the stylesheet of the HTML report (package data, see audit.report)."""
