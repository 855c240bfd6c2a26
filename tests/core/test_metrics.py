"""Tests for topomap_core.profiles.metrics on synthetic images with known answers (paper 4.2)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from topomap_core.profiles.interpolate import to_rgb
from topomap_core.profiles.metrics import (
    BLUR_RADII,
    RESIZE_SIZES,
    blur_mse_auc,
    blur_mse_curve,
    component_stats,
    quality_metrics,
    resize_mse_auc,
    resize_mse_curve,
)

SIZE = 64
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def white(n: int = 1) -> np.ndarray:
    return np.full((n, SIZE, SIZE, 3), 255, dtype=np.uint8)


def test_parameters_follow_the_paper():
    assert BLUR_RADII == (2, 4, 6, 8, 10, 12, 14, 16, 18, 20)
    assert RESIZE_SIZES == (55, 50, 45, 40, 35, 30, 25, 20, 15, 10)


def test_uniform_image_has_zero_error():
    images = np.full((2, SIZE, SIZE, 3), 200, dtype=np.uint8)
    assert blur_mse_auc(images) == pytest.approx(0.0, abs=1e-9)
    assert resize_mse_auc(images) == pytest.approx(0.0, abs=1e-9)


def test_checkerboard_is_less_smooth_than_gradient():
    yy, xx = np.mgrid[:SIZE, :SIZE]
    checker = np.where((yy // 4 + xx // 4) % 2 == 0, 255, 0).astype(np.uint8)
    gradient = np.rint(xx * 255.0 / (SIZE - 1)).astype(np.uint8)
    as_rgb = lambda grey: np.repeat(grey[None, :, :, None], 3, axis=3)  # noqa: E731
    assert blur_mse_auc(as_rgb(checker)) > 10 * blur_mse_auc(as_rgb(gradient))
    assert resize_mse_auc(as_rgb(checker)) > 10 * resize_mse_auc(as_rgb(gradient))


def test_mse_is_float_and_never_wraps_around():
    rng = np.random.default_rng(0)
    image = (rng.random((SIZE, SIZE, 3)) > 0.5).astype(np.uint8) * 255
    radii, mse = blur_mse_curve(image[None], radii=(2, 4))
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(2)))
    expected = np.mean((blurred.astype(np.float64) - image.astype(np.float64)) ** 2)
    assert mse[0, 0] == pytest.approx(expected)
    wrapped = np.mean((blurred - image).astype(np.float64) ** 2)  # the reference's uint8 bug
    assert abs(wrapped - expected) > 1.0
    np.testing.assert_array_equal(radii, [2.0, 4.0])


def test_auc_is_trapezoid_of_the_curve_mean_over_groups():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(2, SIZE, SIZE, 3), dtype=np.uint8)
    radii, mse = blur_mse_curve(images)
    assert mse.shape == (2, 10)
    assert blur_mse_auc(images) == pytest.approx(np.mean(np.trapezoid(mse, x=radii, axis=1)))
    sizes, mse = resize_mse_curve(images)
    np.testing.assert_array_equal(sizes, sorted(RESIZE_SIZES))
    assert resize_mse_auc(images) == pytest.approx(np.mean(np.trapezoid(mse, x=sizes, axis=1)))
    assert resize_mse_auc(images) > 0


def test_two_red_blobs_and_one_blue_blob():
    images = white()
    images[0, 5:10, 5:15] = RED  # 50 px
    images[0, 30:40, 30:35] = RED  # 50 px
    images[0, 50:60, 40:60] = BLUE  # 200 px
    stats = component_stats(images)
    assert stats.n_components == 3.0
    assert stats.mean_component_size == pytest.approx(100.0)


def test_small_blob_is_dropped_and_diagonals_connect():
    images = white()
    images[0, 2:3, 2:7] = RED  # 5 px: dropped
    images[0, 20:30, 20:30] = BLUE  # 100 px
    for k in range(12):  # a diagonal line of 12 px is one 8-connected component
        images[0, 40 + k, 40 + k] = RED
    stats = component_stats(images)
    assert stats.n_components == 2.0
    assert stats.mean_component_size == pytest.approx(56.0)
    assert component_stats(images, min_size=5).n_components == 3.0


def test_pale_colours_are_background():
    images = white()
    images[0, 10:30, 10:30] = (255, 240, 240)  # pale red: every channel >= 230
    assert component_stats(images).n_components == 0.0


def test_averages_over_groups_and_empty_images():
    images = white(3)
    images[0, 0:10, 0:10] = RED  # 100 px
    images[1, 0:10, 0:10] = RED  # 100 px
    images[1, 20:40, 20:40] = BLUE  # 400 px
    stats = component_stats(images)
    assert stats.n_components == pytest.approx(1.0)  # (1 + 2 + 0) / 3
    assert stats.mean_component_size == pytest.approx((100 + 250) / 2)  # image 2 has none
    assert component_stats(white(2)) == (0.0, 0.0)


def test_outside_hull_is_background_in_quality_metrics():
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2 < (SIZE / 3) ** 2
    maps = np.where(disc, 1.0, np.nan)[None]  # strongly red inside, no data outside
    result = quality_metrics(maps, vmax=1.0)
    assert result["n_components"] == 1.0  # the red disc; the white outside is no region
    assert result["mean_component_size"] == pytest.approx(disc.sum())
    neutral = quality_metrics(np.where(disc, 0.0, np.nan)[None], vmax=1.0)
    assert neutral["n_components"] == 0.0 and neutral["mse_blur_auc"] == 0.0


def test_quality_metrics_keys_and_types():
    rng = np.random.default_rng(2)
    maps = rng.normal(size=(2, 32, 32))
    maps[:, :4, :4] = np.nan
    result = quality_metrics(maps, vmax=float(np.nanmax(np.abs(maps))))
    assert set(result) == {"mse_blur_auc", "mse_resize_auc", "n_components", "mean_component_size"}
    assert all(type(v) is float for v in result.values())
    images = to_rgb(maps, float(np.nanmax(np.abs(maps))))
    assert result["mse_blur_auc"] == pytest.approx(blur_mse_auc(images))


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((SIZE, SIZE, 3), dtype=np.uint8), r"\(n_groups, height, width, 3\)"),
        (np.zeros((1, SIZE, SIZE, 4), dtype=np.uint8), r"\(n_groups, height, width, 3\)"),
        (np.zeros((1, SIZE, SIZE, 3), dtype=np.float64), "uint8"),
    ],
)
def test_bad_images_raise(images, match):
    for func in (blur_mse_auc, resize_mse_auc, component_stats):
        with pytest.raises(ValueError, match=match):
            func(images)


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="threshold"):
        component_stats(white(), threshold=0)
    with pytest.raises(ValueError, match="min_size"):
        component_stats(white(), min_size=0)
    with pytest.raises(ValueError, match="radii"):
        blur_mse_auc(white(), radii=[2])
    with pytest.raises(ValueError, match="sizes"):
        resize_mse_auc(white(), sizes=[10, 12.5])
    with pytest.raises(ValueError, match="maps must have shape"):
        quality_metrics(np.zeros((4, 4)), 1.0)
