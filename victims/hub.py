"""Models from the Hugging Face Hub: ``hf://owner/repo`` or ``hf://owner/repo@revision``.

Keras 3's own ``keras.saving.load_model("hf://owner/repo")`` is two steps:
``huggingface_hub.snapshot_download(repo_id, library_name="keras", ...)`` and loading the
downloaded folder as a Keras model directory. We take the same two steps ourselves, because
Keras's one call hides what an audit must record: it takes no revision (so a CI job cannot pin
one), no cache folder (so ``ADVAUDIT_CACHE`` could not apply), and it does not say which folder it
loaded (so the files could not be hashed; downloading them a second time to hash them could pick
up a commit pushed in between, and the hash would describe another model). Here the snapshot
is resolved once to a commit, hashed, and that very folder is loaded with
``keras.saving.load_model`` and ``safe_mode`` on.

``huggingface_hub`` is an optional extra (``pip install 'advaudit[hf]'``), imported only when an
``hf://`` model is asked for. Its errors (offline, repo or revision not found, gated) become
one-line ``ModelError``s naming the cache and what to do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from audit.errors import ModelError

from .model_files import load_model_file, sha256_of

SCHEME = "hf://"
EXTRA_HINT = "pip install 'advaudit[hf]'"
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_OFFLINE_ERRORS = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError",
                   "ConnectError", "ConnectTimeout", "TimeoutException", "Timeout",
                   "NameResolutionError"}
_KERAS_WEIGHTS = ("model.weights.h5", "model.weights.npz")


@dataclass(frozen=True)
class HubModel:
    """A model loaded from the Hub: what was loaded, and the record the manifest keeps."""

    model: keras.Model
    path: Path  # the snapshot folder, or the one model file inside it that was loaded
    source: dict[str, Any] = field(default_factory=dict)


def is_hub_spec(spec: str | None) -> bool:
    return bool(spec) and str(spec).startswith(SCHEME)


def parse_hub_spec(spec: str) -> tuple[str, str | None]:
    """``hf://owner/repo[@revision]`` as (repo id, revision or None)."""
    body = spec[len(SCHEME):]
    repo, at, revision = body.partition("@")
    if not _REPO_ID.fullmatch(repo) or ".." in repo:
        raise ModelError(f"{spec}: not a Hugging Face model id; write hf://owner/repo "
                         "(optionally @revision, a branch, tag or commit)")
    if at and not revision.strip():
        raise ModelError(f"{spec}: empty revision after @; give a branch, tag or commit "
                         f"(hf://{repo}@main), or drop the @")
    if revision and (not _REVISION.fullmatch(revision) or ".." in revision):
        raise ModelError(f"{spec}: {revision!r} is not a revision; give a branch, tag or commit "
                         "after @")
    return repo, revision or None


def hub_client():
    """The ``huggingface_hub`` module, imported lazily: it is an optional extra."""
    try:
        import huggingface_hub
        import huggingface_hub.constants  # noqa: F401 - a lazy submodule; named in errors
    except ImportError:
        raise ModelError(f"hf:// models need the Hugging Face client: {EXTRA_HINT}") from None
    return huggingface_hub


def hub_cache_dir() -> Path | None:
    """``$ADVAUDIT_CACHE/huggingface`` when set; None means the hub's own cache (shared with
    every other Hugging Face tool, so a model is downloaded once per machine)."""
    env = os.environ.get("ADVAUDIT_CACHE")
    return Path(env).expanduser() / "huggingface" if env else None


def _cache_name(client, cache: Path | None) -> str:
    if cache is not None:
        return str(cache)
    default = getattr(getattr(client, "constants", None), "HF_HUB_CACHE", None)
    return str(default) if default else "the Hugging Face cache"


