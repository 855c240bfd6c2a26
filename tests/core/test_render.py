"""Tests for topomap_core.profiles.render: the Pillow map grid and single-map images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from topomap_core.profiles.interpolate import to_rgb
from topomap_core.profiles.render import (
    map_grid_geometry,
    render_map_grid,
    render_single_map,
    save_map_grid,
)

RES = 24


def smooth_maps(n_groups: int, seed: int = 0) -> np.ndarray:
    """Smooth random maps with a round hull (NaN in the corners)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:RES, :RES] / (RES - 1)
    maps = np.stack([a * xx + b * yy + c for a, b, c in rng.normal(size=(n_groups, 3))])
    outside = (xx - 0.5) ** 2 + (yy - 0.5) ** 2 > 0.25
    maps[:, outside] = np.nan
    return maps


def names(n: int) -> list[str]:
    return [f"class {i}" for i in range(n)]


def crop(image: Image.Image, box) -> np.ndarray:
    return np.asarray(image.convert("RGB").crop(box))


def test_size_grows_with_number_of_groups():
    areas = []
    for n in (1, 2, 4, 9):
        image = render_map_grid(smooth_maps(n), names(n), vmax=2.0)
        assert image.mode == "RGB"
        assert image.size == map_grid_geometry(n, (RES, RES)).size
        areas.append(image.size[0] * image.size[1])
    assert areas == sorted(areas) and len(set(areas)) == 4
    wide = render_map_grid(smooth_maps(4), names(4), vmax=2.0, columns=4)
    assert wide.size[0] > render_map_grid(smooth_maps(4), names(4), vmax=2.0).size[0]


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_tile_centre_has_the_colour_of_the_map_centre(scale):
    maps = smooth_maps(3, seed=1)
    vmax = float(np.nanmax(np.abs(maps)))
    image = render_map_grid(maps, names(3), vmax, scale=scale)
    geo = map_grid_geometry(3, (RES, RES), scale=scale)
    pixels = np.asarray(image)
    for g, (x0, y0, x1, y1) in enumerate(geo.tile_boxes):
        assert (x1 - x0, y1 - y0) == (RES * scale, RES * scale)
        r, c = RES // 2, RES // 2
        expected = to_rgb(maps[g, r, c], vmax)
        np.testing.assert_array_equal(pixels[y0 + r * scale, x0 + c * scale], expected)


def test_names_and_title_are_drawn():
    image = render_map_grid(smooth_maps(2), ["zero", "one"], vmax=2.0, title="Layer dense")
    geo = map_grid_geometry(2, (RES, RES), title="Layer dense")
    for box in geo.label_boxes:
        assert (crop(image, box) < 128).any()  # dark text pixels in every name band
    assert geo.title_box is not None and (crop(image, geo.title_box) < 128).any()
    assert map_grid_geometry(2, (RES, RES)).title_box is None


def test_all_zero_group_and_outside_hull_render_white():
    maps = smooth_maps(2)
    maps[1] = np.where(np.isnan(maps[1]), np.nan, 0.0)
    image = render_map_grid(maps, names(2), vmax=1.0)
    geo = map_grid_geometry(2, (RES, RES))
    assert (crop(image, geo.tile_boxes[1]) == 255).all()
    first = crop(image, geo.tile_boxes[0])
    assert (first[0, 0] == 255).all()  # a corner: outside the round hull
    assert not (first == 255).all()


