"""The map view (analyses.view) on real models: streaming NAPs equal a direct computation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from topomap_core import compute_layout
from topomap_core.analyses.naps import compute_nap
from topomap_core.analyses.topomap import MapParams
from topomap_core.analyses.view import ViewRequest, run_map, view_of
from topomap_core.io.data import load_data


@pytest.mark.parametrize("batch_size", [7, 256])
def test_conv_nap_equals_direct_group_means(digits_cnn, batch_size):
    data = load_data("demo:digits")
    params = MapParams(per_group=30, seed=2, method="PCA_PSO")
    nap = compute_nap(digits_cnn, data, "conv1", params, batch_size=batch_size)
    assert nap.normalized.shape == (10, 4, 4, 128)
    assert nap.profile("paper").shape == (4 * 4 * 10, 128)
    assert nap.values.shape == (10, 128)

    # Recompute directly: same seeded groups, whole-array activations, plain means.
    from topomap_core.profiles.groups import make_groups

    grouping = make_groups("label", labels=data.y, per_group=30, random_state=2)
    extractor = keras.Model(digits_cnn.inputs, digits_cnn.get_layer("conv1").output)
    acts = np.asarray(extractor(data.x, training=False))
    means = np.stack([acts[m].mean(axis=0) for m in grouping.members])
    np.testing.assert_allclose(nap.normalized, means - means.mean(axis=0), rtol=1e-4, atol=1e-5)

    assert compute_layout(nap.profile(), "PCA", random_state=0).shape == (128, 2)
    result = view_of(params, nap)
    assert result.maps.shape == (10, 100, 100)
    assert result.vmax == pytest.approx(np.abs(nap.values).max())


def test_run_map_reports_timings_and_empty_groups(demo_dir):
    result = run_map(
        ViewRequest(model="demo:digits-mlp", data="demo:digits", layer="dense",
                    groups="label+correctness", per_group=50, method="PCA", seed=0)
    )  # fmt: skip
    summary = result.summary()
    # A 97%-accurate model has classes without wrong predictions: dropped, not NaN.
    assert summary["empty_groups"], "expected some '<label>:wrong' groups to be empty"
    assert all(name.endswith(":wrong") for name in summary["empty_groups"])
    assert np.all(np.isfinite(result.nap.values))
    for stage in ("load_model", "load_data", "predictions", "activations", "layout", "maps"):
        assert summary["timings_s"][stage] >= 0


def test_every_step_says_when_it_starts(demo_dir):
    stages: list[str] = []
    run_map(
        ViewRequest(model="demo:digits-mlp", data="demo:digits", per_group=20, method="PCA"),
        lambda stage, done, total: stages.append(stage),
    )
    steps = ["layout (PCA)", "ordering the groups", "drawing the maps", "measuring the maps"]
    assert [s for s in dict.fromkeys(stages) if s in steps] == steps
    last_activation = max(i for i, s in enumerate(stages) if s == "activations")
    assert stages.index("layout (PCA)") > last_activation  # never "activations" meanwhile


def test_activations_by_index_without_predictions(digits_mlp):
    from topomap_core.io.activations import iter_activations

    x = load_data("demo:digits").x
    idx = np.array([5, 3, 400, 7, 9, 11, 2])
    batches = list(iter_activations(digits_mlp, "dense", x, batch_size=3, indices=idx,
                                    with_predictions=False))  # fmt: skip
    assert [start for start, _, _ in batches] == [0, 3, 6]
    assert all(preds is None for _, _, preds in batches)
    got = np.concatenate([acts for _, acts, _ in batches])
    want = keras.Model(digits_mlp.inputs, digits_mlp.get_layer("dense").output)(x[idx])
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)
