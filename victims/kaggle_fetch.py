"""Downloading the Kaggle notebook's ``model.h5`` through the kaggle package's API.

The kaggle package prints a help text and raises ``SystemExit`` when it finds no credentials,
and raises requests' ``ConnectionError`` offline; both become one-line ``VictimError``s here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from audit.errors import VictimError

from .model_files import sha256_of
from .registry import KAGGLE_FILE, KAGGLE_KERNEL, recorded_hash_file

CREDENTIALS_HELP = (
    "set KAGGLE_API_TOKEN (or write ~/.kaggle/access_token; legacy: KAGGLE_USERNAME and "
    "KAGGLE_KEY, or ~/.kaggle/kaggle.json), or download model.h5 from the notebook's Output "
    "tab by hand and pass --weights FILE"
)


def kaggle_json() -> Path:
    """The legacy credentials file the kaggle package reads: $KAGGLE_CONFIG_DIR/kaggle.json,
    else ~/.kaggle/kaggle.json, else $XDG_CONFIG_HOME/kaggle/kaggle.json (the package's order)."""
    folder = os.environ.get("KAGGLE_CONFIG_DIR") or ""
    if not folder:
        folder = os.path.join(os.path.expanduser("~"), ".kaggle")
        if sys.platform.startswith("linux") and not os.path.exists(folder):
            folder = os.path.join(os.environ.get("XDG_CONFIG_HOME")
                                  or os.path.join(os.path.expanduser("~"), ".config"), "kaggle")
    return Path(folder) / "kaggle.json"


def kaggle_json_problem(path: Path) -> str | None:
    """Why a kaggle.json that exists cannot give credentials (the package ignores a broken one
    silently and then reports no credentials at all), or None."""
    if not path.exists():
        return None
    if not path.is_file():
        return f"{path} is not a file"
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"
    except (ValueError, RecursionError):
        return f"{path} is not valid JSON"
    if not isinstance(data, dict):
        return f"{path} is not a JSON object"
    missing = [k for k in ("username", "key") if not isinstance(data.get(k), str)
               or not data[k].strip()]
    if missing:
        return f"{path} lacks {' and '.join(repr(k) for k in missing)}"
    return None


def _credentials_error(fallback: str) -> VictimError:
    problem = kaggle_json_problem(kaggle_json())
    if problem:
        return VictimError(f"{problem}: write it as {{\"username\": \"...\", \"key\": \"...\"}} "
                           f"(from kaggle.com/settings), or {CREDENTIALS_HELP}")
    return VictimError(fallback)


def kaggle_api():
    """An authenticated KaggleApi, imported lazily (the import itself may try to authenticate)."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
    except SystemExit:
        raise _credentials_error(f"no Kaggle credentials found: {CREDENTIALS_HELP}"
                                 ) from None
    except Exception as exc:
        raise _credentials_error(f"Kaggle authentication failed ({type(exc).__name__}: "
                                 f"{' '.join(str(exc).split())[:120]}): {CREDENTIALS_HELP}"
                                 ) from None
    return api


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract a zip, refusing any member that would land outside ``dest``."""
    dest = dest.resolve()
    out = []
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if not target.is_relative_to(dest):
                raise VictimError(f"{archive}: member {member.filename!r} would escape the cache "
                                  "folder; refusing to extract")
            if member.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append(target)
    return out


def fetch_kaggle_catdog(cache: Path, api=None) -> Path:
    """Download, extract safely, record the SHA-256; returns the cached weights path."""
    target_dir = cache / "kaggle-catdog"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VictimError(f"cannot create the cache folder {target_dir} ({exc.strerror}): set "
                          "ADVAUDIT_CACHE to a writable folder") from None
    api = api or kaggle_api()
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        staging = Path(tmp)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                api.kernels_output(KAGGLE_KERNEL, str(staging), file_pattern=r"model\.h5")
        except Exception as exc:
            kind = type(exc).__name__
            if "Connection" in kind or "Timeout" in kind or "NameResolution" in str(exc):
                raise VictimError(f"cannot reach Kaggle ({kind}): connect to the internet, or "
                                  f"download model.h5 by hand and pass --weights FILE") from None
            raise VictimError(f"Kaggle download of {KAGGLE_KERNEL} failed ({kind}: "
                              f"{' '.join(str(exc).split())[:120]})") from None
        staging_root = staging.resolve()
        for archive in list(staging.rglob("*.zip")):
            safe_extract(archive, staging)
        found = [p for p in staging.rglob(KAGGLE_FILE)
                 if p.resolve().is_relative_to(staging_root) and p.is_file()]
        if not found:
            raise VictimError(f"the output of {KAGGLE_KERNEL} holds no {KAGGLE_FILE}; download "
                              "it by hand and pass --weights FILE")
        final = target_dir / KAGGLE_FILE
        shutil.move(str(found[0]), final)
    digest = sha256_of(final)
    recorded_hash_file(final).write_text(json.dumps(
        {"sha256": digest, "source": f"kaggle kernels output {KAGGLE_KERNEL}"}, indent=1) + "\n")
    return final