def test_colour_bar_runs_from_blue_to_red():
    image = render_map_grid(smooth_maps(1), names(1), vmax=3.0)
    x0, y0, x1, y1 = map_grid_geometry(1, (RES, RES)).colourbar_box
    pixels = np.asarray(image)
    mid = (y0 + y1) // 2
    # Inside the black outline: the bwr colour of evenly spaced values from -vmax to +vmax.
    expected = to_rgb(np.linspace(-3.0, 3.0, x1 - x0), 3.0)
    np.testing.assert_array_equal(pixels[mid, x0 + 1 : x1 - 1], expected[1:-1])
    assert pixels[mid, x0 + 1, 2] == 255 and pixels[mid, x0 + 1, 0] < 30  # blue end
    assert pixels[mid, x1 - 2, 0] == 255 and pixels[mid, x1 - 2, 2] < 30  # red end
    below = pixels[y1 + 2 :, x0:x1]  # tick labels
    assert (below < 128).any()


def test_long_names_are_shortened_to_fit():
    image = render_map_grid(smooth_maps(2), ["x" * 200, "ok"], vmax=1.0, scale=1)
    assert image.size == map_grid_geometry(2, (RES, RES), scale=1).size


def test_save_map_grid_writes_png(tmp_path):
    path = save_map_grid(tmp_path / "grid.png", smooth_maps(2), names(2), vmax=1.0)
    with Image.open(path) as written:
        assert written.format == "PNG"
        assert written.size == map_grid_geometry(2, (RES, RES)).size


def test_render_single_map():
    maps = smooth_maps(1)
    image = render_single_map(maps[0], vmax=1.0, size=96)
    assert image.mode == "RGBA" and image.size == (96, 96)
    pixels = np.asarray(image)
    assert pixels[0, 0, 3] == 0  # outside the hull: transparent
    np.testing.assert_array_equal(pixels[48, 48, :3], to_rgb(maps[0, 12, 12], 1.0))
    assert render_single_map(maps[0], 1.0, size=50, resample="bilinear").size == (50, 50)
    assert render_single_map(np.zeros((10, 20)), 1.0, size=40).size == (40, 20)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="names has 1 entries but maps has 2 groups"):
        render_map_grid(smooth_maps(2), ["a"], vmax=1.0)
    with pytest.raises(ValueError, match="maps must have shape"):
        render_map_grid(np.zeros((RES, RES)), ["a"], vmax=1.0)
    with pytest.raises(ValueError, match="'cubic' is not known; choose one of nearest, bilinear"):
        render_map_grid(smooth_maps(1), ["a"], vmax=1.0, resample="cubic")
    with pytest.raises(ValueError, match="scale must be an integer >= 1"):
        render_map_grid(smooth_maps(1), ["a"], vmax=1.0, scale=0)
    with pytest.raises(ValueError, match="columns"):
        render_map_grid(smooth_maps(1), ["a"], vmax=1.0, columns=0)
    with pytest.raises(ValueError, match="vmax"):
        render_map_grid(smooth_maps(1), ["a"], vmax=0.0)
    with pytest.raises(ValueError, match="size"):
        render_single_map(np.zeros((4, 4)), 1.0, size=0)


def test_titles_keep_the_group_size_when_a_long_name_is_shortened():
    """Issue 20 item 17: the PNG's titles say how many examples a map averages, as the page;
    a long name loses its end, never the count."""
    from topomap_core.profiles.render import fit_label

    def measure(text):
        return 7 * len(text)

    assert fit_label("3", 54, 200, measure) == "3 (n=54)"
    short = fit_label("ankle_boot:correct", 200, 100, measure)
    assert short.endswith("... (n=200)") and measure(short) <= 100
    assert short.startswith("ank")
    assert fit_label("x" * 50, None, 70, measure) == "xxxxxxx..."
    with_n = render_map_grid(smooth_maps(2), ["zero", "one"], 2.0, sizes=[54, 7])
    plain = render_map_grid(smooth_maps(2), ["zero", "one"], 2.0)
    for box in map_grid_geometry(2, (RES, RES)).label_boxes:
        assert (crop(with_n, box) != crop(plain, box)).any()
    with pytest.raises(ValueError, match="sizes has 1 entries but maps has 2 groups"):
        render_map_grid(smooth_maps(2), ["zero", "one"], 2.0, sizes=[54])
