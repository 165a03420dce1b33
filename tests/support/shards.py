"""Real shard audits and decoy trees for the path-safety tests (``tests/results``)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from audit.cli import main

from .models import write_photo_folder

FAST = ["--labels", "cat,dog", "--eps", "16", "--step", "4", "--steps", "3", "--no-report",
        "--no-trust"]
@dataclass(frozen=True)
class Shards:
    """Two finished shard audits of one tiny audit: folders 1/2 and 2/2 and their command."""

    model: Path
    photos: Path
    folders: tuple[Path, Path]

    def argv(self, out: Path, shard: int = 1, *extra: str) -> list[str]:
        """The command that wrote shard ``shard`` (``--resume`` continues it), into ``out``."""
        return ["audit", str(self.model), "--images", str(self.photos), "--out", str(out),
                "--shard", f"{shard}/2", *FAST, *extra]

    def copy(self, dest: Path) -> tuple[Path, Path]:
        """Fresh copies of both shard folders under ``dest`` (safe to edit)."""
        return tuple(Path(shutil.copytree(f, dest / f.name, symlinks=True))
                     for f in self.folders)  # type: ignore[return-value]


def make_shards(root: Path, model: Path) -> Shards:
    """Audit six photos as shards 1/2 and 2/2 of one audit under ``root``."""
    photos = write_photo_folder(root / "photos", n=6)
    made = Shards(model, photos, (root / "shard1", root / "shard2"))
    for i, folder in enumerate(made.folders, start=1):
        r = CliRunner().invoke(main, made.argv(folder, i))
        assert r.exit_code == 0, r.output
    return made


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` (links not followed) with its bytes and mtime: a decoy tree
    that must come out of a hostile run byte for byte, time for time, as it went in."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(root))] = (str(p.readlink()).encode(), 0)
        elif p.is_file():
            out[str(p.relative_to(root))] = (p.read_bytes(), p.stat().st_mtime_ns)
        else:
            out[str(p.relative_to(root))] = (b"<dir>", 0)
    return out
