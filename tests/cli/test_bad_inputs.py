"""The bad-input corpus: every hostile or mistaken input we know of, as one table.

Each case builds its inputs itself (tiny files, in milliseconds), runs the real command line and
checks what a user and a CI job would see: the exit code; for a refusal, exactly one ``Error:``
line that names the file or option at fault, and an earlier audit in the same output folder left
byte for byte as it was; for an input that is skipped or tolerated, exit 0 and the outcome in
results.json. Never a traceback.

To add a case, add a ``Case`` to ``CASES``: ``argv`` gets the corpus (generated inputs) and a
fresh copy of an earlier audit folder (``out``) and returns the command line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import keras
import pytest
from click.testing import CliRunner, Result
from support.hostile import (
    file_writing_saved_model,
    huge_png,
    nan_model,
    regression_model,
    small_input_model,
    two_head_model,
)
from support.models import SIZE, write_photo_folder

from audit.cli import main

FAST = ["--eps", "16", "--step", "4", "--steps", "3", "--no-report", "--no-trust"]
# What a run needs to write into a folder that holds an earlier audit: with --overwrite, a run
# refused before it writes must still leave the earlier audit as it was.
REUSE_OUT = ["--overwrite"]


class Corpus:
    """The inputs, generated on first use and shared by the cases of this module."""

    def __init__(self, root: Path, tiny_model_file: Path) -> None:
        self.root = root
        self.tiny = tiny_model_file

    def path(self, name: str) -> Path:
        return self.root / name

    @cached_property
    def photos(self) -> Path:
        return write_photo_folder(self.path("photos"), n=6)

    @cached_property
    def earlier(self) -> Path:
        """A finished audit whose files every refusal must leave untouched."""
        out = self.path("earlier")
        r = CliRunner().invoke(main, ["audit", str(self.tiny), "--images", str(self.photos),
                                      "--out", str(out), "--labels", "cat,dog", *FAST[:-2]])
        assert r.exit_code == 0, r.output
        return out

    @cached_property
    def regression(self) -> Path:
        return regression_model(self.path("regression.keras"))

    @cached_property
    def two_heads(self) -> Path:
        return two_head_model(self.path("two_heads.keras"))

    @cached_property
    def nan(self) -> Path:
        return nan_model(self.path("nan.keras"))

    @cached_property
    def small(self) -> Path:
        return small_input_model(self.path("small8.keras"), 8)

    @cached_property
    def writer(self) -> Path:
        return file_writing_saved_model(self.path("writer"), self.path("written-by-model.txt"))

    @cached_property
    def tfsm_wrapper(self) -> Path:
        inputs = keras.Input((SIZE, SIZE, 3))
        scores = keras.layers.TFSMLayer(str(self.writer), call_endpoint="serving_default")(inputs)
        path = self.path("wrapper.keras")
        keras.Model(inputs, scores["scores"]).save(path)
        self.path("written-by-model.txt").unlink(missing_ok=True)  # building it ran the graph
        return path

    @cached_property
    def lambda_model(self) -> Path:
        inputs = keras.Input((SIZE, SIZE, 3))
        h = keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 1.0)(inputs))
        path = self.path("lambda.keras")
        keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h)).save(path)
        return path

    def junk(self, name: str, data: bytes) -> Path:
        path = self.path(name)
        path.write_bytes(data)
        return path

    @cached_property
    def truncated_keras(self) -> Path:
        return self.junk("truncated.keras", self.tiny.read_bytes()[:400])

    @cached_property
    def cache_file(self) -> Path:
        return self.junk("cache-is-a-file", b"not a folder")

    @cached_property
    def corrupt_cache(self) -> Path:
        cached = self.path("cache") / "kaggle-catdog" / "model.h5"
        cached.parent.mkdir(parents=True)
        cached.write_bytes(b"\x89HDF\r\n\x1a\n")
        cached.with_name("model.h5.sha256.json").write_text("{truncated")
        return self.path("cache")

    def photos_with(self, name: str, add: Callable[[Path], object]) -> Path:
        folder = self.path(name)
        if not folder.exists():
            shutil.copytree(self.photos, folder)
            add(folder)
        return folder

    @cached_property
    def with_bomb(self) -> Path:
        return self.photos_with("bomb-photos",
                                lambda f: huge_png(f / "bomb.png", 30_000, 30_000))

    @cached_property
    def with_hidden(self) -> Path:
        def add(folder: Path) -> None:
            (folder / ".ipynb_checkpoints").mkdir()
            (folder / ".ipynb_checkpoints" / "x.png").write_bytes(b"x")
            (folder / ".DS_Store").write_bytes(b"x")
            (folder / "moved.png").symlink_to(folder / "gone.png")
        return self.photos_with("hidden-photos", add)

    @cached_property
    def only_hidden(self) -> Path:
        folder = self.path("only-hidden")
        folder.mkdir()
        (folder / ".a.png").write_bytes(b"x")
        return folder

    @cached_property
    def deep_json(self) -> Path:
        return self.junk("deep.json", b'{"manifest": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")

    @cached_property
    def not_json(self) -> Path:
        return self.junk("not.json", b"\xff\xfe garbage")


def audit(model: Callable[[Corpus], Path] | str | None, *extra: str,
          images: Callable[[Corpus], Path] | None = None):
    """An audit of ``model`` (a victim name, a generated file, None: the tiny trained model)."""
    def argv(c: Corpus, out: Path) -> list[str]:
        m = model if isinstance(model, str) else str(model(c) if model else c.tiny)
        photos = images(c) if images else c.photos
        return ["audit", m, "--images", str(photos), "--out", str(out), *REUSE_OUT, *FAST,
                *extra]
    return argv


def report(results: Callable[[Corpus, Path], Path], *extra: str):
    def argv(c: Corpus, out: Path) -> list[str]:
        return ["report", str(results(c, out)), *extra]
    return argv


def earlier_results(c: Corpus, out: Path) -> Path:
    return out / "results.json"


def edited_results(edit: Callable[[dict], object]):
    def results(c: Corpus, out: Path) -> Path:
        path = out / "results.json"
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
        return path
    return results


def replace_a_png_with_a_bomb(c: Corpus, out: Path) -> Path:
    data = json.loads((out / "results.json").read_text())
    row = next(r for r in data["images"] if r.get("attacked"))
    huge_png(out / row["adv_path"], 10_000, 10_000)
    return out / "results.json"


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Corpus, Path], list[str]]
    exit_code: int
    says: str = ""  # the one Error line contains this (refusals)
    names: Callable[[Corpus, Path], object] | str | None = None  # ... and names this
    env: Callable[[Corpus], dict[str, str]] | None = None
    check: Callable[[Corpus, Path, Result], None] | None = None  # exit-0 cases: the outcome
    # refused before anything is written, so the earlier audit in --out must be intact
    keeps_earlier: bool = True


def skipped_reasons(out: Path) -> dict[str, str]:
    return {Path(s["path"]).name: s["reason"]
            for s in json.loads((out / "results.json").read_text())["skipped"]}


def check_bomb_skipped(c: Corpus, out: Path, r: Result) -> None:
    assert "decompression bomb" in skipped_reasons(out)["bomb.png"]


def check_hidden_listed(c: Corpus, out: Path, r: Result) -> None:
    reasons = skipped_reasons(out)
    assert reasons == {".ipynb_checkpoints": "hidden folder (1 files), not read",
                       ".DS_Store": "hidden file, not read",
                       "moved.png": "broken symbolic link, not read"}


def check_ssim_null(c: Corpus, out: Path, r: Result) -> None:
    rows = [i for i in json.loads((out / "results.json").read_text())["images"] if i["attacked"]]
    assert rows and all(i["ssim"] is None and i["psnr"] is not None for i in rows)


def check_rendered(c: Corpus, out: Path, r: Result) -> None:
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")


def check_bomb_not_shown(c: Corpus, out: Path, r: Result) -> None:
    data = json.loads((out / "results.json").read_text())
    row = next(r for r in data["images"] if r.get("attacked"))  # the row whose PNG was swapped
    assert f"image not available<small>{row['adv_path']}</small>" in \
        (out / "report.html").read_text()


def model_path(attr: str):
    return lambda c, out: getattr(c, attr)


CASES = [
    # budgets and options: refused before any model is loaded
    Case("eps nan", audit(None, "--eps", "nan"), 2, "not a budget", "--eps nan"),
    Case("eps -1", audit(None, "--eps", "-1"), 2, "not a budget", "--eps -1"),
    Case("eps 0", audit(None, "--eps", "0"), 2, "under one count", "--eps 0"),
    Case("eps 0.5", audit(None, "--eps", "0.5"), 2, "under one count", "--eps 0.5"),
    Case("pgd eps inf", audit(None, "--attack", "pgd", "--eps", "inf"), 2, "not a budget",
         "--eps inf"),
    Case("pgd eps nan", audit(None, "--attack", "pgd", "--eps", "nan"), 2, "not a budget",
         "--eps nan"),
    Case("pgd eps -1", audit(None, "--attack", "pgd", "--eps", "-1"), 2, "not a budget",
         "--eps -1"),
    Case("step 0", audit(None, "--step", "0"), 2, "not a step size", "--step 0"),
    Case("step -3", audit(None, "--step", "-3"), 2, "not a step size", "--step -3"),
    Case("seed -1", audit(None, "--seed", "-1"), 2, "not in the range", "'--seed'"),
    Case("l2 with bim", audit(None, "--attack", "bim", "--norm", "l2"), 2, "not available",
         "--norm l2"),
    Case("labels cat,cat", audit(None, "--labels", "cat,cat"), 2, "twice", "'--labels'"),
    Case("labels Cat,cat", audit(None, "--labels", "Cat,cat"), 2, "twice", "'--labels'"),
    Case("labels cat,", audit(None, "--labels", "cat,"), 2, "empty class name", "'--labels'"),
    Case("labels empty", audit(None, "--labels", ""), 2, "empty class name", "'--labels'"),
    # models that cannot or must not be loaded as a classifier
    Case("missing model", audit(lambda c: c.path("nope.keras")), 2, "does not exist",
         lambda c, out: c.path("nope.keras")),
    Case("junk .keras", audit(lambda c: c.junk("junk.keras", b"not a zip")), 2,
         "is not a valid .keras file", lambda c, out: c.path("junk.keras")),
    Case("truncated .keras", audit(lambda c: c.truncated_keras), 2,
         "is not a valid .keras file", model_path("truncated_keras")),
    Case("junk .h5", audit(lambda c: c.junk("junk.h5", b"GIF89a")), 2,
         "is not a valid HDF5 file", lambda c, out: c.path("junk.h5")),
    Case("SavedModel writing files", audit(lambda c: c.writer), 2, "WriteFile",
         model_path("writer")),
    Case(".keras wrapping a TFSMLayer", audit(lambda c: c.tfsm_wrapper), 2, "TFSMLayer",
         model_path("tfsm_wrapper")),
    Case("Lambda layer", audit(lambda c: c.lambda_model), 2, "--unsafe-load",
         model_path("lambda_model")),
    Case("regression output", audit(lambda c: c.regression), 2, "--binary-logit",
         model_path("regression")),
    Case("two outputs", audit(lambda c: c.two_heads), 2, "--output NAME",
         model_path("two_heads")),
    Case("unknown output", audit(lambda c: c.two_heads, "--output", "tail"), 2,
         "not one of the model's outputs", "'tail'"),
    Case("binary logit on softmax", audit(lambda c: c.tiny, "--binary-logit"), 2,
         "--binary-logit is for a model with one output", model_path("tiny")),
    Case("NaN outputs", audit(lambda c: c.nan, "--labels", "cat,dog"), 2,
         "preflight failed (finite)", model_path("nan")),
    # the Kaggle victim's cache
    Case("cache variable names a file", audit("kaggle-catdog"), 2, "is a file, not a folder",
         lambda c, out: f"ADVAUDIT_CACHE={c.cache_file}",
         env=lambda c: {"ADVAUDIT_CACHE": str(c.cache_file)}),
    Case("corrupt hash record", audit("kaggle-catdog"), 2, "is corrupt",
         lambda c, out: c.corrupt_cache / "kaggle-catdog" / "model.h5.sha256.json",
         env=lambda c: {"ADVAUDIT_CACHE": str(c.corrupt_cache)}),
    # photo folders
    Case("missing images", audit(lambda c: c.tiny, images=lambda c: c.path("none")), 2,
         "does not exist", lambda c, out: c.path("none")),
    # found only after the photos are read, when --overwrite has cleared the earlier audit
    Case("only hidden files", audit(lambda c: c.tiny, images=lambda c: c.only_hidden), 2,
         "no readable photos", model_path("only_hidden"), keeps_earlier=False),
    Case("decompression bomb photo", audit(lambda c: c.tiny, "--labels", "cat,dog",
                                           images=lambda c: c.with_bomb), 0,
         check=check_bomb_skipped),
    Case("hidden files and broken link", audit(lambda c: c.tiny, "--labels", "cat,dog",
                                               images=lambda c: c.with_hidden), 0,
         check=check_hidden_listed),
    Case("input smaller than SSIM's window", audit(lambda c: c.small), 0,
         check=check_ssim_null),
    # advaudit report on edited or misdirected files
    Case("report -o results.json", report(earlier_results, "-o", "RESULTS"), 2,
         "is the results file", lambda c, out: out / "results.json"),
    Case("report -o results.csv", report(earlier_results, "-o", "CSV"), 2,
         "is not a .html file", lambda c, out: out / "results.csv"),
    Case("report deep nesting", report(lambda c, out: c.deep_json), 2, "nested too deeply",
         model_path("deep_json")),
    Case("report not JSON", report(lambda c, out: c.not_json), 2, "is not valid JSON",
         model_path("not_json")),
    Case("report odd histogram key", report(edited_results(
        lambda d: d["histograms"].update(steps_to_flip={"²": 1, "--5": 2, "1" * 5000: 3}))), 0,
         check=check_rendered),
    Case("report values of 1e308", report(edited_results(
        lambda d: [row.update(l2=1e308, linf=-1e308, psnr=1e308) for row in d["images"]]
        + [d.update(curve=[{"eps": 1e308, "flip_rate": 1e308}, {"eps": -1e308,
                                                                 "flip_rate": 0}])])), 0,
         check=check_rendered),
    Case("report bomb PNG", report(replace_a_png_with_a_bomb), 0, check=check_bomb_not_shown),
]


def resolve(text: str, out: Path) -> str:
    return {"RESULTS": str(out / "results.json"), "CSV": str(out / "results.csv")}.get(text, text)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_model_file) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"), tiny_model_file)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, corpus: Corpus, tmp_path: Path):
    out = tmp_path / "audit"
    shutil.copytree(corpus.earlier, out)
    before = snapshot(out)
    argv = [resolve(a, out) for a in case.argv(corpus, out)]
    env = case.env(corpus) if case.env else None
    r = CliRunner().invoke(main, argv, env=env)
    assert "Traceback" not in r.output and not isinstance(r.exception, AssertionError)
    assert r.exit_code == case.exit_code, r.output
    if case.exit_code == 0:
        assert case.check is not None
        case.check(corpus, out, r)
        return
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, r.output
    assert case.says in errors[0], r.output
    named = case.names(corpus, out) if callable(case.names) else case.names
    assert str(named) in errors[0], r.output
    if case.keeps_earlier:
        assert snapshot(out) == before  # the earlier audit is intact
    assert not corpus.path("written-by-model.txt").exists()  # no model ran its file ops
