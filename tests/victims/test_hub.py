"""hf:// models: the Hub client at its boundary (a fake ``snapshot_download``; no network), the
real huggingface_hub offline against a cache laid out on disk, and one-line failures."""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from support.models import SIZE

from audit.cli import main
from audit.errors import ModelError
from victims import hub
from victims.loading import load_victim, sha256_of

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def keras_repo_files(model: keras.Model, tmp: Path) -> dict[str, bytes]:
    """The files ``model.save("hf://...")`` uploads: a .keras archive's members, unzipped."""
    archive = tmp / "upload.keras"
    model.save(archive)
    with zipfile.ZipFile(archive) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    files["README.md"] = b"# a model card\n"
    return files


class FakeHub:
    """Stands in for the huggingface_hub module at its boundary: ``snapshot_download`` lays the
    repo's files out as the hub's cache does (``models--owner--name/snapshots/<commit>``)."""

    class constants:  # noqa: N801 - mirrors huggingface_hub.constants
        HF_HUB_CACHE = "/fake/hf/hub"

    def __init__(self, files: dict[str, bytes] | None = None, error: Exception | None = None):
        self.files, self.error, self.calls = files or {}, error, []

    def snapshot_download(self, **kwargs) -> str:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        cache = Path(kwargs["cache_dir"] or self.constants.HF_HUB_CACHE)
        folder = cache / ("models--" + kwargs["repo_id"].replace("/", "--")) / "snapshots" / COMMIT
        for name, data in self.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return str(folder)


@pytest.fixture()
def repo_files(tiny_model, tmp_path) -> dict[str, bytes]:
    return keras_repo_files(tiny_model, tmp_path)


@pytest.fixture()
def fake_hub(monkeypatch, tmp_path, repo_files) -> FakeHub:
    fake = FakeHub(repo_files)
    monkeypatch.setattr(hub, "hub_client", lambda: fake)
    monkeypatch.setenv("ADVAUDIT_CACHE", str(tmp_path / "cache"))
    return fake


def test_audit_of_an_hf_model_records_repo_commit_and_hashes(fake_hub, repo_files, photo_folder,
                                                             tmp_path):
    r = CliRunner().invoke(main, ["audit", "hf://someone/tiny-catdog", "--labels", "cat,dog",
                                  "--images", str(photo_folder), "--out", str(tmp_path / "o"),
                                  "--eps", "16", "--step", "4", "--no-report", "--no-trust"])
    assert r.exit_code == 0, r.output
    call = fake_hub.calls[0]
    assert call["repo_id"] == "someone/tiny-catdog" and call["revision"] is None
    assert call["cache_dir"] == str(tmp_path / "cache" / "huggingface")
    assert call["library_name"] == "keras"  # as Keras's own hf:// loading identifies itself
    m = json.loads((tmp_path / "o" / "results.json").read_text())["manifest"]
    assert m["model"] == "hf://someone/tiny-catdog"
    src = m["model_source"]
    assert src["repo"] == "someone/tiny-catdog" and src["revision"] == COMMIT
    assert src["uri"] == f"hf://someone/tiny-catdog@{COMMIT}" and src["loaded"] == "."
    assert src["files"] == {name: hashlib.sha256(data).hexdigest()
                            for name, data in sorted(repo_files.items())}
    assert m["model_sha256"] == sha256_of(Path(m["model_path"]))
    assert Path(m["model_path"]).name == COMMIT


def test_the_hub_model_is_the_uploaded_model(fake_hub, tiny_model, tiny_data):
    x, _ = tiny_data
    loaded = load_victim("hf://someone/tiny-catdog@v1.0", labels=["cat", "dog"])
    assert fake_hub.calls[0]["revision"] == "v1.0"
    assert loaded.source["requested_revision"] == "v1.0"
    np.testing.assert_allclose(loaded.classifier.model.predict(x / 255.0, verbose=0),
                               tiny_model.predict(x / 255.0, verbose=0), atol=1e-6)


def test_a_repo_holding_one_keras_file_loads_that_file(monkeypatch, tmp_path, tiny_model):
    tiny_model.save(tmp_path / "m.keras")
    fake = FakeHub({"model.keras": (tmp_path / "m.keras").read_bytes(), "README.md": b"card"})
    got = hub.load_hub_model("hf://a/b", client=fake, cache=tmp_path / "c")
    assert got.source["loaded"] == "model.keras" and got.path.name == "model.keras"


def test_a_repo_without_a_model_says_what_it_found(tmp_path):
    fake = FakeHub({"README.md": b"card", "weights.bin": b"x"})
    with pytest.raises(ModelError, match=r"hf://a/b holds no Keras model .*README.md"):
        hub.load_hub_model("hf://a/b", client=fake, cache=tmp_path)


