"""``advaudit audit`` end to end through click's CliRunner, on the tiny trained model."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from support.models import SIZE, train_tiny, write_photo_folder

from audit.cli import main
from audit.images import load_png

FAST = ["--eps", "16", "--step", "4", "--steps", "10", "--no-report"]


def run(args):
    result = CliRunner().invoke(main, args)
    return result


def audit(model, images, out, *extra):
    return run(["audit", str(model), "--images", str(images), "--out", str(out),
                "--labels", "cat,dog", *FAST, *extra])


def test_audit_writes_results_contract(tiny_model_file, photo_folder, tmp_path):
    out = tmp_path / "out"
    r = audit(tiny_model_file, photo_folder, out)
    assert r.exit_code == 0, r.output
    assert "flip rate" in r.output and "clean accuracy" in r.output
    res = json.loads((out / "results.json").read_text())
    for key in ("tool_version", "command_line", "model_path", "model_sha256", "tensorflow_version",
                "keras_version", "seed", "budget", "attack", "timestamp", "preflight"):
        assert key in res["manifest"], key
    for key in ("clean_accuracy", "flip_rate", "flip_rate_ci95", "robust_accuracy",
                "deliverable_flip_rate", "n_images", "n_correct", "n_skipped", "seconds",
                "img_steps_per_s", "grad_evals_per_image"):
        assert key in res["summary"], key
    assert set(res) >= {"manifest", "summary", "images", "histograms", "curve", "skipped",
                        "trust"}
    s = res["summary"]
    assert s["n_images"] == 12 and s["clean_accuracy"] == 1.0
    assert s["flip_rate"] >= 0.9
    attacked = [i for i in res["images"] if i["attacked"]]
    for row in attacked:
        png = load_png(out / row["adv_path"], 3)
        clean = load_png(out / row["clean_path"], 3)
        assert np.abs(png.astype(int) - clean.astype(int)).max() == row["linf"] <= 16
        assert row["deliverable_flipped"] == row["flipped"]
    assert s["deliverable_flip_rate"] == s["flip_rate"]
    assert {c["status"] for c in res["trust"]["checks"]} == {"pass"}
    csv_lines = (out / "results.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 13 and csv_lines[0].startswith("index,path")


def test_fail_above_gates_ci(tiny_model_file, photo_folder, tmp_path):
    assert audit(tiny_model_file, photo_folder, tmp_path / "a", "--fail-above", "0.5",
                 "--no-trust").exit_code == 1
    assert audit(tiny_model_file, photo_folder, tmp_path / "b", "--fail-above", "1",
                 "--no-trust").exit_code == 0


def test_fraction_budget_equals_counts(tiny_model_file, photo_folder, tmp_path):
    r = run(["audit", str(tiny_model_file), "--images", str(photo_folder), "--out",
             str(tmp_path), "--eps", "8/255", "--steps", "2", "--no-report", "--no-trust"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "results.json").read_text())["manifest"]["budget"]["eps"] == 8
    bad = run(["audit", str(tiny_model_file), "--eps", "four"])
    assert bad.exit_code == 2 and "not a budget" in bad.output


def test_apgd_and_square_budgets_reach_the_manifest(tiny_model_file, photo_folder, tmp_path):
    base = ["audit", str(tiny_model_file), "--images", str(photo_folder), "--labels", "cat,dog",
            "--eps", "12", "--no-report"]
    r = run([*base, "--out", str(tmp_path / "apgd"), "--attack", "apgd"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "apgd" / "results.json").read_text())
    assert res["manifest"]["budget"]["steps"] == 100  # APGD's own default
    assert res["summary"]["flip_rate"] >= 0.9
    checks = {c["name"]: c for c in res["trust"]["checks"]}
    assert checks["attack finds planted adversarials"]["status"] == "pass"
    r = run([*base, "--out", str(tmp_path / "sq"), "--attack", "square", "--queries", "30"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "sq" / "results.json").read_text())
    assert res["manifest"]["budget"]["queries"] == res["manifest"]["budget"]["steps"] == 30
    assert max(i["steps_to_flip"] or 0 for i in res["images"]) <= 29
    assert "attack finds planted adversarials" in {c["name"] for c in res["trust"]["checks"]}
    assert all(i["deliverable_flipped"] == i["flipped"] for i in res["images"] if i["attacked"])
    bad = run([*base, "--out", str(tmp_path / "bad"), "--attack", "square", "--norm", "l2"])
    assert bad.exit_code == 2 and "--threat l2 is not available with --attack square" in bad.output


def test_targeted_and_sweep(tiny_model_file, photo_folder, tmp_path):
    r = audit(tiny_model_file, photo_folder, tmp_path, "--target", "dog", "--sweep",
              "--max-eps", "16", "--no-trust")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "results.json").read_text())
    attacked = [i for i in res["images"] if i["attacked"]]
    assert attacked and all(i["true_label"] == "cat" for i in attacked)
    assert all(i["adv_pred"] == "dog" for i in attacked if i["flipped"])
    curve = res["curve"]
    assert [c["eps"] for c in curve] == list(range(17))
    rates = [c["flip_rate"] for c in curve]
    assert rates == sorted(rates) and rates[-1] > 0
    assert all(i["min_eps"] is None or 1 <= i["min_eps"] <= 16 for i in attacked)


def test_bad_inputs_are_skipped_with_reasons(tiny_model_file, photo_folder, tmp_path):
    (photo_folder / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photo_folder / "notes.csv").write_text("a,b\n")
    r = audit(tiny_model_file, photo_folder, tmp_path / "o", "--no-trust")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    reasons = {Path(s["path"]).name: s["reason"] for s in res["skipped"]}
    assert set(reasons) == {"broken.jpg", "notes.csv"}
    assert res["summary"]["n_skipped"] == 2 and res["summary"]["n_images"] == 12
    assert "Traceback" not in r.output


@pytest.mark.parametrize("setup,needle", [
    ("empty", "is empty"),
    ("missing", "does not exist"),
    ("only_junk", "no readable photos"),
])
def test_unusable_image_folders_fail_in_one_line(tiny_model_file, tmp_path, setup, needle):
    folder = tmp_path / "imgs"
    if setup != "missing":
        folder.mkdir()
    if setup == "only_junk":
        (folder / "a.txt").write_text("hello")
    r = audit(tiny_model_file, folder, tmp_path / "o")
    assert r.exit_code == 2
    assert needle in r.output and str(folder) in r.output
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_bad_models_fail_in_one_line(tmp_path, photo_folder):
    flat = keras.Sequential([keras.Input((10,)), keras.layers.Dense(2, activation="softmax")])
    flat.save(tmp_path / "flat.keras")
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    for model, needle in [(tmp_path / "flat.keras", "not an image batch"),
                          (tmp_path / "nope.keras", "does not exist"),
                          (tmp_path / "junk.keras", "is not a valid .keras file")]:
        r = audit(model, photo_folder, tmp_path / "o")
        assert r.exit_code == 2, r.output
        assert needle in r.output and "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) == 1


def test_lambda_model_needs_unsafe_load(tmp_path, photo_folder):
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Lambda(lambda t: t * 1.0)(inputs)
    h = keras.layers.Flatten()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    model.save(tmp_path / "lam.keras")
    r = audit(tmp_path / "lam.keras", photo_folder, tmp_path / "o")
    assert r.exit_code == 2 and "--unsafe-load" in r.output
    r = audit(tmp_path / "lam.keras", photo_folder, tmp_path / "o", "--unsafe-load", "--no-trust")
    assert r.exit_code == 0, r.output


def test_grayscale_and_255_scale_models(tmp_path, photo_folder):
    gray = train_tiny(channels=1)
    gray.save(tmp_path / "gray.keras")
    r = audit(tmp_path / "gray.keras", photo_folder, tmp_path / "g", "--no-trust")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "g" / "results.json").read_text())
    assert res["summary"]["clean_accuracy"] > 0.8
    row = next(i for i in res["images"] if i["attacked"])
    assert Image.open(tmp_path / "g" / row["adv_path"]).mode == "L"

    # a model expecting 0..255: same weights behind a 1/255 rescaling layer
    base = train_tiny()
    inputs = keras.Input((SIZE, SIZE, 3))
    scaled = keras.Model(inputs, base(keras.layers.Rescaling(1 / 255)(inputs)))
    scaled.save(tmp_path / "s255.keras")
    wrong = audit(tmp_path / "s255.keras", photo_folder, tmp_path / "w", "--no-trust")
    right = audit(tmp_path / "s255.keras", photo_folder, tmp_path / "r", "--no-trust",
                  "--input-scale", "255")
    acc = [json.loads((tmp_path / d / "results.json").read_text())["summary"]["clean_accuracy"]
           for d in ("w", "r")]
    assert wrong.exit_code == right.exit_code == 0
    assert acc[1] == 1.0 and acc[0] < acc[1]


def test_unlabelled_and_kaggle_style_names(tiny_model_file, tmp_path):
    src = write_photo_folder(tmp_path / "src", n=6)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, p in enumerate(sorted(src.rglob("*.png"))):
        name = f"{p.parent.name}.{i}.png" if i % 2 else f"photo{i}.png"
        p.rename(flat / name)
    r = audit(tiny_model_file, flat, tmp_path / "o", "--no-trust")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    labels = {Path(i["path"]).name: i["true_label"] for i in res["images"]}
    assert labels["photo0.png"] == "unknown" and labels["photo2.png"] == "unknown"
    assert {labels[n] for n in labels if not n.startswith("photo")} <= {"cat", "dog"}
    assert res["summary"]["n_labelled"] == 3 and res["summary"]["n_attacked"] >= 3


def test_hostile_photo_names_are_sanitised_on_disk(tiny_model_file, tmp_path):
    folder = write_photo_folder(tmp_path / "p", n=4)
    first = sorted(folder.rglob("*.png"))[0]
    first.rename(first.with_name("a..%2F..%2Fevil name;$(id).png"))
    before = set(tmp_path.rglob("*"))
    r = audit(tiny_model_file, folder, tmp_path / "o", "--no-trust")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    row = next(i for i in res["images"] if "evil" in i["path"])
    assert re.fullmatch(r"adversarial/\d{4}_[A-Za-z0-9._-]+\.png", row["adv_path"])
    assert "evil_name" in row["adv_path"] and (tmp_path / "o" / row["adv_path"]).is_file()
    new_files = {p for p in set(tmp_path.rglob("*")) - before if p.is_file()}
    assert all(p.is_relative_to(tmp_path / "o") for p in new_files)


def test_deliverable_flip_is_read_back_from_disk(tiny_model_file, photo_folder, tmp_path,
                                                 monkeypatch):
    """When the saved PNG is not what the attack produced (lossy storage, say), the row must
    say the flip does not reproduce: the flag comes from the file, not from memory."""
    from audit.pipeline import attacking

    real_save = attacking.save_png
    swapped: list[str] = []

    def lossy_save(pixels, path):
        real_save(pixels, path)
        if path.parent.name == "clean" and len(swapped) < 3:  # overwrite the adversarial PNG
            swapped.append(path.name)
            real_save(pixels, path.parent.parent / "adversarial" / path.name)

    monkeypatch.setattr(attacking, "save_png", lossy_save)
    r = audit(tiny_model_file, photo_folder, tmp_path / "o", "--no-trust")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    rows = {Path(i["adv_path"]).name: i for i in res["images"] if i["attacked"]}
    assert len(swapped) == 3
    for name in swapped:
        assert rows[name]["flipped"] and not rows[name]["deliverable_flipped"]
        assert rows[name]["deliverable_pred"] == rows[name]["true_label"]
    assert sum(r["deliverable_flipped"] for r in rows.values()) == \
        sum(r["flipped"] for r in rows.values()) - 3
    s = res["summary"]
    assert s["deliverable_flip_rate"] < s["flip_rate"]


def test_json_summary_and_max_cards(tiny_model_file, photo_folder, tmp_path):
    r = run(["audit", str(tiny_model_file), "--images", str(photo_folder), "--out",
             str(tmp_path), "--labels", "cat,dog", "--eps", "16", "--step", "4", "--no-trust",
             "--json", "--max-cards", "2"])
    assert r.exit_code == 0, r.output
    printed = json.loads(r.output)
    saved = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert printed["summary"]["flip_rate"] == saved["flip_rate"]
    html = (tmp_path / "report.html").read_text()
    assert printed["report"] == str(tmp_path / "report.html")
    assert html.count('class="card ') == 2  # 12 attacked images, 2 cards, the rest tabled


@pytest.mark.parametrize("threat,eps", [("l0", 6), ("patch", 5)])
def test_sparse_threat_audits_keep_every_png_inside_the_budget(
        tiny_model_file, photo_folder, tmp_path, threat, eps):
    """--threat l0 / patch end to end: each saved PNG, read back beside its clean PNG, changes
    at most eps pixel positions (L0) or only pixels inside one eps x eps square (patch); the
    audit states a verdict and flips the tiny model."""
    out = tmp_path / threat
    r = run(["audit", str(tiny_model_file), "--images", str(photo_folder), "--out", str(out),
             "--labels", "cat,dog", "--threat", threat, "--eps", str(eps), "--no-report"])
    assert r.exit_code in (0, 1), r.output
    res = json.loads((out / "results.json").read_text())
    assert res["manifest"]["budget"]["norm"] == threat
    assert res["summary"]["verdict"] in ("not_robust", "robust", "inconclusive")
    attacked = [row for row in res["images"] if row["attacked"]]
    assert attacked and sum(row["flipped"] for row in attacked) >= len(attacked) // 2
    for row in attacked:
        changed = np.any(load_png(out / row["adv_path"], 3) != load_png(out / row["clean_path"], 3),
                         axis=-1)
        rows, cols = np.nonzero(changed)
        if threat == "l0":
            assert rows.size <= eps
        elif rows.size:
            assert rows.max() - rows.min() < eps and cols.max() - cols.min() < eps
        assert row["l0"] == rows.size
    names = {c["name"] for c in res["trust"]["checks"]}
    assert "attack finds planted adversarials" in names
    assert "input gradients are informative" not in names  # nothing asks for a gradient
