"""The attack interface: what every attack takes and returns, in the spirit of Foolbox 3.

``Attack.run(classifier, x0, goal, budget, settings)`` attacks a batch of clean images (pixel
counts 0..255) and returns an ``AttackResult``: the adversarial images on the uint8 grid, which
met their goal, the probabilities there, the steps taken and the cost, with gradient evaluations
and forward-only queries counted apart. Gradient attacks are thin configurations of the engine's
``Descent`` (``audit.attacks.gradient``); an attack that needs no gradient implements ``run``
itself. The runner, the sweep, the trust checks and the bench all call attacks through ``run``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..classifier import Classifier
from ..errors import UsageError
from ..threats import DEFAULT_THREAT, THREATS, ThreatModel, named

DEFAULT_QUERIES = 1000


@dataclass(frozen=True)
class Budget:
    """How far and how fast: ``eps`` in the threat model's unit (counts per pixel for L-inf,
    counts in total for L2, pixels for L0, the side for a patch; ``audit.threats``).

    ``eps`` is ``math.inf`` only for attacks that dictate an unbounded ball (the seed procedure).
    ``steps`` bounds gradient iterations, ``queries`` the forward passes of a gradient-free
    attack per image. Build budgets with ``Attack.budget``, which validates what the user typed.
    """

    eps: float
    step: float
    steps: int
    threat: ThreatModel = THREATS[DEFAULT_THREAT]
    queries: int = DEFAULT_QUERIES

    @property
    def radius(self) -> float:
        """What an attack on the uint8 grid can use (whole counts for L-inf: a delta of 4.5
        counts cannot be saved)."""
        return self.threat.radius(self.eps)


@dataclass(frozen=True)
class Goal:
    """Per sample: the class to move away from (``label``) and, when >= 0, the class to reach
    (``target``); -1 means untargeted. ``ids`` name the samples: every random draw an attack
    makes for a sample depends only on (seed, id), so results do not depend on how samples are
    batched, chunked, sharded or resumed."""

    label: np.ndarray
    target: np.ndarray
    ids: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # more per-sample constants

    @classmethod
    def of(cls, label: np.ndarray, target: int | np.ndarray = -1,
           ids: np.ndarray | None = None, extra: dict[str, np.ndarray] | None = None) -> Goal:
        label = np.asarray(label, np.int32)
        ids = np.arange(len(label), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        return cls(label, np.broadcast_to(np.asarray(target, np.int32), label.shape).copy(), ids,
                   dict(extra or {}))

    def take(self, idx: np.ndarray) -> Goal:
        return Goal(self.label[idx], self.target[idx], self.ids[idx],
                    {k: v[idx] for k, v in self.extra.items()})

    def rngs(self, seed: int) -> list[np.random.Generator]:
        """One generator per sample, keyed by (seed, id)."""
        return [np.random.default_rng([seed, int(i)]) for i in self.ids]

    def consts(self) -> dict[str, np.ndarray]:
        """What the attack's compiled step sees per sample (``classifier.logits`` gets it too)."""
        return {"label": self.label, "target": self.target, **self.extra}

    def met(self, pred: np.ndarray) -> np.ndarray:
        """Whether predicted classes meet the goal: the target reached, or the label left."""
        return np.where(self.target >= 0, pred == self.target, pred != self.label)

    def share_met(self, shares: np.ndarray) -> np.ndarray:
        """From a randomised model's vote shares ([n, classes]), the share of its draws that
        meet each goal: the target's share, or the share away from the label."""
        rows = np.arange(len(self.label))
        return np.where(self.target >= 0, shares[rows, np.maximum(self.target, 0)],
                        1.0 - shares[rows, self.label])


@dataclass(frozen=True)
class RunSettings:
    """How to run an attack, as opposed to how far it may go (``Budget``)."""

    loss: str = "margin"
    batch_size: int = 32
    early_stop: bool = True
    seed: int = 0
    jit_compile: bool = False
    devices: str | int | None = None  # "all" or a count: the batch split across devices
    on_progress: Callable[[int, int], None] | None = None
    # Sees every evaluated iterate of a gradient attack; costs a host copy per step.
    on_iterate: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None
    # ``on_settled(rows, result)``: rows of x0 whose outcome is final, with their part of the
    # result, as soon as the attack knows it (a row at most once; rows an attack never reports
    # here are final when ``run`` returns). The runner saves each photo as it settles, so a kill
    # loses only the photos still being attacked.
    on_settled: Callable[[np.ndarray, AttackResult], None] | None = None

    def pool_options(self) -> dict:
        """What ``engine.run_pool`` takes from these settings, as its keyword arguments."""
        return {"batch_size": self.batch_size, "early_stop": self.early_stop,
                "on_iterate": self.on_iterate, "on_progress": self.on_progress,
                "devices": self.devices}


