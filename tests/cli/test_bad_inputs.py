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
import numpy as np
import pytest
from click.testing import CliRunner, Result
from support.exports import flat_onnx, nchw_onnx, to_tflite
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

    @cached_property
    def shards(self) -> tuple[Path, Path]:
        """Shards 1/2 and 2/2 of one audit of the photos, for the merge cases."""
        folders = (self.path("shard1"), self.path("shard2"))
        for i, out in enumerate(folders, start=1):
            r = CliRunner().invoke(main, ["audit", str(self.tiny), "--images", str(self.photos),
                                          "--out", str(out), "--labels", "cat,dog", "--shard",
                                          f"{i}/2", *FAST])
            assert r.exit_code == 0, r.output
        return folders

    @cached_property
    def decoy(self) -> Path:
        """A file outside every output folder, standing in for /etc/passwd."""
        path = self.path("decoy") / "etc" / "passwd"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"root:x:0:0\n")
        return path

    def junk(self, name: str, data: bytes) -> Path:
        path = self.path(name)
        path.write_bytes(data)
        return path

    @cached_property
    def tflite(self) -> Path:
        return to_tflite(keras.models.load_model(self.tiny), self.path("tiny.tflite"))

    @cached_property
    def truncated_tflite(self) -> Path:
        return self.junk("truncated.tflite", self.tflite.read_bytes()[:300])

    @cached_property
    def truncated_onnx(self) -> Path:
        whole = nchw_onnx(self.path("whole.onnx"), np.ones((3, 2), np.float32))
        return self.junk("truncated.onnx", whole.read_bytes()[:60])

    @cached_property
    def flat_tflite(self) -> Path:
        inputs = keras.Input((48,))
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
        return to_tflite(model, self.path("flat.tflite"))

    @cached_property
    def flat_onnx(self) -> Path:
        return flat_onnx(self.path("flat.onnx"))

    @cached_property
    def int_input_onnx(self) -> Path:
        from onnx import TensorProto

        return nchw_onnx(self.path("int_input.onnx"), np.ones((3, 2), np.float32),
                         input_type=TensorProto.INT64)

    @cached_property
    def five_class_tflite(self) -> Path:
        inputs = keras.Input((SIZE, SIZE, 3))
        h = keras.layers.Flatten()(inputs)
        model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(h))
        return to_tflite(model, self.path("five.tflite"))

    @cached_property
    def five_class_onnx(self) -> Path:
        return nchw_onnx(self.path("five.onnx"), np.ones((3, 5), np.float32))

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

    @cached_property
    def with_loops(self) -> Path:
        def add(folder: Path) -> None:
            (folder / "self.png").symlink_to(folder / "self.png")
            (folder / "ping.png").symlink_to(folder / "pong.png")
            (folder / "pong.png").symlink_to(folder / "ping.png")
        return self.photos_with("loop-photos", add)

    @cached_property
    def loop_root(self) -> Path:
        root = self.path("loop-root")
        root.symlink_to(root)
        return root

    @cached_property
    def chance(self) -> Path:
        """Always 'cat': clean accuracy at chance, as a wrong --input-scale gives."""
        inputs = keras.Input((SIZE, SIZE, 3))
        logits = keras.layers.Dense(2, kernel_initializer="zeros",
                                    bias_initializer=keras.initializers.Constant([1.0, 0.0]))(
            keras.layers.Flatten()(inputs))
        path = self.path("chance.keras")
        keras.Model(inputs, keras.layers.Softmax()(logits)).save(path)
        return path

    @cached_property
    def twelve_photos(self) -> Path:
        return write_photo_folder(self.path("twelve-photos"), n=12)

    @cached_property
    def broken_kaggle_json(self) -> Path:
        folder = self.path("kaggle-config")
        folder.mkdir()
        (folder / "kaggle.json").write_text('{"username": "me", "key": ')
        return folder


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
    # exit-0 cases: the outcome; refusals: what else must hold (a decoy left alone)
    check: Callable[[Corpus, Path, Result], None] | None = None
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


def check_loops_skipped(c: Corpus, out: Path, r: Result) -> None:
    reasons = skipped_reasons(out)
    assert {name: reasons[name] for name in ("self.png", "ping.png", "pong.png")} == \
        dict.fromkeys(("self.png", "ping.png", "pong.png"), "symbolic link loop, not read")


