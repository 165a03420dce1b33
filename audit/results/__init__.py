"""The results.json contract: rows, summary, manifest, schema version, reading and writing.

One results.json per audit is the truth (as in RobustBench); every other output — CSV, HTML,
JUnit, the console summary — is rendered from it by ``audit.formats``. The verdict (``verdict``)
and the comparison of two audits (``compare``) are computed from results alone, so they live here.

May import the ground floor only: the contract knows no attack (an attack's traits arrive as
data, in the manifest), no engine and no pipeline.
"""

from .io import read_results, write_json
from .manifest import ModelInfo, budget_record, build_manifest
from .rows import (
    attacked_row,
    clean_row,
    delta_bound,
    json_number,
    min_eps_curve,
    not_attacked_row,
    row_histograms,
    run_summary,
    summarise,
    universal_flips,
)
from .schema import SCHEMA_VERSION, normalise
from .yardstick import cost_per_image as yardstick_cost

__all__ = [
    "SCHEMA_VERSION", "ModelInfo", "attacked_row", "budget_record", "build_manifest",
    "clean_row", "delta_bound", "json_number", "min_eps_curve", "normalise", "not_attacked_row",
    "read_results", "row_histograms", "run_summary", "summarise", "universal_flips",
    "write_json", "yardstick_cost",
]