DEFAULT_RUN = RunSettings()


@dataclass(frozen=True)
class Stage:
    """One attack of a plan (``Attack.plan``), under its own budget, with the loss it dictates
    (or None: the user's)."""

    name: str
    attack: Attack
    loss: str | None
    budget: Budget


@dataclass
class AttackResult:
    """Per sample: the adversarial image (float32 counts on the uint8 grid), whether it meets the
    goal in memory, the probabilities there, steps taken and what the sample cost."""

    x: np.ndarray
    success: np.ndarray
    probs: np.ndarray
    steps: np.ndarray
    grad_evals: np.ndarray  # gradient evaluations spent on each sample
    queries: np.ndarray  # forward-only model calls spent on each sample
    grad_useless: np.ndarray  # first gradient all zero or not finite (False without gradients)
    found_by: list[str | None] = field(default_factory=list)
    device_rows: int = 0  # batch rows the device computed, idle slots included (0: not counted)
    # with --surrogate: whether a gradient stage's point flipped the surrogate (transferred
    # or not); None when no stage ran on a surrogate
    surrogate_flip: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> AttackResult:
        """The result of some rows only."""
        return AttackResult(self.x[rows], self.success[rows], self.probs[rows],
                            self.steps[rows], self.grad_evals[rows], self.queries[rows],
                            self.grad_useless[rows], [self.found_by[int(i)] for i in rows],
                            surrogate_flip=None if self.surrogate_flip is None
                            else self.surrogate_flip[rows])

    @property
    def total_grad_evals(self) -> int:
        return int(self.grad_evals.sum())

    @property
    def total_queries(self) -> int:
        return int(self.queries.sum())


@dataclass
class Look:
    """The clean pass and an attack's first move in one program (``Attack.look``): per image,
    the clean probabilities, the class the model gives it (argmax of its logits) and the
    attack's result."""

    probs: np.ndarray
    pred: np.ndarray
    result: AttackResult