def _download_error(exc: Exception, spec: str, revision: str | None, cache: str) -> ModelError:
    """One line for each way ``snapshot_download`` fails, told apart by class name so the same
    mapping holds across huggingface_hub versions (requests or httpx underneath)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "GatedRepoError" in names:
        return ModelError(f"{spec} is gated: accept its conditions on the Hub, then log in "
                          "(hf auth login, or set HF_TOKEN)")
    if "RepositoryNotFoundError" in names:
        return ModelError(f"{spec} was not found on the Hugging Face Hub (a private repo needs "
                          "a login: hf auth login, or set HF_TOKEN)")
    if "RevisionNotFoundError" in names:
        return ModelError(f"{spec}: revision {revision!r} does not exist in the repo; give a "
                          "branch, tag or commit it has")
    if names & _OFFLINE_ERRORS:
        return ModelError(f"{spec} is not in the cache {cache} and the Hugging Face Hub cannot be "
                          "reached: connect once to download it, or set ADVAUDIT_CACHE to a "
                          f"folder whose huggingface/ cache holds it ({EXTRA_HINT} provides the "
                          "client)")
    text = " ".join(str(exc).split())[:160]
    return ModelError(f"downloading {spec} failed ({type(exc).__name__}: {text})")


def download_snapshot(spec: str, *, client=None, cache: Path | None = None) -> Path:
    """The repo's files at one commit, downloaded (or found in the cache); returns the folder."""
    repo, revision = parse_hub_spec(spec)
    client = client or hub_client()
    cache = cache if cache is not None else hub_cache_dir()
    try:
        folder = client.snapshot_download(
            repo_id=repo, revision=revision, cache_dir=str(cache) if cache else None,
            library_name="keras", library_version=keras.__version__)
    except Exception as exc:
        raise _download_error(exc, spec, revision, _cache_name(client, cache)) from None
    return Path(folder)


def model_entry(folder: Path, spec: str) -> Path:
    """What to load from a snapshot: the folder in Keras's hub layout (config.json plus
    model.weights.h5, as ``model.save("hf://...")`` uploads it), a SavedModel folder (the
    older ``push_to_hub_keras`` layout), or the repo's one ``.keras``/``.h5`` file."""
    if (folder / "config.json").is_file() and any((folder / w).is_file() for w in _KERAS_WEIGHTS):
        return folder
    if (folder / "saved_model.pb").is_file():
        return folder
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix in (".keras", ".h5", ".hdf5"))
    if len(files) == 1:
        return files[0]
    listed = ", ".join(sorted(p.name for p in folder.iterdir())[:8]) or "nothing"
    raise ModelError(f"{spec} holds no Keras model advaudit can load (it has {listed}): expected "
                     "config.json with model.weights.h5 (what model.save('hf://...') uploads), a "
                     "SavedModel, or exactly one .keras/.h5 file")


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of the snapshot (the cache links them to blobs; links are
    followed), keyed by its path in the repo."""
    return {p.relative_to(folder).as_posix(): sha256_of(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def load_hub_model(spec: str, *, unsafe: bool = False, client=None,
                   cache: Path | None = None, output: str | None = None) -> HubModel:
    """Download (or reuse from the cache) and load ``hf://owner/repo[@revision]``.

    ``safe_mode`` stays on: a repo whose model has Lambda layers or custom code is refused
    unless ``unsafe`` (``--unsafe-load``) says the user trusts it. ``output`` picks one head
    of a model with several outputs (``--output``).
    """
    repo, revision = parse_hub_spec(spec)
    folder = download_snapshot(spec, client=client, cache=cache)
    if not folder.is_dir():
        raise ModelError(f"{spec}: the Hub client returned {folder}, which is not a folder")
    entry = model_entry(folder, spec)
    try:
        model = load_model_file(entry, unsafe, output=output)
    except ModelError as exc:  # name the repo, not the cache folder it sits in
        raise ModelError(str(exc).replace(str(entry), spec)) from None
    commit = folder.name if _COMMIT.fullmatch(folder.name) else None
    source = {
        "kind": "huggingface",
        "repo": repo,
        "revision": commit or revision,
        "requested_revision": revision or "main",
        "uri": f"{SCHEME}{repo}@{commit or revision or 'main'}",
        "loaded": entry.relative_to(folder).as_posix() if entry != folder else ".",
        "files": file_hashes(folder),
    }
    return HubModel(model, entry, source)
