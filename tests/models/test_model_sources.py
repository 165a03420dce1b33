"""The model as shipped: TFLite (float, int8) and ONNX files audited as query-only models,
and the transfer audit from a Keras surrogate — on the tiny trained model, exported here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from support.exports import nchw_onnx, to_onnx, to_tflite
from support.models import SIZE, ramp_images

from audit.attacks import ATTACKS, Goal
from audit.attacks.auto import Auto
from audit.cli import main
from audit.errors import ModelError
from audit.images import load_png
from audit.models.keras_model import KerasClassifier
from audit.models.preflight import preflight
from victims.loading import load_victim

LABELS = ["cat", "dog"]
QUICK = ["--eps", "8", "--labels", "cat,dog", "--batch-size", "16"]


@pytest.fixture(scope="module")
def shipped(tiny_model, tiny_model_file, tmp_path_factory) -> dict[str, Path]:
    """The tiny model as a team would ship it: float and int8 TFLite, ONNX."""
    root = tmp_path_factory.mktemp("shipped")
    calibration, _ = ramp_images(64, np.random.default_rng(3))
    # real photos span black to white: so does the calibration set (inputs 0..1 at 1/255)
    calibration[0], calibration[1] = 0, 255
    return {"keras": tiny_model_file,
            "float": to_tflite(tiny_model, root / "tiny.tflite"),
            "int8": to_tflite(tiny_model, root / "tiny_int8.tflite",
                              int8_calibration=calibration),
            "onnx": to_onnx(tiny_model, root / "tiny.onnx")}


@pytest.mark.parametrize("kind,tolerance", [("float", 1e-4), ("onnx", 1e-4), ("int8", 0.06)])
def test_each_artifact_predicts_like_the_keras_model(shipped, tiny_model, tiny_data, kind,
                                                     tolerance):
    x, _ = tiny_data
    clf = load_victim(str(shipped[kind]), labels=LABELS).classifier
    expected = tiny_model.predict(x / 255.0, verbose=0)
    got = clf.predict(x)
    assert np.abs(got - expected).max() < tolerance
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= (0.9 if kind == "int8" else 1.0)
    assert not clf.gradients and clf.input_size == (SIZE, SIZE) and clf.channels == 3
    findings = {f["check"]: f for f in preflight(clf, labels_given=True)}
    assert findings["gradients"]["status"] == "warn" and "--surrogate" in \
        findings["gradients"]["detail"]
    assert findings["determinism"]["status"] == "ok"
    if kind == "int8":
        assert "int8-quantised" in clf.logits_source and clf.quantised


def test_int8_inputs_land_on_the_pixel_grid(shipped, tiny_data):
    """The usual int8 export quantises inputs 0..1 at 1/255: each count is one step, so the
    attack's uint8 grid is exactly what the quantised model sees."""
    clf = load_victim(str(shipped["int8"]), labels=LABELS).classifier
    scale, zero = clf.interpreter.get_input_details()[0]["quantization"]
    assert abs(scale - 1 / 255) < 1e-6 and zero == 0
    seen = []
    real = clf.interpreter

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def set_tensor(self, index, value):
            seen.append(value.copy())
            real.set_tensor(index, value)

    clf.interpreter = Spy()
    x, _ = tiny_data
    clf.predict(x[:4])
    assert seen[-1].dtype == np.uint8
    np.testing.assert_array_equal(seen[-1], x[:4].astype(np.uint8))


def test_a_channels_first_onnx_model_is_detected_and_fed_transposed(tmp_path, tiny_data):
    w = np.array([[0.02, -0.02], [0.0, 0.01], [-0.03, 0.02]], np.float32)
    clf = load_victim(str(nchw_onnx(tmp_path / "nchw.onnx", w)), labels=LABELS).classifier
    x, _ = tiny_data
    z = (x / 255.0).mean(axis=(1, 2)) @ w
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict(x), expected, atol=1e-5)
    detail = {f["check"]: f["detail"] for f in preflight(clf, labels_given=True)}["input"]
    assert detail.startswith("NCHW 16x16x3")


def test_onnx_without_onnxruntime_says_which_extra_to_install(tmp_path, monkeypatch):
    path = nchw_onnx(tmp_path / "m.onnx", np.ones((3, 2), np.float32))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModelError, match=r"pip install 'advaudit\[onnx\]'"):
        load_victim(str(path), labels=LABELS)


