"""Paths read from files are data, outputs never land on inputs, the environment's errors are
the user's: ``audit.paths`` and every command that reads a path from a file or writes one.

Each hostile case runs the real command line against copies of real shard audits, with a decoy
tree beside them (standing in for /etc): the case must exit 2 in one line, and the decoy tree
must come out byte for byte and time for time as it went in.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.shards import Shards, snapshot

from audit.cli import main
from audit.errors import ResultsError
from audit.paths import (
    audit_png,
    inside,
    inside_or_none,
    os_error_text,
    refuse_output_onto,
    same_path,
)
from audit.results.merge import _link

# --- audit.paths, unit by unit ---------------------------------------------------------------


@pytest.fixture()
def folder(tmp_path) -> Path:
    (tmp_path / "audit" / "adversarial").mkdir(parents=True)
    (tmp_path / "audit" / "adversarial" / "0001_a.png").write_bytes(b"png")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    return tmp_path / "audit"


@pytest.mark.parametrize("rel", ["adversarial/0001_a.png", "adversarial/../adversarial/0001_a.png",
                                 "new/not-yet.png"])
def test_inside_accepts_paths_that_stay_inside(folder, rel):
    assert inside(folder, rel, what="x").is_relative_to(folder.resolve())


@pytest.mark.parametrize("rel", ["/etc/passwd", "../secret.txt", "adversarial/../../secret.txt",
                                 "", None, 5, ["a"], "a\x00b", "/", ".."])
def test_inside_refuses_everything_else_in_one_line(folder, rel):
    with pytest.raises(ResultsError) as err:
        inside(folder, rel, what="shard/results.json: row 3's adv_path")
    text = str(err.value)
    assert text.startswith("shard/results.json: row 3's adv_path: ") and "\n" not in text
    assert inside_or_none(folder, rel) is None


def test_a_symlink_out_of_the_folder_is_refused_and_one_inside_followed(folder):
    (folder / "adversarial" / "out.png").symlink_to(folder.parent / "secret.txt")
    (folder / "adversarial" / "in.png").symlink_to(folder / "adversarial" / "0001_a.png")
    with pytest.raises(ResultsError, match="points outside"):
        inside(folder, "adversarial/out.png", what="w")
    assert inside_or_none(folder, "adversarial/out.png") is None
    assert inside_or_none(folder, "adversarial/in.png") == \
        (folder / "adversarial" / "0001_a.png").resolve()


def test_a_symlink_loop_is_refused_not_a_crash(folder):
    (folder / "adversarial" / "loop.png").symlink_to(folder / "adversarial" / "loop.png")
    assert inside_or_none(folder, "adversarial/loop.png") is None


@pytest.mark.parametrize(("rel", "ok"), [
    ("adversarial/0001_cat.png", True), ("clean/12345_a.b-c.png", True),
    ("adversarial/../x.png", False), ("adversarial/sub/x.png", False),
    ("other/x.png", False), ("clean/x.jpg", False), ("clean/.png", False),
    ("/clean/x.png", False), ("clean/x.png/", False), ("clean\\x.png", False), (3, False)])
def test_audit_png_is_the_audits_own_shape(rel, ok):
    if ok:
        assert audit_png(rel, what="w") == rel
    else:
        with pytest.raises(ResultsError, match="is not a PNG path an audit writes"):
            audit_png(rel, what="w")


def test_outputs_are_refused_onto_protected_files_and_into_protected_folders(tmp_path):
    results = tmp_path / "results.json"
    results.write_text("{}")
    (tmp_path / "link.json").symlink_to(results)
    os.link(results, tmp_path / "hard.json")
    pngs = tmp_path / "adversarial"  # need not exist yet
    for bad in (results, tmp_path / "link.json", tmp_path / "hard.json", tmp_path / "." /
                "results.json", pngs, pngs / "x.md", pngs / "deeper" / "x.md"):
        with pytest.raises(ResultsError, match="^--markdown "):
            refuse_output_onto(bad, option="--markdown", protected=[results, pngs])
    refuse_output_onto(tmp_path / "summary.md", option="--markdown", protected=[results, pngs])
    assert same_path(tmp_path / "hard.json", results)
    assert not same_path(tmp_path / "summary.md", results)


def test_environment_errors_name_the_path_and_the_fix():
    text = os_error_text(OSError(errno.ENOSPC, "No space left on device",
                                 "/data/out/adversarial/.0001_a.png.ab12cd_9.tmp"))
    assert text == "/data/out/adversarial/0001_a.png: disk full; free some space and run the " \
                   "command again"
    assert "read-only file system" in os_error_text(OSError(errno.EROFS, "x", "/ro/f"))
    assert "not a folder" in os_error_text(OSError(errno.ENOTDIR, "x", "/f/g"))
    assert os_error_text(OSError(errno.ENOSPC, "No space left on device")).startswith(
        "disk full")
    assert os_error_text(OSError(errno.ENOENT, "x", "/f")) is None  # may be our bug: exit 3


def test_link_never_replaces_or_removes_a_file(tmp_path):
    src, dst = tmp_path / "src.png", tmp_path / "out" / "dst.png"
    src.write_bytes(b"new")
    dst.parent.mkdir()
    dst.write_bytes(b"someone else's")
    with pytest.raises(ResultsError, match="already exists"):
        _link(src, dst)
    assert dst.read_bytes() == b"someone else's" and src.read_bytes() == b"new"


# --- the commands -------------------------------------------------------------------------


def one_error(r: Result, *needles: object) -> str:
    """The run exited 2 with exactly one ``Error:`` line holding every needle; no traceback."""
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, r.output
    for needle in needles:
        assert str(needle) in errors[0], r.output
    return errors[0]


@pytest.fixture()
def decoy(tmp_path) -> Path:
    """A tree outside every output folder: what /etc is to a real machine."""
    root = tmp_path / "decoy"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_bytes(b"root:x:0:0\n")
    (root / "x.png").write_bytes(b"\x89PNG not ours")
    return root


def edit_rows(results: Path, edit) -> None:
    data = json.loads(results.read_text())
    edit(data["images"])
    results.write_text(json.dumps(data))


def first_attacked(rows: list[dict]) -> dict:
    return next(r for r in rows if r.get("attacked"))


def merge(folders, out: Path, *extra: str) -> Result:
    return CliRunner().invoke(main, ["merge", *map(str, folders), "--out", str(out), *extra])


def test_merge_refuses_an_absolute_clean_path_and_unlinks_nothing(shards: Shards, tmp_path,
                                                                  decoy):
    s1, s2 = shards.copy(tmp_path / "work")
    victim = decoy / "etc" / "passwd"
    edit_rows(s1 / "results.json", lambda rows: first_attacked(rows).update(
        clean_path=str(victim)))
    before = snapshot(decoy)
    r = merge([s1, s2], tmp_path / "merged")
    one_error(r, s1 / "results.json", "clean_path", str(victim))
    assert snapshot(decoy) == before and victim.read_bytes() == b"root:x:0:0\n"


def test_merge_refuses_a_dotdot_adv_path_and_writes_nothing_outside_out(shards: Shards,
                                                                        tmp_path, decoy):
    s1, s2 = shards.copy(tmp_path / "work")
    out = tmp_path / "deep" / "er" / "merged"  # deeper than the shards: ../ lands elsewhere
    out.parent.mkdir(parents=True)
    escape = os.path.relpath(decoy / "x.png", s1)  # ../../decoy/x.png from the shard
    edit_rows(s1 / "results.json", lambda rows: first_attacked(rows).update(adv_path=escape))
    before = snapshot(tmp_path)
    r = merge([s1, s2], out)
    one_error(r, s1 / "results.json", "adv_path", escape)
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("deep/er/merged")}
    assert after == before  # nothing outside --out was created, changed or removed
    assert not (out / escape).resolve().exists()


def test_merge_refuses_a_shard_png_that_links_out(shards: Shards, tmp_path, decoy):
    s1, s2 = shards.copy(tmp_path / "work")
    row = first_attacked(json.loads((s1 / "results.json").read_text())["images"])
    (s1 / row["adv_path"]).unlink()
    (s1 / row["adv_path"]).symlink_to(decoy / "etc" / "passwd")
    before = snapshot(decoy)
    one_error(merge([s1, s2], tmp_path / "merged"), "points outside", s1)
    assert snapshot(decoy) == before


@pytest.mark.parametrize(("edit", "says"), [
    (lambda rows: rows[0].update(index=-1), "index = -1"),
    (lambda rows: rows[0].update(index=True), "index = True"),
    (lambda rows: rows[0].update(index="abc"), "index = 'abc'"),
    (lambda rows: rows[0].update(index=None), "index = None"),
    (lambda rows: rows.append("not a row"), "not a JSON object"),
    (lambda rows: rows.append({}), "index"),
    (lambda rows: first_attacked(rows).update(linf=1e300), "linf"),
    (lambda rows: first_attacked(rows).update(attacked="yes"), "attacked"),
    (lambda rows: first_attacked(rows).update(reference_label="zebra"), "not a class name"),
    (lambda rows: first_attacked(rows).update(adv_path="adversarial/sub/x.png"),
     "is not a PNG path an audit writes"),
    (lambda rows: first_attacked(rows).update(adv_path="adversarial/missing.png"),
     "is not a file in"),
])
def test_merge_refuses_malformed_rows_naming_the_shard(shards: Shards, tmp_path, edit, says):
    s1, s2 = shards.copy(tmp_path / "work")
    edit_rows(s1 / "results.json", edit)
    one_error(merge([s2, s1], tmp_path / "merged"), says, s1 / "results.json")
    assert not (tmp_path / "merged" / "results.json").exists()


def test_merge_refuses_an_index_in_two_shards(shards: Shards, tmp_path):
    s1, s2 = shards.copy(tmp_path / "work")
    other = json.loads((s2 / "results.json").read_text())["images"][0]["index"]
    edit_rows(s1 / "results.json", lambda rows: rows[0].update(index=other))
    one_error(merge([s1, s2], tmp_path / "merged"), f"photo index {other} is also in")


def test_merge_refuses_images_that_are_not_a_list(shards: Shards, tmp_path):
    s1, s2 = shards.copy(tmp_path / "work")
    data = json.loads((s1 / "results.json").read_text())
    data["images"] = {"0": "x"}
    (s1 / "results.json").write_text(json.dumps(data))
    one_error(merge([s1, s2], tmp_path / "merged"), s1 / "results.json", "not a list")


@pytest.mark.parametrize(("out", "says"), [
    (lambda s1: s1, "is the shard folder"),
    (lambda s1: s1 / "adversarial" / "merged", "a shard's PNG folder"),
    (lambda s1: s1.parent, None),  # the shards' parent is a fine --out ...
])
def test_merge_out_never_lands_on_a_shard(shards: Shards, tmp_path, out, says):
    s1, s2 = shards.copy(tmp_path / "work")
    before = snapshot(tmp_path / "work")
    r = merge([s1, s2], out(s1), "--overwrite")
    if says is None:
        assert r.exit_code == 0, r.output
        assert snapshot(s1) == {k.removeprefix("shard1/"): v for k, v in before.items()
                                if k.startswith("shard1/")}
        return
    one_error(r, says)
    assert snapshot(tmp_path / "work") == before


def test_merge_refuses_a_shard_inside_the_outs_png_folders(shards: Shards, tmp_path):
    out = tmp_path / "merged"
    s1, s2 = shards.copy(out / "clean")
    before = snapshot(out)
    one_error(merge([s1, s2], out, "--overwrite"), "which the merge writes")
    assert snapshot(out) == before


def test_merge_of_untouched_shards_still_works(shards: Shards, tmp_path):
    s1, s2 = shards.copy(tmp_path / "work")
    r = merge([s1, s2], tmp_path / "merged")
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "merged" / "results.json").read_text())["images"]
    assert [r["index"] for r in rows] == list(range(6))
    for row in filter(lambda r: r["attacked"], rows):
        assert (tmp_path / "merged" / row["adv_path"]).is_file()


# --- --resume reads the journal back as data ----------------------------------------------


def journal_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def write_journal(folder: Path, entries: list[object]) -> None:
    (folder / "results.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))


def resume(shards: Shards, folder: Path) -> Result:
    return CliRunner().invoke(main, shards.argv(folder, 1, "--resume"))


def with_row(edit):
    """A journal whose first row is edited (a copy of it, after the header)."""
    def mutate(entries: list[dict]) -> list[object]:
        rows = [e for e in entries if "row" in e]
        row = dict(first_attacked([e["row"] for e in rows]))
        edit(row)
        return [entries[0], *[e for e in entries[1:] if e.get("row", {}).get("index")
                              != row["index"]], {"row": row}]
    return mutate


@pytest.mark.parametrize(("mutate", "says"), [
    (with_row(lambda r: r.update(index=999)), "photo index 999 is not one of the"),
    (with_row(lambda r: r.update(index=-1)), "is not an advaudit journal"),
    (with_row(lambda r: r.update(index="abc")), "is not an advaudit journal"),
    (with_row(lambda r: r.update(index=False)), "is not an advaudit journal"),
    (with_row(lambda r: r.update(adv_path="../../../../etc/passwd")),
     "is not a PNG path an audit writes"),
    (with_row(lambda r: r.update(clean_path="/etc/passwd")), "is not a PNG path an audit writes"),
    (lambda entries: [*entries, next(e for e in entries if "row" in e)], "recorded twice"),
    (lambda entries: [*entries, [1, 2]], "is not an advaudit journal"),
    (lambda entries: [*entries, {"row": "x"}], "is not an advaudit journal"),
    (lambda entries: [{"journal": "advaudit-journal/1", "fingerprint": []}, *entries[1:]],
     "is not an advaudit journal"),
])
def test_resume_refuses_a_hostile_journal_in_one_line(shards: Shards, tmp_path, mutate, says):
    s1, _ = shards.copy(tmp_path / "work")
    write_journal(s1, mutate(journal_lines(s1)))
    one_error(resume(shards, s1), says, "results.jsonl")


def test_resume_refuses_a_binary_journal(shards: Shards, tmp_path):
    s1, _ = shards.copy(tmp_path / "work")
    (s1 / "results.jsonl").write_bytes(b"\xff\xfe\x00garbage\x80" * 20)
    one_error(resume(shards, s1), "is not an advaudit journal", "--overwrite")


def test_resume_never_reads_a_png_outside_its_folder(shards: Shards, tmp_path, decoy):
    s1, _ = shards.copy(tmp_path / "work")
    entries = journal_lines(s1)
    row = first_attacked([e["row"] for e in entries if "row" in e])
    (s1 / row["adv_path"]).unlink()
    (s1 / row["adv_path"]).symlink_to(decoy / "x.png")  # an outside PNG, via a link
    before = snapshot(decoy)
    one_error(resume(shards, s1), "points outside", row["adv_path"])
    assert snapshot(decoy) == before


def test_resume_of_an_untouched_journal_finishes(shards: Shards, tmp_path):
    s1, _ = shards.copy(tmp_path / "work")
    r = resume(shards, s1)
    assert r.exit_code == 0, r.output
    assert json.loads((s1 / "results.json").read_text())["summary"]["n_images"] == 3


# --- outputs never land on inputs --------------------------------------------------------


@pytest.mark.parametrize(("option", "target"), [
    ("--junit-xml", "results.json"), ("--markdown", "results.jsonl"),
    ("--junit-xml", "adversarial/x.xml"), ("--markdown", "clean/x.md"),
    ("--markdown", "IMAGES/summary.md"), ("--junit-xml", ".advaudit.lock"),
    ("--junit-xml", "IMAGES/cat/new.xml"), ("--markdown", "MODEL"),
])
def test_audit_outputs_never_land_on_its_inputs_or_artifacts(shards: Shards, tmp_path, option,
                                                            target):
    s1, _ = shards.copy(tmp_path / "work")
    path = (str(shards.photos) + target.removeprefix("IMAGES") if target.startswith("IMAGES")
            else str(shards.model) if target == "MODEL" else str(s1 / target))
    before, photos = snapshot(s1), snapshot(shards.photos)
    r = CliRunner().invoke(main, shards.argv(s1, 1, "--overwrite", option, path))
    one_error(r, option, path)
    assert snapshot(s1) == before and snapshot(shards.photos) == photos


def test_compare_html_never_replaces_what_it_compares(shards: Shards, tmp_path):
    s1, s2 = shards.copy(tmp_path / "work")
    before = snapshot(tmp_path / "work")
    for target in (s1 / "results.json", s2 / "results.json", s2 / "results.jsonl",
                   s1 / "results.csv", s2 / "adversarial" / "x.html"):
        r = CliRunner().invoke(main, ["compare", str(s1 / "results.json"),
                                      str(s2 / "results.json"), "--html", str(target)])
        one_error(r, "--html", target)
    assert snapshot(tmp_path / "work") == before


def test_report_outputs_never_land_in_the_png_folders_or_the_journal(shards: Shards, tmp_path):
    s1, _ = shards.copy(tmp_path / "work")
    before = snapshot(s1)
    for args in (["-o", str(s1 / "adversarial" / "r.html")],
                 ["--markdown", str(s1 / "clean" / "s.md")],
                 ["-f", "junit", "-o", str(s1 / "results.jsonl")],
                 ["-o", str(tmp_path / "r.html"), "--junit-xml", str(tmp_path / "r.html")]):
        one_error(CliRunner().invoke(main, ["report", str(s1 / "results.json"), *args]))
    assert snapshot(s1) == before


def test_markdown_still_appends_to_the_step_summary(shards: Shards, tmp_path):
    s1, _ = shards.copy(tmp_path / "work")
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    r = CliRunner().invoke(main, ["report", str(s1 / "results.json"), "--markdown",
                                  str(summary)], env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.exit_code == 0, r.output
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and len(text) > 100


# --- the environment's errors are exit 2, in one line ------------------------------------


@pytest.mark.parametrize(("command", "says"), [
    (lambda res, tmp: ["report", res, "-o", "/proc/advaudit-report.html"],
     "/proc/advaudit-report.html cannot be written"),
    (lambda res, tmp: ["report", res, "-o", f"{tmp}/a-file/report.html"], "not a folder"),
    (lambda res, tmp: ["report", res, "-o", f"{tmp}/a-file/sub/report.html"], "not a folder"),
    (lambda res, tmp: ["report", res, "--junit-xml", "/proc/x.xml"], "--junit-xml /proc/x.xml"),
    (lambda res, tmp: ["compare", res, res, "--html", "/proc/x.html"], "--html /proc/x.html"),
])
def test_unwritable_outputs_are_exit_2_naming_the_path(shards: Shards, tmp_path, command, says):
    (tmp_path / "a-file").write_text("a file, not a folder")
    s1, _ = shards.copy(tmp_path / "work")
    one_error(CliRunner().invoke(main, command(str(s1 / "results.json"), str(tmp_path))), says)


def refuse_replace(monkeypatch, code: int, where: Path) -> None:
    """``os.replace`` (every atomic write's last step) fails with ``code`` for targets under
    ``where``: a full disk or a read-only mount, as root cannot make one with chmod."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).is_relative_to(where):
            raise OSError(code, os.strerror(code), str(src))
        return real(src, dst, *args, **kwargs)
    monkeypatch.setattr(os, "replace", replace)


def test_report_into_a_read_only_folder_keeps_the_old_report(shards: Shards, tmp_path,
                                                            monkeypatch):
    s1, _ = shards.copy(tmp_path / "work")
    (s1 / "report.html").write_text("the earlier report")
    refuse_replace(monkeypatch, errno.EROFS, s1)
    r = CliRunner().invoke(main, ["report", str(s1 / "results.json")])
    one_error(r, "read-only file system", s1 / "report.html")
    assert (s1 / "report.html").read_text() == "the earlier report"
    assert not [p for p in s1.iterdir() if p.name.endswith(".tmp")]


def test_disk_full_during_an_audit_is_exit_2_and_resume_finishes_it(shards: Shards, tmp_path,
                                                                   monkeypatch):
    out = tmp_path / "full"
    refuse_replace(monkeypatch, errno.ENOSPC, out / "adversarial")
    r = CliRunner().invoke(main, shards.argv(out, 1))
    one_error(r, "disk full", out / "adversarial")
    assert not list(out.rglob("*.tmp"))
    monkeypatch.undo()
    r = CliRunner().invoke(main, shards.argv(out, 1, "--resume"))
    assert r.exit_code == 0, r.output
    done = json.loads((out / "results.json").read_text())
    assert done["summary"]["n_images"] == 3 and not done["summary"]["partial"]
