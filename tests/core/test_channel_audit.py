"""``--channel``: the model audited behind a channel (JPEG, resizing), as an upload reaches it.
The wrapped model's forward pass is the real codec then the model, its gradient the model's
gradient at the channel's output (BPDA); the audit's deliverable check passes the saved PNG
through the channel; the verdict says through which one; bad channels fail in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from audit.channels import CHANNELS, Jpeg, parse
from audit.cli import main
from audit.images import load_png
from audit.models.keras_model import KerasClassifier


def test_forward_is_the_codec_then_the_model_and_the_gradient_passes_straight_through(
        tiny_model):
    plain = KerasClassifier.from_model(tiny_model, ["cat", "dog"])
    behind = plain.behind(Jpeg(50))
    x = np.random.default_rng(0).integers(0, 256, size=(4, 16, 16, 3)).astype(np.float32)
    coded = Jpeg(50).batch(x.astype(np.uint8)).astype(np.float32)
    np.testing.assert_allclose(behind.logits(tf.constant(x)), plain.logits(tf.constant(coded)),
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(plain.logits(tf.constant(x)), plain.logits(tf.constant(coded)))
    probs = behind.predict(x)
    np.testing.assert_allclose(probs, plain.predict(coded), rtol=1e-5, atol=1e-6)

    def grad(clf, at):
        at = tf.constant(at)
        with tf.GradientTape() as tape:
            tape.watch(at)
            z = clf.logits(at)
            value = tf.reduce_sum(z[:, 1] - z[:, 0])
        return tape.gradient(value, at).numpy()

    np.testing.assert_allclose(grad(behind, x), grad(plain, coded), rtol=1e-4, atol=1e-6)
    assert behind.plain.logits is not None and behind.plain.channel is None


def test_parse_reads_the_command_line_forms():
    assert parse("jpeg:85") == Jpeg(85) and parse("JPEG:85").name == "jpeg85"
    assert parse("resize:0.5").name == "resize0.5" and parse("jpeg75") is CHANNELS["jpeg75"]
    for bad in ("jpeg:0", "jpeg:101", "jpeg:x", "resize:1", "resize:0", "blur:3", ""):
        with pytest.raises(ValueError, match="jpeg:Q"):
            parse(bad)


def test_an_audit_behind_jpeg_counts_only_flips_that_survive_it(tiny_model, tiny_model_file,
                                                                 photo_folder, tmp_path):
    out = tmp_path / "behind"
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photo_folder),
                                  "--out", str(out), "--labels", "cat,dog", "--eps", "6",
                                  "--channel", "jpeg:75", "--no-trust",
                                  "--markdown", str(tmp_path / "s.md")])
    assert r.exit_code in (0, 1), r.output
    res = json.loads((out / "results.json").read_text())
    assert res["manifest"]["channel"] == "jpeg75"
    plain = KerasClassifier.from_model(tiny_model, ["cat", "dog"])
    attacked = [row for row in res["images"] if row["attacked"]]
    assert any(row["deliverable_flipped"] for row in attacked)
    for row in attacked:  # the deliverable check is the PNG through the channel
        png = load_png(out / row["adv_path"], 3)
        pred = plain.predict(Jpeg(75).apply(png)[None].astype(np.float32)).argmax()
        assert row["deliverable_flipped"] == (plain.class_names[pred] != row["reference_label"])
        if row["deliverable_flipped"]:  # by construction it survives that channel's re-check
            assert row["survives"]["jpeg75"] is True
    assert res["summary"]["channel_survival"]["jpeg75"]["rate"] == 1.0
    assert "through JPEG q=75" in (tmp_path / "s.md").read_text()
    assert "through JPEG q=75" in (out / "report.html").read_text()


@pytest.mark.parametrize("extra,needle", [
    (["--channel", "jpeg:0"], "jpeg:Q"),
    (["--channel", "blur:3"], "jpeg:Q"),
    (["--channel", "jpeg:85", "--jit"], "drop --jit"),
])
def test_a_channel_that_cannot_be_fails_in_one_line(tiny_model_file, photo_folder, tmp_path,
                                                    extra, needle):
    r = CliRunner().invoke(main, ["audit", str(tiny_model_file), "--images", str(photo_folder),
                                  "--out", str(tmp_path / "out"), "--labels", "cat,dog",
                                  "--no-report", *extra])
    assert r.exit_code == 2, r.output
    assert needle in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
