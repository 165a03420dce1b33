"""From chunks of photos to rows: the clean pass, the attack's stages, the PNG re-check.

Photos arrive a chunk at a time (memory holds one chunk), but a cascade's later stages see only
the few photos an earlier stage left standing: run per chunk, Square would work on three or four
images where its batch holds 32. So each stage's survivors wait in a queue and the next stage
runs once ``QUEUE_BATCHES`` batches of them are waiting, or when the input ends; the first stage
runs on every chunk as it comes. A queued photo holds its clean and current points and its
clean row (about 0.4 MB at 128x128x3), so the queues hold at most ``QUEUE_BATCHES`` x
``--batch-size`` photos per stage (128 photos, ~50 MB, by default). Every random draw depends on
(seed, photo index, stage) only, so how photos are grouped never changes a result.

Each photo whose outcome is final — a flip, or the last stage done — becomes a row at once: its
PNGs are written, read back from disk and classified again (``deliverable_flipped``), it is
measured and handed to ``record`` (the journal), so a kill loses only the photos in flight.
With ``--sweep`` a chunk's photos are attacked and swept together (the sweep starts from the
attack's result), as before.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import results as contract
from ..attacks import Attack, AttackResult, Budget, Goal, RunSettings
from ..attacks.base import Stage
from ..attacks.cascade import Standing, run_stage
from ..channels import CHANNELS
from ..classifier import Classifier, attacked_by_gradient
from ..images import Photo, load_png, save_png
from ..metrics import DeltaHistogram, image_quality, perturbation_norms
from ..timing import span
from .sweep import minimal_epsilon

QUEUE_BATCHES = 4  # a later stage runs once this many batches of survivors wait

Record = Callable[[dict], None]


@dataclass
class AuditContext:
    """What every part of one audit shares: the model, the attack and its budget, settings."""

    classifier: Classifier
    attack: Attack
    budget: Budget
    settings: RunSettings
    config: object  # runner.AuditConfig (sweep, max_eps, batch_size, ...)
    out_dir: Path
    target_index: int
    histogram: DeltaHistogram


def png_name(index: int, photo: Photo) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", photo.path.stem)[:60] or "image"
    return f"{index:04d}_{stem}.png"


@dataclass
class Pending:
    """An attacked photo between its clean pass and its row."""

    index: int
    base: dict  # its clean row (results.rows.clean_row)
    reference: int
    x0: np.ndarray  # float32 counts, HxWxC
    file: str


def clean_pass(ctx: AuditContext, photos: list[tuple[int, Photo]], record: Record,
               first: Stage | None = None) -> tuple[list[Pending], AttackResult | None]:
    """Classify a chunk; rows for the photos not attacked (misclassified already, or already
    the target class) are recorded, the others returned to be attacked.

    Where the attack's ``first`` stage can be the clean pass too (``Attack.look``: the probe,
    whose gradient is taken at the clean photo), one program classifies the chunk and takes
    that stage's step; its result for the photos to attack comes back with them (else None)."""
    names = ctx.classifier.class_names
    x0 = np.stack([p.pixels for _, p in photos]).astype(np.float32)
    known = np.array([names.index(p.label) if p.label in names else -1 for _, p in photos],
                     np.int32)
    look = None
    if first is not None:
        settings = replace(ctx.settings, loss=first.loss) if first.loss else ctx.settings
        with span(f"clean pass + {first.name}", len(photos)):
            look = first.attack.look(ctx.classifier, x0, label=known, target=ctx.target_index,
                                     budget=first.budget, settings=settings)
    if look is None:
        with span("clean pass", len(photos)):
            probs = ctx.classifier.predict(x0, ctx.config.batch_size)
        pred = probs.argmax(axis=1)
    else:
        probs, pred = look.probs, look.pred
    pending, attacked = [], []
    for j, (i, photo) in enumerate(photos):
        true = int(known[j])
        reference = true if true >= 0 else int(pred[j])
        base = contract.clean_row(index=i, path=str(photo.path), true_label=photo.label,
                                  reference_label=names[reference],
                                  clean_pred=names[int(pred[j])], clean_probs=probs[j],
                                  votes=ctx.classifier.votes)
        if true >= 0 and pred[j] != true:
            record(contract.not_attacked_row(base, "already misclassified"))
        elif ctx.target_index >= 0 and reference == ctx.target_index:
            record(contract.not_attacked_row(base, "already the target class"))
        else:
            pending.append(Pending(i, base, reference, x0[j], png_name(i, photo)))
            attacked.append(j)
    return pending, None if look is None else look.result.take(np.array(attacked, np.int64))


