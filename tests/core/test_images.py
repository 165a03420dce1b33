"""Reading photos: the pixels a model sees are the ones a person sees, and no file can make the
reader decode gigabytes or silently drop inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from support.hostile import gray16_png, huge_png, rotated_jpeg

from audit.images import load_photos, read_pixels


def test_16_bit_grayscale_is_scaled_not_clipped_to_white(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 16).round().astype(np.uint16), (16, 1))
    path = gray16_png(tmp_path / "g16.png", ramp)
    assert Image.open(path).mode.startswith("I")  # Pillow keeps the 16 bits
    gray = read_pixels(path, (16, 16), channels=1)[..., 0]
    expected = (ramp.astype(np.int64) * 255 + 32767) // 65535
    assert np.array_equal(gray, expected)  # 0..255 across the row, not all 255
    rgb = read_pixels(path, (16, 16), channels=3)
    assert np.array_equal(rgb[..., 0], expected) and np.array_equal(rgb[..., 2], expected)


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((16, 32, 3), np.uint8)  # stored landscape: white left half
    pixels[:, :16] = 255
    # orientation 6: the camera was turned, display rotates 90 degrees clockwise
    path = rotated_jpeg(tmp_path / "turned.jpg", pixels, orientation=6)
    seen = read_pixels(path, (32, 16)).astype(int)  # displayed portrait: 32 high, 16 wide
    assert seen[:16].mean() > 200 and seen[16:].mean() < 50  # white on top after turning


@pytest.mark.parametrize("side", [10_000, 30_000])  # past our limit; past Pillow's bomb guard
def test_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    path = huge_png(tmp_path / "bomb.png", side, side)
    assert path.stat().st_size < 1_000_000 and side * side > 89_478_485
    with pytest.raises(ValueError, match="decompression bomb"):
        read_pixels(path, (16, 16))


def test_bomb_among_photos_is_skipped_with_a_reason(tmp_path, photo_folder):
    huge_png(photo_folder / "cat" / "bomb.png", 10_000, 10_000)
    photos, skipped = load_photos(photo_folder, (16, 16))
    assert len(photos) == 12
    assert [(os.path.basename(s.path), "decompression bomb" in s.reason) for s in skipped] == \
        [("bomb.png", True)]


def test_hidden_files_and_broken_links_are_listed_as_skipped(photo_folder):
    cat = photo_folder / "cat"
    photo = next(cat.glob("*.png"))
    (cat / ".hidden.png").write_bytes(photo.read_bytes())
    git = photo_folder / ".git" / "objects"
    git.mkdir(parents=True)
    for i in range(5):
        (git / f"obj{i}").write_bytes(b"x")
    (cat / "gone.png").symlink_to(photo_folder / "nowhere.png")
    photos, skipped = load_photos(photo_folder, (16, 16))
    assert len(photos) == 12
    reasons = {os.path.relpath(s.path, photo_folder): s.reason for s in skipped}
    assert reasons == {
        ".git": "hidden folder (5 files), not read",
        "cat/.hidden.png": "hidden file, not read",
        "cat/gone.png": "broken symbolic link, not read",
    }
