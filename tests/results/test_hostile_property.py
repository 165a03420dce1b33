"""Property: whatever a hostile or careless hand does to the files advaudit reads back, every
command ends in exit 0 or 2 (compare: 1 too, a regression), never 3 or a traceback, and nothing
outside the command's own output folder is created, changed or removed.

Hypothesis edits copies of two real shard audits: paths made absolute, ``..`` or links out of
the folder, indices huge, negative, booleans or text, values of the wrong type, rows that are not
objects, whole files of binary junk. A decoy tree (standing in for /etc) lies beside them, and
symbolic links from the audit's PNG folders point into it, so a path that escapes has something
to hit. Runs are derandomized (the same examples every time, so a red run is a real regression,
not bad luck; ``ADVAUDIT_HOSTILE_EXAMPLES=N`` searches N random ones instead) and need no
example database in the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from support.shards import Shards, snapshot

from audit.cli import main

# ADVAUDIT_HOSTILE_EXAMPLES=2000 runs that many random examples per property instead (a deeper
# search, by hand); by default a few dozen fixed ones keep the suite fast and deterministic
DEEP = int(os.environ.get("ADVAUDIT_HOSTILE_EXAMPLES") or 0)
SETTINGS = dict(deadline=None, database=None, derandomize=not DEEP,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def examples(n: int) -> int:
    return DEEP or n


DECOY = "{DECOY}"  # stands for the decoy tree's absolute path; filled in per example

# --- what a hostile hand writes ---------------------------------------------------------------

# paths that reach the decoy tree from a shard, an --out or a PNG folder (by ../, absolutely or
# through a link), and paths that are merely wrong: the first half is what a guard must stop
ESCAPES = [f"{DECOY}/etc/passwd", f"{DECOY}/x.png", "../../decoy/x.png", "../../decoy/etc/passwd",
           "adversarial/../../../decoy/x.png", "clean/../../../decoy/etc/passwd",
           "adversarial/out.png", "clean/out.png"]
WRONG = [DECOY, "/", "../decoy/x.png", "adversarial/loop.png", "adversarial/missing.png",
         "adversarial/sub/x.png", "adversarial", "adversarial/", "clean/0000_img_0.png",
         "results.json", "results.jsonl", "", ".", "..", "a\x00b.png",
         "adversarial\\..\\..\\x.png", "clean/" + "a" * 300 + ".png"]
PATHS = st.one_of(st.sampled_from(ESCAPES), st.sampled_from(WRONG))
INDICES = st.one_of(st.integers(-3, 8), st.sampled_from([999, 10**30, -1, 2**63]),
                    st.booleans(), st.text(max_size=3), st.floats(), st.none())
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=5)
ANY = st.one_of(PATHS, INDICES, VALUES)
ROW_KEYS = ["index", "adv_path", "clean_path", "attacked", "flipped", "linf", "l0", "min_eps",
            "steps", "steps_to_flip", "reference_label", "clean_pred", "adv_pred", "true_label",
            "clean_conf", "adv_ref_prob", "clean_probs", "path", "found_by", "queries"]
KEY_VALUES = {"index": INDICES, "adv_path": PATHS, "clean_path": PATHS}


@st.composite
def row_edit(draw) -> tuple:
    kind = draw(st.sampled_from(["set", "set", "set", "drop", "replace", "duplicate"]))
    k = draw(st.integers(0, 5))
    if kind == "set":
        key = draw(st.sampled_from(ROW_KEYS))
        return ("set", k, key, draw(KEY_VALUES.get(key, ANY)))
    if kind == "drop":
        return ("drop", k, draw(st.sampled_from(ROW_KEYS)))
    if kind == "replace":
        return ("replace", k, draw(VALUES))
    return ("duplicate", k)


def path_edit() -> st.SearchStrategy[tuple]:
    """A PNG path of an attacked row (the rows whose PNGs are linked, read or shown) set to a
    hostile one: drawn often, so the properties turn red within a few dozen examples when a
    guard is broken."""
    return st.tuples(st.just("path"), st.integers(0, 5),
                     st.sampled_from(["adv_path", "clean_path"]), PATHS)


RESULTS_EDITS = st.one_of(
    path_edit(), path_edit(), path_edit(),
    row_edit(),
    st.tuples(st.just("top"), st.sampled_from(["manifest", "summary", "images", "histograms",
                                               "trust", "skipped", "curve"]), VALUES),
    st.tuples(st.just("manifest"), st.sampled_from(["shard", "class_names", "sweep", "attack",
                                                    "attack_stages", "budget", "seed"]), ANY),
    st.tuples(st.just("summary"), st.sampled_from(["partial", "n_attacked", "seconds",
                                                   "attack_seconds", "flip_rate"]), ANY),
    st.tuples(st.just("shard"), st.sampled_from(["index", "count"]), INDICES),
)
JUNK = st.binary(min_size=0, max_size=64)


def fill(value: object, decoy: Path) -> object:
    """``value`` with the decoy placeholder replaced by the decoy tree's real path."""
    if isinstance(value, str):
        return value.replace(DECOY, str(decoy))
    if isinstance(value, list):
        return [fill(v, decoy) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, decoy) for k, v in value.items()}
    return value


