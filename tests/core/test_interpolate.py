"""profiles.interpolate: interpolation over a layout and the bwr colouring (paper 3.3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import griddata

from topomap_core.profiles.interpolate import (
    colour_limit,
    interpolate_maps,
    scatter_colours,
    to_rgb,
    to_rgba,
)

CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


@pytest.fixture(scope="module")
def random_layout() -> np.ndarray:
    rng = np.random.default_rng(0)
    layout = rng.random((40, 2))
    return (layout - layout.min(axis=0)) / (layout.max(axis=0) - layout.min(axis=0))


def test_shape_dtype_and_nan_outside_hull(random_layout):
    values = np.random.default_rng(1).normal(size=(3, 40))
    maps = interpolate_maps(random_layout, values, resolution=50)
    assert maps.shape == (3, 50, 50)
    assert maps.dtype == np.float64
    # Same hull for every group, and some pixels inside and outside it.
    nan = np.isnan(maps)
    assert np.array_equal(nan[0], nan[1]) and np.array_equal(nan[0], nan[2])
    assert 0 < nan[0].mean() < 0.5


def test_triangle_layout_is_nan_in_the_empty_corner():
    layout = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    maps = interpolate_maps(layout, np.ones((1, 3)), resolution=21)
    # Row 0 is y = 1 and the last column x = 1: (1, 1) lies outside the triangle.
    assert np.isnan(maps[0, 0, -1])
    assert maps[0, -1, 0] == pytest.approx(1.0)  # (0, 0), a vertex
    assert maps[0, 0, 0] == pytest.approx(1.0)  # (0, 1), a vertex


def test_image_orientation_row_zero_is_top():
    # A linear function is reproduced exactly by linear interpolation.
    rng = np.random.default_rng(2)
    layout = np.vstack([CORNERS, rng.random((20, 2))])
    values = (layout[:, 0] + 2.0 * layout[:, 1])[None, :]
    res = 11
    maps = interpolate_maps(layout, values, resolution=res)
    x = np.linspace(0.0, 1.0, res)
    y = np.linspace(1.0, 0.0, res)
    expected = x[None, :] + 2.0 * y[:, None]
    np.testing.assert_allclose(maps[0], expected, atol=1e-12)
    assert maps[0, 0, 0] == pytest.approx(2.0)  # top-left: x = 0, y = 1


def test_matches_griddata_per_group(random_layout):
    values = np.random.default_rng(3).normal(size=(2, 40))
    res = 30
    maps = interpolate_maps(random_layout, values, resolution=res)
    axis = np.linspace(0.0, 1.0, res)
    gx, gy = np.meshgrid(axis, axis[::-1])
    for g in range(2):
        ref = griddata(random_layout, values[g], (gx, gy), method="linear")
        np.testing.assert_allclose(maps[g], ref, equal_nan=True, atol=1e-12)


@pytest.mark.parametrize(
    ("layout", "values", "match"),
    [
        (np.zeros((5, 3)), np.zeros((1, 5)), r"shape \(n_neurons, 2\)"),
        (CORNERS[:2], np.zeros((1, 2)), "at least 3 neurons"),
        (CORNERS, np.zeros((1, 5)), "n_neurons = 4"),
        (CORNERS, np.zeros(4), r"\(n_groups, n_neurons\)"),
        (CORNERS, np.array([[0.0, np.nan, 0.0, 0.0]]), r"NaN or inf in group row\(s\) \[0\]"),
        (CORNERS * 3.0, np.zeros((1, 4)), r"\[0, 1\]"),
        (np.array([[np.nan, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.zeros((1, 3)), "non-finite"),
    ],
)
def test_bad_input_raises(layout, values, match):
    with pytest.raises(ValueError, match=match):
        interpolate_maps(layout, values)


def test_collinear_layout_is_degenerate():
    line = np.column_stack([np.linspace(0, 1, 6), np.linspace(0, 1, 6)])
    with pytest.raises(ValueError, match="degenerate"):
        interpolate_maps(line, np.zeros((1, 6)))


@pytest.mark.parametrize("resolution", [1, 0, 2.5, True])
def test_bad_resolution_raises(resolution):
    with pytest.raises(ValueError, match="resolution"):
        interpolate_maps(CORNERS, np.zeros((1, 4)), resolution=resolution)


def test_colour_limit():
    assert colour_limit(np.array([[0.5, -2.0], [1.0, 0.0]])) == 2.0
    assert colour_limit(np.zeros((3, 4))) == 1.0
    assert colour_limit(np.array([np.nan, -0.25, np.nan])) == 0.25
    assert colour_limit(np.full(3, np.nan)) == 1.0
    with pytest.raises(ValueError, match="empty"):
        colour_limit(np.array([]))


def test_bwr_stops_clipping_and_transparency():
    vmax = 2.0
    values = np.array([-5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, np.nan])
    rgba = to_rgba(values, vmax)
    assert rgba.dtype == np.uint8 and rgba.shape == (8, 4)
    expected = [
        (0, 0, 255, 255),  # clipped to -vmax: blue
        (0, 0, 255, 255),
        (128, 128, 255, 255),  # halfway to white
        (255, 255, 255, 255),  # zero: white
        (255, 128, 128, 255),
        (255, 0, 0, 255),  # +vmax: red
        (255, 0, 0, 255),
    ]
    np.testing.assert_array_equal(rgba[:7], np.array(expected, dtype=np.uint8))
    assert rgba[7, 3] == 0  # no data: fully transparent


def test_to_rgb_background_and_shape():
    maps = np.array([[[np.nan, 0.0], [1.0, -1.0]]])
    rgb = to_rgb(maps, 1.0)
    assert rgb.shape == (1, 2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[0, 0, 0], [255, 255, 255])
    np.testing.assert_array_equal(rgb[0, 1, 0], [255, 0, 0])
    np.testing.assert_array_equal(rgb[0, 1, 1], [0, 0, 255])
    np.testing.assert_array_equal(to_rgb(maps, 1.0, background=0)[0, 0, 0], [0, 0, 0])
    with pytest.raises(ValueError, match="background"):
        to_rgb(maps, 1.0, background=300)


@pytest.mark.parametrize("vmax", [0.0, -1.0, np.nan, np.inf, "big"])
def test_bad_vmax_raises(vmax):
    with pytest.raises(ValueError, match="vmax"):
        to_rgba(np.zeros(3), vmax)


def test_scatter_colours():
    colours = scatter_colours(np.array([-1.0, 0.0, 1.0]), 1.0)
    np.testing.assert_array_equal(colours, [[0, 0, 255], [255, 255, 255], [255, 0, 0]])
    with pytest.raises(ValueError, match="1-D"):
        scatter_colours(np.zeros((2, 3)), 1.0)
