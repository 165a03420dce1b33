"""``--universal``: one patch for every photo, fitted before any photo is attacked.

The fitting photos are the first correctly classified ones in the hash order of (seed, index)
over *all* the inputs, shards included (``sampling``), so every shard and every resumed run
fits the same patch on the same photos (on one machine: the fit is deterministic there) and
``merge`` can check that they did. The patch is saved as ``universal_patch.png`` beside
``results.json``; the manifest's ``universal`` record says how it was found and holds its
fingerprint, which the report checks the file against.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..attacks import Goal
from ..attacks.universal_patch import FittedPatch, UniversalPlacement, fit_universal_patch
from ..errors import ImageError
from ..images import Photo, save_png
from ..paths import UNIVERSAL_PNG
from ..timing import span
from .attacking import AuditContext
from .sampling import hash_order
from .sources import PhotoSource

FIT_SALT = 0x0F17  # the fitting sample is not the trust checks' sample
MAX_CANDIDATES_FACTOR = 8  # photos read to find the fitting set, per fitting photo wanted


def fitting_photos(ctx: AuditContext, source: PhotoSource, wanted: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fitting set: pixels, reference classes and indices of up to ``wanted`` photos the
    model gets right (and, when targeted, not already the target class)."""
    everything = list(range(source.n_all)) if source.shard_of else list(source.indices)
    order = hash_order(everything, ctx.config.seed ^ FIT_SALT)
    names = ctx.classifier.class_names
    size, channels = ctx.classifier.input_size, ctx.classifier.channels
    xs, refs, ids = [], [], []
    candidates = order[:MAX_CANDIDATES_FACTOR * wanted]
    for lo in range(0, len(candidates), ctx.config.batch_size):
        read = [(i, source.read(i, size, channels))
                for i in candidates[lo:lo + ctx.config.batch_size]]
        photos = [(i, p) for i, p in read if isinstance(p, Photo)]
        if not photos:
            continue
        x = np.stack([p.pixels for _, p in photos]).astype(np.float32)
        pred = ctx.classifier.predict(x, ctx.config.batch_size).argmax(axis=1)
        for k, (i, photo) in enumerate(photos):
            known = names.index(photo.label) if photo.label in names else -1
            reference = known if known >= 0 else int(pred[k])
            if (known >= 0 and pred[k] != known) or reference == ctx.target_index:
                continue
            xs.append(x[k])
            refs.append(reference)
            ids.append(i)
            if len(ids) == wanted:
                return np.stack(xs), np.array(refs, np.int32), np.array(ids, np.int64)
    if not ids:
        raise ImageError(f"--universal: none of the first {len(candidates)} photos of "
                         f"{source.description} is classified correctly, so there is nothing to "
                         "fit a patch on; check the labels and --input-scale")
    return np.stack(xs), np.array(refs, np.int32), np.array(ids, np.int64)


def record(fitted: FittedPatch) -> dict:
    """The manifest's ``universal``: how the patch was found, and its fingerprint."""
    side = int(fitted.content.shape[0])
    return {"file": UNIVERSAL_PNG, "side": side, "sha256": fitted.sha256,
            "fit_photos": len(fitted.fit_ids), "fit_indices": sorted(fitted.fit_ids),
            "fit_flipped": int(fitted.flipped), "fit_iterations": int(fitted.iterations),
            "fit_queries": int(fitted.queries),
            "placement": "searched on each photo: Sparse-RS moves of the fixed content"}


def fit_for_audit(ctx: AuditContext, source: PhotoSource, wanted: int,
                  log: Callable[[str], None] | None) -> tuple[UniversalPlacement, dict, float]:
    """Fit the audit's universal patch; return the attack that places it, the manifest record
    and the seconds spent. (``save`` writes the file once the journal is started: a folder
    holding a patch always holds the journal that ``--resume`` needs.)"""
    started = time.perf_counter()
    x, reference, ids = fitting_photos(ctx, source, wanted)
    goal = Goal.of(reference, ctx.target_index, ids=ids)
    with span("universal fit", len(ids)):
        fitted = fit_universal_patch(ctx.classifier, x, goal, ctx.budget, ctx.settings)
    seconds = time.perf_counter() - started
    if log:
        log(f"universal {ctx.budget.threat.eps_text(ctx.budget.eps)} patch fitted on {len(ids)} "
            f"photos in {fitted.queries:,} queries: it flips {fitted.flipped} of them at their "
            f"fitting places; saving it as {Path(ctx.out_dir) / UNIVERSAL_PNG}")
    return UniversalPlacement(fitted.content), record(fitted), seconds


def save(placement: UniversalPlacement, out_dir: Path) -> None:
    """The patch as ``universal_patch.png`` beside results.json (lossless: its pixels are the
    ones every adversarial PNG holds)."""
    save_png(placement.content.astype(np.uint8), Path(out_dir) / UNIVERSAL_PNG)