def goal_of(ctx: AuditContext, pending: list[Pending]) -> Goal:
    return Goal.of([p.reference for p in pending], ctx.target_index,
                   ids=np.array([p.index for p in pending], np.int64))


@dataclass
class Files:
    """What the writer thread makes of a settled group: the adversarial PNGs read back from
    disk, the flipped ones also through every channel (``audit.channels``: JPEG, resizing),
    and each photo's perturbation measured (norms, PSNR, SSIM)."""

    reloaded: np.ndarray
    norms: dict[str, np.ndarray]
    quality: dict[str, np.ndarray]
    sent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rows channelled
    channelled: dict[str, np.ndarray] = field(default_factory=dict)  # per channel, sent rows


def write_pngs(out_dir: Path, pending: list[Pending], x_adv: np.ndarray,
               success: np.ndarray | None = None) -> Files:
    """Write each photo's adversarial and clean PNG, then read the adversarial ones back from
    disk (what the deliverable check classifies is the file, not the array), pass those that
    flipped in memory through every channel, and measure the perturbations: host work that
    runs beside the attack, on the writer thread."""
    channels = x_adv.shape[-1]
    with span("png write", 2 * len(pending)):
        for k, p in enumerate(pending):
            save_png(x_adv[k].astype(np.uint8), out_dir / "adversarial" / p.file)
            save_png(p.x0.astype(np.uint8), out_dir / "clean" / p.file)
    with span("png read back", len(pending)):
        reloaded = np.stack([load_png(out_dir / "adversarial" / p.file, channels)
                             for p in pending])
    sent = np.flatnonzero(success) if success is not None else np.zeros(0, np.int64)
    with span("channels", len(sent) * len(CHANNELS)):
        channelled = {name: channel.batch(reloaded[sent]) for name, channel in CHANNELS.items()}
    with span("metrics", len(pending)):
        x0 = np.stack([p.x0 for p in pending])
        return Files(reloaded, perturbation_norms(x0, x_adv), image_quality(x0, x_adv), sent,
                     channelled)


def rows_of(ctx: AuditContext, pending: list[Pending], result: AttackResult, files: Files,
            record: Record, min_eps: np.ndarray | None = None) -> None:
    """Rows for settled photos whose PNGs are on disk: re-classified from the files read back
    (the deliverable check), then recorded with their measurements."""
    clf, names = ctx.classifier, ctx.classifier.class_names
    sent, n = files.sent, len(pending)
    # the re-checks through each channel ask the model itself, not the one behind --channel
    plain = getattr(clf, "plain", None)
    batch = np.concatenate([files.reloaded, *files.channelled.values()]) \
        if files.channelled and plain is None else files.reloaded
    with span("re-check", len(batch)):
        probs = clf.predict(batch.astype(np.float32), ctx.config.batch_size)
    if plain is not None and files.channelled:
        with span("re-check", len(sent) * len(files.channelled)):
            probs = np.concatenate([probs, plain.predict(np.concatenate(
                list(files.channelled.values())).astype(np.float32), ctx.config.batch_size)])
    delivered_probs = probs[:n]
    goal = goal_of(ctx, pending)
    flipped = goal.met(result.probs.argmax(axis=1))
    delivered = goal.met(delivered_probs.argmax(axis=1))
    flip_probability = None
    surrogate = getattr(clf, "surrogate", None) is not None
    # a flip the cascade confirmed on the model (cascade.Confirm) is the flip: a randomised
    # model's by a fresh majority, a surrogate's point by the audited model's answer
    if surrogate or clf.random:
        flipped = result.success
        flip_probability = goal.share_met(delivered_probs)
        delivered = flip_probability > 0.5
    survives: list[dict[str, bool] | None] = [None] * n
    for c, name in enumerate(files.channelled):
        lo = n + c * len(sent)
        met = goal.take(sent).met(probs[lo:lo + len(sent)].argmax(axis=1))
        for k, row in enumerate(sent):
            if delivered[row]:
                survives[row] = {**(survives[row] or {}), name: bool(met[k])}
    ctx.histogram.add(np.stack([p.x0 for p in pending]), result.x)
    gradient_stages = {stage.name for stage in ctx.attack.plan(ctx.budget)
                       if stage.attack.uses_gradient} if surrogate else set()
    norms, quality = files.norms, files.quality
    for k, p in enumerate(pending):
        record(contract.attacked_row(
            p.base, class_names=names, reference=p.reference, adv_probs=result.probs[k],
            delivered_probs=delivered_probs[k], flipped=flipped[k], delivered=delivered[k],
            steps=int(result.steps[k]), l0=norms["l0"][k], l2=norms["l2"][k],
            linf=norms["linf"][k], psnr=quality["psnr"][k], ssim=quality["ssim"][k],
            min_eps=int(min_eps[k]) if min_eps is not None and min_eps[k] > 0 else None,
            gradient_useless=bool(result.grad_useless[k]), file_name=p.file,
            grad_evals=int(result.grad_evals[k]), queries=int(result.queries[k]),
            found_by=result.found_by[k] if flipped[k] else None, survives=survives[k],
            flip_probability=None if flip_probability is None else flip_probability[k],
            transfer=_transfer(gradient_stages, result, k, bool(flipped[k]))
            if surrogate else None))


