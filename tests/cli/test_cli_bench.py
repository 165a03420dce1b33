"""``advaudit bench`` on the built-in small CNN and on a user's model, and the device check."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from click.testing import CliRunner

from audit.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--batch-size", "2", "--steps", "1", "--repeats", "1", "--rounds", "1", "--no-demos",
         "--json"]


def bench(*args):
    return CliRunner().invoke(main, ["bench", *args])


@pytest.fixture(scope="module")
def three_class_grey_model(tmp_path_factory) -> Path:
    """Nothing like cat/dog: 3 classes, one channel, 16x16, untrained."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 1))
    h = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    path = tmp_path_factory.mktemp("bench") / "three.keras"
    model.save(path)
    return path


def test_bench_small_model_built_in_code():
    r = bench("--model", "small", "--no-audit-cost", *QUICK)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["model"] == "small" and "untrained" in out["note"]
    assert out["raw_grad_per_s"] > 0 and out["attack_img_steps_per_s"] > 0
    assert out["ratio"] == pytest.approx(out["attack_img_steps_per_s"] / out["raw_grad_per_s"],
                                         rel=1e-2)


def test_bench_any_model_with_its_own_classes(three_class_grey_model):
    r = bench(str(three_class_grey_model), *QUICK, "--cost-photos", "24")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["note"] == ""  # its own weights, not an untrained stand-in
    cost = out["audit_cost"]
    assert cost["model"] == str(three_class_grey_model) and cost["images"] == 24
    # attacked away from the model's own predictions on the samples
    assert cost["auto_cost_per_image"] > 0 and cost["sweep_cost_per_image"] > 0
    assert 0 <= cost["flipped"] <= cost["images"]


def test_bench_refuses_two_models_and_a_stray_dry_run(three_class_grey_model):
    r = bench(str(three_class_grey_model), "--model", "small")
    assert r.exit_code == 2 and "not both" in r.output and "Traceback" not in r.output
    r = bench("--model", "small", "--dry-run")
    assert r.exit_code == 2 and "--device-check" in r.output


def test_gpu_check_script_dry_run_on_cpu():
    """The script as a user runs it, in its CPU dry-run mode (a few seconds)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run",
                           "--model", "small", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["dry_run"] and out["model"] == "small"
    assert [t["batch_size"] for t in out["throughput"]] == [2, 4]
    assert all(t["ratio"] > 0 for t in out["throughput"])
    assert out["device"]["devices"] and out["device"]["tensorflow"]
    assert out["audit"]["images"] == 8 and 0 <= out["audit"]["flip_rate"] <= 1
