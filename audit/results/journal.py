"""``results.jsonl``: the audit's journal, so a crash or a kill loses nothing already done.

The first line says what is being audited (a fingerprint of the model, the attack and budget,
the seed and the input files); then every finished photo is appended as one line, after its
PNGs are on disk, and flushed. ``--resume`` reads the journal back, checks the fingerprint and
continues with the photos that have no line yet; a line cut short by a kill is ignored (its
photo is simply redone). Every random draw depends only on (seed, photo index), so the resumed
audit ends exactly where an uninterrupted one would.

A journal is a file on disk, so what ``--resume`` reads back is data, checked before it is used:
every row has the shape the audit writes (``row_problem``, shared with ``merge``), an index of
the photos this audit covers and no index twice, and PNG paths of the audit's own shape inside
its folder (``audit.paths``). A journal that is anything else is refused in one line, never
half-trusted.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ResultsError
from ..paths import audit_png, inside

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

    def resume(self, fingerprint: dict, *, indices: Collection[int]) -> Recorded:
        """What an earlier, interrupted audit of the same thing recorded; appends after it.

        ``indices`` are the photos this audit covers: a row for any other photo is refused."""
        lines = self._lines()
        header = _parse(lines[0]) if lines else None
        if not header or header.get("journal") != FORMAT or \
                not isinstance(header.get("fingerprint"), dict):
            raise self._foreign("its first line is not an advaudit journal header")
        diff = _differences(header["fingerprint"], fingerprint)
        if diff:
            raise ResultsError(f"--resume: {self.path.parent} holds an audit of something else "
                               f"({'; '.join(diff)[:300]}); pass --overwrite to start again or "
                               "choose another --out")
        recorded = self._read_entries(lines[1:], set(indices),
                                      fingerprint.get("class_names") or [])
        # rewrite without any partial last line, then append after it
        self.close()
        with open(self.path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(line for line in lines if _parse(line) is not None) + "\n")
        self._fh = open(self.path, "a", encoding="utf-8")
        return recorded

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise self._foreign("it is not UTF-8 text") from None
        except OSError as exc:
            raise ResultsError(f"--resume: cannot read {self.path} ({exc.strerror}); run "
                               "without --resume") from None

    def _foreign(self, why: str) -> ResultsError:
        return ResultsError(f"--resume: {self.path} is not an advaudit journal ({why}); pass "
                            "--overwrite to start again")

    def _read_entries(self, lines: list[str], indices: set[int],
                      class_names: Sequence[str]) -> Recorded:
        """The rows, skips and costs of the journal's lines, each checked; a line cut short by
        a kill (not JSON) is skipped, its photo redone."""
        recorded = Recorded()
        for number, line in enumerate(lines, start=2):
            entry = _parse(line)
            if entry is None:
                continue
            where = f"--resume: {self.path} line {number}"
            if "row" in entry:
                problem = row_problem(entry["row"], class_names, self.path.parent, where=where)
                self._place(recorded.rows, entry["row"], problem, indices, recorded, number)
            elif "skipped" in entry:
                self._place(recorded.skipped, entry["skipped"], _skip_problem(entry["skipped"]),
                            indices, recorded, number)
            elif isinstance(entry.get("cost"), dict) and _cost_ok(entry["cost"]):
                recorded.costs.append(entry["cost"])
            else:
                raise self._foreign(f"line {number} is neither a row, a skip nor a cost record")
        return recorded

    def _place(self, into: dict[int, dict], item: object, problem: str | None,
               indices: set[int], recorded: Recorded, number: int) -> None:
        """Record a checked row or skip under its index: one the audit covers, and only once."""
        if problem is not None:
            raise self._foreign(f"line {number}: {problem}")
        where = f"--resume: {self.path} line {number}"
        index = item["index"]
        if index not in indices:
            raise ResultsError(f"{where}: photo index {index} is not one of the "
                               f"{len(indices)} photos this audit covers; pass --overwrite to "
                               "start again")
        if index in recorded.rows or index in recorded.skipped:
            raise ResultsError(f"{where}: photo index {index} is recorded twice; pass "
                               "--overwrite to start again")
        into[index] = item

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
    """The line's JSON object; None for a line that is not JSON at all (cut short by a kill).
    Valid JSON that is not an object is no journal line: ``{}`` stands for it, refused later."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else {}