def _transfer(gradient_stages: set[str], result: AttackResult, k: int, flipped: bool) -> dict:
    """Where photo ``k``'s flip was found with a surrogate: a gradient stage (on the surrogate,
    confirmed on the model) or a query stage on the model itself."""
    flips = result.surrogate_flip
    found = None if not flipped else \
        "surrogate" if result.found_by[k] in gradient_stages else "model"
    return {"found_on": found, "surrogate_flipped": bool(flips is not None and flips[k])}


class Settler:
    """Settled photos to rows, with the PNG work beside the attack: a writer thread encodes,
    writes and reads back each group's PNGs and measures its perturbations while the attack goes
    on; the group's rows are made (re-check) and recorded — after their PNGs, so the journal
    never names a file that is not there — once its files are done, in the order the groups
    settled. At most ``MAX_GROUPS`` groups are in flight, and ``drain`` waits for all of them
    (at the end of each chunk and of the input, and before a sweep)."""

    MAX_GROUPS = 4
    # One thread: on 2 cores a second one (measured on 12,502 photos) slowed the audit down,
    # competing with TensorFlow's threads. Groups are recorded in the order they settled.
    WRITERS = 1

    def __init__(self, ctx: AuditContext, record: Record, flush: Callable[[], None]) -> None:
        self.ctx, self.record, self.flush = ctx, record, flush
        self.pool = ThreadPoolExecutor(self.WRITERS, thread_name_prefix="advaudit-png")
        self.jobs: deque = deque()

    def __call__(self, pending: list[Pending], result: AttackResult,
                 min_eps: np.ndarray | None = None) -> None:
        future = self.pool.submit(contextvars.copy_context().run, write_pngs, self.ctx.out_dir,
                                  pending, result.x, result.success)
        self.jobs.append((future, pending, result, min_eps))
        self.drain(keep=self.MAX_GROUPS)

    def drain(self, keep: int = 0) -> None:
        """Record every group whose PNGs are done; wait for the oldest while more than
        ``keep`` groups are in flight."""
        while self.jobs and (len(self.jobs) > keep or self.jobs[0][0].done()):
            future, pending, result, min_eps = self.jobs.popleft()
            if not future.done():
                with span("writer wait", len(pending)):  # the attack waits for the thread
                    future.result()
            rows_of(self.ctx, pending, result, future.result(), self.record, min_eps)
            self.flush()  # one fsync a group: the journal holds them before more work

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class Attacking:
    """The audit's attack across chunks: each stage of the attack's plan on full batches of
    the photos the stage before left standing; every settled photo becomes a row at once.

    ``record(row)`` takes each row, ``flush()`` makes the recorded rows durable (once per
    group), ``on_cost(entry)`` takes the cost of each stage run (seconds, evaluations) and
    ``tick(evaluations, photos)`` drives a progress bar."""

    def __init__(self, ctx: AuditContext, *, record: Record, flush: Callable[[], None],
                 on_cost: Callable[[dict], None],
                 tick: Callable[[int, int], None] | None = None) -> None:
        self.ctx, self.record, self.flush, self.on_cost = ctx, record, flush, on_cost
        self.settler = Settler(ctx, record, flush)
        self.plan: list[Stage] = ctx.attack.plan(
            ctx.budget, gradients=attacked_by_gradient(ctx.classifier) is not None)
        self.waiting: list[list[tuple[Standing, list[Pending]]]] = [[] for _ in self.plan]
        self.settings = replace(ctx.settings, on_progress=(lambda e, f: tick(e, 0))
                                if tick else None, on_settled=None)
        self.threshold = QUEUE_BATCHES * ctx.config.batch_size

    def chunk(self, photos: list[tuple[int, Photo]]) -> None:
        """A chunk's photos: the clean pass, then the first stage on those it attacks (or,
        where that stage can be the clean pass too, both in one)."""
        sweep = self.ctx.config.sweep
        started = time.perf_counter()
        # a randomised model's clean pass is a vote of fresh draws, not the probe's one look;
        # with a surrogate the probe looks at the surrogate, the clean pass at the model
        clf = self.ctx.classifier
        first = None if sweep or clf.random or getattr(clf, "surrogate", None) is not None \
            else self.plan[0]
        pending, looked = clean_pass(self.ctx, photos, self.record, first)
        self.flush()
        if not pending:
            return
        if sweep:
            self._attack_and_sweep(pending)
            return
        x0 = np.stack([p.x0 for p in pending])
        self._run(0, Standing.start(x0, goal_of(self.ctx, pending),
                                    len(self.ctx.classifier.class_names)), pending,
                  looked=looked, looked_seconds=time.perf_counter() - started)

    def finish(self) -> None:
        """The input has ended: every queued stage runs on what waits for it, in order, and
        every settled photo's row is recorded."""
        for number in range(1, len(self.plan)):
            if self.waiting[number]:
                self._flush_queue(number)
        self.settler.drain()

    def drain(self) -> None:
        """Record every photo already settled (its PNGs are being written): on Ctrl-C, so
        what was done is kept."""
        self.settler.drain()

    def close(self) -> None:
        """Stop the writer thread (after ``finish``, or when the audit stops early: PNGs of
        photos not journaled yet are simply written again by a resumed audit)."""
        self.settler.close()

    def queued(self) -> int:
        return sum(len(s) for queue in self.waiting for s, _ in queue)

    def _run(self, number: int, standing: Standing, pending: list[Pending], *,
             looked: AttackResult | None = None, looked_seconds: float = 0.0) -> None:
        """Stage ``number`` on ``standing`` (``looked``: its result, computed with the clean
        pass in ``looked_seconds``), its settled photos to the settler, the rest queued."""
        stage, final = self.plan[number], number == len(self.plan) - 1
        reported = np.zeros(len(standing), bool)

        def settled(rows: np.ndarray, result: AttackResult) -> None:
            self.settler([pending[i] for i in rows], result)

        started = time.perf_counter() - looked_seconds
        with span(f"stage {stage.name}", len(standing)):
            r = run_stage(stage, self.ctx.classifier, standing, self.settings, final=final,
                          reported=reported, on_settled=settled, done=looked)
        self.on_cost({"photos": len(standing),
                      "attack_seconds": round(time.perf_counter() - started, 3),
                      "evaluations": 0 if r is None else r.total_grad_evals + r.total_queries,
                      "sweep_grad_evals": 0, "sweep_queries": 0})
        rest = np.flatnonzero(~reported)  # survivors, and images this stage did not run on
        done = rest[standing.out.success[rest]] if not final else rest
        if done.size:  # final, but not streamed by the stage
            settled(done, standing.out.take(done))
        rest = np.setdiff1d(rest, done)
        if rest.size == 0:
            return
        self.waiting[number + 1].append((standing.take(rest), [pending[i] for i in rest]))
        if sum(len(s) for s, _ in self.waiting[number + 1]) >= self.threshold:
            self._flush_queue(number + 1)

    def _flush_queue(self, number: int) -> None:
        parts, self.waiting[number] = self.waiting[number], []
        self._run(number, Standing.join([s for s, _ in parts]), [p for _, ps in parts for p in ps])

    def _attack_and_sweep(self, pending: list[Pending]) -> None:
        """With --sweep: the whole attack on the chunk, then each photo's minimal budget."""
        ctx = self.ctx
        x0, goal = np.stack([p.x0 for p in pending]), goal_of(ctx, pending)
        started = time.perf_counter()
        with span("attack", len(pending)):
            result = ctx.attack.run(ctx.classifier, x0, goal, ctx.budget, self.settings)
        seconds = time.perf_counter() - started
        with span("sweep", len(pending)):
            min_eps, grads, queries, _ = minimal_epsilon(
                ctx.classifier, x0, goal, attack=ctx.attack, budget=ctx.budget,
                max_eps=ctx.config.max_eps, settings=ctx.settings, found=result)
        self.settler(pending, result, min_eps)
        self.on_cost({"photos": len(pending), "attack_seconds": round(seconds, 3),
                      "evaluations": result.total_grad_evals + result.total_queries,
                      "sweep_grad_evals": int(grads), "sweep_queries": int(queries)})
