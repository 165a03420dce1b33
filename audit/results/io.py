"""Reading and writing ``results.json``: the one file that is the truth about an audit."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ResultsError
from ..fileio import atomic_write_text
from .schema import SCHEMA_VERSION


def write_json(results: dict, path: Path) -> Path:
    return atomic_write_text(path, json.dumps(results, indent=1) + "\n")


def read_results(path: Path) -> dict:
    """A results dict from disk, or a one-line ``ResultsError`` saying what is wrong with it."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist: pass the results.json an audit wrote") \
            from None
    except RecursionError:
        raise ResultsError(f"{path} is nested too deeply to be an advaudit results.json; pass "
                           "the results.json an audit wrote") from None
    except (ValueError, UnicodeDecodeError) as exc:
        text = " ".join(str(exc).split())[:120]
        raise ResultsError(f"{path} is not valid JSON ({text}); pass the results.json an "
                           "audit wrote") from None
    except OSError as exc:
        raise ResultsError(f"{path} cannot be read ({exc.strerror})") from None
    if not isinstance(results, dict) or "summary" not in results or "manifest" not in results:
        raise ResultsError(f"{path} is not an advaudit results.json (no summary/manifest)")
    version = results.get("schema_version", 1)
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise ResultsError(f"{path} was written by a newer advaudit (schema {version}, this one "
                           f"reads up to {SCHEMA_VERSION}); upgrade advaudit")
    return results
