"""results.csv: one line per photo for spreadsheets and pandas.

File and folder names end up in cells, and a spreadsheet runs a cell that starts with ``=``,
``+``, ``-`` or ``@`` as a formula (CSV injection), so such text cells get a leading quote.
"""

from __future__ import annotations

import csv
import io

from .base import Format

CSV_FIELDS = [
    "index", "path", "true_label", "clean_pred", "clean_conf", "attacked", "adv_pred",
    "adv_conf", "flipped", "deliverable_flipped", "steps_to_flip", "l0", "l2", "linf", "psnr",
    "ssim", "min_eps", "adv_path",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class CsvFormat(Format):
    name = "csv"
    file_name = "results.csv"
    about = "one line per image (path, labels, outcome, perturbation sizes)"

    def render(self, results, *, out_dir, **options):
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in results.get("images") or []:
            writer.writerow({k: safe_cell(v) for k, v in row.items() if k in CSV_FIELDS})
        return buf.getvalue()
