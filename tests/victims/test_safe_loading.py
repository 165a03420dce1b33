"""Loading a model must not run its author's code: SavedModel graphs are scanned before they are
loaded, TFSMLayer wrappers and Lambda layers need --unsafe-load, corrupt files say so."""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf
from click.testing import CliRunner
from support.hostile import file_writing_saved_model
from support.models import SIZE, build_tiny
from tensorflow.core.protobuf import saved_model_pb2

from audit.cli import main
from victims.graph_scan import category_of, scan_saved_model

FAST = ["--eps", "16", "--step", "4", "--steps", "3", "--no-report", "--no-trust"]


def audit(model, photos, out, *extra):
    return CliRunner().invoke(main, ["audit", str(model), "--images", str(photos), "--out",
                                     str(out), *FAST, *extra])


@pytest.fixture(scope="module")
def writer_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    victim_file = root / "written.txt"
    return file_writing_saved_model(root / "writer", victim_file), victim_file


def test_saved_model_that_writes_files_is_refused_and_writes_nothing(writer_model, photo_folder,
                                                                     tmp_path):
    folder, victim_file = writer_model
    r = audit(folder, photo_folder, tmp_path / "o")
    assert r.exit_code == 2, r.output
    line = r.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "WriteFile" in line and str(folder) in line and "--unsafe-load" in line
    assert not victim_file.exists() and not (tmp_path / "o").exists()
    # the fixture really is hostile: trusted with --unsafe-load, it writes its file
    r = audit(folder, photo_folder, tmp_path / "o", "--unsafe-load")
    assert r.exit_code == 0, r.output
    assert victim_file.read_text() == "written by the model"
    victim_file.unlink()


def test_keras_file_wrapping_a_tfsmlayer_needs_unsafe_load(writer_model, photo_folder,
                                                           tmp_path):
    folder, victim_file = writer_model
    inputs = keras.Input((SIZE, SIZE, 3))
    scores = keras.layers.TFSMLayer(str(folder), call_endpoint="serving_default")(inputs)
    keras.Model(inputs, scores["scores"]).save(tmp_path / "wrapper.keras")
    victim_file.unlink(missing_ok=True)  # building the wrapper ran the graph once
    r = audit(tmp_path / "wrapper.keras", photo_folder, tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert "TFSMLayer" in r.output and "--unsafe-load" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not victim_file.exists()


def test_clean_export_has_no_findings_and_saver_ops_only_count_outside_the_saver(tmp_path):
    build_tiny().export(tmp_path / "clean", verbose=False)
    assert scan_saved_model(tmp_path / "clean") == []

    class Saver(tf.Module):  # a serving function that writes a checkpoint is not a saver
        def __init__(self):
            super().__init__()
            self.v = tf.Variable(1.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def serve(self, x):
            tf.raw_ops.SaveV2(prefix=str(tmp_path / "ckpt"), tensor_names=["v"],
                              shape_and_slices=[""], tensors=[self.v.read_value()])
            return {"out": x * self.v}

    m = Saver()
    tf.saved_model.save(m, str(tmp_path / "saver"), signatures={"serving_default": m.serve})
    found = scan_saved_model(tmp_path / "saver")
    assert [(f.op, f.category) for f in found] == [("SaveV2", "files")]
    assert "serve" in found[0].where
    serve = found[0].where

    # a saver_def edited to name the serving node does not turn the serving function into
    # the exempt saver: the loader still restores and calls it as a signature
    pb = tmp_path / "saver" / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    graph = saved.meta_graphs[0]
    serving = next(n.name for n in graph.graph_def.node if n.op == "StatefulPartitionedCall")
    graph.saver_def.save_tensor_name = serving + ":0"
    pb.write_bytes(saved.SerializeToString())
    assert ("SaveV2", serve) in [(f.op, f.where) for f in scan_saved_model(tmp_path / "saver")]


@pytest.mark.parametrize(("op", "category"), [
    ("WriteFile", "files"), ("ReadFile", "files"), ("MatchingFiles", "files"),
    ("TFRecordDatasetV2", "files"), ("WriteScalarSummary", "files"),
    ("PyFunc", "Python"), ("EagerPyFunc", "Python"), ("RemoteCall", "other processes"),
    ("_Send", "other processes"), ("Conv2D", None), ("ShardedFilename", None),
    ("ReadVariableOp", None), ("StatefulPartitionedCall", None),
])
def test_op_categories(op, category):
    assert category_of(op) == category


def test_python_function_in_a_saved_model_is_refused(tmp_path, photo_folder):
    class Hook(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32)])
        def serve(self, x):
            y = tf.py_function(lambda t: t, [x], tf.float32)
            return {"scores": tf.nn.softmax(tf.reduce_mean(y, axis=[1, 2])[:, :2])}

    m = Hook()
    tf.saved_model.save(m, str(tmp_path / "hook"), signatures={"serving_default": m.serve})
    r = audit(tmp_path / "hook", photo_folder, tmp_path / "o")
    assert r.exit_code == 2 and "EagerPyFunc (Python)" in r.output, r.output


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("junk.keras", b"not a zip", "is not a valid .keras file"),
    ("cut.keras", None, "is not a valid .keras file"),
    ("junk.h5", b"not hdf5 at all", "is not a valid HDF5 file"),
])
def test_corrupt_model_files_say_so(tiny_model_file, photo_folder, tmp_path, name, content,
                                    needle):
    path = tmp_path / name
    path.write_bytes(content if content is not None else tiny_model_file.read_bytes()[:300])
    r = audit(path, photo_folder, tmp_path / "o")
    assert r.exit_code == 2, r.output
    assert needle in r.output and str(path) in r.output and "not found" not in r.output
    assert len(r.output.strip().splitlines()) == 1

