"""advaudit as a library: one call audits a model, and the command line is that same call.

``run`` takes the model as a ``keras.Model`` in memory, a file or SavedModel path, or a victim
name; the photos as a folder, a list of files, or a uint8 array with labels. It returns an
``AuditResults``: the results.json contents with ``.summary`` and ``.images``, writers for
every output format, and ``_repr_html_`` so a notebook shows the verdict inline.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from .. import engine
from ..classifier import EOT_DRAWS, Classifier, attacked_by_gradient
from ..errors import ModelError, UsageError
from ..formats import FORMATS
from ..formatting import ci, counts, pct
from ..lock import hold_folder
from ..results import ModelInfo
from ..results.journal import JOURNAL_NAME
from ..results.verdict import Verdict, verdict
from ..timing import span
from .outdir import clear_earlier_audit, out_folder, prepare_out_dir
from .runner import AuditConfig, Log, Progress, run_audit
from .sources import ArraySource, FileListSource, FolderSource, PhotoSource

__all__ = ["AuditConfig", "AuditResults", "run"]


@dataclass
class AuditResults:
    """One finished audit: ``data`` is exactly what results.json holds."""

    data: dict
    out_dir: Path
    report_path: Path | None = None

    @property
    def summary(self) -> dict:
        return self.data["summary"]

    @property
    def manifest(self) -> dict:
        return self.data["manifest"]

    @property
    def images(self) -> list[dict]:
        """One row per photo (see the README's results.json section)."""
        return self.data["images"]

    @property
    def verdict(self) -> Verdict:
        return verdict(self.manifest, self.summary, self.data.get("trust"))

    def write(self, fmt: str, path: Path | str | None = None, **options: Any) -> Path:
        """Write any registered output format (``audit.formats.FORMATS``)."""
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return FORMATS[fmt].write(self.data, path, out_dir=self.out_dir, **options)

    def to_json(self, path: Path | str | None = None) -> Path:
        return self.write("json", path)

    def to_html(self, path: Path | str | None = None, *, max_cards: int = 48) -> Path:
        return self.write("html", path, max_cards=max_cards)

    def __repr__(self) -> str:
        v, s = self.verdict, self.summary
        return (f"<AuditResults {v.title}: flip rate {pct(s.get('flip_rate'))} of "
                f"{s.get('n_attacked')} attacked, robust accuracy {pct(s.get('robust_accuracy'))}"
                f"; {self.out_dir}>")

    def _repr_html_(self) -> str:
        v, s, m = self.verdict, self.summary, self.manifest
        colour = {"red": "#b42318", "amber": "#b54708", "green": "#067647"}.get(v.level, "#475467")
        rows = [
            ("model", m.get("model")),
            ("attack", f"{m.get('attack')} at {counts((m.get('budget') or {}).get('eps'))}"),
            ("clean accuracy", pct(s.get("clean_accuracy"))),
            ("flip rate", f"{pct(s.get('flip_rate'))} (95% CI {ci(s.get('flip_rate_ci95'))})"),
            ("robust accuracy", pct(s.get("robust_accuracy"))),
            ("images", f"{s.get('n_images')} read, {s.get('n_attacked')} attacked"),
            ("folder", str(self.out_dir)),
        ]
        cells = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{escape(k)}</th>"
                        f"<td>{escape(str(val))}</td></tr>" for k, val in rows)
        return str(Markup(
            f"<div style='border-left:6px solid {colour};padding:.4em .8em;font-family:sans-serif'>"
            f"<div style='font-size:1.3em;font-weight:bold;color:{colour}'>{escape(v.title)}</div>"
            f"<div style='margin:.2em 0 .5em'>{escape(v.note)}</div><table>{cells}</table></div>"))


