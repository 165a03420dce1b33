"""Stages run on the images still standing: the machinery of ``auto``, and of an audit that
batches each stage's survivors across chunks.

An attack is a plan of ``Stage`` s (a plain attack is one stage; ``auto`` is APGD-CE, APGD-T
and Square). ``Standing`` holds images between stages — clean points, goals, and what the stages
so far did to them — and can be split and joined, so a caller may gather one stage's survivors
from many chunks into full batches for the next stage. ``run_stage`` runs one stage on a
``Standing`` and folds its result in. Every random draw depends only on (seed, image id, stage),
so how images are grouped never changes a result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..classifier import Classifier
from .base import Attack, AttackResult, Goal, RunSettings, Stage

Settled = Callable[[np.ndarray, AttackResult], None]


@dataclass
class Standing:
    """Images between stages: clean points, goals, the cascade's result so far, and whether a
    stage has run on each yet."""

    x0: np.ndarray
    goal: Goal
    out: AttackResult
    seen: np.ndarray

    @classmethod
    def start(cls, x0: np.ndarray, goal: Goal, n_classes: int) -> Standing:
        x0 = np.asarray(x0, np.float32)
        n = len(x0)
        out = AttackResult(
            x=x0.copy(), success=np.zeros(n, bool), probs=np.zeros((n, n_classes), np.float32),
            steps=np.zeros(n, np.int64), grad_evals=np.zeros(n, np.int64),
            queries=np.zeros(n, np.int64), grad_useless=np.zeros(n, bool),
            found_by=[None] * n, surrogate_flip=np.zeros(n, bool))
        return cls(x0, goal, out, np.zeros(n, bool))

    def __len__(self) -> int:
        return len(self.x0)

    def take(self, rows: np.ndarray) -> Standing:
        return Standing(self.x0[rows], self.goal.take(rows), self.out.take(rows), self.seen[rows])

    @classmethod
    def join(cls, parts: list[Standing]) -> Standing:
        o = [p.out for p in parts]
        goal = Goal(np.concatenate([p.goal.label for p in parts]),
                    np.concatenate([p.goal.target for p in parts]),
                    np.concatenate([p.goal.ids for p in parts]),
                    {k: np.concatenate([p.goal.extra[k] for p in parts])
                     for k in parts[0].goal.extra})
        out = AttackResult(*(np.concatenate([getattr(r, f) for r in o]) for f in (
            "x", "success", "probs", "steps", "grad_evals", "queries", "grad_useless")),
            found_by=[f for r in o for f in r.found_by],
            surrogate_flip=np.concatenate([_flips(r) for r in o]))
        return cls(np.concatenate([p.x0 for p in parts]), goal, out,
                   np.concatenate([p.seen for p in parts]))


def _flips(r: AttackResult) -> np.ndarray:
    return r.surrogate_flip if r.surrogate_flip is not None else np.zeros(len(r.success), bool)


def run_stage(stage: Stage, classifier: Classifier, standing: Standing,
              settings: RunSettings, *, final: bool, reported: np.ndarray,
              on_settled: Settled | None = None, x_start: np.ndarray | None = None,
              square_only_where_masked: bool = False,
              done: AttackResult | None = None) -> AttackResult | None:
    """Run ``stage`` on the images of ``standing`` it applies to (not flipped yet; a gradient
    stage skips images whose gradient was already useless) and fold its result in. ``done``
    is the stage's result on those images when it was computed already (``Attack.look``: with
    the clean pass); it is folded in and settled as a run's would be.

    Images whose outcome this stage makes final — its flips, and with ``final`` every image it
    ran on — go to ``on_settled(rows, result)`` (rows of ``standing``) as soon as the stage knows
    them, and are marked in ``reported``. Returns the stage's own result (None if it ran on no
    image)."""
    out, seen, attack = standing.out, standing.seen, stage.attack
    idx = np.flatnonzero(~out.success)
    if square_only_where_masked and not attack.uses_gradient:
        idx = idx[out.grad_useless[idx]]
    if attack.uses_gradient and seen.any():
        # a gradient that was zero or not finite will not guide this stage either
        idx = idx[~out.grad_useless[idx]]
    if idx.size == 0:
        return None
    run_settings = replace(settings, loss=stage.loss) if stage.loss else settings
    model = searched_on(classifier, attack)
    confirm = Confirm(classifier, standing.goal.take(idx), settings.batch_size,
                      transfer=model is not classifier) if Confirm.needed(classifier, attack) \
        else None
    run_settings = replace(run_settings, on_settled=None if on_settled is None else _passed_on(
        on_settled, idx, standing, reported, stage=stage.name, attack=attack, final=final,
        confirm=confirm))
    # the caller's start points go to the first stage that takes starts (a transparent probe
    # does not); the images it runs on have met no such stage yet
    start = None if x_start is None or seen[idx].any() or attack.transparent \
        else np.asarray(x_start)[idx]
    if done is None:
        r = attack.run(model, standing.x0[idx], standing.goal.take(idx), stage.budget,
                       run_settings, x_start=start)
    else:
        if len(done.success) != idx.size:
            raise ValueError(f"a result of {len(done.success)} images for a stage on {idx.size}")
        r = done
        flips = np.flatnonzero(r.success)
        if run_settings.on_settled is not None:  # a batch at a time, as a run settles them
            for lo in range(0, flips.size, settings.batch_size):
                group = flips[lo:lo + settings.batch_size]
                run_settings.on_settled(group, r.take(group))
    if confirm is not None:  # the flips no stream confirmed yet (and the streamed ones' verdicts)
        r = confirm.confirm(np.arange(idx.size), r)
    _fold(standing, idx, r, stage.name, attack)
    return r


class Confirm:
    """Flips claimed where the audited model's own answer was not the one searched, confirmed
    on it before they count; an unconfirmed image stays standing for the next stage, and each
    confirmation is charged as queries. Two cases:

    - a randomised model: the attack's own evaluations (``Classifier.met``) are many noisy
      tests in a row, so a point one of them found decisive is a candidate, and the majority of
      ``votes`` fresh draws on it decides;
    - a transfer (``--surrogate``): a gradient stage searched the surrogate, and the audited
      model's prediction on the point decides. The result's ``surrogate_flip`` keeps which
      points flipped the surrogate, the transfer rate's denominator."""

    def __init__(self, classifier: Classifier, goal: Goal, batch_size: int, *,
                 transfer: bool) -> None:
        self.classifier, self.goal, self.batch_size = classifier, goal, batch_size
        self.transfer = transfer
        self.cost = max(1, getattr(classifier, "votes", 1))
        self.decided: dict[int, tuple[bool, np.ndarray]] = {}  # stage row -> (verdict, probs)

    @staticmethod
    def needed(classifier: Classifier, attack: Attack) -> bool:
        return getattr(classifier, "random", False) or searched_on(classifier, attack) \
            is not classifier

    def confirm(self, rows: np.ndarray, r: AttackResult) -> AttackResult:
        """``r`` (the result of ``rows``) with each claimed flip kept only if the audited model
        agrees; for a transfer, its probabilities replace the surrogate's."""
        todo = [k for k, row in enumerate(rows) if r.success[k] and int(row) not in self.decided]
        if todo:
            probs = self.classifier.predict(r.x[todo], self.batch_size)
            goal = self.goal.take(rows[todo])
            won = goal.share_met(probs) > 0.5 if getattr(self.classifier, "random", False) \
                else goal.met(probs.argmax(axis=1))
            self.decided.update({int(rows[k]): (bool(w), p)
                                 for k, w, p in zip(todo, won, probs, strict=True)})
        checked = np.array([int(row) in self.decided for row in rows], bool)
        success = r.success & np.array([self.decided.get(int(row), (False,))[0] for row in rows],
                                       bool)
        probs = r.probs
        if self.transfer and checked.any():
            probs = r.probs.copy()
            probs[checked] = [self.decided[int(row)][1] for row in rows[checked]]
        return replace(r, success=success, probs=probs,
                       surrogate_flip=_flips(r) | (r.success & self.transfer),
                       queries=r.queries + np.where(checked, self.cost, 0),
                       found_by=[f if ok else None for f, ok in zip(r.found_by, success,
                                                                    strict=True)])


