"""Victims: the Kaggle path at its boundary (fake API), Keras-2 weights, saved models, preflight."""

import io
import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import requests
from click.testing import CliRunner
from support.models import SIZE, train_tiny

from audit.cli import main
from audit.errors import VictimError
from audit.models.keras_model import KerasClassifier
from audit.models.preflight import preflight
from victims import kaggle_fetch, registry
from victims.architectures import kaggle_catdog
from victims.loading import load_victim, sha256_of


@pytest.fixture(scope="module")
def keras2_weights(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A genuine Keras-2 weights-only model.h5, written by tf-keras (Keras 2.x), with random
    non-trivial weights (BatchNorm statistics included), and its predictions on a batch."""
    tf_keras = pytest.importorskip("tf_keras")
    m = kaggle_catdog(tf_keras)
    assert m.__module__.startswith("tf_keras")
    rng = np.random.default_rng(0)
    # kernels random; every vector (biases, BN gamma/beta/mean/variance) in [0.5, 1.5], which
    # keeps BatchNorm variances positive and makes each one matter
    m.set_weights([rng.normal(0, 0.02, w.shape).astype(np.float32) if w.ndim > 1
                   else rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                   for w in m.get_weights()])
    path = tmp_path_factory.mktemp("kaggle") / "model.h5"
    m.save_weights(str(path))
    x = rng.uniform(0, 1, (4, 128, 128, 3)).astype(np.float32)
    return path, x, m.predict(x, verbose=0)


def test_keras2_weights_load_into_keras3_rebuild(keras2_weights):
    path, x, expected = keras2_weights
    model = kaggle_catdog()
    assert 12_800_000 < model.count_params() < 13_000_000
    model.load_weights(path)
    got = model.predict(x, verbose=0)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(expected[:, 0] - 0.5).max() > 1e-3  # the weights really do something


def test_audit_with_user_supplied_kaggle_weights(keras2_weights, photo_folder, tmp_path):
    path, _, _ = keras2_weights
    r = CliRunner().invoke(main, ["audit", "kaggle-catdog", "--weights", str(path), "--images",
                                  str(photo_folder), "--out", str(tmp_path), "--attack",
                                  "fgsm", "--no-report", "--no-trust"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["manifest"]["model"] == "kaggle-catdog"
    assert res["manifest"]["preflight"][2]["detail"].startswith("pre-activation of final Dense")


def test_wrong_weights_file_is_a_one_line_error(tmp_path, photo_folder):
    bad = tmp_path / "model.h5"
    train_tiny().save_weights(tmp_path / "tiny.weights.h5")
    (tmp_path / "tiny.weights.h5").rename(bad)
    r = CliRunner().invoke(main, ["audit", "kaggle-catdog", "--weights", str(bad), "--images",
                                  str(photo_folder), "--no-report"])
    assert r.exit_code == 2 and "does not hold kaggle-catdog weights" in r.output
    assert len(r.output.strip().splitlines()) == 1


class FakeKaggle:
    """Stands in for KaggleApi at its boundary: kernels_output writes what Kaggle would."""

    def __init__(self, payload: dict[str, bytes] | Exception, as_zip: bool = False):
        self.payload, self.as_zip, self.calls = payload, as_zip, []

    def kernels_output(self, kernel, path, file_pattern=None, **kw):
        self.calls.append((kernel, path, file_pattern))
        if isinstance(self.payload, Exception):
            raise self.payload
        if self.as_zip:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                for name, data in self.payload.items():
                    zf.writestr(name, data)
            Path(path, "output.zip").write_bytes(buf.getvalue())
        else:
            for name, data in self.payload.items():
                Path(path, name).write_bytes(data)
        return list(self.payload), "ok"


@pytest.mark.parametrize("as_zip", [False, True])
def test_fetch_records_hash_and_verifies_it_later(keras2_weights, tmp_path, monkeypatch, as_zip):
    path, x, expected = keras2_weights
    fake = FakeKaggle({"model.h5": path.read_bytes()}, as_zip)
    monkeypatch.setattr(kaggle_fetch, "kaggle_api", lambda: fake)
    monkeypatch.setenv("ADVAUDIT_CACHE", str(tmp_path / "cache"))
    r = CliRunner().invoke(main, ["victims", "fetch", "kaggle-catdog"])
    assert r.exit_code == 0, r.output
    assert fake.calls[0][0] == "uysimty/keras-cnn-dog-or-cat-classification"
    cached = tmp_path / "cache" / "kaggle-catdog" / "model.h5"
    record = json.loads(registry.recorded_hash_file(cached).read_text())
    assert len(record["sha256"]) == 64
    victim = load_victim("kaggle-catdog")
    assert np.abs(victim.classifier.model.predict(x, verbose=0) - expected).max() < 1e-5
    listing = CliRunner().invoke(main, ["victims", "list"])
    assert "kaggle-catdog" in listing.output and "[present]" in listing.output
    with open(cached, "r+b") as fh:  # silent corruption of the cache is caught
        fh.seek(-100, 2)
        fh.write(b"\0" * 50)
    with pytest.raises(VictimError, match="SHA-256"):
        load_victim("kaggle-catdog")


def test_fetch_refuses_zip_path_escape(tmp_path):
    fake = FakeKaggle({"../../escape.h5": b"x", "model.h5": b"y"}, as_zip=True)
    with pytest.raises(VictimError, match="escape"):
        kaggle_fetch.fetch_kaggle_catdog(tmp_path / "cache", fake)
    assert not (tmp_path / "escape.h5").exists()


@pytest.mark.parametrize("error,needle", [
    (requests.exceptions.ConnectionError("Name resolution failed"), "cannot reach Kaggle"),
    (RuntimeError("403 forbidden"), "Kaggle download"),
])
def test_fetch_failures_are_one_line(tmp_path, monkeypatch, error, needle):
    monkeypatch.setattr(kaggle_fetch, "kaggle_api", lambda: FakeKaggle(error))
    monkeypatch.setenv("ADVAUDIT_CACHE", str(tmp_path))
    r = CliRunner().invoke(main, ["victims", "fetch", "kaggle-catdog"])
    assert r.exit_code == 2 and needle in r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_missing_credentials_with_the_real_kaggle_package(tmp_path, monkeypatch):
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / ".kaggle"))
    with pytest.raises(VictimError, match="no Kaggle credentials") as err:
        kaggle_fetch.kaggle_api()
    assert "KAGGLE_API_TOKEN" in str(err.value) and "--weights" in str(err.value)


def test_uncached_kaggle_victim_says_what_to_do(tmp_path, monkeypatch, photo_folder):
    monkeypatch.setenv("ADVAUDIT_CACHE", str(tmp_path))
    r = CliRunner().invoke(main, ["audit", "kaggle-catdog", "--images", str(photo_folder)])
    assert r.exit_code == 2
    assert "advaudit victims fetch kaggle-catdog" in r.output and "--weights" in r.output



@pytest.mark.parametrize("sidecar", ["{not json", "[1, 2]", '{"sha256": 7}', '{"other": 1}', ""])
def test_corrupt_hash_record_is_one_line_naming_it(tmp_path, monkeypatch, photo_folder,
                                                   sidecar):
    cached = tmp_path / "kaggle-catdog" / "model.h5"
    cached.parent.mkdir()
    cached.write_bytes(b"\x89HDF\r\n\x1a\n whatever")
    record = registry.recorded_hash_file(cached)
    record.write_text(sidecar)
    monkeypatch.setenv("ADVAUDIT_CACHE", str(tmp_path))
    r = CliRunner().invoke(main, ["audit", "kaggle-catdog", "--images", str(photo_folder)])
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert str(record) in line and "corrupt" in line and "advaudit victims fetch" in line


@pytest.mark.parametrize("command", [["victims", "fetch", "kaggle-catdog"],
                                     ["audit", "kaggle-catdog"], ["victims", "list"]])
def test_cache_variable_pointing_at_a_file_is_one_line(tmp_path, monkeypatch, command):
    not_a_folder = tmp_path / "cache.txt"
    not_a_folder.write_text("oops")
    monkeypatch.setenv("ADVAUDIT_CACHE", str(not_a_folder))
    monkeypatch.setattr(kaggle_fetch, "kaggle_api", lambda: FakeKaggle({"model.h5": b"x"}))
    r = CliRunner().invoke(main, command)
    assert r.exit_code == 2, r.output
    error = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(error) == 1 and "Traceback" not in r.output
    assert f"ADVAUDIT_CACHE={not_a_folder} is a file" in error[0]
    assert not_a_folder.read_text() == "oops"


def test_unwritable_cache_folder_is_one_line(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache's parent should be")
    with pytest.raises(VictimError, match="cannot create the cache folder"):
        kaggle_fetch.fetch_kaggle_catdog(blocked / "cache", FakeKaggle({"model.h5": b"x"}))

def test_preflight_findings_for_each_head():
    sig = preflight(KerasClassifier.from_model(train_tiny(head="sigmoid"), ["cat", "dog"]), True)
    kinds = {f["check"]: f for f in sig}
    assert "sigmoid" in kinds["output"]["detail"] and kinds["determinism"]["status"] == "ok"
    logit_clf = KerasClassifier.from_model(train_tiny(head="logits"))
    found = {f["check"]: f for f in preflight(logit_clf, False)}
    assert found["output"]["detail"].startswith("logits")
    assert found["classes"]["status"] == "warn" and "--labels" in found["classes"]["detail"]


def test_dropout_left_on_is_measured_by_the_preflight(tmp_path, photo_folder):
    """Randomness at inference is not a failure any more: it is measured (the audit then
    attacks with EOT; tests/pipeline/test_randomised.py)."""

    class AlwaysDropout(keras.layers.Layer):
        def call(self, x, training=None):
            return keras.random.dropout(x, 0.5)

    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Flatten()(AlwaysDropout()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    findings = {f["check"]: f for f in preflight(KerasClassifier.from_model(model), False)}
    assert findings["determinism"]["status"] == "random"
    assert "random at inference" in findings["determinism"]["detail"]


def test_saved_model_folder_is_audited(tmp_path, photo_folder):
    model = train_tiny()
    model.export(tmp_path / "sm", verbose=False)
    r = CliRunner().invoke(main, ["audit", str(tmp_path / "sm"), "--labels", "cat,dog",
                                  "--images", str(photo_folder), "--out", str(tmp_path / "o"),
                                  "--eps", "16", "--step", "4", "--no-report", "--no-trust"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["summary"]["clean_accuracy"] == 1.0 and res["summary"]["flip_rate"] > 0.5


def test_labels_count_must_match(tiny_model_file, photo_folder):
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--labels", "a,b,c",
                                  "--images", str(photo_folder), "--no-report"])
    assert r.exit_code == 2 and "3 class names given for a model with 2 classes" in r.output


def test_keras2_full_h5_model_is_audited(tmp_path, photo_folder):
    tf_keras = pytest.importorskip("tf_keras")
    from support.models import ramp_images

    tf_keras.utils.set_random_seed(0)
    x, y = ramp_images(256, np.random.default_rng(1))
    m = tf_keras.Sequential([
        tf_keras.layers.Conv2D(6, 3, strides=2, activation="relu", input_shape=(SIZE, SIZE, 3)),
        tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(2, activation="softmax"),
    ])
    m.compile(tf_keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    m.fit(x / 255.0, y, epochs=15, batch_size=64, verbose=0)
    m.save(tmp_path / "keras2.h5")
    keras2_probs = m.predict(x[:8] / 255.0, verbose=0)
    assert np.mean(m.predict(x / 255.0, verbose=0).argmax(1) == y) > 0.9
    keras3 = load_victim(str(tmp_path / "keras2.h5")).classifier
    np.testing.assert_allclose(keras3.predict(x[:8]), keras2_probs, atol=1e-5)
    r = CliRunner().invoke(main, ["audit", str(tmp_path / "keras2.h5"), "--labels", "cat,dog",
                                  "--images", str(photo_folder), "--out", str(tmp_path / "o"),
                                  "--eps", "16", "--step", "4", "--no-report", "--no-trust"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["summary"]["clean_accuracy"] >= 0.9 and res["summary"]["flip_rate"] >= 0.9


def test_training_command_writes_weights_and_record(tmp_path):
    from support.models import write_photo_folder

    data = write_photo_folder(tmp_path / "train", n=16, seed=3)
    held = write_photo_folder(tmp_path / "test", n=6, seed=4)
    out = tmp_path / "w" / "mini.keras"
    r = CliRunner().invoke(main, ["victims", "train", "--data", str(data), "--test", str(held),
                                  "--out", str(out), "--epochs", "1", "--batch-size", "8"])
    assert r.exit_code == 0, r.output
    assert "training on 16 photos" in r.output and "accuracy on" in r.output
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["sha256"] == sha256_of(out)
    assert info["n_train"] == 16 and info["test"][str(held)]["n"] == 6
    assert load_victim(str(out)).classifier.output_kind == "softmax"