def user_file_in_pngs(c: Corpus, out: Path) -> list[str]:
    """The user keeps notes among the earlier audit's PNGs, then reruns with --overwrite."""
    (out / "adversarial" / "my-notes.txt").write_text("mine")
    (out / "clean" / "keep.png").write_bytes(b"mine")
    return audit(None, "--attack", "bim")(c, out)


def check_user_files_kept(c: Corpus, out: Path, r: Result) -> None:
    assert (out / "adversarial" / "my-notes.txt").read_text() == "mine"
    assert (out / "clean" / "keep.png").read_bytes() == b"mine"
    rows = json.loads((out / "results.json").read_text())["images"]
    assert {p.name for p in (out / "adversarial").iterdir()} == \
        {"my-notes.txt"} | {Path(row["adv_path"]).name for row in rows if row.get("adv_path")}


def check_scale_warning(c: Corpus, out: Path, r: Result) -> None:
    warnings = [ln for ln in r.output.splitlines() if "input scale may be wrong" in ln]
    assert len(warnings) == 1 and "--input-scale 1" in warnings[0], r.output


def kaggle_env(c: Corpus) -> dict[str, str | None]:
    return {"KAGGLE_CONFIG_DIR": str(c.broken_kaggle_json), "HOME": str(c.root),
            "KAGGLE_API_TOKEN": None, "KAGGLE_USERNAME": None, "KAGGLE_KEY": None,
            "ADVAUDIT_CACHE": str(c.path("empty-cache"))}


def shard_copies(c: Corpus, out: Path) -> tuple[Path, Path]:
    """Fresh copies of the corpus's shard audits beside ``out`` (safe to edit)."""
    return tuple(Path(shutil.copytree(f, out.parent / "shards" / f.name))  # type: ignore
                 for f in c.shards)


def merge_edited(edit: Callable[[Corpus, Path, dict], object], *extra: str):
    """``advaudit merge`` of the shards, the first attacked row of shard 1 edited, into
    ``a/b/merged`` beside the earlier audit (deeper than the shards: a ``../`` lands elsewhere)."""
    def argv(c: Corpus, out: Path) -> list[str]:
        s1, s2 = shard_copies(c, out)
        data = json.loads((s1 / "results.json").read_text())
        edit(c, out, next(row for row in data["images"] if row.get("attacked")))
        (s1 / "results.json").write_text(json.dumps(data))
        return ["merge", str(s1), str(s2), "--out", str(out.parent / "a" / "b" / "merged"),
                *extra]
    return argv


def shard_results(c: Corpus, out: Path) -> Path:
    return out.parent / "shards" / "shard1" / "results.json"


def dotdot_to_a_png(c: Corpus, out: Path, row: dict) -> None:
    (out.parent / "x.png").write_bytes(b"\x89PNG outside every audit")
    row["adv_path"] = "../../x.png"  # from the shard: out.parent/x.png; from --out: a/x.png


def check_decoy_intact(c: Corpus, out: Path, r: Result) -> None:
    assert c.decoy.read_bytes() == b"root:x:0:0\n"


def check_nothing_linked_outside(c: Corpus, out: Path, r: Result) -> None:
    assert not (out.parent / "a" / "x.png").exists()
    assert (out.parent / "x.png").read_bytes() == b"\x89PNG outside every audit"


def resumed(edit: Callable[[list[dict]], list[object] | bytes]):
    """``--resume`` of the earlier audit after its journal was edited."""
    def argv(c: Corpus, out: Path) -> list[str]:
        journal = out / "results.jsonl"
        got = edit([json.loads(line) for line in journal.read_text().splitlines()])
        journal.write_bytes(got if isinstance(got, bytes) else
                            "".join(json.dumps(e) + "\n" for e in got).encode())
        return ["audit", str(c.tiny), "--images", str(c.photos), "--out", str(out), "--labels",
                "cat,dog", *FAST, "--resume"]
    return argv


def first_row(**changes: object) -> Callable[[list[dict]], list[dict]]:
    def edit(entries: list[dict]) -> list[dict]:
        k = next(i for i, e in enumerate(entries) if e.get("row", {}).get("attacked"))
        entries[k] = {"row": {**entries[k]["row"], **changes}}
        return entries
    return edit


