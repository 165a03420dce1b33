"""The manifest: everything needed to reproduce an audit, built in one place."""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata

import tensorflow as tf

from ..version import __version__


@dataclass(frozen=True)
class ModelInfo:
    """Where the attacked model came from: its name, file and SHA-256, the preflight, and for a
    downloaded model its source (``hf://``: repo, commit and the SHA-256 of every file)."""

    name: str
    path: str
    sha256: str
    preflight: list[dict] = field(default_factory=list)
    source: dict | None = None
    surrogate: dict | None = None  # --surrogate: the model the gradient stages ran on


def budget_record(budget) -> dict:
    return {
        "norm": budget.threat.name,  # the threat model (the field's older name stays)
        "eps": budget.eps if math.isfinite(budget.eps) else None,
        "step": budget.step,
        "steps": budget.steps,
        "queries": budget.queries,
        "unit": budget.threat.budget_unit,
    }


def build_manifest(*, model: ModelInfo, command_line: str, images_dir: str, attack,
                   budget, loss: str, target: str | None, early_stop: bool, seed: int,
                   sweep: dict | None, class_names: list[str], input_scale: float,
                   batch_size: int, shard: dict | None = None,
                   traits: dict | None = None) -> dict:
    """The manifest: what was audited, with what, by which tool; ``traits`` is what the attack
    says of itself (``Attack.traits``), the only way the contract knows an attack."""
    traits = dict(traits or {})
    return {
        "command_line": command_line,
        "model": model.name,
        "model_path": model.path,
        "model_sha256": model.sha256,
        "model_source": model.source,
        "images_dir": images_dir,
        "preflight": list(model.preflight),
        "tool": "advaudit",
        "tool_version": __version__,
        "tensorflow_version": tf.__version__,
        "keras_version": metadata.version("keras"),
        "python_version": platform.python_version(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "attack": attack.name,
        "attack_about": attack.about,
        "attack_stages": list(traits.get("stages") or [attack.name]),
        "attack_traits": traits,
        "constant_steps": attack.constant_steps,
        "loss": loss,
        "target": target,
        "early_stop": early_stop,
        "budget": budget_record(budget),
        "sweep": sweep,
        "class_names": list(class_names),
        "input_scale": input_scale,
        "batch_size": batch_size,
        "shard": shard,
    }
