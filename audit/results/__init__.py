"""The results.json contract: rows, summary, manifest, schema version, reading and writing.

One results.json per audit is the truth (as in RobustBench); every other output — CSV, HTML,
JUnit, the console summary — is rendered from it by ``audit.formats``.
"""

from .io import read_results, write_json
from .manifest import ModelInfo, budget_record, build_manifest
from .rows import (
    attacked_row,
    clean_row,
    json_number,
    not_attacked_row,
    row_histograms,
    summarise,
)
from .schema import SCHEMA_VERSION, normalise

__all__ = [
    "SCHEMA_VERSION", "ModelInfo", "attacked_row", "budget_record", "build_manifest",
    "clean_row", "json_number", "normalise", "not_attacked_row", "read_results", "row_histograms",
    "summarise", "write_json",
]