class Attack(ABC):
    """Base class of every attack; subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    about: ClassVar[str]
    threats: ClassVar[tuple[str, ...]] = ("linf",)  # the threat models it can search
    uses_gradient: ClassVar[bool] = True
    loss: ClassVar[str | None] = None  # a loss the attack dictates; None: the user's choice
    early_stop: ClassVar[bool] = True  # False: always takes every step (the seed procedure)
    fixed: ClassVar[dict[str, float | int | str]] = {}  # budget fields the attack dictates
    constant_steps: ClassVar[bool] = True  # moves by steps of budget.step (else: a search)
    default_steps: ClassVar[int] = 10  # iterations when the user names none
    # strong enough, with every trust check passing, to support a "robust" verdict
    strong: ClassVar[bool] = False
    # A transparent stage (the probe) settles the images it flips and leaves the rest exactly
    # as it found them: it takes no start point and does not judge the gradient, so the stages
    # after it run on its survivors as if it had not run (only its cost is added).
    transparent: ClassVar[bool] = False

    def plan(self, budget: Budget, *, gradients: bool = True) -> list[Stage]:
        """The stages this attack runs, in order, each on the images the ones before left
        standing (``audit.attacks.cascade``): one, the attack itself, unless it is a cascade.
        Without ``gradients`` (a query-only model, no surrogate) only gradient-free stages
        run; a single attack that needs gradients is refused before (``refusal``)."""
        return [Stage(self.name, self, None, budget)]

    def skipped(self, threat: ThreatModel, gradients: bool) -> list[str]:
        """Stages left out of the plan because the model has no gradients."""
        return []

    def refusal(self, threat: ThreatModel, gradients: bool) -> str | None:
        """Why this attack cannot run on a model without gradients (None: it can)."""
        if gradients or not self.uses_gradient_under(threat):
            return None
        return (f"--attack {self.name} needs the model's gradients; a query-only model (TFLite, "
                "ONNX) is attacked with --attack square, or by the default cascade (its "
                "gradient-free stages), or pass --surrogate MODEL.keras")

    def stages(self, threat: ThreatModel) -> list[str]:
        """The stages that run under ``threat``, in order, as ``found_by`` names them."""
        return [self.name]

    def gradient_free_stages(self, threat: ThreatModel) -> list[str]:
        """Stages that need no gradient: masking cannot hide a model from them."""
        return [] if self.uses_gradient else [self.name]

    def yardstick(self, threat: ThreatModel, n_classes: int) -> dict | None:
        """A reference attack's cost per image as data (``audit.results.yardstick``), or None.

        ``{"name": ..., "steps": [{"stage": NAME or None, "cost": N, "queries": bool}]}``: an
        image pays each step's cost in turn and stops after the step whose stage flipped it (a
        ``queries`` step charges the image's own queries instead, where it flipped there)."""
        return None

    def uses_gradient_under(self, threat: ThreatModel) -> bool:
        """Whether any stage that runs under ``threat`` asks for a gradient."""
        return self.uses_gradient

    def traits(self, threat: ThreatModel, n_classes: int, *, gradients: bool = True) -> dict:
        """What the rest of advaudit may know of this attack, recorded in the manifest: the
        verdict, merge, console, bench and trust read these, never the attack's name. Without
        ``gradients`` the stages that need them are listed as skipped."""
        skipped = self.skipped(threat, gradients)
        return {"uses_gradient": self.uses_gradient_under(threat) and gradients,
                "strong": self.strong,
                "stages": [s for s in self.stages(threat) if s not in skipped],
                "gradient_free_stages": self.gradient_free_stages(threat),
                "skipped_stages": skipped,
                "yardstick": self.yardstick(threat, n_classes)}

    def budget(self, eps: float, step: float = 1.0, steps: int | None = None,
               threat: str | ThreatModel = DEFAULT_THREAT, queries: int = DEFAULT_QUERIES
               ) -> Budget:
        """A validated budget for this attack; fields the attack dictates override the user's.

        ``steps=None`` takes the attack's own default (APGD's schedule wants 100 iterations where
        BIM's 10 are enough)."""
        if steps is None:
            steps = self.default_steps
        threat = named(threat) if isinstance(threat, str) else threat
        if threat.name not in self.threats:
            raise UsageError(f"--threat {threat.name} is not available with --attack "
                             f"{self.name} (it searches {', '.join(self.threats)}); omit "
                             "--attack for the default cascade, which fits every threat model")
        threat.check_eps(eps)
        if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
            raise UsageError(f"--step {step} is not a step size: give a count > 0")
        if int(steps) < 1:
            raise UsageError(f"--steps {steps} must be at least 1")
        if int(queries) < 1:
            raise UsageError(f"--queries {queries} must be at least 1")
        values = {"eps": float(eps), "step": float(step), "steps": int(steps),
                  "threat": threat, "queries": int(queries)}
        for key, value in self.fixed.items():  # a string names another budget field
            values[key] = values[value] if isinstance(value, str) else value
        return Budget(**values)

    def look(self, classifier: Classifier, x0: np.ndarray, *, label: np.ndarray, target: int,
             budget: Budget, settings: RunSettings) -> Look | None:
        """The clean pass and this attack in one program, for an attack whose only gradient is
        taken at the clean image (the probe): its forward pass is the clean pass, so an audit
        need not classify the clean photos apart. ``label`` is each image's class, or -1 where
        unknown (the class the model gives it then). None: the caller classifies them itself."""
        return None

    def corners(self, x0: np.ndarray, eps: float, threat: ThreatModel,
                rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` random points at the edge of what this attack searches around one image:
        where the attack unit test plants a known adversarial (the threat model's corners;
        an attack that searches less of the budget draws them from what it searches)."""
        return threat.corners(x0, eps, rng, count)

    def effective_loss(self, settings: RunSettings) -> str:
        return self.loss or settings.loss

    @abstractmethod
    def run(self, classifier: Classifier, x0: np.ndarray, goal: Goal, budget: Budget,
            settings: RunSettings = DEFAULT_RUN, *,
            x_start: np.ndarray | None = None) -> AttackResult:
        """Attack every row of ``x0``; ``x_start`` overrides the attack's own starting points."""