def edit_rows(rows: list, edit: tuple, decoy: Path) -> None:
    if not rows:
        return
    kind, k = edit[0], edit[1] % len(rows)
    if kind == "path":
        attacked = [i for i, r in enumerate(rows) if isinstance(r, dict) and r.get("attacked")]
        if attacked:
            i = attacked[edit[1] % len(attacked)]
            rows[i] = {**rows[i], edit[2]: fill(edit[3], decoy)}
    elif kind == "set" and isinstance(rows[k], dict):
        rows[k] = {**rows[k], edit[2]: fill(edit[3], decoy)}
    elif kind == "drop" and isinstance(rows[k], dict):
        rows[k] = {key: v for key, v in rows[k].items() if key != edit[2]}
    elif kind == "replace":
        rows[k] = fill(edit[2], decoy)
    elif kind == "duplicate":
        rows.append(rows[k])


def edit_results(path: Path, edits: list[tuple], junk: bytes | None, decoy: Path) -> None:
    """Apply the edits to the results.json at ``path`` (or replace it with binary junk)."""
    if junk is not None:
        path.write_bytes(junk)
        return
    data = json.loads(path.read_text())
    for edit in edits:
        if edit[0] in ("path", "set", "drop", "replace", "duplicate"):
            if isinstance(data.get("images"), list):
                edit_rows(data["images"], edit, decoy)
        elif edit[0] == "top":
            data[edit[1]] = fill(edit[2], decoy)
        elif edit[0] in ("manifest", "summary") and isinstance(data.get(edit[0]), dict):
            data[edit[0]][edit[1]] = fill(edit[2], decoy)
        elif edit[0] == "shard" and isinstance(data.get("manifest"), dict) and \
                isinstance(data["manifest"].get("shard"), dict):
            data["manifest"]["shard"][edit[1]] = edit[2]
    path.write_text(json.dumps(data))


# --- the scene: copies of the shards, a decoy tree and links into it --------------------------


@dataclass
class Scene:
    root: Path
    decoy: Path
    shards: tuple[Path, Path]
    out: Path  # the command's own output folder: the one place it may write

    def outside(self) -> dict:
        """Everything under the scene's root but the output folder."""
        mine = str(self.out.relative_to(self.root))
        return {k: v for k, v in snapshot(self.root).items()
                if k != mine and not k.startswith(mine + "/")}


@contextmanager
def scene(shards: Shards, out_name: str) -> Iterator[Scene]:
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        root = Path(tmp)
        decoy = root / "decoy"
        (decoy / "etc").mkdir(parents=True)
        (decoy / "etc" / "passwd").write_bytes(b"root:x:0:0\n")
        shutil.copy2(next(shards.folders[0].glob("adversarial/*.png")), decoy / "x.png")
        copies = shards.copy(root / "work")
        for folder in copies:
            (folder / "adversarial" / "out.png").symlink_to(decoy / "x.png")
            (folder / "clean" / "out.png").symlink_to(decoy / "etc" / "passwd")
            (folder / "adversarial" / "loop.png").symlink_to(folder / "adversarial" / "loop.png")
        # --out one level deeper than the shards, so that a ../ which finds a file from a shard
        # names a new place from --out, inside this scene, where the snapshot sees it appear
        merged = root / "o" / "u" / "merged"
        merged.parent.mkdir(parents=True)
        out = {"merged": merged, "shard1": copies[0]}.get(out_name, root / out_name)
        yield Scene(root, decoy, copies, out)


def check(r: Result, codes: tuple[int, ...] = (0, 2)) -> None:
    if currently_in_test_context():  # --hypothesis-show-statistics: how often each outcome came
        event(f"exit {r.exit_code}")
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    assert r.exit_code in codes, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    if r.exit_code == 2:
        assert len([ln for ln in r.output.splitlines() if ln.startswith("Error:")]) == 1, r.output


# --- the properties ---------------------------------------------------------------------------


@settings(max_examples=examples(60), **SETTINGS)
@given(edits=st.lists(RESULTS_EDITS, min_size=1, max_size=4),
       junk=st.one_of(st.none(), st.none(), st.none(), JUNK), both=st.booleans())
# issue 15's two holes, always among the examples: ../ wrote a link outside --out, an absolute
# path made merge unlink it; and a PNG that links out of its shard
@example(edits=[("path", 0, "adv_path", "../../decoy/x.png")], junk=None, both=False)
@example(edits=[("path", 0, "clean_path", f"{DECOY}/etc/passwd")], junk=None, both=False)
@example(edits=[("path", 1, "adv_path", "adversarial/out.png")], junk=None, both=True)
def test_merge_of_hostile_shards(shards: Shards, edits, junk, both):
    with scene(shards, "merged") as s:
        edit_results(s.shards[0] / "results.json", edits, junk, s.decoy)
        if both:
            edit_results(s.shards[1] / "results.json", edits[::-1], None, s.decoy)
        before = s.outside()
        r = CliRunner().invoke(main, ["merge", *map(str, s.shards), "--out", str(s.out),
                                      "--no-report"])
        check(r)
        assert s.outside() == before