def is_index(value: object) -> bool:
    """A photo index: a non-negative int (JSON's true/false are not indices)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: object, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite JSON number within [low, high] (an int of any size: no float conversion)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (isinstance(value, int) or math.isfinite(value)) and low <= value <= high


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _maybe(check):
    return lambda v: v is None or check(v)


def _text(value: object) -> bool:
    return isinstance(value, str)


def _survives(value: object) -> bool:
    """{channel name: whether the flip survives it}, a few short names."""
    return isinstance(value, dict) and len(value) <= 32 and all(
        isinstance(k, str) and len(k) <= 40 and isinstance(v, bool) for k, v in value.items())


def _probs(value: object) -> bool:
    return isinstance(value, list) and all(v is None or _number(v) for v in value)


# What the audit writes in a row (results.rows), as checks: only rows of this shape are summed,
# counted, merged or resumed, so an edited or crafted row is refused in one line instead of
# failing somewhere deep inside (a linf of 1e300 would size a histogram of 1e300 bins).
ROW = {"index": is_index, "path": _text, "true_label": _text,
       "clean_conf": _number, "clean_probs": _probs,
       "attacked": lambda v: isinstance(v, bool),
       "votes": lambda v: _count(v) and 1 <= v <= 10_001}  # a randomised model's draws
ATTACKED_ROW = {
    "adv_conf": _maybe(_number), "adv_probs": _probs,
    "adv_ref_prob": _number, "flipped": lambda v: isinstance(v, bool),
    "deliverable_conf": _maybe(_number),
    "deliverable_flipped": lambda v: isinstance(v, bool), "steps": _count,
    "steps_to_flip": _maybe(_count), "l0": _count, "l2": _maybe(lambda v: _number(v, 0)),
    "linf": _maybe(lambda v: _number(v, 0, 255)), "psnr": _maybe(_number),
    "ssim": _maybe(_number),
    "min_eps": _maybe(lambda v: _count(v) and v <= 255),
    "gradient_useless": lambda v: isinstance(v, bool), "grad_evals": _count,
    "queries": _count, "found_by": _maybe(_text), "survives": _maybe(_survives),
    "flip_probability": _maybe(lambda v: _number(v, 0, 1)),
    "found_on": _maybe(lambda v: v in ("surrogate", "model")),  # with --surrogate
    "surrogate_flipped": lambda v: isinstance(v, bool)}
OPTIONAL = ("adv_conf", "deliverable_conf", "psnr", "ssim", "min_eps", "gradient_useless",
            "grad_evals", "queries", "found_by", "l2", "survives", "votes", "flip_probability",
            "found_on", "surrogate_flipped")
CLASS_FIELDS = ("reference_label", "clean_pred")
ATTACKED_CLASS_FIELDS = ("adv_pred", "deliverable_pred")


def row_problem(row: object, class_names: Sequence[str], folder: Path, *,
                where: str) -> str | None:
    """Why ``row`` is not a row the audit writes (None when it is one). Its PNG paths must have
    the audit's shape and stay inside ``folder``; ``where`` starts the error of a path that
    does not (a ``ResultsError`` naming the file)."""
    if not isinstance(row, dict):
        return "a row is not a JSON object"
    attacked = row.get("attacked") is True
    checks = {**ROW, **(ATTACKED_ROW if attacked else {"not_attacked_because": _text})}
    for key, check in checks.items():
        if key not in row and key in OPTIONAL:
            continue
        if key not in row or not check(row[key]):
            return f"row {row.get('index')!r} has {key} = {_clip(row.get(key))}"
    if attacked and row["flipped"] and row["steps_to_flip"] is None:
        return f"row {row['index']} flipped without steps_to_flip"
    names = set(class_names)
    for key in CLASS_FIELDS + (ATTACKED_CLASS_FIELDS if attacked else ()):
        if not isinstance(row.get(key), str) or row[key] not in names:
            return f"row {row['index']} has {key} = {_clip(row.get(key))}, not a class name"
    if attacked:
        for key in ("clean_path", "adv_path"):
            rel = audit_png(row.get(key), what=f"{where}: row {row['index']}'s {key}")
            inside(folder, rel, what=f"{where}: row {row['index']}'s {key}")
    return None


def _skip_problem(entry: object) -> str | None:
    if not isinstance(entry, dict) or not is_index(entry.get("index")) or \
            not _text(entry.get("path")) or not _text(entry.get("reason")):
        return f"a skipped entry is not index, path and reason: {_clip(entry)}"
    return None


def _cost_ok(cost: dict) -> bool:
    return all(_number(cost.get(key, 0), 0) for key in (
        "photos", "attack_seconds", "evaluations", "sweep_grad_evals", "sweep_queries"))


def _clip(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
