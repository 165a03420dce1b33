"""``results.jsonl``: the audit's journal, so a crash or a kill loses nothing already done.

The first line says what is being audited (a fingerprint of the model, the attack and budget,
the seed and the input files); then every finished photo is appended as one line, after its
PNGs are on disk, and flushed. ``--resume`` reads the journal back, checks the fingerprint and
continues with the photos that have no line yet; a line cut short by a kill is ignored (its
photo is simply redone). Every random draw depends only on (seed, photo index), so the resumed
audit ends exactly where an uninterrupted one would.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ResultsError

JOURNAL_NAME = "results.jsonl"
FORMAT = "advaudit-journal/1"


@dataclass
class Recorded:
    """What a journal holds: rows and skips by photo index, and the cost records."""

    rows: dict[int, dict] = field(default_factory=dict)
    skipped: dict[int, dict] = field(default_factory=dict)
    costs: list[dict] = field(default_factory=list)


def _differences(old: dict, new: dict) -> list[str]:
    return [f"{k}: {json.dumps(old.get(k))} then, {json.dumps(new.get(k))} now"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh = None

    def start(self, fingerprint: dict) -> Recorded:
        """A new journal (any old one is replaced)."""
        self.close()
        self._fh = open(self.path, "w", encoding="utf-8")
        self._write({"journal": FORMAT, "fingerprint": fingerprint})
        self.flush()
        return Recorded()

    def resume(self, fingerprint: dict) -> Recorded:
        """What an earlier, interrupted audit of the same thing recorded; appends after it."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ResultsError(f"--resume: cannot read {self.path} ({exc.strerror}); run "
                               "without --resume") from None
        header = _parse(lines[0]) if lines else None
        if not header or header.get("journal") != FORMAT:
            raise ResultsError(f"--resume: {self.path} is not an advaudit journal; pass "
                               "--overwrite to start again")
        diff = _differences(header.get("fingerprint") or {}, fingerprint)
        if diff:
            raise ResultsError(f"--resume: {self.path.parent} holds an audit of something else "
                               f"({'; '.join(diff)[:300]}); pass --overwrite to start again or "
                               "choose another --out")
        recorded = Recorded()
        for line in lines[1:]:
            entry = _parse(line)
            if entry is None:
                continue  # a line cut short by a kill: its photo is redone
            if isinstance(entry.get("row"), dict):
                recorded.rows[int(entry["row"]["index"])] = entry["row"]
            elif isinstance(entry.get("skipped"), dict):
                recorded.skipped[int(entry["skipped"]["index"])] = entry["skipped"]
            elif isinstance(entry.get("cost"), dict):
                recorded.costs.append(entry["cost"])
        # rewrite without any partial last line, then append after it
        self.close()
        with open(self.path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(line for line in lines if _parse(line) is not None) + "\n")
        self._fh = open(self.path, "a", encoding="utf-8")
        return recorded

    def row(self, row: dict) -> None:
        self._write({"row": row})

    def skipped(self, entry: dict) -> None:
        self._write({"skipped": entry})

    def cost(self, entry: dict) -> None:
        self._write({"cost": entry})

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _write(self, entry: dict) -> None:
        self._fh.write(json.dumps(entry, separators=(",", ":")) + "\n")


def _parse(line: str) -> dict | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
