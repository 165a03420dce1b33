"""One audit from photos to the ``results.json`` contract, streamed chunk by chunk.

Order matters for trust: clean predictions, the attack, then every adversarial image is written
as PNG, read back from disk and classified again, so a claimed flip is one a user can reproduce
from the file (``attacking``). Each finished photo is appended to the journal
(``results.jsonl``) right after its PNGs, so a crash loses nothing done and ``--resume``
continues; memory holds one chunk of photos and the attack's bounded queues of survivors,
whatever the number of photos. ``results.json`` is written before anything
optional (the report) can fail; Ctrl-C writes the photos done so far as a partial results.json.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .. import results as contract
from ..attacks import ATTACKS, DEFAULT_ATTACK, SPARSE_PROBE, Attack, Budget, Goal, RunSettings
from ..attacks.base import DEFAULT_QUERIES
from ..attacks.universal_patch import PLACEABLE
from ..channels import Channel
from ..channels import parse as parse_channel
from ..classifier import DECISIVE, Classifier, attacked_by_gradient
from ..errors import ImageError, Interrupted, ResultsError, UsageError
from ..formats import FORMATS
from ..images import Photo, Skipped, load_png
from ..metrics import DeltaHistogram
from ..paths import inside
from ..results import verdict as verdicts
from ..results.journal import JOURNAL_NAME, Journal, Recorded
from ..threats import DEFAULT_THREAT, named
from ..timing import span
from . import universal as universal_patch
from .attacking import Attacking, AuditContext
from .sampling import trust_sample
from .sources import PhotoSource
from .trust import trust_checks

Progress = Callable[[str, int], Callable[[int, int], None] | None]
Log = Callable[[str], None]


@dataclass
class AuditConfig:
    """What to attack with and how; validated when the audit starts."""

    attack: str = DEFAULT_ATTACK
    eps: float = 4.0
    step: float = 1.0
    steps: int | None = None  # None: the attack's default
    queries: int = DEFAULT_QUERIES
    threat: str = DEFAULT_THREAT  # the threat model's name (audit.threats.THREATS)
    loss: str = "margin"
    target: str | None = None
    sweep: bool = False
    max_eps: int = 8
    batch_size: int = 32
    seed: int = 0
    early_stop: bool = True
    trust: bool = True
    jit_compile: bool = False
    chunk_size: int = 256  # photos in memory at once
    devices: str | int | None = None  # "all" or a count: attack on several devices
    universal: bool = False  # one patch for every photo (audit.pipeline.universal)
    universal_fit: int = 32  # photos the universal patch is fitted on
    channel: str | None = None  # audit the model behind this channel ("jpeg:85", "resize:0.5")
    eot: int | None = None  # a randomised model's draws per attack evaluation (None: 20)

    @property
    def attack_impl(self) -> Attack:
        if self.attack not in ATTACKS:
            raise UsageError(f"--attack {self.attack!r} is not an attack; choose one of "
                             f"{', '.join(ATTACKS)}")
        return ATTACKS[self.attack]

    def channel_impl(self) -> Channel | None:
        """The --channel the model is audited behind (None: the model itself)."""
        if self.channel is None:
            return None
        try:
            channel = parse_channel(self.channel)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if self.jit_compile or self.devices:
            raise UsageError(f"--channel {self.channel} runs the real codec on the host, which "
                             "XLA and several devices cannot: drop --jit and --devices")
        return channel

    def eot_draws(self) -> int | None:
        """--eot as a number of draws (None: not given)."""
        if self.eot is None:
            return None
        if isinstance(self.eot, bool) or not isinstance(self.eot, (int, np.integer)) \
                or not 1 <= self.eot <= 1000:
            raise UsageError(f"--eot {self.eot} is not a number of draws: give a whole number "
                             "from 1 to 1000 (20 is AutoAttack's)")
        return int(self.eot)

    def budget(self) -> Budget:
        self.channel_impl()
        self.eot_draws()
        if self.universal:
            return self._universal_budget()
        budget = self.attack_impl.budget(self.eps, self.step, self.steps, named(self.threat),
                                         self.queries)
        if budget.radius < 1:  # an audit that cannot change a pixel would report "held"
            raise UsageError(f"--eps {self.eps:g} is under one {budget.threat.one}: no pixel on "
                             "the 0..255 grid can change, so nothing could flip; give at least "
                             f"1 ({budget.threat.describe(1)})")
        if self.sweep:
            self._check_sweep(budget)
        return budget

    def _universal_budget(self) -> Budget:
        """--universal: Sparse-RS's budget (the fitting's proposals and each photo's moves are
        --queries), under a threat model whose content can be placed (a patch)."""
        threat = named(self.threat)
        if self.attack not in (DEFAULT_ATTACK, SPARSE_PROBE.name):
            raise UsageError(f"--universal fits and places one patch by random search: drop "
                             f"--attack {self.attack}")
        if not getattr(threat, "placeable", False):
            raise UsageError(f"--universal needs a threat model with one content to place "
                             f"(--threat {', '.join(PLACEABLE)}), not --threat {threat.name}")
        if self.sweep:
            raise UsageError("--universal and --sweep do not combine: a universal patch has "
                             "one side; audit other --eps values one by one")
        if isinstance(self.universal_fit, bool) or not isinstance(
                self.universal_fit, (int, np.integer)) or not 1 <= self.universal_fit <= 1024:
            raise UsageError(f"--universal-fit {self.universal_fit} is not a number of photos: "
                             "give a whole number from 1 to 1024")
        budget = SPARSE_PROBE.budget(self.eps, threat=threat, queries=self.queries)
        if budget.radius < 1:
            raise UsageError(f"--eps {self.eps:g} is under one pixel: give at least 1")
        return budget

    def _check_sweep(self, budget: Budget) -> None:
        """The sweep searches each image's minimal budget downward from the audit's own, up to
        --max-eps: a bound below the audit's budget would drop the flips between them."""
        if not math.isfinite(budget.eps):
            raise UsageError(f"--sweep needs a bounded attack: --attack {self.attack} has no "
                             "eps ball; choose another --attack")
        if isinstance(self.max_eps, bool) or not isinstance(self.max_eps, (int, np.integer)) \
                or not 1 <= self.max_eps <= 127:
            raise UsageError(f"--max-eps {self.max_eps} is not a sweep bound: give a whole "
                             "count from 1 to 127")
        if self.max_eps < budget.radius:
            raise UsageError(f"--max-eps {self.max_eps} is below --eps {budget.eps:g}: the "
                             "sweep searches downward from the audit's budget, so give "
                             f"--max-eps {math.ceil(budget.eps)} or more (or a smaller --eps)")

    def target_index(self, class_names: list[str]) -> int:
        if self.target is None:
            return -1
        if self.target not in class_names:
            raise UsageError(f"--target {self.target!r} is not one of {', '.join(class_names)}")
        return class_names.index(self.target)

    def settings(self) -> RunSettings:
        return RunSettings(loss=self.loss, batch_size=self.batch_size,
                           early_stop=self.early_stop, seed=self.seed,
                           jit_compile=self.jit_compile, devices=self.devices)


