"""Metrics against hand-computed values."""

import numpy as np
import pytest

from audit import metrics


def test_wilson_interval_known_values():
    lo, hi = metrics.wilson_interval(8, 10)
    assert lo == pytest.approx(0.490158, abs=1e-5) and hi == pytest.approx(0.943314, abs=1e-5)
    lo, hi = metrics.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.277534, abs=1e-5)
    assert metrics.wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert metrics.wilson_interval(0, 0) == [0.0, 1.0]


def test_perturbation_norms_by_hand():
    clean = np.zeros((2, 2, 2, 3), np.uint8)
    adv = clean.copy()
    adv[0, 0, 0] = [3, 0, 4]  # one pixel, L2 5, Linf 4
    adv[1, 1, 1, 2] = 1
    adv[1, 0, 1, 0] = 2
    n = metrics.perturbation_norms(clean, adv)
    assert n["l0"].tolist() == [1, 2]
    np.testing.assert_allclose(n["l2"], [5.0, np.sqrt(5.0)])
    np.testing.assert_allclose(n["linf"], [4.0, 2.0])


def test_psnr_and_ssim_closed_forms():
    rng = np.random.default_rng(0)
    clean = rng.integers(10, 240, (2, 32, 32, 3)).astype(np.uint8)
    adv = clean + np.uint8(1)  # MSE 1 -> PSNR = 20 log10(255)
    q = metrics.image_quality(clean, adv)
    np.testing.assert_allclose(q["psnr"], 20 * np.log10(255.0), rtol=1e-5)
    assert np.all(q["ssim"] > 0.99) and np.all(q["ssim"] <= 1.0)
    same = metrics.image_quality(clean, clean)
    np.testing.assert_allclose(same["ssim"], 1.0, rtol=1e-6)


@pytest.mark.parametrize("side", [1, 8, 10])
def test_ssim_of_images_smaller_than_its_window_is_nan_not_a_crash(side):
    clean = np.full((2, side, side, 3), 100, np.uint8)
    adv = clean.copy()
    adv[0, 0, 0, 0] = 104
    q = metrics.image_quality(clean, adv)
    assert np.isnan(q["ssim"]).all() and q["ssim"].shape == (2,)
    assert np.isfinite(q["psnr"][0]) and np.isinf(q["psnr"][1])  # PSNR still measured


def test_ssim_at_exactly_its_window_is_measured():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (1, 11, 11, 3)).astype(np.uint8)
    assert metrics.image_quality(clean, clean)["ssim"][0] == pytest.approx(1.0)


def test_delta_histograms_count_each_channel():
    clean = np.full((1, 2, 2, 3), 100, np.uint8)
    adv = clean.astype(np.int32).copy()
    adv[0, 0, 0] = [99, 101, 100]
    adv[0, 1, 1] = [98, 101, 109]  # +9 is folded into the +2 end bin
    h = metrics.delta_histograms(clean, adv.astype(np.uint8), 2)
    assert h["values"] == [-2, -1, 0, 1, 2]
    assert h["channels"]["red"] == [1, 1, 2, 0, 0]
    assert h["channels"]["green"] == [0, 0, 2, 2, 0]
    assert h["channels"]["blue"] == [0, 0, 3, 0, 1]


def test_integer_histogram_sorted_numerically():
    assert list(metrics.integer_histogram([10, 2, 2, 1]).items()) == [("1", 1), ("2", 2),
                                                                      ("10", 1)]


def test_streamed_delta_histogram_equals_the_one_shot_histogram():
    rng = np.random.default_rng(1)
    clean = rng.integers(0, 256, (10, 4, 4, 3)).astype(np.uint8)
    adv = np.clip(clean.astype(int) + rng.integers(-6, 7, clean.shape), 0, 255).astype(np.uint8)
    acc = metrics.DeltaHistogram(3)
    for lo in range(0, 10, 3):  # in chunks, as an audit streams them
        acc.add(clean[lo:lo + 3], adv[lo:lo + 3])
    for bound in (6, 3):
        assert acc.result(bound) == metrics.delta_histograms(clean, adv, bound)


def test_norms_of_no_images():
    empty = np.zeros((0, 4, 4, 3), np.uint8)
    n = metrics.perturbation_norms(empty, empty)
    assert [len(v) for v in n.values()] == [0, 0, 0]


@pytest.mark.parametrize("shape", [(3, 128, 128, 3), (2, 30, 41, 1), (2, 11, 11, 3)])
def test_ssim_and_psnr_agree_with_tensorflow_image(shape):
    """The OpenCV/float64 SSIM is tf.image.ssim's definition (window, sigma, constants, valid
    windows only, mean over channels); they differ only by TensorFlow's float32 rounding."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    clean = rng.integers(0, 256, shape).astype(np.uint8)
    adv = np.clip(clean.astype(int) + rng.integers(-8, 9, shape), 0, 255).astype(np.uint8)
    q = metrics.image_quality(clean, adv)
    a, b = tf.constant(clean, tf.float32), tf.constant(adv, tf.float32)
    np.testing.assert_allclose(q["ssim"], tf.image.ssim(a, b, 255.0, filter_size=11).numpy(),
                               atol=2e-5)
    np.testing.assert_allclose(q["psnr"], tf.image.psnr(a, b, 255.0).numpy(), atol=2e-5)
