"""The topographic demo, the grid layout and the Figure 1B view (smoothing, region, feature
visualisation)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from topomap_core.analyses.feature_vis import maximise_activations
from topomap_core.errors import TopomapError
from topomap_core.jobs.registry import get_job
from topomap_core.profiles.grid_maps import on_grid, responsive_region, smooth
from topomap_core.regularizers.fit import layer_grid, unit_vectors
from topomap_core.regularizers.grid import (
    grid_layout,
    grid_positions,
    neighbour_similarity,
    shuffled_similarity,
)

layers = keras.layers


def test_region_is_found_on_a_planted_map():
    rows, cols, n = 6, 5, 28  # the last two cells are empty
    values = np.random.default_rng(0).normal(0, 0.1, size=n)
    planted = [r * cols + c for r in (3, 4, 5) for c in (2, 3, 4) if r * cols + c < n]
    values[planted] += 2.0
    maps = on_grid(values[None], rows, cols)
    assert np.isnan(maps[0, 5, 3:]).all()
    smoothed = smooth(maps)
    # The border cell (0, 0) averages its 4 cells only; an empty cell stays empty.
    assert smoothed[0, 0, 0] == pytest.approx(np.mean(maps[0, :2, :2]))
    assert np.isnan(smoothed[0, 5, 4])
    region = responsive_region(smoothed[0], n)
    assert (region.row, region.col) == (3, 2)
    assert sorted(region.units) == sorted(planted)


def test_activation_maximisation_raises_the_filter_by_a_large_factor():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(6, 3, activation="relu", name="conv"),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    vis = maximise_activations(model, "conv", [[2], [0, 1]], steps=40, seed=1)
    assert vis.images.shape == (2, 8, 8, 1)
    assert np.all(vis.final > 10 * np.maximum(vis.start, 1e-3))
    again = maximise_activations(model, "conv", [[2], [0, 1]], steps=40, seed=1)
    assert np.array_equal(vis.images, again.images)  # seeded, fixed steps


def test_demo_neighbours_are_similar_and_the_grid_layout_is_the_regularizers(
    digits_cnn_topographic, digits_cnn
):
    grid = layer_grid(digits_cnn_topographic, "conv2")
    assert (grid.rows, grid.cols, grid.mode) == (16, 8, "weights")
    kernel = unit_vectors(digits_cnn_topographic, "conv2")
    trained = neighbour_similarity(kernel, 16, 8)
    assert trained > 3 * shuffled_similarity(kernel, 16, 8)
    assert trained > 3 * neighbour_similarity(unit_vectors(digits_cnn, "conv2"), 16, 8)
    # The view job's grid layout puts unit i at (column i % 8, row i // 8), row 0 on top.
    job = get_job("view")
    request = job.validate(
        {
            "model": "demo:digits-cnn-topographic",
            "layer": "conv2",
            "method": "grid",
            "per_group": 5,
        }  # fmt: skip
    )
    result = job.run(request)
    row, col = grid_positions(128, 8)
    assert np.array_equal(result.layout, grid_layout(128, 16, 8))
    assert np.allclose(result.layout[:, 0] * 7, col) and np.allclose(
        (1 - result.layout[:, 1]) * 15, row
    )
    with pytest.raises(TopomapError, match="layout method grid applies only to a layer trained"):
        job.run(job.validate({"model": "demo:digits-cnn", "layer": "conv2", "method": "grid"}))


def test_topographic_job_on_the_demo(digits_cnn_topographic, tmp_path):
    job = get_job("topographic")
    request = job.validate(
        {
            "model": "demo:digits-cnn-topographic",
            "layer": "conv2",
            "per_group": 5,
            "fv_group": "3",
            "fv_steps": 8,
        }  # fmt: skip
    )
    result = job.run(request)
    assert result.grid_maps.shape == (10, 16, 8) and result.smoothed.shape == (10, 16, 8)
    g = result.group_names.index("3")
    assert result.fv_units == list(responsive_region(result.smoothed[g], 128).units)
    assert len(result.fv_units) == 9 and result.fv_images.shape == (10, 8, 8, 1)
    paths = job.write_outputs(result, tmp_path, None)
    with np.load(paths["arrays"]) as npz:
        assert np.array_equal(npz["smoothed"], result.smoothed, equal_nan=True)
    assert all(p.stat().st_size > 0 for p in paths.values())
    with pytest.raises(TopomapError, match="was not trained with the topographic regularizer"):
        job.run(job.validate({"model": "demo:digits-cnn", "layer": "conv2", "fv_steps": 0}))