def _trust_budgets(config: AuditConfig, budget: Budget) -> list[float]:
    if config.sweep:
        return [1, 2, 4, config.max_eps]
    if math.isfinite(budget.eps):
        return [max(1, budget.eps // 2), budget.eps, 2 * budget.eps]
    return [1, 2, 4]


def _audit_chunk(attacking: Attacking, photos: list[tuple[int, Photo]]) -> None:
    """One chunk through the attack (its first stage now; survivors may wait for later ones)."""
    attacking.chunk(photos)


def _rebuild_histogram(ctx: AuditContext, rows: dict[int, dict]) -> None:
    """Delta counts of photos a resumed audit did not attack itself, from their PNG pairs.

    The journal gave the paths (checked there); each pair must still be readable PNGs of the
    model's input shape, or the resume is refused in one line."""
    channels = ctx.histogram.counts.shape[0]
    shape = (*ctx.classifier.input_size, channels)
    for row in rows.values():
        if row.get("attacked"):
            where = f"--resume: {ctx.out_dir / JOURNAL_NAME}: row {row['index']}"
            try:
                clean = load_png(inside(ctx.out_dir, row["clean_path"], what=where), channels)
                adv = load_png(inside(ctx.out_dir, row["adv_path"], what=where), channels)
            except (OSError, ValueError) as exc:
                why = " ".join(str(exc).split())[:120]
                raise ResultsError(f"{where}: its PNGs cannot be read ({why}); pass --overwrite "
                                   "to start again") from None
            if clean.shape != shape or adv.shape != shape:
                raise ResultsError(f"{where}: its PNGs are not {shape[1]}x{shape[0]} images of "
                                   "this audit; pass --overwrite to start again")
            ctx.histogram.add(clean[None], adv[None])


def _trust(ctx: AuditContext, rows: list[dict]) -> dict | None:
    attacked = {r["index"]: r for r in rows if r["attacked"]}
    if not ctx.config.trust or not attacked:
        return None
    pick = trust_sample(list(attacked), ctx.config.seed)
    names = ctx.classifier.class_names
    channels = ctx.histogram.counts.shape[0]
    x = np.stack([load_png(inside(ctx.out_dir, attacked[i]["clean_path"],
                                  what=f"{ctx.out_dir / JOURNAL_NAME}: row {i}"), channels)
                  for i in pick]).astype(np.float32)
    goal = Goal.of([names.index(attacked[i]["reference_label"]) for i in pick],
                   ctx.target_index, ids=np.array(pick))
    useless = np.array([bool(r.get("gradient_useless")) for r in attacked.values()])
    with span("trust checks", len(pick)):
        return trust_checks(ctx.classifier, x, goal, _trust_budgets(ctx.config, ctx.budget),
                            ctx.settings, useless, sample=len(pick), attack=ctx.attack,
                            budget=ctx.budget)


def _assemble(ctx: AuditContext, done: Recorded, *, manifest: dict, started: float, pending: int,
              trust: bool) -> dict:
    rows, skipped, costs = done.rows, done.skipped, done.costs
    images = [rows[i] for i in sorted(rows)]
    summary = contract.run_summary(
        images, ctx.classifier.class_names, n_skipped=len(skipped), pending=pending,
        seconds=time.perf_counter() - started,
        attack_seconds=sum(c.get("attack_seconds", 0.0) for c in costs),
        evaluations=sum(c.get("evaluations", 0) for c in costs),
        sweep_grad_evals=sum(c.get("sweep_grad_evals", 0) for c in costs)
        if ctx.config.sweep else None,
        sweep_queries=sum(c.get("sweep_queries", 0) for c in costs) if ctx.config.sweep else None)
    reference = contract.yardstick_cost((manifest.get("attack_traits") or {}).get("yardstick"),
                                        images)
    if reference is not None:
        summary["autoattack_cost_per_image"] = reference
    results = {
        "schema_version": contract.SCHEMA_VERSION,
        "manifest": manifest,
        "summary": summary,
        "images": images,
        "histograms": {"delta": ctx.histogram.result(contract.delta_bound(images)),
                       **contract.row_histograms(images)},
        "curve": contract.min_eps_curve(images, ctx.config.max_eps)
        if ctx.config.sweep and summary["n_attacked"] else [],
        "trust": _trust(ctx, images) if trust else None,
        "skipped": [{"path": skipped[i]["path"], "reason": skipped[i]["reason"]}
                    for i in sorted(skipped)],
    }
    verdicts.record(results)
    return results


class _HeldLog:
    """Skip messages wait until a first photo is readable: when none is, the user gets one
    error line naming the first skip instead of a screen of them."""

    def __init__(self, log: Log | None, release: bool) -> None:
        self.log, self.held, self.released = log, [], release

    def say(self, message: str) -> None:
        if self.log is None:
            return
        if self.released:
            self.log(message)
        else:
            self.held.append(message)

    def release(self) -> None:
        if not self.released and self.log is not None:
            for message in self.held:
                self.log(message)
        self.released, self.held = True, []


def _sweep_record(config: AuditConfig, attack: Attack, budget: Budget) -> dict | None:
    if not config.sweep:
        return None
    if not math.isfinite(budget.eps):
        raise UsageError(f"--sweep needs a bounded attack; --attack {attack.name} dictates an "
                         "unbounded one")
    staged = " (its gradient stages)" if len(attack.stages(budget.threat)) > 1 else ""
    return {"max_eps": config.max_eps, "method": "downward from the audit's own flips, one "
            f"count at a time, warm-started {attack.name}{staged}"}


def _describe(ctx: AuditContext, source: PhotoSource, model: contract.ModelInfo,
              command_line: str) -> tuple[dict, dict]:
    """The manifest (what results.json says was audited) and the fingerprint a resumed audit
    must match (the same model, attack, budget, seed and inputs)."""
    clf, attack, budget, config = ctx.classifier, ctx.attack, ctx.budget, ctx.config
    names = clf.class_names
    loss = attack.effective_loss(ctx.settings)
    early_stop = ctx.settings.early_stop and attack.early_stop
    sweep = _sweep_record(config, attack, budget)
    first, n = (source.indices[0], len(source.indices)) if source.indices else (None, 0)
    manifest = contract.build_manifest(
        model=model, command_line=command_line, images_dir=source.description, attack=attack,
        budget=budget, loss=loss, target=config.target, early_stop=early_stop,
        seed=config.seed, sweep=sweep, class_names=names, input_scale=clf.input_scale,
        batch_size=config.batch_size, traits=attack.traits(
            budget.threat, len(names), gradients=attacked_by_gradient(clf) is not None),
        shard={"index": source.shard_of[0] + 1, "count": source.shard_of[1],
               "inputs": source.n_all, "first": first,
               "end": source.indices[-1] + 1 if n else None} if source.shard_of else None)
    channel = config.channel_impl()
    manifest["channel"] = channel.name if channel else None
    manifest["randomness"] = {"eot": clf.draws, "votes": clf.votes, "decisive": DECISIVE} \
        if clf.random else None
    manifest["model_access"] = model_access(clf, model)
    access = manifest["model_access"]
    fingerprint = {
        "channel": manifest["channel"], "randomness": manifest["randomness"],
        # a Keras model on its own gradients keeps the fingerprint older journals carry
        **({"model_access": access} if access["surrogate"] or not access["gradients"] else {}),
        "model": model.name, "model_sha256": model.sha256, "class_names": list(names),
        "input_scale": clf.input_scale, "attack": attack.name,
        "budget": contract.budget_record(budget), "loss": loss, "target": config.target,
        "early_stop": early_stop, "seed": config.seed, "sweep": sweep,
        "inputs": source.fingerprint(),
        "indices": [first, source.indices[-1], n] if n else [],
    }
    return manifest, fingerprint


def model_access(clf: Classifier, model: contract.ModelInfo) -> dict:
    """What the audit could ask of the model: its format, whether it has gradients of its
    own, and the surrogate the gradient stages ran on instead (``--surrogate``)."""
    return {"format": getattr(clf, "source", "keras"),
            "gradients": bool(getattr(clf, "gradients", True)),
            "surrogate": model.surrogate}


def _decoded(source: PhotoSource, todo: list[int], ctx: AuditContext
             ) -> Iterator[list[tuple[int, Photo | Skipped]]]:
    """``todo`` chunk by chunk, each photo decoded and resized (or the reason it cannot be),
    with the next chunk decoded on a thread while the caller attacks this one: one chunk ahead,
    so memory holds at most two chunks of photos."""
    size, channels = ctx.classifier.input_size, ctx.classifier.channels
    chunks = [todo[lo:lo + ctx.config.chunk_size]
              for lo in range(0, len(todo), ctx.config.chunk_size)]

    def decode(chunk: list[int]) -> list[tuple[int, Photo | Skipped]]:
        with span("decode", len(chunk)):
            return [(i, source.read(i, size, channels)) for i in chunk]

    reader = ThreadPoolExecutor(1, thread_name_prefix="advaudit-decode")
    try:
        ahead = reader.submit(contextvars.copy_context().run, decode, chunks[0]) \
            if chunks else None
        for k in range(len(chunks)):
            got = ahead.result()
            if k + 1 < len(chunks):
                ahead = reader.submit(contextvars.copy_context().run, decode, chunks[k + 1])
            yield got
    finally:
        reader.shutdown(wait=True, cancel_futures=True)


def _readable(got: list[tuple[int, Photo | Skipped]], journal: Journal,
              skipped: dict[int, dict], skips: _HeldLog) -> list[tuple[int, Photo]]:
    """The readable photos of one chunk; the others are journaled as skipped, with a reason."""
    photos: list[tuple[int, Photo]] = []
    for i, photo in got:
        if isinstance(photo, Skipped):
            skipped[i] = {"index": i, **asdict(photo)}
            journal.skipped(skipped[i])
            skips.say(f"skipped {photo.path}: {photo.reason}")
        else:
            photos.append((i, photo))
            skips.release()
    return photos


def _stream(ctx: AuditContext, source: PhotoSource, journal: Journal, done: Recorded,
            progress: Progress | None, log: Log | None) -> None:
    """Every photo the journal does not hold yet, chunk by chunk, into ``done``."""
    rows, skipped, costs = done.rows, done.skipped, done.costs
    todo = [i for i in source.indices if i not in rows and i not in skipped]
    tick = progress("attacking", len(todo)) if progress and todo else None

    def record(row: dict) -> None:
        rows[row["index"]] = row
        journal.row(row)
        if tick:
            tick(0, 1)

    def on_cost(entry: dict) -> None:
        costs.append(entry)
        journal.cost(entry)

    attacking = Attacking(ctx, record=record, flush=journal.flush, on_cost=on_cost, tick=tick)
    skips = _HeldLog(log, release=bool(rows))
    chunks = _decoded(source, todo, ctx)
    try:
        for got in chunks:
            photos = _readable(got, journal, skipped, skips)
            if tick:
                tick(0, len(got) - len(photos))  # skipped photos are done too
            if photos:
                _audit_chunk(attacking, photos)
            attacking.drain()  # a chunk ends with every photo it settled in the journal
            journal.flush()
        attacking.finish()
    except KeyboardInterrupt:  # keep every photo already settled: its PNGs are being written
        attacking.drain()
        raise
    finally:
        chunks.close()  # the decoding thread stops
        attacking.close()
    journal.flush()


def _save(results: dict, out_dir: Path) -> None:
    for name in ("json", "csv"):
        FORMATS[name].write(results, out_dir=out_dir)


def _begin(ctx: AuditContext, source: PhotoSource, model: contract.ModelInfo,
           command_line: str, log: Log | None) -> tuple[dict, dict, dict | None]:
    """The manifest and the journal's fingerprint; with --universal the patch is fitted first
    (the audit's attack becomes its placement, the manifest records it) and the fit's cost
    entry comes back too (else None)."""
    if not ctx.config.universal:
        return (*_describe(ctx, source, model, command_line), None)
    ctx.attack, universal, seconds = universal_patch.fit_for_audit(
        ctx, source, ctx.config.universal_fit, log)
    manifest, fingerprint = _describe(ctx, source, model, command_line)
    manifest["universal"] = fingerprint["universal"] = universal
    return manifest, fingerprint, {
        "photos": universal["fit_photos"], "attack_seconds": round(seconds, 3),
        "evaluations": universal["fit_queries"], "sweep_grad_evals": 0, "sweep_queries": 0}


def _context(classifier: Classifier, config: AuditConfig, budget: Budget, out_dir: Path
             ) -> AuditContext:
    """What the audit's parts share. A randomised model's batch holds fewer photos, each
    evaluated --eot times; its attacks run all their steps (AutoAttack's randomised version
    does): a stop at the first decisive evaluation is a stop at the luckiest of many noisy
    tests, short of a flip that lasts."""
    settings = replace(config.settings(), batch_size=classifier.attack_batch(config.batch_size),
                       early_stop=config.early_stop and not classifier.random)
    return AuditContext(classifier, config.attack_impl, budget, settings, config, out_dir,
                        config.target_index(classifier.class_names),
                        DeltaHistogram(classifier.channels))


def run_audit(
    classifier: Classifier,
    source: PhotoSource,
    config: AuditConfig,
    out_dir: Path,
    *,
    model: contract.ModelInfo,
    command_line: str,
    budget: Budget | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    log: Log | None = None,
) -> dict:
    """Attack every photo the model gets right (or whose label is unknown) and measure it all.

    ``out_dir`` must have been prepared (``audit.pipeline.outdir.prepare_out_dir``); with
    ``resume`` the journal there is continued. ``budget`` is ``config.budget()`` when the caller
    built it already (the API does, to refuse a bad budget before loading a model).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    ctx = _context(classifier, config, budget or config.budget(), out_dir)
    manifest, fingerprint, fit_cost = _begin(ctx, source, model, command_line, log)
    journal = Journal(out_dir / JOURNAL_NAME)
    done = journal.resume(fingerprint, indices=source.indices) if resume \
        else journal.start(fingerprint)
    if fit_cost is not None:  # a resumed audit fits again (the same patch): that costs too
        universal_patch.save(ctx.attack, out_dir)
        done.costs.append(fit_cost)
        journal.cost(fit_cost)
    if done.rows:
        _rebuild_histogram(ctx, done.rows)
    try:
        _stream(ctx, source, journal, done, progress, log)
    except KeyboardInterrupt:
        journal.close()
        pending = len([i for i in source.indices if i not in done.rows and i not in done.skipped])
        _save(_assemble(ctx, done, manifest=manifest, started=started, pending=pending,
                        trust=False), out_dir)
        raise Interrupted(f"interrupted: {len(done.rows)} of {len(source.indices)} photos done, "
                          f"partial results in {out_dir / 'results.json'}; continue with the "
                          "same command and --resume") from None
    journal.close()
    if not done.rows:
        journal.path.unlink()  # nothing was audited: leave no earlier audit behind
        first = next(iter(done.skipped.values()), None)
        raise ImageError(f"no readable photos in {source.description} ({len(done.skipped)} "
                         "files skipped" + (f", first: {first['path']}: {first['reason']}"
                                            if first else "") + "); put JPEG/PNG photos there")
    if log and not any(r["attacked"] for r in done.rows.values()):
        log("nothing to attack: every photo is misclassified already (or already the target "
            "class); the results record clean accuracy only")
    results = _assemble(ctx, done, manifest=manifest, started=started, pending=0, trust=True)
    _save(results, out_dir)
    return results
