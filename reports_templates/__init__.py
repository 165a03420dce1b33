"""Jinja2 templates and the stylesheet of the HTML report (package data, see audit.report).

``audit.report.render`` imports ``FOLDER`` from here rather than naming the package in a string,
so the import graph (and ``tests/test_layout.py``) sees who reads the templates, and a renamed
package fails at import time instead of at the first render."""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