def audit(args: list[str], out: Path) -> tuple[dict, str]:
    r = CliRunner().invoke(main, ["audit", *args, "--out", str(out), *QUICK])
    assert r.exit_code in (0, 1) and "Traceback" not in r.output, r.output
    return json.loads((out / "results.json").read_text()), r.output


def test_a_query_only_audit_runs_the_stages_that_fit_and_says_which_could_not(
        shipped, photo_folder, tmp_path):
    results, output = audit([str(shipped["int8"]), "--images", str(photo_folder)],
                            tmp_path / "int8")
    m, s = results["manifest"], results["summary"]
    assert m["model_access"] == {"format": "tflite", "gradients": False, "surrogate": None}
    assert m["attack_traits"]["skipped_stages"] == ["probe", "apgd-ce", "apgd-t"]
    assert m["attack_traits"]["stages"] == ["square"]
    rows = [r for r in results["images"] if r["attacked"]]
    assert rows and all(r["grad_evals"] == 0 for r in rows)
    assert {r["found_by"] for r in rows if r["flipped"]} <= {"square"}
    assert "could not run probe, apgd-ce, apgd-t" in output and "model access" in output
    assert s["verdict"] != "robust"
    if s["verdict"] == "inconclusive":
        assert any("query-only" in reason for reason in s["verdict_reasons"])
    assert "gradients are informative" not in json.dumps(results["trust"])
    assert 'id="access"' in (tmp_path / "int8" / "report.html").read_text()


def test_a_transfer_audit_counts_only_flips_the_audited_model_confirms(
        shipped, photo_folder, tmp_path):
    results, output = audit([str(shipped["int8"]), "--images", str(photo_folder),
                             "--surrogate", str(shipped["keras"])], tmp_path / "transfer")
    m, s = results["manifest"], results["summary"]
    assert m["model_access"]["surrogate"]["name"] == "tiny.keras"
    assert m["attack_traits"]["skipped_stages"] == []
    rows = [r for r in results["images"] if r["attacked"]]
    moved = s["transfer"]
    assert moved["surrogate_flips"] == sum(r["surrogate_flipped"] for r in rows) > 0
    assert moved["transferred"] == sum(r["found_on"] == "surrogate" for r in rows)
    assert moved["transfer_rate"] == moved["transferred"] / moved["surrogate_flips"]
    assert "transfer rate" in output
    # every flip is one of the int8 model itself, reproduced from its PNG
    clf = load_victim(str(shipped["int8"]), labels=LABELS).classifier
    flipped = [r for r in rows if r["flipped"]]
    assert flipped
    x = np.stack([load_png(tmp_path / "transfer" / r["adv_path"], 3) for r in flipped])
    pred = clf.predict(x.astype(np.float32)).argmax(1)
    assert all(LABELS[p] != r["reference_label"] for p, r in zip(pred, flipped, strict=True))


def test_a_surrogate_flip_the_model_does_not_share_is_not_a_flip(tiny_model, tiny_data):
    """A surrogate that disagrees with the model everywhere (its classes swapped): its
    gradient stages 'flip' every photo at once, and none of those claims may count."""
    inputs = keras.Input((SIZE, SIZE, 3))
    swapped = keras.Model(inputs, keras.ops.flip(tiny_model(inputs), axis=-1))
    clf = KerasClassifier.from_model(tiny_model, LABELS)
    both = clf.with_surrogate(KerasClassifier.from_model(swapped, LABELS))
    x, _ = tiny_data
    x = x[:8]
    label = clf.predict(x).argmax(1)
    goal = Goal.of(label, ids=np.arange(len(x)))
    budget = ATTACKS["auto"].budget(2, queries=20)
    r = Auto().run(both, x, goal, budget)
    assert r.surrogate_flip.all()  # every photo "flipped" the surrogate in the first stage
    real = clf.predict(r.x).argmax(1) != label
    np.testing.assert_array_equal(r.success, real)  # only the model's own flips count
    assert all(f in (None, "square") for f in r.found_by)


def test_compare_says_what_each_artifact_let_the_audit_ask(shipped, photo_folder, tmp_path):
    audit([str(shipped["keras"]), "--images", str(photo_folder)], tmp_path / "keras")
    audit([str(shipped["float"]), "--images", str(photo_folder)], tmp_path / "float")
    r = CliRunner().invoke(main, ["compare", str(tmp_path / "keras" / "results.json"),
                                  str(tmp_path / "float" / "results.json")])
    assert "Traceback" not in r.output, r.output
    assert "model access: keras -> tflite (query-only)" in r.output
    assert "its flip rate is a lower bound" in r.output
