"""The interface every output format implements (as pip-audit's ``_format``): render a results
dict to text, and write it atomically where the user asked.

Where it may write is decided with ``audit.paths``: never onto the results being read, the
journal, the PNG folders or the lock of the audit folder. Writes are atomic: a write the file
system refuses (disk full, read-only) leaves what was there before intact."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ResultsError
from ..fileio import atomic_write_text
from ..lock import LOCK_NAME
from ..paths import PNG_FOLDERS, UNIVERSAL_PNG, refuse_output_onto, same_path
from ..results.journal import JOURNAL_NAME

_SAME_KIND = {".html": (".html", ".htm"), ".md": (".md", ".markdown")}


class Format(ABC):
    name: ClassVar[str]
    file_name: ClassVar[str]  # where it goes inside an audit folder by default
    about: ClassVar[str]

    @abstractmethod
    def render(self, results: dict, *, out_dir: Path, **options: Any) -> str:
        """The file's content; ``out_dir`` is the audit folder (PNGs are read from there)."""

    def write(self, results: dict, path: Path | None = None, *, out_dir: Path,
              **options: Any) -> Path:
        target = Path(path) if path is not None else Path(out_dir) / self.file_name
        return atomic_write_text(target, self.render(results, out_dir=Path(out_dir), **options))

    def checked_target(self, results_path: Path, path: Path | None, option: str = "-o") -> Path:
        """Where re-rendering ``results_path`` in this format may write: never over the results
        being read, and inside the audit folder only a file of this format's kind (a slip of
        ``-o`` must not cost the audit). Raises a one-line ``ResultsError`` otherwise."""
        results_path = Path(results_path)
        audit_dir = results_path.parent
        target = Path(path) if path is not None else audit_dir / self.file_name
        resolved = target.resolve()
        kind = Path(self.file_name).suffix
        if same_path(target, results_path):
            raise ResultsError(f"{option} {target} is the results file being read; writing the "
                               f"{self.name} output there would destroy it: pass another path, "
                               f"e.g. {audit_dir / ('report' + kind)}")
        refuse_output_onto(target, option=option, protected=[
            audit_dir / JOURNAL_NAME, audit_dir / LOCK_NAME, audit_dir / UNIVERSAL_PNG,
            *(audit_dir / name for name in PNG_FOLDERS)])
        if resolved.is_relative_to(audit_dir.resolve()) and \
                resolved.suffix.lower() not in _SAME_KIND.get(kind, (kind,)):
            raise ResultsError(f"{option} {target} is inside the audit folder {audit_dir} and "
                               f"is not a {kind} file: it would replace a file of the audit; "
                               f"name the {self.name} output *{kind}")
        return target
