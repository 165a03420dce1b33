"""``advaudit demo ...`` end to end: summary.json contracts and GIFs that show something."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from audit.cli import main
from optim_demos import draw


def frame_png(gif_path, index: int, png_path) -> np.ndarray:
    """Write one GIF frame to PNG (as a person would look at it) and read it back as RGB."""
    with Image.open(gif_path) as gif:
        gif.seek(index)
        gif.convert("RGB").save(png_path)
    with Image.open(png_path) as png:
        return np.asarray(png.convert("RGB")).astype(int)


def count_colour(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> int:
    return int(np.sum(np.all(np.abs(img - np.array(rgb)) <= tol, axis=-1)))


@pytest.fixture(scope="module")
def regression_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("regression")
    result = CliRunner().invoke(main, ["demo", "regression", "--out", str(out),
                                       "--optimizer", "sgd"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_regression_cli_writes_the_summary_contract(regression_out):
    out, output = regression_out
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["closed_form"]) >= {"slope", "intercept", "mse"}
    assert round(summary["closed_form"]["slope"], 4) == 6.0411
    assert round(summary["closed_form"]["intercept"], 3) == -230.531
    names = [run["name"] for run in summary["runs"]]
    assert names == ["gd-raw", "gd-standardised", "sgd-standardised"]
    for run in summary["runs"]:
        assert set(run) >= {"name", "optimizer", "normalized", "steps", "lr", "slope",
                            "intercept", "mse"}
        assert (out / run["gif"]).is_file()
    assert any("seed's observation" in note for note in summary["observations"])
    assert "gd-standardised" in output and "6.0411" in output


def test_regression_gif_frame_is_not_blank(regression_out, tmp_path):
    out, _ = regression_out
    with Image.open(out / "gd-standardised.gif") as gif:
        assert gif.n_frames == 26
    first = frame_png(out / "gd-standardised.gif", 0, tmp_path / "first.png")
    last = frame_png(out / "gd-standardised.gif", 25, tmp_path / "last.png")
    assert first.shape == (380, 760, 3)
    non_white = np.mean(np.any(last < 235, axis=-1))
    assert 0.02 < non_white < 0.5
    assert count_colour(last, draw.POINT) > 150 * 10  # 150 data points of ~20 px each
    assert count_colour(last, draw.FIT) > 300  # the fitted line and loss curve
    assert np.any(first != last)  # the line moved


def test_spread_cli_writes_the_summary_contract_and_a_3d_gif(tmp_path):
    out = tmp_path / "spread"
    result = CliRunner().invoke(main, ["demo", "spread", "--n", "5", "--dims", "3", "--loss",
                                       "min-angle", "--steps", "1200", "--restarts", "4",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"n", "dims", "loss", "steps", "min_angle_deg", "optimum_deg",
                            "gap_deg", "seconds"}
    assert (summary["n"], summary["dims"], summary["loss"], summary["steps"]) == (
        5, 3, "min-angle", 1200)
    assert summary["optimum_deg"] == pytest.approx(90.0)
    assert summary["gap_deg"] < 0.05
    assert "gap" in result.output and "90.0000" in result.output
    gif = out / summary["runs"][0]["gif"]
    with Image.open(gif) as g:
        last = g.n_frames - 1
    img = frame_png(gif, last, tmp_path / "spread.png")
    assert count_colour(img, draw.VECTOR) > 5 * 40  # five markers drawn
    assert np.mean(np.any(img < 235, axis=-1)) > 0.01


def test_spread_cli_skips_gifs_above_three_dimensions(tmp_path):
    out = tmp_path / "spread4"
    result = CliRunner().invoke(main, ["demo", "spread", "--n", "5", "--dims", "4", "--loss",
                                       "min-angle", "--steps", "240", "--restarts", "2",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"][0]["gif"] is None and not list(out.glob("*.gif"))
    assert summary["optimum_deg"] == pytest.approx(104.4775, abs=1e-4)  # 4-simplex


def test_demo_group_lists_both_commands():
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    assert "regression" in result.output and "spread" in result.output
