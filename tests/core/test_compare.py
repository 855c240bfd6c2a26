"""Comparing two models on one shared layout: widths, zero and nonzero differences, the CLI."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from topomap_core.analyses.compare import CompareRequest, shared_profile
from topomap_core.cli import main
from topomap_core.errors import TopomapError
from topomap_core.io.demo import DEMO_CHECKPOINTS, demo_checkpoints
from topomap_core.io.sources import open_series
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import cached, get_or_compute
from topomap_core.store import Store

layers = keras.layers


def _tiny(hidden: int, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6,)),
            layers.Dense(hidden, activation="tanh", name="hidden"),
            layers.Dense(3, activation="softmax", name="out"),
        ]
    )


@pytest.fixture
def tiny_data(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.normal(size=(60, 6)).astype(np.float32), y=np.arange(60) % 3)
    return path


@pytest.fixture(scope="module")
def demo_states(demo_dir, tmp_path_factory):
    """The first and the last state of the demo training, saved as .keras files."""
    folder = tmp_path_factory.mktemp("states")
    paths = []
    with open_series(DEMO_CHECKPOINTS) as series:
        for i in (0, len(series) - 1):
            path = folder / f"state_{series.checkpoints[i].step}.keras"
            series.load(i).save(path)
            paths.append(path)
    return paths


def _request(a, b, data, **kw) -> CompareRequest:
    return CompareRequest(
        model_a=str(a), model_b=str(b), data=str(data), layer="hidden", method="PCA", **kw
    )


def run_compare(request):
    return JOBS["compare"].run(request)


def test_width_mismatch_names_both_widths(tmp_path, save_model, tiny_data):
    a = save_model(_tiny(5, 0), name="a")
    b = save_model(_tiny(4, 0), name="b")
    with pytest.raises(TopomapError, match="model A has 5 neurons but .* model B has 4"):
        run_compare(_request(a, b, tiny_data))


def test_a_model_compared_with_itself_is_refused(tmp_path, save_model, tiny_data):
    """Issue 20, item 14: A = B ran and drew blank B - A maps."""
    a = save_model(_tiny(5, 0), name="a")
    with pytest.raises(TopomapError, match="A and B are the same layer .* of the same model"):
        run_compare(_request(a, a, tiny_data))


def test_two_copies_of_one_model_differ_nowhere(tmp_path, save_model, tiny_data):
    a = save_model(_tiny(5, 0), name="a")
    b = save_model(_tiny(5, 0), name="b")  # the same weights, another file
    r = run_compare(_request(a, b, tiny_data))
    assert r.layout.shape == (5, 2)
    assert r.maps_a.shape == r.maps_b.shape == r.diff_maps.shape == (3, 100, 100)
    np.testing.assert_array_equal(r.values_a, r.values_b)
    inside = np.isfinite(r.diff_maps)
    assert inside.any() and np.all(r.diff_maps[inside] == 0)
    assert r.vmax == pytest.approx(np.abs(r.values_a).max())
    assert sorted(r.group_names) == ["0", "1", "2"]


def test_two_training_states_differ(demo_states):
    first, last = demo_states
    r = run_compare(CompareRequest(model_a=str(first), model_b=str(last), method="PCA"))
    assert r.maps_a.shape == (10, 100, 100)
    assert np.nanmax(np.abs(r.diff_maps)) > 0.05 * r.diff_vmax > 0
    # The difference map is the map of B - A: linear interpolation commutes with it.
    np.testing.assert_allclose(r.diff_maps, r.maps_b - r.maps_a, atol=1e-5, equal_nan=True)
    # One colour scale for A and B, a symmetric one for the difference.
    assert r.vmax == pytest.approx(max(np.abs(r.values_a).max(), np.abs(r.values_b).max()))
    assert r.diff_vmax == pytest.approx(np.abs(r.values_b - r.values_a).max())
    assert all(rms > 0 for rms in r.group_rms_diff)


def test_shared_profile_favours_neither_model():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 9)), rng.normal(size=(6, 9))
    joint = shared_profile(a, b)
    assert joint.shape == (10, 9)
    np.testing.assert_allclose(shared_profile(a, 100 * b), joint)


def test_store_compare_is_cached(tmp_path, save_model, tiny_data):
    store = Store(tmp_path / "store")
    a = store.add_model(save_model(_tiny(5, 0), name="a").read_bytes(), "a.keras")
    b = store.add_model(save_model(_tiny(5, 1), name="b").read_bytes(), "b.keras")
    data = store.add_data(tiny_data.read_bytes(), "tiny.npz")
    request = _request(a, b, data)
    job = JOBS["compare"]
    assert cached(job, request, store) is None
    result, _ = get_or_compute(job, request, store)
    assert np.nanmax(np.abs(result.diff_maps)) > 0
    assert cached(job, request, store) is not None
    with pytest.raises(TopomapError, match="layer 'nope' not found"):
        get_or_compute(job, _request(a, b, data, layer_b="nope"), store)


def test_cli_compare_writes_maps_and_summary(capsys, demo_states, tmp_path):
    first, last = demo_states
    out = tmp_path / "out"
    code = main(
        ["compare", "--model-a", str(first), "--model-b", str(last), "--data", "demo:digits",
         "--layer", "dense", "--method", "PCA", "--out", str(out), "--quiet"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0, err
    for name in ("maps_a.png", "maps_b.png", "diff.png", "layout.csv"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_neurons"] == 128 and len(summary["groups"]) == 10
    assert summary["difference_colour_limit"] > 0


def test_cli_compare_width_mismatch_exits_2(capsys, save_model, tiny_data, tmp_path):
    a = save_model(_tiny(5, 0), name="a")
    b = save_model(_tiny(4, 0), name="b")
    code = main(
        ["compare", "--model-a", str(a), "--model-b", str(b), "--data", str(tiny_data),
         "--layer", "hidden", "--method", "PCA", "--out", str(tmp_path / "o")]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "5 neurons" in err and "has 4" in err


def test_demo_checkpoints_are_reused(demo_dir):
    path = demo_checkpoints()
    mtime = path.stat().st_mtime_ns
    assert demo_checkpoints() == path and path.stat().st_mtime_ns == mtime


def test_two_states_compare_in_the_core_without_a_new_layout():
    """Issue 20, item 21: the states' subtraction moved out of a callback into the core."""
    from topomap_core.analyses.compare import Comparison
    from topomap_core.analyses.placing import draw

    rng = np.random.default_rng(0)
    layout = rng.uniform(0, 1, (20, 2))
    values = rng.normal(size=(2, 3, 20))
    maps, vmax = draw(layout, values, resolution=30)
    a = {"maps": maps[0], "values": values[0]}
    b = {"maps": maps[1], "values": values[1]}
    found = Comparison.of_states(a, b, ["x", "y", "z"], vmax)
    direct, diff_vmax = draw(layout, values[1] - values[0], resolution=30)
    inside = np.isfinite(direct)
    np.testing.assert_allclose(found.diff_maps[inside], direct[inside], atol=1e-5)
    assert found.diff_vmax == pytest.approx(diff_vmax) and found.names == ["x", "y", "z"]
