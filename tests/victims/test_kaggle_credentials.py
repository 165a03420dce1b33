"""A broken kaggle.json is named as such: the kaggle package ignores it silently and then says
there are no credentials at all, which sends the user looking in the wrong place."""

from __future__ import annotations

import pytest

from audit.errors import VictimError
from victims import kaggle_fetch


@pytest.fixture()
def config_dir(tmp_path, monkeypatch):
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / ".kaggle"
    folder.mkdir()
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(folder))
    # the package fixes its config path when first imported: point it here too
    from kaggle.api.kaggle_api_extended import KaggleApi

    monkeypatch.setattr(KaggleApi, "config_dir", str(folder))
    monkeypatch.setattr(KaggleApi, "config", str(folder / "kaggle.json"))
    return folder


@pytest.mark.parametrize("content, says", [
    ('{"username": "me", ', "is not valid JSON"),
    (b"\xff\xfe\x00garbage", "is not valid JSON"),
    ('["me", "key"]', "is not a JSON object"),
    ('{"username": "me"}', "lacks 'key'"),
    ('{"key": "k"}', "lacks 'username'"),
])
def test_a_broken_kaggle_json_is_named_with_what_is_wrong(config_dir, content, says):
    path = config_dir / "kaggle.json"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(VictimError) as err:
        kaggle_fetch.kaggle_api()
    message = str(err.value)
    assert f"{path} {says}" in message and "no Kaggle credentials found" not in message
    assert '{"username": "...", "key": "..."}' in message and "--weights" in message
    assert "\n" not in message


def test_without_a_kaggle_json_it_still_says_no_credentials(config_dir):
    with pytest.raises(VictimError, match="no Kaggle credentials found"):
        kaggle_fetch.kaggle_api()


def test_where_the_package_looks(tmp_path, monkeypatch):
    monkeypatch.delenv("KAGGLE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert kaggle_fetch.kaggle_json() == tmp_path / "xdg" / "kaggle" / "kaggle.json"
    (tmp_path / ".kaggle").mkdir()
    assert kaggle_fetch.kaggle_json() == tmp_path / ".kaggle" / "kaggle.json"
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "cfg"))
    assert kaggle_fetch.kaggle_json() == tmp_path / "cfg" / "kaggle.json"
    assert kaggle_fetch.kaggle_json_problem(tmp_path / "cfg" / "kaggle.json") is None  # absent
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "kaggle.json").write_text('{"username": "me", "key": "k"}')
    assert kaggle_fetch.kaggle_json_problem(tmp_path / "cfg" / "kaggle.json") is None
