"""The Python API: a notebook user audits an in-memory model in three lines."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import keras
import numpy as np
import pytest
from support.models import SIZE, ramp_images

import audit
import audit.pipeline.api
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


def test_a_universal_patch_from_a_notebook(tiny_model, tmp_path):
    pixels, labels = ramp_images(10, np.random.default_rng(4))
    result = audit.run(tiny_model, pixels.astype(np.uint8), labels=labels.tolist(),
                       class_names=["cat", "dog"], threat="patch", eps=4, universal=True,
                       universal_fit=4, queries=40, out=tmp_path / "u", report=False,
                       trust=False)
    assert result.manifest["universal"]["fit_photos"] == 4
    assert (tmp_path / "u" / "universal_patch.png").is_file()
    with pytest.raises(UsageError, match="--universal-fit 0"):
        audit.run(tiny_model, pixels.astype(np.uint8), threat="patch", eps=4, universal=True,
                  universal_fit=0, out=tmp_path / "v")


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


def chance_model() -> keras.Model:
    """Always 'cat': on balanced labels, clean accuracy is chance (as with a wrong input scale)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    logits = keras.layers.Dense(2, kernel_initializer="zeros",
                                bias_initializer=keras.initializers.Constant([1.0, 0.0]))(
        keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Softmax()(logits))


@pytest.mark.parametrize("labels, says", [
    ([0, 7], "labels: 7 (image 1) is not a class index: the model has 2 classes"),
    ([0, -1], "labels: -1 (image 1) is not a class index"),
    (["cat", "zebra"], "labels: 'zebra' (image 1) is not a class of the model: use one of "
                       "cat, dog (or an index 0..1)"),
    ([0, 1.5], "labels: 1.5 (image 1) is a float"),
    ("cat,dog", "labels must be a list"),
    ([0, 1, 0], "labels: 3 labels for the 2 images of an array of shape (2, 16, 16, 3)"),
])
def test_bad_labels_name_the_label_and_the_classes(tiny_model, tmp_path, labels, says):
    with pytest.raises(UsageError) as err:
        audit.run(tiny_model, np.zeros((2, SIZE, SIZE, 3), np.uint8), labels=labels,
                  class_names=["cat", "dog"], out=tmp_path / "a", report=False)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_labels_may_be_names_in_any_case_indices_or_unknown(tiny_model, tmp_path):
    pixels, labels = ramp_images(4, np.random.default_rng(4))
    given = ["CAT" if v == 0 else 1 for v in labels.tolist()]
    given[0] = None
    result = audit.run(tiny_model, pixels.astype(np.uint8), labels=given,
                       class_names=["cat", "dog"], eps=16, step=4, steps=2, attack="bim",
                       out=tmp_path / "a", report=False, trust=False)
    assert [row["true_label"] for row in result.images] == \
        ["unknown"] + ["cat" if v == 0 else "dog" for v in labels.tolist()[1:]]


@pytest.mark.parametrize("shape, labels, says", [
    ((128, 32, 32), [0], "labels: 1 labels for the 128 images of an array of shape "
                         "(128, 32, 32) (read as N x H x W grayscale)"),
    ((SIZE, SIZE, 3), None, "images array of shape (16, 16, 3) looks like one H x W x C image"),
    ((SIZE, SIZE), None, "images array of shape (16, 16) is not a batch of images"),
    ((2, SIZE, SIZE, 4), None, "(2, 16, 16, 4) is not a batch of images: pass uint8 images as "
                               "an array of shape (N, H, W, C)"),
    ((0, SIZE, SIZE, 3), None, "holds no pixels"),
])
def test_bad_array_shapes_say_the_shape_is_the_problem(tiny_model, tmp_path, shape, labels,
                                                        says):
    with pytest.raises(UsageError) as err:
        audit.run(tiny_model, np.zeros(shape, np.uint8), labels=labels,
                  class_names=["cat", "dog"], out=tmp_path / "a", report=False)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_file_lists_check_labels_and_items(tiny_model, photo_folder, tmp_path):
    files = sorted(photo_folder.rglob("*.png"))[:3]
    with pytest.raises(UsageError, match="labels: 2 labels for 3 image files"):
        audit.run(tiny_model, files, labels=["cat", "dog"], class_names=["cat", "dog"],
                  out=tmp_path / "a", report=False)
    with pytest.raises(UsageError, match="'zebra'"):
        audit.run(tiny_model, files, labels=["cat", "dog", "zebra"],
                  class_names=["cat", "dog"], out=tmp_path / "b", report=False)
    with pytest.raises(UsageError, match="the list holds a ndarray, not a file path"):
        audit.run(tiny_model, [np.zeros((SIZE, SIZE, 3), np.uint8)],
                  class_names=["cat", "dog"], out=tmp_path / "c", report=False)
    with pytest.raises(UsageError, match="labels are for an images array or a list of files"):
        audit.run(tiny_model, photo_folder, labels=["cat"], class_names=["cat", "dog"],
                  out=tmp_path / "d", report=False)


