"""results.csv: cells a spreadsheet would run as formulas are defused, everything else is kept."""

from __future__ import annotations

import csv
import io

from audit.formats import FORMATS

HOSTILE = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_formula_cells_are_quoted_and_plain_cells_untouched():
    rows = [{"index": i, "path": f"photos/{name}", "true_label": name, "clean_pred": "cat",
             "clean_conf": -0.5 if i == 0 else 0.9, "attacked": False}
            for i, name in enumerate(HOSTILE)]
    rows.append({"index": 99, "path": "cat/ok.jpg", "true_label": "cat", "clean_pred": "dog",
                 "clean_conf": 0.75, "attacked": True, "l2": -0.0})
    text = FORMATS["csv"].render({"images": rows}, out_dir=".")
    table = list(csv.DictReader(io.StringIO(text)))
    for row, name in zip(table, HOSTILE, strict=False):
        assert row["true_label"] == "'" + name  # shown as text, never evaluated
        assert row["path"] == f"photos/{name}"  # does not start with a formula character
    assert table[0]["clean_conf"] == "-0.5"  # numbers stay numbers
    assert table[-1]["true_label"] == "cat" and table[-1]["path"] == "cat/ok.jpg"
    assert table[-1]["l2"] == "-0.0"
