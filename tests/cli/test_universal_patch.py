"""``--universal``: one patch content fitted once and placed on every photo, end to end on the
tiny trained model: every saved adversarial PNG holds exactly that content somewhere and
nothing else changed, shards fit the same patch and merge, a killed audit resumes to the same
results, the report shows the patch (and refuses one that is not it), bad combinations fail in
one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from support.models import ramp_images, write_photo_folder
from support.timings import without_timings

from audit.attacks import Goal
from audit.attacks.universal_patch import UniversalPlacement, fit_universal_patch
from audit.cli import main
from audit.images import load_png, pixels_sha256, save_png
from audit.pipeline import runner
from audit.threats import THREATS

SIDE = 4
UNIVERSAL = ["--labels", "cat,dog", "--threat", "patch", "--eps", str(SIDE), "--universal",
             "--universal-fit", "6", "--queries", "60", "--chunk-size", "4"]


def audit(model, images, out, *extra):
    return CliRunner().invoke(main, ["audit", str(model), "--images", str(images), "--out",
                                     str(out), *UNIVERSAL, *extra])


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photo_folder(tmp_path_factory.mktemp("universal") / "photos", n=16)


@pytest.fixture(scope="module")
def reference(tiny_model_file, photos) -> Path:
    """One universal audit the tests read (and copy before they change anything)."""
    out = photos.parent / "reference"
    r = audit(tiny_model_file, photos, out)
    assert r.exit_code in (0, 1), r.output
    return out


def placements(content: np.ndarray, clean: np.ndarray, adv: np.ndarray) -> list[tuple[int, int]]:
    """Every (top, left) where ``adv`` is ``clean`` with ``content`` pasted there and nothing
    else changed."""
    s, found = content.shape[0], []
    for top in range(clean.shape[0] - s + 1):
        for left in range(clean.shape[1] - s + 1):
            pasted = clean.copy()
            pasted[top:top + s, left:left + s] = content
            if np.array_equal(pasted, adv):
                found.append((top, left))
    return found


def test_every_adversarial_png_is_the_clean_photo_with_the_one_patch(reference):
    res = json.loads((reference / "results.json").read_text())
    universal = res["manifest"]["universal"]
    content = load_png(reference / "universal_patch.png", 3)
    assert content.shape == (SIDE, SIDE, 3) and universal["side"] == SIDE
    assert pixels_sha256(content) == universal["sha256"]
    assert res["manifest"]["attack"] == "universal-patch"
    assert 1 <= universal["fit_photos"] <= 6
    indices = {row["index"] for row in res["images"]}
    assert set(universal["fit_indices"]) <= indices
    attacked = [row for row in res["images"] if row["attacked"]]
    assert attacked and any(row["flipped"] for row in attacked)
    for row in attacked:  # flipped or not, the kept point is the patch at one place
        clean, adv = (load_png(reference / row[k], 3) for k in ("clean_path", "adv_path"))
        assert placements(content, clean, adv), row["adv_path"]
    # a universal patch is never evidence for "robust", whatever it flips
    assert res["summary"]["verdict"] != "robust"
    names = {c["name"] for c in res["trust"]["checks"]}
    assert "attack finds planted adversarials" in names


def test_the_console_and_the_report_say_how_many_photos_the_patch_flips(tiny_model_file, photos,
                                                                         tmp_path):
    out = tmp_path / "with-report"
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photos),
                                  "--out", str(out), *UNIVERSAL[:-2]])
    assert r.exit_code in (0, 1), r.output
    res = json.loads((out / "results.json").read_text())
    attacked = [row for row in res["images"] if row["attacked"]]
    flipped = sum(row["deliverable_flipped"] for row in attacked)
    assert f"flips {flipped} of {len(attacked)} attacked" in r.output
    assert str(out / "universal_patch.png") in r.output
    html = (out / "report.html").read_text()
    assert "The universal patch" in html
    assert 'class="universal-patch" src="data:image/png;base64,' in html
    assert f"<b>{flipped} of {len(attacked)}</b>" in html
    # another picture under the patch's name is not shown as the audit's patch
    save_png(np.full((SIDE, SIDE, 3), 7, np.uint8), out / "universal_patch.png")
    r = CliRunner().invoke(main, ["report", str(out / "results.json")])
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert "is not the patch this audit fitted" in html and 'class="universal-patch"' not in html


def test_shards_fit_the_same_patch_and_merge(tiny_model_file, photos, reference, tmp_path):
    shards = [tmp_path / "s1", tmp_path / "s2"]
    for k, folder in enumerate(shards, start=1):
        r = audit(tiny_model_file, photos, folder, "--shard", f"{k}/2", "--no-trust")
        assert r.exit_code in (0, 1), r.output
    records = [json.loads((f / "results.json").read_text())["manifest"]["universal"]
               for f in shards]
    whole = json.loads((reference / "results.json").read_text())
    assert records[0] == records[1] == whole["manifest"]["universal"]
    merged = tmp_path / "merged"
    r = CliRunner().invoke(main, ["merge", *map(str, shards), "--out", str(merged)])
    assert r.exit_code in (0, 1), r.output
    assert (merged / "universal_patch.png").read_bytes() == \
        (reference / "universal_patch.png").read_bytes()
    res = json.loads((merged / "results.json").read_text())
    assert [row["adv_path"] for row in res["images"] if row["attacked"]] == \
        [row["adv_path"] for row in whole["images"] if row["attacked"]]


def test_a_killed_universal_audit_resumes_to_the_same_results(tiny_model_file, photos,
                                                              reference, tmp_path,
                                                              monkeypatch):
    out = tmp_path / "killed"
    real, calls = runner._audit_chunk, []

    def audit_chunk(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "_audit_chunk", audit_chunk)
    r = audit(tiny_model_file, photos, out)
    assert r.exit_code != 0 and "--resume" in r.output
    monkeypatch.undo()
    r = audit(tiny_model_file, photos, out, "--resume")
    assert r.exit_code in (0, 1), r.output

    def comparable(folder: Path) -> dict:
        return without_timings(json.loads((folder / "results.json").read_text()))

    assert comparable(out) == comparable(reference)
    assert (out / "universal_patch.png").read_bytes() == \
        (reference / "universal_patch.png").read_bytes()


def test_overwrite_removes_the_earlier_patch_and_nothing_else(tiny_model_file, photos,
                                                             reference, tmp_path):
    earlier = Path(shutil.copytree(reference, tmp_path / "earlier"))
    mine = earlier / "notes.png"
    mine.write_bytes(b"the user's own file")
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photos),
                                  "--out", str(earlier), "--labels", "cat,dog", "--eps", "16",
                                  "--steps", "2", "--no-report", "--no-trust", "--overwrite"])
    assert r.exit_code in (0, 1), r.output
    assert not (earlier / "universal_patch.png").exists()
    assert mine.read_bytes() == b"the user's own file"


@pytest.mark.parametrize("extra,needle", [
    (["--threat", "linf", "--eps", "4", "--universal"], "--threat patch"),
    (["--threat", "l0", "--eps", "4", "--universal"], "--threat patch"),
    (["--threat", "patch", "--eps", "4", "--universal", "--sweep"], "--sweep"),
    (["--threat", "patch", "--eps", "4", "--universal", "--attack", "apgd"], "drop --attack"),
    (["--threat", "patch", "--eps", "4", "--universal-fit", "8"], "without --universal"),
    (["--threat", "patch", "--eps", "40", "--universal"], "does not fit"),
])
def test_what_a_universal_patch_cannot_be_fails_in_one_line(tiny_model_file, photos, tmp_path,
                                                            extra, needle):
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photos),
                                  "--out", str(tmp_path / "out"), "--labels", "cat,dog",
                                  "--no-report", *extra])
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "out" / "universal_patch.png").exists()


def test_the_fit_keeps_only_better_contents_and_counts_its_queries(tiny_model):
    from audit.models.keras_model import KerasClassifier

    clf = KerasClassifier.from_model(tiny_model, ["cat", "dog"])
    x, _ = ramp_images(8, np.random.default_rng(5))
    goal = Goal.of(clf.predict(x).argmax(axis=1), ids=np.arange(8))
    patch = THREATS["patch"]
    budget = UniversalPlacement(np.zeros((SIDE, SIDE, 3))).budget(SIDE, threat=patch,
                                                                  queries=80)
    fitted = fit_universal_patch(clf, x, goal, budget)
    again = fit_universal_patch(clf, x, goal, budget)
    assert fitted.sha256 == again.sha256  # deterministic: shards and resumes rely on it
    assert fitted.content.dtype == np.uint8 and fitted.content.shape == (SIDE, SIDE, 3)
    assert set(np.unique(fitted.content)) <= {0, 255}  # colour-cube corners only
    assert fitted.iterations <= 80 and fitted.queries % 8 == 0
    assert fitted.queries <= 8 * fitted.iterations
    start = fit_universal_patch(clf, x, goal, UniversalPlacement(fitted.content).budget(
        SIDE, threat=patch, queries=1))  # the first content only: the same stripes
    assert start.iterations == 1 and start.queries == 8
    assert start.flipped <= fitted.flipped  # the search never keeps a worse content


def test_a_universal_audit_folder_copies_whole(reference, tmp_path):
    """The patch is an artifact of the audit folder: a copy of the folder re-renders."""
    copy = Path(shutil.copytree(reference, tmp_path / "copy"))
    r = CliRunner().invoke(main, ["report", str(copy / "results.json")])
    assert r.exit_code == 0, r.output
    assert 'class="universal-patch"' in (copy / "report.html").read_text()


def test_the_attack_unit_test_plants_the_fitted_content_somewhere():
    """The planted adversarial of a universal audit is the photo with *its* patch at a random
    place (what the place search can reach), not a random patch of random content."""
    rng = np.random.default_rng(0)
    content = 255.0 * rng.integers(0, 2, size=(SIDE, SIDE, 3))
    x0 = rng.integers(0, 256, size=(16, 16, 3)).astype(np.float32)
    corners = UniversalPlacement(content).corners(x0, SIDE, THREATS["patch"], rng, 4)
    assert corners.shape == (4, 16, 16, 3)
    for corner in corners:
        assert placements(content, x0, corner)
