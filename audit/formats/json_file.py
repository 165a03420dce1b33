"""results.json itself: the truth every other format is rendered from."""

from __future__ import annotations

import json

from .base import Format


class JsonFormat(Format):
    name = "json"
    file_name = "results.json"
    about = "the full results (manifest, summary, one row per image, histograms, trust checks)"

    def render(self, results, *, out_dir, **options):
        return json.dumps(results, indent=1) + "\n"
