"""The channels a flipped photo is re-checked through (JPEG, resizing): deterministic, lossy
where they should be, and the audit records, per flip, which ones it survives — as the model
says of the channel's output, recomputed here from the saved PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from audit.channels import CHANNELS, Jpeg, Resize, written
from audit.cli import main
from audit.images import load_png
from audit.models.keras_model import KerasClassifier


def noisy(shape=(32, 32, 3), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.uint8)


@pytest.mark.parametrize("name", list(CHANNELS))
@pytest.mark.parametrize("shape", [(32, 32, 3), (31, 17, 3), (24, 24, 1)])
def test_each_channel_is_deterministic_and_keeps_the_shape(name, shape):
    channel, img = CHANNELS[name], noisy(shape)
    out = channel.apply(img)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out, channel.apply(img))  # a re-check reproduces
    assert not np.array_equal(out, img)  # noise never passes a lossy channel unchanged


def test_lower_jpeg_quality_loses_more_and_a_flat_photo_survives_resizing():
    img = np.clip(noisy(seed=1).astype(int) // 4 + 100, 0, 255).astype(np.uint8)
    errors = [np.abs(Jpeg(q).apply(img).astype(int) - img).mean() for q in (95, 85, 75)]
    assert errors[0] < errors[1] < errors[2]
    flat = np.full((20, 30, 3), 77, np.uint8)
    assert np.array_equal(Resize(0.5).apply(flat), flat)
    assert written("jpeg85") == "JPEG q=85" and written("resize0.5") == "resized to 0.5x and back"
    assert written("future-codec") == "future-codec"


def test_every_flip_records_the_channels_it_survives(tiny_model, tiny_model_file, photo_folder,
                                                     tmp_path):
    out = tmp_path / "audit"
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photo_folder),
                                  "--out", str(out), "--labels", "cat,dog", "--eps", "6",
                                  "--no-trust"])
    assert r.exit_code in (0, 1), r.output
    res = json.loads((out / "results.json").read_text())
    clf = KerasClassifier.from_model(tiny_model, ["cat", "dog"])
    flips = [row for row in res["images"] if row["attacked"] and row["deliverable_flipped"]]
    assert flips
    for row in res["images"]:
        if not (row["attacked"] and row["deliverable_flipped"]):
            assert row.get("survives") is None
    survived = {name: 0 for name in CHANNELS}
    for row in flips:
        assert set(row["survives"]) == set(CHANNELS)
        png = load_png(out / row["adv_path"], 3)
        for name, channel in CHANNELS.items():
            pred = clf.predict(channel.apply(png)[None].astype(np.float32)).argmax()
            assert row["survives"][name] == (clf.class_names[pred] != row["reference_label"])
            survived[name] += row["survives"][name]
    # at this budget some flips die on the way: the re-check has something to tell apart
    assert 0 < min(survived.values()) and min(survived.values()) < len(flips)
    summary = res["summary"]["channel_survival"]
    for name in CHANNELS:
        assert summary[name] == {"n_checked": len(flips), "n_survive": survived[name],
                                 "rate": survived[name] / len(flips)}
    html = (out / "report.html").read_text()
    assert "Do the flips survive the trip?" in html and "JPEG q=75" in html
    assert "flips surviving" in r.output and "JPEG q=85" in r.output
    # compare shows each channel's survival side by side
    again = tmp_path / "again.json"
    again.write_text((out / "results.json").read_text())
    r = CliRunner().invoke(main, ["compare", str(out / "results.json"), str(again)])
    assert r.exit_code == 0, r.output
    assert "flips surviving resized to 0.5x and back" in r.output
