"""One writer per output folder: a second audit (or merge) into a folder another advaudit run is
writing is refused in one line naming the running one; a lock left by a killed run is taken
over, saying so; the lock file never outlives its run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from support.models import write_photo_folder

from audit.cli import main
from audit.lock import LOCK_NAME, output_lock

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--labels", "cat,dog", "--eps", "16", "--no-report", "--no-trust"]


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def start_audit(model: Path, photos: Path, out: Path) -> subprocess.Popen:
    """A real second process, slow enough to still be running when the test knocks."""
    code = "import sys; from audit.cli import main; main(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, "audit", str(model), "--images", str(photos), "--out",
         str(out), *FAST, "--attack", "bim", "--step", "1", "--steps", "400",
         "--no-early-stop", "--batch-size", "4"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)


def test_a_second_audit_into_a_folder_being_written_is_refused(tiny_model_file, tmp_path):
    photos = write_photo_folder(tmp_path / "photos", n=16)
    out = tmp_path / "out"
    first = start_audit(tiny_model_file, photos, out)
    try:
        deadline = time.time() + 120
        while not (out / "results.jsonl").exists() and time.time() < deadline:
            time.sleep(0.05)  # the journal exists once the first run holds the folder
        assert first.poll() is None, first.stderr.read()
        second = cli("audit", tiny_model_file, "--images", photos, "--out", out, *FAST,
                     "--eps", "4", "--overwrite")
        assert second.exit_code == 2
        lines = second.output.strip().splitlines()
        assert len(lines) == 1 and "being written by another advaudit run" in lines[0]
        assert f"pid {first.pid} on " in lines[0] and "choose another --out" in lines[0]
    finally:
        assert first.wait(timeout=300) == 0, first.stderr.read()
    results = json.loads((out / "results.json").read_text())
    assert results["manifest"]["budget"]["steps"] == 400  # the first run's, not replaced
    assert not (out / LOCK_NAME).exists()


def test_merge_into_a_folder_being_written_is_refused(tmp_path):
    out = tmp_path / "merged"
    out.mkdir()
    with output_lock(out, command="advaudit audit"):
        r = cli("merge", tmp_path, "--out", out)
    assert r.exit_code == 2 and "being written by another advaudit run" in r.output
    assert "advaudit audit" in r.output


def test_a_lock_left_by_a_killed_run_is_taken_over(tiny_model_file, tmp_path):
    photos = write_photo_folder(tmp_path / "photos", n=4)
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (out / LOCK_NAME).write_text(json.dumps({
        "pid": int(dead.stdout), "host": "node7", "started": "2026-11-30T10:00:00+0000",
        "command": "advaudit audit model.keras"}))
    r = cli("audit", tiny_model_file, "--images", photos, "--out", out, *FAST)
    assert r.exit_code == 0, r.output
    assert f"taking over the lock in {out}: it was left by pid {int(dead.stdout)} on node7" \
        in r.output
    assert (out / "results.json").is_file() and not (out / LOCK_NAME).exists()


def test_a_symbolic_link_in_place_of_the_lock_is_never_followed(tiny_model_file, tmp_path):
    photos = write_photo_folder(tmp_path / "photos", n=4)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (out / LOCK_NAME).symlink_to(victim)
    r = cli("audit", tiny_model_file, "--images", photos, "--out", out, *FAST)
    assert r.exit_code == 2 and "is a symbolic link" in r.output
    assert victim.read_text() == "keep me" and (out / LOCK_NAME).is_symlink()


def test_the_lock_is_released_when_the_run_fails(tmp_path, photo_folder):
    out = tmp_path / "out"
    r = cli("audit", tmp_path / "missing.keras", "--images", photo_folder, "--out", out)
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not out.exists()  # the folder it created is gone again, lock and all