def test_safe_mode_is_kept_for_hub_models(monkeypatch, tmp_path, photo_folder):
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Lambda(lambda t: t * 1.0)(inputs)
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(h))
    fake = FakeHub(keras_repo_files(keras.Model(inputs, out), tmp_path))
    monkeypatch.setattr(hub, "hub_client", lambda: fake)
    monkeypatch.setenv("ADVAUDIT_CACHE", str(tmp_path / "cache"))
    r = CliRunner().invoke(main, ["audit", "hf://someone/lambda", "--images", str(photo_folder),
                                  "--out", str(tmp_path / "o"), "--no-report"])
    assert r.exit_code == 2 and "--unsafe-load" in r.output
    assert "hf://someone/lambda needs unsafe deserialisation" in r.output
    assert str(tmp_path) not in r.output and len(r.output.strip().splitlines()) == 1
    trusted = load_victim("hf://someone/lambda", unsafe=True)
    assert len(trusted.classifier.class_names) == 2


class RepositoryNotFoundError(Exception):
    pass


class GatedRepoError(RepositoryNotFoundError):
    pass


class RevisionNotFoundError(Exception):
    pass


class LocalEntryNotFoundError(FileNotFoundError):
    pass


@pytest.mark.parametrize(("error", "needle"), [
    (RepositoryNotFoundError("404"), "was not found on the Hugging Face Hub"),
    (GatedRepoError("403"), "is gated: accept its conditions"),
    (RevisionNotFoundError("404"), "revision 'v9' does not exist"),
    (LocalEntryNotFoundError("offline"), "is not in the cache /fake/hf/hub"),
    (RuntimeError("500 server error"), "downloading hf://a/b@v9 failed (RuntimeError"),
])
def test_download_failures_are_one_line(monkeypatch, tmp_path, error, needle):
    monkeypatch.delenv("ADVAUDIT_CACHE", raising=False)
    monkeypatch.setattr(hub, "hub_client", lambda: FakeHub(error=error))
    r = CliRunner().invoke(main, ["audit", "hf://a/b@v9", "--out", str(tmp_path), "--no-report"])
    assert r.exit_code == 2 and needle in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


@pytest.mark.parametrize("spec", ["hf://", "hf://just-a-name", "hf://a/b/c", "hf://../x",
                                  "hf://a/b@", "hf://a/b@../../x"])
def test_malformed_specs_are_refused_before_any_download(spec):
    with pytest.raises(ModelError, match="hf://"):
        hub.load_hub_model(spec, client=FakeHub(error=AssertionError("no download expected")))


def test_without_the_extra_it_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if absent
    r = CliRunner().invoke(main, ["audit", "hf://a/b", "--out", str(tmp_path), "--no-report"])
    assert r.exit_code == 2 and "pip install 'advaudit[hf]'" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_real_client_offline_and_uncached_fails_in_one_line(monkeypatch, tmp_path):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no request leaves the machine
    monkeypatch.setenv("ADVAUDIT_CACHE", str(tmp_path))
    r = CliRunner().invoke(main, ["audit", "hf://someone/absent", "--out", str(tmp_path / "o"),
                                  "--no-report"])
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert len(line.splitlines()) == 1
    assert f"not in the cache {tmp_path / 'huggingface'}" in line and "advaudit[hf]" in line


def test_real_client_offline_loads_a_cached_snapshot(monkeypatch, tmp_path, repo_files,
                                                     tiny_data):
    """The cache as the hub lays it out (refs/main names the commit; snapshots/<commit> holds
    the files), found by the real huggingface_hub with no network."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("ADVAUDIT_CACHE", str(tmp_path))
    repo = tmp_path / "huggingface" / "models--someone--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    for name, data in repo_files.items():
        (repo / "snapshots" / COMMIT / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / COMMIT / name).write_bytes(data)
    got = load_victim("hf://someone/tiny", labels=["cat", "dog"])
    assert got.source["revision"] == COMMIT and got.path == str(repo / "snapshots" / COMMIT)
    x, y = tiny_data
    assert np.mean(got.classifier.predict(x).argmax(1) == y) > 0.9


@pytest.mark.parametrize("spec", ["hf://a/b@", "hf://a/b@ "])
def test_an_empty_revision_is_named_as_such(spec):
    with pytest.raises(ModelError, match="empty revision after @") as err:
        hub.parse_hub_spec(spec)
    assert spec in str(err.value) and "cache" not in str(err.value)
