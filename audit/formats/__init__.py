"""Output formats behind one interface (``Format``), chosen by name. Adding a format is a new
module with a ``Format`` subclass plus one line in ``FORMATS``.

May import the ground floor, ``audit.results`` and ``audit.report`` (the HTML format renders
the report); never an attack, the engine or the pipeline."""

from __future__ import annotations

from .base import Format
from .csv_table import CsvFormat
from .html_report import HtmlFormat
from .json_file import JsonFormat
from .junit import JunitFormat
from .markdown import MarkdownFormat

FORMATS: dict[str, Format] = {f.name: f for f in (
    JsonFormat(),
    CsvFormat(),
    HtmlFormat(),
    JunitFormat(),
    MarkdownFormat(),
)}

__all__ = ["FORMATS", "Format"]
