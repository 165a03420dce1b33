"""Models that are not one plain classifier head: several outputs, a single linear output (a
regression score or a binary logit), outputs that are not finite. Each is refused in one line
or attacked on the head the user named, never guessed."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from support.hostile import nan_model, regression_model, two_head_model
from support.models import SIZE, train_tiny

from audit.classifier import BINARY_LOGIT
from audit.cli import main
from audit.errors import ModelError
from audit.models.keras_model import KerasClassifier, select_output
from audit.models.preflight import preflight

FAST = ["--eps", "16", "--step", "4", "--steps", "3", "--no-report", "--no-trust"]


def audit(model, photos, out, *extra):
    return CliRunner().invoke(main, ["audit", str(model), "--images", str(photos), "--out",
                                     str(out), *FAST, *extra])


def one_error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_several_outputs_are_refused_until_one_is_picked(tmp_path, photo_folder):
    path = two_head_model(tmp_path / "two.keras")
    line = one_error_line(r := audit(path, photo_folder, tmp_path / "o"))
    assert r.exit_code == 2 and "2 outputs (species, pet)" in line and "--output" in line
    line = one_error_line(r := audit(path, photo_folder, tmp_path / "o", "--output", "tail"))
    assert r.exit_code == 2 and "'tail'" in line and "species, pet" in line

    r = audit(path, photo_folder, tmp_path / "pet", "--output", "pet", "--labels", "cat,dog")
    assert r.exit_code == 0, r.output
    r = audit(path, photo_folder, tmp_path / "species", "--output", "species", "--labels",
              "cat,dog,fox")
    assert r.exit_code == 0, r.output
    for head, names in (("pet", ["cat", "dog"]), ("species", ["cat", "dog", "fox"])):
        res = json.loads((tmp_path / head / "results.json").read_text())
        assert res["manifest"]["class_names"] == names
        assert all(len(row["clean_probs"]) == len(names) for row in res["images"])


def test_the_picked_head_is_the_one_attacked():
    """Class scores, logits and predictions all come from the head the user named."""
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Flatten()(inputs)
    first = keras.layers.Dense(2, activation="softmax", name="first")(h)
    second = keras.layers.Dense(3, activation="softmax", name="second")(h)
    model = keras.Model(inputs, [first, second])
    with pytest.raises(ValueError, match="--output NAME"):
        select_output(model, None)
    clf = KerasClassifier.from_model(select_output(model, "first"))
    x = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3)).astype(np.float32)
    expected = model(x / 255.0)[0].numpy()
    assert np.allclose(clf.predict(x), expected, atol=1e-5)
    assert "'first'" in clf.logits_source


def test_single_linear_output_is_not_a_classifier_unless_declared_a_binary_logit(
        tmp_path, photo_folder):
    path = regression_model(tmp_path / "reg.keras")
    line = one_error_line(r := audit(path, photo_folder, tmp_path / "o"))
    assert r.exit_code == 2 and "--binary-logit" in line and str(path) in line
    assert not (tmp_path / "o").exists()

    r = audit(path, photo_folder, tmp_path / "o", "--binary-logit", "--labels", "cat,dog")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["manifest"]["class_names"] == ["cat", "dog"]
    output = next(f for f in res["manifest"]["preflight"] if f["check"] == "output")
    assert "--binary-logit" in output["detail"]


def test_binary_logit_is_the_logit_of_class_1():
    model = _linear_unit()
    clf = KerasClassifier.from_model(model, binary_logit=True)
    assert clf.output_kind == BINARY_LOGIT and clf.class_names == ["class_0", "class_1"]
    x = np.random.default_rng(1).integers(0, 256, (4, SIZE, SIZE, 3)).astype(np.float32)
    z = model(x / 255.0).numpy()[:, 0]
    p1 = 1 / (1 + np.exp(-z))
    assert np.allclose(clf.predict(x)[:, 1], p1, atol=1e-5)


def _linear_unit() -> keras.Model:
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 3))
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))


def test_binary_logit_does_not_fit_other_heads(tiny_model_file, tmp_path, photo_folder):
    line = one_error_line(r := audit(tiny_model_file, photo_folder, tmp_path / "o",
                                     "--binary-logit"))
    assert r.exit_code == 2 and "--binary-logit" in line and "2" in line
    with pytest.raises(ModelError, match="sigmoid probability"):
        KerasClassifier.from_model(train_tiny(head="sigmoid"), binary_logit=True)


def test_outputs_that_are_not_finite_are_named_not_blamed_on_dropout(tmp_path, photo_folder):
    path = nan_model(tmp_path / "nan.keras")
    findings = {f["check"]: f for f in preflight(
        KerasClassifier.from_model(keras.models.load_model(path, compile=False)), False)}
    assert findings["finite"]["status"] == "fail"
    assert "not finite" in findings["finite"]["detail"]
    assert findings["determinism"]["status"] == "ok"  # NaN twice is not randomness
    r = audit(path, photo_folder, tmp_path / "o", "--labels", "cat,dog")
    assert r.exit_code == 2 and "finite" in one_error_line(r)
    assert "dropout" not in r.output
