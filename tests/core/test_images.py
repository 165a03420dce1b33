"""Reading photos: the pixels a model sees are the ones a person sees, and no file can make the
reader decode gigabytes or silently drop inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from support.hostile import gray16_png, huge_png, rotated_jpeg

from audit.errors import ImageError
from audit.images import Skipped, list_image_files, load_photos, read_photo, read_pixels
from audit.pipeline.sources import FolderSource


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


def test_symbolic_link_loops_are_skipped_with_a_reason(photo_folder, tmp_path):
    cat = photo_folder / "cat"
    (cat / "self.png").symlink_to(cat / "self.png")  # a -> a
    (cat / "ping.png").symlink_to(cat / "pong.png")  # a -> b -> a
    (cat / "pong.png").symlink_to(cat / "ping.png")
    (photo_folder / "loop").symlink_to(photo_folder / "loop")  # no suffix, at the top
    exclude = (photo_folder / "loop" / "adversarial",)  # an excluded folder behind a loop
    files = list_image_files(photo_folder, exclude)
    assert {f.name for f in files} >= {"self.png", "ping.png", "pong.png", "loop"}
    photos, skipped = load_photos(photo_folder, (16, 16))
    assert len(photos) == 12
    assert {os.path.relpath(s.path, photo_folder): s.reason for s in skipped} == {
        "cat/self.png": "symbolic link loop, not read",
        "cat/ping.png": "symbolic link loop, not read",
        "cat/pong.png": "symbolic link loop, not read",
        "loop": "symbolic link loop, not read",
    }
    assert FolderSource(photo_folder).fingerprint()  # sizes of looping links: no crash
    one = read_photo(cat / "self.png", photo_folder, (16, 16))
    assert one == Skipped(str(cat / "self.png"), "symbolic link loop, not read")


def test_a_symbolic_link_loop_as_the_image_folder_is_one_line(tmp_path):
    root = tmp_path / "photos"
    root.symlink_to(root)
    with pytest.raises(ImageError, match="is a symbolic link loop") as err:
        list_image_files(root)
    assert str(root) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ImageError, match="symbolic link loop"):
        list_image_files(root / "cat")  # a path through the loop
