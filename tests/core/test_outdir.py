"""The output folder: --overwrite removes what the earlier audit wrote and nothing else, and
no path read from its results can point the removal anywhere else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from audit.errors import ResultsError, UsageError
from audit.pipeline.outdir import clear_earlier_audit, out_folder, prepare_out_dir


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture()
def earlier(tmp_path) -> Path:
    """An earlier audit's folder with the user's own files among its PNGs, and a decoy outside."""
    out = tmp_path / "audit"
    for folder in ("adversarial", "clean"):
        (out / folder).mkdir(parents=True)
        (out / folder / "0000_cat.1.png").write_bytes(b"png")
        (out / folder / "0001_dog_2.png").write_bytes(b"png")
        (out / folder / ".0002_x.png.ab12cd.tmp").write_bytes(b"half")  # a killed write
        (out / folder / "my-notes.txt").write_text("mine")  # the user's
        (out / folder / "keep.png").write_bytes(b"mine")  # the user's, not the pattern
    (out / "adversarial" / "renamed.png").write_bytes(b"named by a row")
    (out / "adversarial" / "sub").mkdir()
    (out / "adversarial" / "sub" / "0003_x.png").write_bytes(b"not directly under")
    decoy = tmp_path / "decoy.png"
    decoy.write_bytes(b"outside")
    (out / "clean" / "0004_link.png").symlink_to(decoy)  # a link: removed, its target kept
    rows = [{"index": 0, "adv_path": "adversarial/renamed.png",
             "clean_path": "clean/0000_cat.1.png"},
            {"index": 1, "adv_path": str(decoy), "clean_path": "../decoy.png"},
            {"index": 2, "adv_path": "adversarial/../../decoy.png", "clean_path": 7},
            {"index": 3, "adv_path": "adversarial/sub/0003_x.png", "clean_path": "clean/.."}]
    (out / "results.json").write_text(json.dumps({"images": rows}))
    (out / "results.jsonl").write_text(json.dumps({"journal": "advaudit-journal/1"}) + "\n"
                                       + "\n".join(json.dumps({"row": r}) for r in rows)
                                       + "\n{cut short")
    (out / "results.csv").write_text("x")
    (out / "report.html").write_text("x")
    (out / "junit.xml").write_text("the user's")
    return out


def test_overwrite_removes_only_the_audits_own_files(earlier, tmp_path):
    decoy = tmp_path / "decoy.png"
    prepare_out_dir(earlier, overwrite=True)
    assert tree(earlier) == {
        "junit.xml",
        "adversarial", "adversarial/my-notes.txt", "adversarial/keep.png",
        "adversarial/sub", "adversarial/sub/0003_x.png",
        "clean", "clean/my-notes.txt", "clean/keep.png",
    }
    assert decoy.read_bytes() == b"outside"


def test_png_folders_left_empty_are_removed(tmp_path):
    out = tmp_path / "audit"
    (out / "adversarial").mkdir(parents=True)
    (out / "adversarial" / "0000_a.png").write_bytes(b"png")
    (out / "clean").mkdir()
    (out / "results.json").write_text("{not json")
    clear_earlier_audit(out)
    assert tree(out) == set()


@pytest.mark.parametrize("kind", ["link", "file"])
def test_a_png_folder_that_is_not_a_real_folder_is_refused(tmp_path, kind):
    out, elsewhere = tmp_path / "audit", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (elsewhere / "0000_x.png").write_bytes(b"someone else's")
    (out / "results.json").write_text("{}")
    if kind == "link":
        (out / "adversarial").symlink_to(elsewhere)
    else:
        (out / "adversarial").write_text("a file")
    with pytest.raises(ResultsError, match="adversarial") as err:
        prepare_out_dir(out, overwrite=True)
    assert "\n" not in str(err.value)
    assert (elsewhere / "0000_x.png").exists() and (out / "results.json").exists()


def test_an_empty_out_is_refused_not_read_as_the_current_folder(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for empty in ("", " "):
            with pytest.raises(UsageError, match="--out is empty"):
                prepare_out_dir(empty)
            with pytest.raises(UsageError, match="--out is empty"):
                out_folder(empty)
        assert list(tmp_path.iterdir()) == []
        assert prepare_out_dir(".") == Path(".")  # naming the current folder is fine
    finally:
        os.chdir(cwd)