def _classifier(model, *, class_names, input_scale, weights, unsafe_load, output, binary_logit
                ) -> tuple[Classifier, ModelInfo]:
    from ..models import keras_model

    if keras_model.is_model(model):
        select_output = keras_model.select_output
        try:
            head = select_output(model, output)
        except ValueError as exc:
            raise ModelError(f"{model.name}: {exc}") from None
        try:
            clf = keras_model.KerasClassifier.from_model(head, class_names,
                                        1.0 if input_scale is None else input_scale,
                                        binary_logit=binary_logit)
        except ModelError as exc:
            raise ModelError(f"{model.name}: {exc}") from None
        except ValueError as exc:
            raise ModelError(f"{model.name}: {exc}; pass one class name per output") from None
        return clf, ModelInfo(model.name, "<in memory>", keras_model.weights_sha256(model))
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise UsageError(f"model: a {type(model).__module__}.{type(model).__qualname__} is not a "
                         "model: pass a keras.Model, the path of a .keras/.h5/.tflite/.onnx "
                         "file or SavedModel folder, or a victim name (advaudit victims)")
    from victims.loading import load_victim

    victim = load_victim(None if model is None else str(model), weights,
                         list(class_names) if class_names else None, input_scale, unsafe_load,
                         output=output, binary_logit=binary_logit)
    return victim.classifier, ModelInfo(victim.name, victim.path, victim.sha256,
                                        source=victim.source)


def _label_names(labels, class_names: list[str]) -> list[str] | None:
    """``labels`` as the model's class names: each a class name (exact, or the one that matches
    ignoring case), a class index, or None/"unknown" (attacked relative to its prediction)."""
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not isinstance(labels, (Sequence, np.ndarray)):
        raise UsageError(f"labels must be a list with one class name or index per image, not "
                         f"{type(labels).__name__} {str(labels)[:40]!r}")
    choices = f"one of {', '.join(class_names)} (or an index 0..{len(class_names) - 1})"
    folded = {}
    for name in class_names:
        folded.setdefault(name.lower(), []).append(name)
    named = []
    for i, v in enumerate(labels):
        if v is None or (isinstance(v, str) and v == "unknown" and v not in class_names):
            named.append("unknown")
        elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            if not 0 <= int(v) < len(class_names):
                raise UsageError(f"labels: {int(v)} (image {i}) is not a class index: the model "
                                 f"has {len(class_names)} classes, so use {choices}")
            named.append(class_names[int(v)])
        elif isinstance(v, str):
            same = [v] if v in class_names else folded.get(v.lower(), [])
            if len(same) != 1:
                raise UsageError(f"labels: {v!r} (image {i}) is not a class of the model: use "
                                 f"{choices}")
            named.append(same[0])
        else:
            raise UsageError(f"labels: {v!r} (image {i}) is a {type(v).__name__}: use {choices}")
    return named


def _source(images, labels, class_names: list[str], exclude: Path) -> PhotoSource:
    if images is None or isinstance(images, (str, os.PathLike)):
        if labels is not None:
            raise UsageError("labels are for an images array or a list of files: a folder's "
                             "photos are labelled by their subfolders (cat/, dog/) or names "
                             "(cat.1.jpg)")
    if images is None:
        from victims.registry import SAMPLES_DIR

        return FolderSource(SAMPLES_DIR)
    if isinstance(images, np.ndarray):
        return ArraySource(images, _label_names(labels, class_names))
    if isinstance(images, (str, os.PathLike)):
        return FolderSource(Path(images), exclude=(exclude / "adversarial", exclude / "clean"))
    if isinstance(images, Sequence):
        return FileListSource(images, _label_names(labels, class_names))
    raise UsageError(f"images must be a folder, a list of files or a uint8 array, not "
                     f"{type(images).__name__}")


SCALE_CHECK_MIN_LABELLED = 10  # fewer labelled photos cannot tell chance from a weak model


def scale_warning(results: dict) -> str | None:
    """One warning line when clean accuracy is no better than chance (+10 points) on enough
    labelled photos: the usual sign of a wrong input scale (0..1 fed to a 0..255 model or the
    reverse), which no later number would reveal."""
    summary, manifest = results.get("summary") or {}, results.get("manifest") or {}
    accuracy, labelled = summary.get("clean_accuracy"), summary.get("n_labelled") or 0
    names = manifest.get("class_names") or []
    if accuracy is None or labelled < SCALE_CHECK_MIN_LABELLED or len(names) < 2:
        return None
    if accuracy > 1 / len(names) + 0.10:
        return None
    scale = manifest.get("input_scale") or 1
    other = "1" if scale == 255 else "255"
    return (f"warning: clean accuracy {accuracy:.0%} on {labelled} labelled photos is near "
            f"chance ({1 / len(names):.0%}); the input scale may be wrong (the model was fed "
            f"0..{scale:g} pixels): try --input-scale {other}, or check --labels")


