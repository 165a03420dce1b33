"""Which operations a SavedModel's graphs would run, and which of them no classifier needs.

A SavedModel is a program, not a table of weights: ``tf.saved_model.load`` and every call of its
serving function run whatever graph ops it holds, and TensorFlow has ops that read and write
files (``ReadFile``, ``WriteFile``, checkpoint and summary writers), call back into Python
(``PyFunc``) or talk to other processes (``_Send``, ``RemoteCall``, tf.data service). An image
classifier needs none of them, so before loading a folder we read its protocol buffer (without
executing anything) and refuse it when any function or node holds such an op.

The one place such ops legitimately appear is the checkpoint saver that ``tf.saved_model.save``
adds (``SaveV2``, ``RestoreV2``, ``MergeV2Checkpoints``): the TF2 loader restores variables with
its own ops and never calls it. Those three ops are allowed only in functions that the saver's
nodes reach and nothing else does; anywhere else they are refused like the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Op-type patterns by what they can do outside the model; matched with re.search.
CATEGORIES = {
    "files": re.compile(r"File|Reader|Writer|Record|TextLine|LMDB|CSVDataset|Snapshot|Save|"
                        r"Restore|Checkpoint|Summary|ImmutableConst|LoadAndRemap|Remapping|"
                        r"LoadDataset|Debug|Proto"),
    "Python": re.compile(r"PyFunc"),
    "other processes": re.compile(r"Remote|Send|Recv|DataService|RegisterDataset|Gcs|BigQuery|"
                                  r"Bigtable|Collective"),
}
HARMLESS = frozenset({"ShardedFilename", "ShardedFilespec"})  # string formatting only
SAVER_ONLY = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints"})


@dataclass(frozen=True)
class Finding:
    op: str
    where: str  # the function (or "graph") holding it
    category: str


def category_of(op: str, attrs=None) -> str | None:
    """What an op type can reach outside the model, or None when it computes only."""
    if op in HARMLESS:
        return None
    if op == "PrintV2":  # tf.print: harmless to stderr, a file writer with output_stream=file://
        stream = attrs["output_stream"].s if attrs is not None and "output_stream" in attrs \
            else b""
        return "files" if stream.startswith(b"file://") else None
    for name, pattern in CATEGORIES.items():
        if pattern.search(op):
            return name
    return None


def _called(nodes: Iterable) -> set[str]:
    """Names of the library functions a list of NodeDefs calls (any func or list-of-func attr:
    PartitionedCall's f, While's body and cond, If's branches, ...)."""
    out: set[str] = set()
    for node in nodes:
        for value in node.attr.values():
            if value.HasField("func"):
                out.add(value.func.name)
            out.update(f.name for f in value.list.func)
    return out


def _closure(start: set[str], calls: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in calls:
            continue
        seen.add(name)
        todo.extend(calls[name])
    return seen


def scan_meta_graph(meta_graph) -> list[Finding]:
    """Every op of one MetaGraphDef that touches files, Python or other processes."""
    graph = meta_graph.graph_def
    functions = {f.signature.name: f for f in graph.library.function}
    calls = {name: _called(f.node_def) for name, f in functions.items()}
    saver = meta_graph.saver_def
    saver_nodes = {t.split(":")[0] for t in (saver.save_tensor_name, saver.restore_op_name) if t}
    from_saver = _closure(_called(n for n in graph.node if n.name in saver_nodes), calls)
    others = _called(n for n in graph.node if n.name not in saver_nodes)
    others |= set(functions) - from_saver  # every function the loader may restore and call
    others |= set(meta_graph.object_graph_def.concrete_functions)  # signatures and methods
    reached = _closure(others, calls)
    findings = []
    for node in graph.node:
        kind = category_of(node.op, node.attr)
        if kind and not (node.name in saver_nodes and node.op in SAVER_ONLY):
            findings.append(Finding(node.op, "graph", kind))
    for name, fn in functions.items():
        saver_only = name in from_saver and name not in reached
        for node in fn.node_def:
            kind = category_of(node.op, node.attr)
            if kind and not (saver_only and node.op in SAVER_ONLY):
                findings.append(Finding(node.op, name, kind))
    return findings


def scan_saved_model(path: Path) -> list[Finding]:
    """Findings over every MetaGraph of the SavedModel in ``path``, parsed exactly as
    ``tf.saved_model.load`` parses it (``saved_model.pb``, else ``saved_model.pbtxt``)."""
    from tensorflow.python.saved_model.loader_impl import parse_saved_model

    saved = parse_saved_model(str(path))
    return [f for mg in saved.meta_graphs for f in scan_meta_graph(mg)]


def describe(findings: list[Finding], limit: int = 4) -> str:
    """'WriteFile (files) in __inference_serve_345, PyFunc (Python) in ...', shortened."""
    seen: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen.setdefault((f.op, f.where), f)
    parts = [f"{f.op} ({f.category}) in {f.where}" for f in list(seen.values())[:limit]]
    more = len(seen) - limit
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")