@pytest.mark.parametrize("model", [object(), {"model": "x"}, 3, np.zeros(3)])
def test_something_that_is_not_a_model_is_named_as_such(model, tmp_path):
    with pytest.raises(UsageError, match="is not a model: pass a keras.Model, the path of") as err:
        audit.run(model, np.zeros((1, SIZE, SIZE, 3), np.uint8), out=tmp_path / "a")
    assert type(model).__name__ in str(err.value) and "does not exist" not in str(err.value)


def test_empty_out_and_a_sweep_below_the_budget_are_refused(tiny_model, tmp_path):
    with pytest.raises(UsageError, match="--out is empty"):
        audit.run(tiny_model, np.zeros((1, SIZE, SIZE, 3), np.uint8), out="")
    with pytest.raises(UsageError, match="--max-eps 2 is below --eps 6"):
        audit.run(tiny_model, np.zeros((1, SIZE, SIZE, 3), np.uint8), eps=6, sweep=True,
                  max_eps=2, out=tmp_path / "a")
    with pytest.raises(UsageError, match="--max-eps 0 is not a sweep bound"):
        audit.AuditConfig(sweep=True, max_eps=0).budget()
    with pytest.raises(UsageError, match="--sweep needs a bounded attack"):
        audit.AuditConfig(sweep=True, attack="seed").budget()
    assert not (tmp_path / "a").exists()
    audit.AuditConfig(sweep=True, eps=6, max_eps=6).budget()  # equal is fine
    audit.AuditConfig(sweep=False, eps=6, max_eps=2).budget()  # no sweep: not used


def test_clean_accuracy_at_chance_warns_that_the_input_scale_may_be_wrong(tmp_path):
    pixels, labels = ramp_images(12, np.random.default_rng(4))
    logs: list[str] = []
    result = audit.run(chance_model(), pixels.astype(np.uint8), labels=labels.tolist(),
                       class_names=["cat", "dog"], input_scale=255, eps=16, step=4, steps=2,
                       attack="bim", out=tmp_path / "a", report=False, trust=False,
                       log=logs.append)
    assert result.summary["clean_accuracy"] <= 0.6
    warnings = [line for line in logs if "input scale may be wrong" in line]
    assert len(warnings) == 1 and "try --input-scale 1" in warnings[0]
    summary = {"clean_accuracy": 0.95, "n_labelled": 96}
    assert audit.pipeline.api.scale_warning({"summary": summary,
                                    "manifest": {"class_names": ["a", "b"], "input_scale": 1}}) \
        is None
    few = {"summary": {"clean_accuracy": 0.5, "n_labelled": 4},
           "manifest": {"class_names": ["a", "b"], "input_scale": 1}}
    assert audit.pipeline.api.scale_warning(few) is None  # too few labelled photos to tell
    few["summary"]["n_labelled"] = 40
    assert "try --input-scale 255" in audit.pipeline.api.scale_warning(few)
