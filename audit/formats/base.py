"""The interface every output format implements (as pip-audit's ``_format``): render a results
dict to text, and write it atomically where the user asked."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from ..fileio import atomic_write_text


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
