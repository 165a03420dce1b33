"""catdog-mini as a team would ship it — TFLite float, TFLite int8 (calibrated on the shipped
photos) and ONNX, exported here — keeps its accuracy and is audited end to end, directly and
by transfer from the Keras model (the numbers for all 96 photos: scripts/bench_artifacts.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from support.exports import to_onnx, to_tflite

from audit.cli import main
from audit.images import load_photos
from victims.loading import load_victim
from victims.registry import DEFAULT_VICTIM, SAMPLES_DIR, VICTIMS

LABELS = ["cat", "dog"]


@pytest.fixture(scope="module")
def catdog(tmp_path_factory) -> dict:
    model, path = VICTIMS[DEFAULT_VICTIM].load(None)
    photos, _ = load_photos(SAMPLES_DIR, (128, 128), 3)
    x = np.stack([p.pixels for p in photos]).astype(np.float32)
    root = tmp_path_factory.mktemp("catdog")
    return {"x": x, "y": np.array([LABELS.index(p.label) for p in photos]),
            "keras": Path(path),
            "float": to_tflite(model, root / "catdog-mini.tflite"),
            "int8": to_tflite(model, root / "catdog-mini_int8.tflite", int8_calibration=x),
            "onnx": to_onnx(model, root / "catdog-mini.onnx")}


def test_every_artifact_keeps_catdog_minis_accuracy(catdog):
    x, y = catdog["x"], catdog["y"]
    keras_pred = load_victim(str(catdog["keras"])).classifier.predict(x).argmax(1)
    accuracy = {}
    for kind in ("float", "int8", "onnx"):
        clf = load_victim(str(catdog[kind]), labels=LABELS).classifier
        pred = clf.predict(x).argmax(1)
        accuracy[kind] = float(np.mean(pred == y))
        agree = float(np.mean(pred == keras_pred))
        assert agree >= (0.95 if kind == "int8" else 1.0), (kind, agree)
    assert accuracy["float"] == accuracy["onnx"] == float(np.mean(keras_pred == y))
    assert accuracy["int8"] >= 0.8, accuracy


@pytest.fixture()
def eight_photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    for label in LABELS:
        (folder / label).mkdir(parents=True)
        for src in sorted((SAMPLES_DIR / label).glob("*.jpg"))[:4]:
            shutil.copy(src, folder / label / src.name)
    return folder


def run(args: list[str], out: Path) -> dict:
    r = CliRunner().invoke(main, ["audit", *args, "--out", str(out), "--labels", "cat,dog",
                                  "--eps", "4"])
    assert r.exit_code in (0, 1) and "Traceback" not in r.output, r.output
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("kind", ["int8", "float"])
def test_tflite_catdog_mini_falls_to_the_keras_models_gradients(catdog, eight_photos, tmp_path,
                                                                 kind):
    trust = [] if kind == "int8" else ["--no-trust"]  # the trust checks: once is enough
    results = run([str(catdog[kind]), "--images", str(eight_photos), "--surrogate",
                   str(catdog["keras"]), *trust], tmp_path / kind)
    s = results["summary"]
    assert s["verdict"] == "not_robust" and s["deliverable_flip_rate"] >= 0.75
    assert s["transfer"]["transfer_rate"] >= 0.75
    assert all(r["found_on"] in ("surrogate", "model") for r in results["images"]
               if r["attacked"] and r["flipped"])


def test_onnx_catdog_mini_is_audited_by_queries_alone(catdog, eight_photos, tmp_path):
    results = run([str(catdog["onnx"]), "--images", str(eight_photos), "--no-trust",
                   "--attack", "square", "--queries", "300"], tmp_path / "onnx")
    m, s = results["manifest"], results["summary"]
    assert m["model_access"]["format"] == "onnx" and not m["model_access"]["gradients"]
    assert "NHWC" in {f["check"]: f["detail"] for f in m["preflight"]}["input"]
    assert s["n_attacked"] >= 6 and s["flips_by"].keys() <= {"square"} and s["n_flipped"]
    assert s["verdict"] != "robust"