def searched_on(classifier: Classifier, attack: Attack) -> Classifier:
    """The model a stage searches: the surrogate for a gradient stage when one is given
    (``--surrogate``), else the audited model itself."""
    surrogate = getattr(classifier, "surrogate", None)
    return surrogate if attack.uses_gradient and surrogate is not None else classifier


def _fold(standing: Standing, idx: np.ndarray, r: AttackResult, stage: str,
          attack: Attack) -> None:
    """A stage's result on the images ``idx`` into the cascade's: its points, costs added. A
    transparent stage folds in its cost and its flips only: the others stay as they were."""
    out, seen = standing.out, standing.seen
    out.steps[idx] += r.steps
    out.grad_evals[idx] += r.grad_evals
    out.queries[idx] += r.queries
    out.surrogate_flip = _flips(out)
    out.surrogate_flip[idx] |= _flips(r)
    if attack.transparent:
        idx, r = idx[r.success], r.take(np.flatnonzero(r.success))
    first = ~seen[idx] & attack.uses_gradient
    out.grad_useless[idx[first]] = r.grad_useless[first]
    seen[idx] = True
    out.x[idx], out.probs[idx] = r.x, r.probs
    out.success[idx] = r.success
    for k, i in enumerate(idx):
        if r.success[k]:
            out.found_by[i] = stage


def _passed_on(settled: Settled, idx: np.ndarray, standing: Standing, reported: np.ndarray, *,
               stage: str, attack: Attack, final: bool, confirm: Confirm | None = None):
    """A stage's ``on_settled`` as the cascade's: a flip is final at once (for a randomised
    model, once a fresh vote confirms it), a survivor only in the last stage; costs add those
    of the stages the image went through before."""
    out, seen = standing.out, standing.seen

    def report(rows: np.ndarray, r: AttackResult) -> None:
        if confirm is not None:
            r = confirm.confirm(rows, r)
        keep = r.success | final
        rows, i = rows[keep], idx[rows[keep]]
        if i.size == 0:
            return
        reported[i] = True
        first = ~seen[i] & attack.uses_gradient
        settled(i, AttackResult(
            x=r.x[keep], success=r.success[keep], probs=r.probs[keep],
            steps=out.steps[i] + r.steps[keep], grad_evals=out.grad_evals[i] + r.grad_evals[keep],
            queries=out.queries[i] + r.queries[keep],
            grad_useless=np.where(first, r.grad_useless[keep], out.grad_useless[i]),
            found_by=[stage if s else None for s in r.success[keep]],
            surrogate_flip=_flips(out)[i] | _flips(r)[keep]))

    return report
