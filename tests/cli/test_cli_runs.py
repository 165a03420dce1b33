"""Runs that stop, restart and share folders: the output folder is checked before any work,
an earlier audit is never silently mixed with a new one, Ctrl-C keeps what was done, and a
killed audit resumed with --resume ends exactly where an uninterrupted one would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.models import write_photo_folder
from support.timings import without_timings

from audit.cli import main
from audit.pipeline import attacking, runner

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--labels", "cat,dog", "--eps", "16", "--step", "4", "--steps", "10", "--no-report",
        "--chunk-size", "4"]


def audit(model, images, out, *extra):
    return CliRunner().invoke(main, ["audit", str(model), "--images", str(images), "--out",
                                     str(out), *FAST, *extra])


def comparable(path: Path) -> dict:
    """results.json without timings (which differ between any two runs)."""
    return without_timings(json.loads(path.read_text()))


def png_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}


@pytest.fixture()
def photos(tmp_path) -> Path:
    return write_photo_folder(tmp_path / "photos", n=20)


@pytest.fixture()
def reference(tiny_model_file, photos, tmp_path) -> Path:
    out = tmp_path / "reference"
    r = audit(tiny_model_file, photos, out)
    assert r.exit_code == 0, r.output
    return out


class Killed(BaseException):
    """Stands in for kill -9: nothing after it runs, no handler catches it."""


def stop_after_chunks(monkeypatch, chunks: int, exc: BaseException) -> None:
    real = runner._audit_chunk
    calls = []

    def audit_chunk(*args, **kwargs):
        if len(calls) == chunks:
            raise exc
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "_audit_chunk", audit_chunk)


def test_a_crash_then_resume_equals_an_uninterrupted_run(tiny_model_file, photos, reference,
                                                         tmp_path, monkeypatch):
    out = tmp_path / "crashed"
    stop_after_chunks(monkeypatch, 2, Killed())
    with pytest.raises(Killed):
        CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photos),
                                  "--out", str(out), *FAST], catch_exceptions=False)
    lines = (out / "results.jsonl").read_text().splitlines()
    assert sum('"row"' in line for line in lines) == 8 and not (out / "results.json").exists()
    monkeypatch.undo()
    again = audit(tiny_model_file, photos, out)
    assert again.exit_code == 2 and "--resume" in again.output  # never silently mixed
    r = audit(tiny_model_file, photos, out, "--resume")
    assert r.exit_code == 0, r.output
    assert comparable(out / "results.json") == comparable(reference / "results.json")
    assert png_bytes(out) == png_bytes(reference)


def test_photos_finished_inside_an_unfinished_chunk_are_journaled(tiny_model_file, photos,
                                                                    reference, tmp_path,
                                                                    monkeypatch):
    """One chunk of 20 photos, attacked 4 at a time: a kill after two groups have settled keeps
    those 8 photos (and the ones never attacked), not none of the chunk."""
    out = tmp_path / "killed-in-chunk"
    real, groups = attacking.rows_of, []

    def rows_of(*args, **kwargs):
        if len(groups) == 2:
            raise Killed()
        groups.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(attacking, "rows_of", rows_of)
    args = ["audit", str(tiny_model_file), "--images", str(photos), "--out", str(out), *FAST,
            "--chunk-size", "256", "--batch-size", "4", "--no-early-stop"]
    with pytest.raises(Killed):
        CliRunner().invoke(main, args, catch_exceptions=False)
    rows = [json.loads(line)["row"] for line in (out / "results.jsonl").read_text().splitlines()
            if '"row"' in line]
    attacked = [r for r in rows if r["attacked"]]
    assert len(attacked) == 8, len(attacked)
    for r in attacked:  # each journaled photo's PNGs are on disk before its line
        assert (out / r["adv_path"]).is_file() and (out / r["clean_path"]).is_file()
    monkeypatch.undo()
    r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 0, r.output
    whole = tmp_path / "whole"
    r = CliRunner().invoke(main, [*args[:5], str(whole), *args[6:]])
    assert r.exit_code == 0, r.output
    assert comparable(out / "results.json") == comparable(whole / "results.json")
    assert png_bytes(out) == png_bytes(whole)


def test_ctrl_c_keeps_partial_results_and_resume_completes(tiny_model_file, photos,
                                                           reference, tmp_path, monkeypatch):
    out = tmp_path / "interrupted"
    stop_after_chunks(monkeypatch, 3, KeyboardInterrupt())
    r = audit(tiny_model_file, photos, out)
    assert r.exit_code == 130
    assert "12 of 20 photos done" in r.output and "--resume" in r.output
    partial = json.loads((out / "results.json").read_text())
    assert partial["summary"]["partial"] is True and partial["summary"]["n_pending"] == 8
    assert len(partial["images"]) == 12
    monkeypatch.undo()
    r = audit(tiny_model_file, photos, out, "--resume")
    assert r.exit_code == 0, r.output
    assert comparable(out / "results.json") == comparable(reference / "results.json")


def test_resume_refuses_a_different_audit(tiny_model_file, photos, reference):
    r = audit(tiny_model_file, photos, reference, "--resume", "--seed", "3")
    assert r.exit_code == 2 and "holds an audit of something else" in r.output
    assert "seed: 0 then, 3 now" in r.output
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("case", ["file", "unwritable", "earlier_audit", "resume_nothing",
                                  "both"])
def test_bad_output_folders_fail_before_the_model_is_loaded(tmp_path, photos, reference, case,
                                                            monkeypatch):
    loaded = []
    monkeypatch.setattr("victims.loading.load_victim", lambda *a, **k: loaded.append(1))
    extra: list[str] = []
    if case == "file":
        out, needle = tmp_path / "f.txt", "is a file, not a folder"
        out.write_text("x")
    elif case == "unwritable":
        out, needle = Path("/proc/advaudit-out"), "is not a writable folder"
    elif case == "earlier_audit":
        out, needle = reference, "already holds an audit"
    elif case == "resume_nothing":
        out, needle, extra = tmp_path / "old", "without its results.jsonl", ["--resume"]
        out.mkdir()
        (out / "results.json").write_text("{}")
    else:
        out, needle, extra = reference, "contradict", ["--resume", "--overwrite"]
    before = png_bytes(reference)
    r = audit(tmp_path / "model.keras", photos, out, *extra)
    assert r.exit_code == 2 and needle in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert not loaded and png_bytes(reference) == before


def test_overwrite_leaves_no_old_pngs_behind(tiny_model_file, photos, reference, tmp_path):
    stale = reference / "adversarial" / "9999_stale.png"
    stale.write_bytes(b"old")
    fewer = write_photo_folder(tmp_path / "fewer", n=4)
    r = audit(tiny_model_file, fewer, reference, "--overwrite")
    assert r.exit_code == 0, r.output
    rows = json.loads((reference / "results.json").read_text())["images"]
    expected = {row["adv_path"] for row in rows if row["attacked"]}
    assert {str(p.relative_to(reference)) for p in (reference / "adversarial").iterdir()} == \
        expected


def test_auditing_a_folder_twice_never_attacks_its_own_output(tiny_model_file, tmp_path,
                                                             monkeypatch):
    work = write_photo_folder(tmp_path / "work", n=6)
    monkeypatch.chdir(work)
    for extra in ([], ["--overwrite"]):
        r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", ".",
                                      *FAST, *extra])
        assert r.exit_code == 0, r.output
        res = json.loads((work / "advaudit-report" / "results.json").read_text())
        assert res["summary"]["n_images"] == 6
        assert not any("advaudit-report" in row["path"] for row in res["images"])


def test_nothing_to_attack_still_writes_results(tiny_model_file, photos, tmp_path):
    # labels swapped: the model is wrong on every photo, so nothing is attacked
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photos),
                                  "--out", str(tmp_path / "o"), "--labels", "dog,cat"])
    assert r.exit_code == 0, r.output
    assert "nothing to attack" in r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["summary"]["n_attacked"] == 0 and res["summary"]["clean_accuracy"] == 0
    assert (tmp_path / "o" / "report.html").is_file()


def test_kill_minus_nine_then_resume(tiny_model_file, tmp_path):
    """A real SIGKILL in the middle of a run, then --resume, as a user would do it."""
    photos = write_photo_folder(tmp_path / "photos", n=64)
    args = [str(tiny_model_file), "--images", str(photos), *FAST, "--no-early-stop",
            "--no-trust"]
    code = "import sys; from audit.cli import main; main(sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", code, "audit", *args, "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    journal = out / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if journal.exists() and journal.read_text().count('"row"') >= 8:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = journal.read_text().count('"row"')
    assert 8 <= done < 64 and not (out / "results.json").exists()
    r = CliRunner().invoke(main, ["audit", *args, "--out", str(out), "--resume"])
    assert r.exit_code == 0, r.output
    whole = CliRunner().invoke(main, ["audit", *args, "--out", str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output
    assert comparable(out / "results.json") == comparable(tmp_path / "whole" / "results.json")
    assert png_bytes(out) == png_bytes(tmp_path / "whole")


def test_shards_merge_into_the_single_run(tiny_model_file, photos, reference, tmp_path):
    shards = []
    for i in (1, 2, 3):
        out = tmp_path / f"shard{i}"
        r = audit(tiny_model_file, photos, out, "--shard", f"{i}/3")
        assert r.exit_code == 0, r.output
        shards.append(out)
    rows = [json.loads((s / "results.json").read_text())["images"] for s in shards]
    assert sorted(len(r) for r in rows) == [6, 7, 7]
    merged = tmp_path / "merged"
    r = CliRunner().invoke(main, ["merge", *map(str, reversed(shards)), "--out", str(merged)])
    assert r.exit_code == 0, r.output
    got, want = comparable(merged / "results.json"), comparable(reference / "results.json")
    costs = [json.loads((s / "results.json").read_text())["trust"]["cost"] for s in shards]
    assert got["trust"]["cost"] == {k: sum(c[k] for c in costs) for k in costs[0]}
    for res in (got, want):
        res.pop("trust")
        for key in ("shard", "merged_from"):
            res["manifest"].pop(key, None)
    assert got == want
    assert png_bytes(merged) == png_bytes(reference)
    assert (merged / "report.html").is_file()
    # a missing shard, a repeated one, or a different audit is refused in one line
    for args, needle in [(shards[:2], "shards 3 of 3 are missing"),
                         ([*shards, shards[0]], "are both shard 1/3"),
                         ([*shards[:2], reference], "is not a shard")]:
        bad = CliRunner().invoke(main, ["merge", *map(str, args), "--out",
                                        str(tmp_path / "bad")])
        assert bad.exit_code == 2 and needle in bad.output, bad.output


def test_resume_in_a_new_folder_starts_the_audit(tiny_model_file, photos, reference,
                                                 tmp_path):
    out = tmp_path / "requeued"  # a cluster job that always passes --resume
    r = audit(tiny_model_file, photos, out, "--resume")
    assert r.exit_code == 0, r.output
    assert comparable(out / "results.json") == comparable(reference / "results.json")


def test_a_failed_start_leaves_no_empty_output_folder(tmp_path, photos):
    out = tmp_path / "never"
    r = audit(tmp_path / "missing.keras", photos, out)
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not out.exists()