def journal_path(c: Corpus, out: Path) -> Path:
    return out / "results.jsonl"


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
         "--threat l2"),
    Case("l0 eps 2.5", audit(None, "--threat", "l0", "--eps", "2.5"), 2,
         "not a whole number of pixels", "--eps 2.5"),
    Case("patch larger than the input", audit(None, "--threat", "patch", "--eps", "200"), 2,
         "patch does not fit the 16x16 input; give at most 16", "--eps 200"),
    Case("threat unknown", audit(None, "--threat", "l1"), 2, "Invalid value", "'--threat'"),
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
    # the model as shipped: TFLite and ONNX files
    Case("truncated .tflite", audit(lambda c: c.truncated_tflite), 2,
         "not a readable TFLite model", model_path("truncated_tflite")),
    Case("junk .tflite", audit(lambda c: c.junk("junk.tflite", b"TFL3 but not")), 2,
         "not a readable TFLite model", lambda c, out: c.path("junk.tflite")),
    Case(".tflite of flat vectors", audit(lambda c: c.flat_tflite), 2,
         "is not an image batch", model_path("flat_tflite")),
    Case(".tflite with 5 classes, 2 labels", audit(lambda c: c.five_class_tflite, "--labels",
                                                   "cat,dog"), 2,
         "2 class names given for a model with 5 classes", model_path("five_class_tflite")),
    Case("truncated .onnx", audit(lambda c: c.truncated_onnx), 2,
         "not a readable ONNX model", model_path("truncated_onnx")),
    Case(".onnx of flat vectors", audit(lambda c: c.flat_onnx), 2,
         "is not an image batch", model_path("flat_onnx")),
    Case(".onnx with an integer input", audit(lambda c: c.int_input_onnx), 2,
         "is not a float image tensor", model_path("int_input_onnx")),
    Case(".onnx with 5 classes, 2 labels", audit(lambda c: c.five_class_onnx, "--labels",
                                                 "cat,dog"), 2,
         "2 class names given for a model with 5 classes", model_path("five_class_onnx")),
    Case("gradient attack on a .tflite", audit(lambda c: c.tflite, "--attack", "bim"), 2,
         "needs the model's gradients", "--attack bim"),
    Case("--sweep on a .tflite", audit(lambda c: c.tflite, "--sweep", "--max-eps", "16"), 2,
         "query-only model", "--sweep"),
    Case(".tflite as the surrogate", audit(None, "--surrogate", "SURROGATE"), 2,
         "has no gradients either", lambda c, out: c.tflite),
    Case("--jit on a .tflite", audit(lambda c: c.tflite, "--jit"), 2,
         "drop --jit and --devices", "tflite model"),
    Case("bench of a .tflite", lambda c, out: ["bench", str(c.tflite)], 2,
         "has none", lambda c, out: c.tflite),
    Case("missing surrogate", audit(lambda c: c.tflite, "--surrogate", "nope.keras"), 2,
         "does not exist", "nope.keras"),
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
         "preflight failed: finite", model_path("nan")),
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
    # issue 15, items 1-3 and 6: paths in files are data, outputs never land on inputs, the
    # environment's errors are the user's
    Case("merge absolute clean_path", merge_edited(
        lambda c, out, row: row.update(clean_path=str(c.decoy))), 2,
         "is not a PNG path an audit writes", shard_results, check=check_decoy_intact),
    Case("merge ../ adv_path", merge_edited(dotdot_to_a_png), 2,
         "is not a PNG path an audit writes", shard_results, check=check_nothing_linked_outside),
    Case("merge --out onto a shard", lambda c, out: [
        "merge", *map(str, shard_copies(c, out)), "--out", str(out.parent / "shards" / "shard1"),
        "--overwrite"], 2, "is the shard folder", lambda c, out: out.parent / "shards" / "shard1"),
    Case("resume journal index 999", resumed(first_row(index=999)), 2,
         "photo index 999 is not one of the", journal_path),
    Case("resume journal index -1", resumed(first_row(index=-1)), 2,
         "is not an advaudit journal", journal_path),
    Case("resume journal index abc", resumed(first_row(index="abc")), 2,
         "is not an advaudit journal", journal_path),
    Case("resume journal row twice", resumed(
        lambda entries: [*entries, next(e for e in entries if "row" in e)]), 2,
         "is recorded twice", journal_path),
    Case("resume journal adv_path ../", resumed(first_row(adv_path="../../../../etc/passwd")), 2,
         "is not a PNG path an audit writes", journal_path),
    Case("resume binary journal", resumed(lambda entries: b"\xff\xfe\x00\x80junk" * 50), 2,
         "is not an advaudit journal", journal_path),
    Case("resume journal line not an object", resumed(lambda entries: [*entries, [1, 2]]), 2,
         "is not an advaudit journal", journal_path),
    Case("audit --junit-xml onto results.json", audit(None, "--junit-xml", "RESULTS"), 2,
         "is an input or artifact of this run", "--junit-xml"),
    Case("audit --markdown onto results.jsonl", audit(None, "--markdown", "JOURNAL"), 2,
         "is an input or artifact of this run", "--markdown"),
    Case("audit --markdown into --images", audit(None, "--markdown", "PHOTOS/summary.md"), 2,
         "is inside", "--markdown"),
    Case("report --markdown onto results.jsonl", report(earlier_results, "--markdown",
                                                        "JOURNAL"), 2,
         "is an input or artifact of this run", "--markdown"),
    Case("compare --html onto BASE", lambda c, out: [
        "compare", "RESULTS", "RESULTS", "--html", "RESULTS"], 2,
         "is an input or artifact of this run", "--html"),
    Case("report -o /proc/x", report(earlier_results, "-o", "/proc/advaudit.html"), 2,
         "files cannot be created in that folder", "-o /proc/advaudit.html"),
    Case("report -o under a file", lambda c, out: [
        "report", str(out / "results.json"), "-o", str(c.cache_file / "report.html")], 2,
         "not a folder", lambda c, out: c.cache_file / "report.html"),
    Case("compare --html /proc/x", lambda c, out: [
        "compare", "RESULTS", "RESULTS", "--html", "/proc/advaudit.html"], 2,
         "cannot be written", "--html /proc/advaudit.html"),
    # issue 15, items 7-9: link loops, --overwrite, --out "", options an attack ignores
    Case("symbolic link loops among photos", audit(None, "--labels", "cat,dog",
                                                   images=lambda c: c.with_loops), 0,
         check=check_loops_skipped),
    Case("images folder is a link loop", audit(None, images=lambda c: c.loop_root), 2,
         "is a symbolic link loop", model_path("loop_root")),
    Case("overwrite keeps the user's files", user_file_in_pngs, 0, check=check_user_files_kept),
    Case("out empty", lambda c, out: ["audit", str(c.tiny), "--images", str(c.photos), "--out",
                                      "", *FAST], 2, "is empty", "'--out'"),
    Case("queries with bim", audit(None, "--attack", "bim", "--queries", "30"), 2,
         "has no effect with --attack bim", "--queries 30"),
    Case("queries with auto", audit(None, "--queries", "30"), 2,
         "has no effect with --attack auto", "--queries 30"),
    Case("step with fgsm", audit(None, "--attack", "fgsm"), 2,
         "has no effect with --attack fgsm", "--step"),
    Case("eps with seed", audit(None, "--attack", "seed"), 2,
         "--eps has no effect with --attack seed", "--eps"),
    Case("sweep max-eps below eps", audit(None, "--sweep", "--max-eps", "2", "--eps", "6"), 2,
         "is below --eps 6", "--max-eps 2"),
    Case("demo lr inf", lambda c, out: ["demo", "regression", "--lr", "inf", "--no-gif",
                                        "--out", str(out / "demo")], 2,
         "is not a learning rate", "'--lr'"),
    Case("demo lr nan", lambda c, out: ["demo", "regression", "--lr", "nan", "--no-gif",
                                        "--out", str(out / "demo")], 2,
         "is not a learning rate", "'--lr'"),
    Case("hf empty revision", audit("hf://a/b@"), 2, "empty revision after @", "hf://a/b@"),
    Case("corrupt kaggle.json", lambda c, out: ["victims", "fetch", "kaggle-catdog"], 2,
         "is not valid JSON", lambda c, out: c.broken_kaggle_json / "kaggle.json",
         env=kaggle_env),
    Case("clean accuracy at chance", audit(lambda c: c.chance, "--labels", "cat,dog",
                                           "--input-scale", "255", "--attack", "bim",
                                           images=lambda c: c.twelve_photos), 0,
         check=check_scale_warning),
]


def resolve(text: str, out: Path, corpus: Corpus) -> str:
    if text == "SURROGATE":
        return str(corpus.tflite)
    if text.startswith("PHOTOS/"):
        return str(corpus.photos / text.removeprefix("PHOTOS/"))
    return {"RESULTS": str(out / "results.json"), "CSV": str(out / "results.csv"),
            "JOURNAL": str(out / "results.jsonl")}.get(text, text)


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
    argv = [resolve(a, out, corpus) for a in case.argv(corpus, out)]
    before = snapshot(out)  # after the case's own edits: the run must leave out as it was
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
    if case.check is not None:
        case.check(corpus, out, r)  # what else must hold after the refusal
    assert not corpus.path("written-by-model.txt").exists()  # no model ran its file ops
