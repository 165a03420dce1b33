"""Choose the 48 cat and 48 dog Oxford-IIIT Pet photos shipped as the default audit set.

Round-robin over breeds (file names sorted) so every breed is represented; run once:
    python scripts/pick_samples.py ../shared/data/oxford-iiit-pet victims/samples
"""

import shutil
import sys
from collections import defaultdict
from pathlib import Path

PER_CLASS = 48


def pick(folder: Path) -> list[Path]:
    by_breed: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(folder.glob("*.jpg")):
        by_breed[path.stem.rsplit("_", 1)[0]].append(path)
    chosen: list[Path] = []
    rank = 0
    while len(chosen) < PER_CLASS:
        for breed in sorted(by_breed):
            if rank < len(by_breed[breed]) and len(chosen) < PER_CLASS:
                chosen.append(by_breed[breed][rank])
        rank += 1
    return chosen


def main(src: str, dst: str) -> None:
    for label in ("cat", "dog"):
        out = Path(dst) / label
        out.mkdir(parents=True, exist_ok=True)
        for path in pick(Path(src) / label):
            shutil.copyfile(path, out / path.name)


if __name__ == "__main__":
    main(*sys.argv[1:3])
