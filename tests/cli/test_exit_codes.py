"""Exit codes a CI job can tell apart: 0 done, 1 gate failed, 2 usage or input error, 3 internal
error (one line and the path of a saved traceback), 130 interrupted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit.cli import main
from audit.pipeline import api

FAST = ["--eps", "16", "--step", "4", "--steps", "3", "--no-report", "--no-trust"]


def run_with(monkeypatch, tiny_model_file, photo_folder, tmp_path, error: BaseException):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(api, "run_audit", broken)
    return CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images",
                                     str(photo_folder), "--out", str(tmp_path / "o"),
                                     "--labels", "cat,dog", *FAST])


def test_internal_error_exits_3_with_one_line_and_a_saved_traceback(
        monkeypatch, tiny_model_file, photo_folder, tmp_path):
    r = run_with(monkeypatch, tiny_model_file, photo_folder, tmp_path,
                 ZeroDivisionError("a bug\nover two lines"))
    assert r.exit_code == 3
    line = r.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "internal error (ZeroDivisionError: a bug over two lines)" in line
    log = Path(re.search(r"the traceback is in (\S+):", line).group(1))
    try:
        text = log.read_text()
        assert "Traceback (most recent call last)" in text and "ZeroDivisionError" in text
    finally:
        log.unlink()


def test_interrupt_exits_130(monkeypatch, tiny_model_file, photo_folder, tmp_path):
    r = run_with(monkeypatch, tiny_model_file, photo_folder, tmp_path, KeyboardInterrupt())
    assert r.exit_code == 130 and "interrupted" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(("threshold", "code"), [("0.5", 1), ("1", 0)])
def test_gate_exit_codes_differ_from_errors(tiny_model_file, photo_folder, tmp_path, threshold,
                                           code):
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photo_folder),
                                  "--out", str(tmp_path / "o"), "--labels", "cat,dog", *FAST,
                                  "--fail-above", threshold])
    assert r.exit_code == code, r.output