@settings(max_examples=examples(60), **SETTINGS)
@given(edits=st.lists(RESULTS_EDITS, min_size=1, max_size=4),
       junk=st.one_of(st.none(), st.none(), st.none(), JUNK),
       fmt=st.sampled_from(["html", "html", "csv", "junit", "markdown"]))
def test_report_of_a_hostile_results_json(shards: Shards, edits, junk, fmt):
    with scene(shards, "report") as s:
        results = s.shards[0] / "results.json"
        edit_results(results, edits, junk, s.decoy)
        before = s.outside()
        s.out.mkdir()
        r = CliRunner().invoke(main, ["report", str(results), "-f", fmt, "-o",
                                      str(s.out / f"r.{fmt}")])
        check(r)
        assert s.outside() == before


@settings(max_examples=examples(40), **SETTINGS)
@given(base=st.lists(RESULTS_EDITS, max_size=3), new=st.lists(RESULTS_EDITS, max_size=3),
       junk=st.one_of(st.none(), st.none(), JUNK))
def test_compare_of_hostile_results(shards: Shards, base, new, junk):
    with scene(shards, "compare") as s:
        edit_results(s.shards[0] / "results.json", base, None, s.decoy)
        edit_results(s.shards[1] / "results.json", new, junk, s.decoy)
        before = s.outside()
        s.out.mkdir()
        r = CliRunner().invoke(main, ["compare", *(str(f / "results.json") for f in s.shards),
                                      "--html", str(s.out / "diff.html")])
        check(r, (0, 1, 2))  # 1: a regression, which is a verdict, not a failure
        assert s.outside() == before


# --- --resume: one small real audit (the shard), its journal edited ----------------------------

JOURNAL_EDITS = st.one_of(
    path_edit(), path_edit(),
    row_edit(),
    st.tuples(st.just("line"), st.integers(0, 8), VALUES),
    st.tuples(st.just("append"), VALUES),
    st.tuples(st.just("raw"), st.text(max_size=20)),
    st.tuples(st.just("header"), st.sampled_from(["journal", "fingerprint"]), VALUES),
)


def edit_journal(path: Path, edits: list[tuple], junk: bytes | None, decoy: Path) -> None:
    if junk is not None:
        path.write_bytes(junk)
        return
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    rows = [entry["row"] for entry in lines if "row" in entry]
    others = [entry for entry in lines[1:] if "row" not in entry]
    extra: list[str] = []
    for edit in edits:
        if edit[0] in ("path", "set", "drop", "replace", "duplicate"):
            edit_rows(rows, edit, decoy)
        elif edit[0] == "line":
            others.insert(edit[1] % (len(others) + 1), fill(edit[2], decoy))
        elif edit[0] == "append":
            others.append({"row": fill(edit[1], decoy)})
        elif edit[0] == "raw":
            extra.append(edit[1].replace("\n", " "))
        elif edit[0] == "header":
            lines[0] = {**lines[0], edit[1]: edit[2]}
    entries = [lines[0], *({"row": r} for r in rows), *others]
    text = "".join(json.dumps(e) + "\n" for e in entries) + "".join(x + "\n" for x in extra)
    path.write_text(text)


@settings(max_examples=examples(30), **SETTINGS)
@given(edits=st.lists(JOURNAL_EDITS, min_size=1, max_size=3),
       junk=st.one_of(st.none(), st.none(), st.none(), st.none(), JUNK))
@example(edits=[("path", 0, "adv_path", "../../../../etc/passwd")], junk=None)
@example(edits=[("set", 0, "index", 999)], junk=None)
@example(edits=[("set", 0, "index", "abc")], junk=b"\xff\xfe\x00binary")
def test_resume_of_a_hostile_journal(shards: Shards, edits, junk):
    with scene(shards, "shard1") as s:
        edit_journal(s.out / "results.jsonl", edits, junk, s.decoy)
        before, photos = s.outside(), snapshot(shards.photos)
        r = CliRunner().invoke(main, shards.argv(s.out, 1, "--resume"))
        check(r)  # exit 0 too: many edits are harmless, or redo a photo
        assert s.outside() == before and snapshot(shards.photos) == photos


@pytest.mark.parametrize("edits", [[("set", 0, "clean_path", f"{DECOY}/etc/passwd")],
                                   [("set", 0, "adv_path", "../../decoy/x.png")]])
def test_the_issues_two_merge_cases_are_among_the_properties(shards: Shards, edits):
    """The two concrete holes of issue 15 as examples of the merge property (an absolute path
    made merge unlink it; ../ made it write outside --out): the rows edited are attacked ones."""
    with scene(shards, "merged") as s:
        data = json.loads((s.shards[0] / "results.json").read_text())
        k = next(i for i, row in enumerate(data["images"]) if row["attacked"])
        edit_results(s.shards[0] / "results.json", [(e[0], k, *e[2:]) for e in edits], None,
                     s.decoy)
        before = s.outside()
        r = CliRunner().invoke(main, ["merge", *map(str, s.shards), "--out", str(s.out)])
        check(r, (2,))
        assert s.outside() == before