@contextlib.contextmanager
def _removed_if_left_empty(folder: Path, created: bool):
    """A folder this call created is removed again if the audit fails before writing in it
    (a wrong model path should not leave an empty advaudit-report/ behind)."""
    try:
        yield
    except BaseException:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise


def run(
    model: Any = None,
    images: str | Path | Sequence[str | Path] | np.ndarray | None = None,
    *,
    labels: Sequence[str | int] | None = None,
    class_names: Sequence[str] | None = None,
    config: AuditConfig | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    report: bool = True,
    max_cards: int = 48,
    input_scale: float | None = None,
    weights: str | None = None,
    unsafe_load: bool = False,
    output: str | None = None,
    binary_logit: bool = False,
    surrogate: Any = None,
    shard: tuple[int, int] | None = None,
    progress: Progress | None = None,
    log: Log | None = None,
    command_line: str | None = None,
    **options: Any,
) -> AuditResults:
    """Audit ``model`` on ``images`` and return the results.

    ``options`` are ``AuditConfig`` fields (``attack``, ``eps``, ``step``, ``steps``, ``threat``,
    ``loss``, ``target``, ``sweep``, ``max_eps``, ``universal``, ``universal_fit``, ``channel``,
    ``batch_size``, ``seed``, ...), or pass a whole ``config``. ``labels`` name each image's
    class when ``images`` is an array or a file list (class names or indices); ``class_names``
    name the model's outputs. ``out`` is the folder for results and PNGs (default: a new
    temporary folder). ``shard=(i, n)`` audits the i-th of n slices of the inputs (0-based).
    ``output`` names the head to attack in a model with several outputs; ``binary_logit``
    vouches that a single linear output is the logit of a binary classifier. ``surrogate``
    (a Keras model or its path) runs the gradient stages, every flip re-checked on ``model``:
    the transfer audit of a query-only TFLite or ONNX file.
    """
    config = _config(config, options)
    budget = config.budget()  # a bad budget fails before any model is loaded
    out_dir = out_folder(out) if out is not None else Path(tempfile.mkdtemp(prefix="advaudit-"))
    with _removed_if_left_empty(out_dir, created=not out_dir.exists()), \
            contextlib.ExitStack() as held:
        hold_folder(held, out_dir, command=command_line or "audit.run", log=log)
        prepare_out_dir(out_dir, overwrite=overwrite, resume=resume, clear=False)
        resume = resume and (out_dir / JOURNAL_NAME).is_file()
        clf, info = _checked_model(model, config, log, class_names=class_names,
                                   input_scale=input_scale, weights=weights, output=output,
                                   unsafe_load=unsafe_load, binary_logit=binary_logit,
                                   surrogate=surrogate)
        clf = _audited(config, budget, clf)
        source = _source(images, labels, clf.class_names, out_dir)
        if shard is not None:
            source.shard(*shard)
        if overwrite:  # only now: a refused model or input leaves the earlier audit intact
            clear_earlier_audit(out_dir)
        results = run_audit(clf, source, config, out_dir, model=info, budget=budget,
                            command_line=command_line or f"audit.run({info.name!r})",
                            resume=resume, progress=progress, log=log)
        audit = _finished(results, out_dir, report=report, max_cards=max_cards, log=log)
    return audit


def _finished(results: dict, out_dir: Path, *, report: bool, max_cards: int,
              log: Log | None) -> AuditResults:
    """The results, with the scale warning logged and the report written (the caller still
    holds the folder: the report is one of its artifacts)."""
    if log and (warning := scale_warning(results)):
        log(warning)
    audit = AuditResults(results, out_dir)
    if report:
        _write_report(audit, max_cards, log)
    return audit


