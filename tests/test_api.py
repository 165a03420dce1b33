"""The Python API: a notebook user audits an in-memory model in three lines."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
from support.models import ramp_images

import audit
from audit.errors import UsageError


class Text(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.parts.append(data)


def test_three_lines_in_a_notebook(tiny_model, tmp_path):
    pixels, labels = ramp_images(10, np.random.default_rng(4))
    result = audit.run(tiny_model, pixels.astype(np.uint8), labels=labels.tolist(),
                       class_names=["cat", "dog"], eps=16, step=4, out=tmp_path / "nb")
    s = result.summary
    assert s["n_images"] == 10 and s["clean_accuracy"] == 1.0 and s["flip_rate"] >= 0.9
    assert [row["true_label"] for row in result.images] == \
        ["cat" if v == 0 else "dog" for v in labels]
    assert result.report_path == tmp_path / "nb" / "report.html"
    page = Text(result._repr_html_())
    text = " ".join(page.parts)
    assert result.verdict.title in text and "flip rate" in text and "script" not in page.tags
    assert result.manifest["model_path"] == "<in memory>"
    assert len(result.manifest["model_sha256"]) == 64
    saved = json.loads(result.to_json(tmp_path / "copy.json").read_text())
    assert saved["summary"]["flip_rate"] == s["flip_rate"]
    assert result.to_html(tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert "AuditResults" in repr(result)


def test_files_a_folder_and_names_all_work(tiny_model_file, photo_folder, tmp_path):
    by_folder = audit.run(str(tiny_model_file), photo_folder, class_names=["cat", "dog"],
                          eps=16, step=4, out=tmp_path / "a", report=False, trust=False)
    files = sorted(photo_folder.rglob("*.png"))
    by_list = audit.run(tiny_model_file, files, class_names=["cat", "dog"], eps=16, step=4,
                        out=tmp_path / "b", report=False, trust=False)
    assert by_folder.summary["n_images"] == by_list.summary["n_images"] == len(files)
    assert by_folder.summary["flip_rate"] == by_list.summary["flip_rate"]
    assert by_folder.report_path is None


def test_unknown_options_fail_in_one_line(tiny_model):
    with pytest.raises(UsageError, match="unknown option"):
        audit.run(tiny_model, np.zeros((1, 16, 16, 3), np.uint8), epsilon=4)
    with pytest.raises(UsageError, match="dtype float32"):
        audit.run(tiny_model, np.zeros((1, 16, 16, 3), np.float32))