def _audited(config: AuditConfig, budget, clf: Classifier) -> Classifier:
    """The classifier the audit attacks: the model, or the model behind ``--channel`` (as
    uploads reach it). A target the model has no class for, or a budget its input cannot hold
    (a patch larger than the photo, say), is refused here, before any photo is read."""
    config.target_index(clf.class_names)
    gradients = attacked_by_gradient(clf) is not None
    problem = budget.threat.fits(budget.eps, *clf.input_size) or config.attack_impl.refusal(
        budget.threat, gradients)
    if config.sweep and not gradients:
        problem = ("--sweep searches down from each flip with the gradient stages, which a "
                   "query-only model (TFLite, ONNX) does not have: drop --sweep, or pass "
                   "--surrogate MODEL.keras")
    if getattr(clf, "on_host", False) and (config.jit_compile or config.devices):
        problem = (f"a {clf.source} model runs in its own runtime on the host, which XLA and "
                   "several devices cannot reach: drop --jit and --devices")
    if problem:
        raise UsageError(problem)
    channel = config.channel_impl()
    return clf if channel is None else clf.behind(channel)


def _config(config: AuditConfig | None, options: dict[str, Any]) -> AuditConfig:
    if config is None:
        if "norm" in options and "threat" not in options:  # the older name of the option
            options = {("threat" if k == "norm" else k): v for k, v in options.items()}
        unknown = sorted(set(options) - set(AuditConfig.__dataclass_fields__))
        if unknown:
            raise UsageError(f"unknown option(s) {', '.join(unknown)}")
        return AuditConfig(**options)
    if options:
        raise UsageError("pass either config or options, not both")
    return config


def _checked_model(model, config: AuditConfig, log: Log | None, *, surrogate=None,
                   **how: Any) -> tuple[Classifier, ModelInfo]:
    """The model loaded (on every device of ``devices``), with its surrogate, and through the
    preflight, whose findings go to ``log`` and into the manifest; a failed check is a
    one-line error."""
    with engine.devices.scope(config.devices):  # weights on every device of --devices
        clf, info = _classifier(model, **how)
        if surrogate is not None:
            clf, info = _with_surrogate(clf, info, surrogate, how)
    from ..models.preflight import is_random, preflight

    findings = preflight(clf, bool(how.get("class_names")), config.seed)
    for f in findings:
        if log and f["status"] != "ok":
            log(f"preflight {f['check']}: {f['status']}: {f['detail']}")
    failed = [f for f in findings if f["status"] == "fail"]
    if failed:
        raise ModelError(f"{info.path}: preflight failed: " + "; ".join(
            f"{f['check']}: {f['detail']}" for f in failed))
    draws = config.eot_draws()
    if is_random(findings):
        clf = clf.randomised(EOT_DRAWS if draws is None else draws)
    elif draws is not None:
        raise UsageError(f"--eot {draws}: {info.path} is deterministic (four inference passes "
                         "agree), so there are no draws to average: drop --eot")
    return clf, ModelInfo(info.name, info.path, info.sha256, findings, info.source,
                          info.surrogate)


def _with_surrogate(clf, info: ModelInfo, surrogate, how: dict) -> tuple[Classifier, ModelInfo]:
    """``clf`` whose gradient stages run on ``surrogate`` (same input and classes, gradients
    of its own), or a one-line error saying what does not fit."""
    sur, sinfo = _classifier(surrogate, **{**how, "class_names": clf.class_names,
                                           "input_scale": clf.input_scale, "weights": None})
    name = sinfo.path if sinfo.path != "<in memory>" else sinfo.name
    if not sur.gradients:
        raise UsageError(f"--surrogate {name}: a {sur.source} model has no gradients either: "
                         "give the Keras model the audited file was exported from")
    if (sur.input_size, sur.channels) != (clf.input_size, clf.channels):
        raise UsageError(f"--surrogate {name}: its input is {sur.input_size} x {sur.channels} "
                         f"channels, the audited model's {clf.input_size} x {clf.channels}")
    return clf.with_surrogate(sur), replace(info, surrogate={
        "name": sinfo.name, "path": sinfo.path, "sha256": sinfo.sha256,
        "source": getattr(sur, "source", "keras")})


def _write_report(audit: AuditResults, max_cards: int, log: Log | None) -> None:
    try:
        with span("report"):
            audit.report_path = audit.to_html(max_cards=max_cards)
    except Exception as exc:  # results.json is already safe on disk
        if log:
            log(f"report.html not written ({type(exc).__name__}: {exc}); results are in "
                f"{audit.out_dir / 'results.json'}; retry with 'advaudit report'")
