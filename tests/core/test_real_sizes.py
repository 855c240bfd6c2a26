"""Real sizes and honest defaults (issue 19): several layers from one forward pass in batches
bounded by memory, the default layer of a real CNN, maps of groups no more different than
chance, and the overview's correction for testing many layers."""

from __future__ import annotations

import numpy as np
import pytest
import zoo

from topomap_core.analyses.describe import default_layer, describe_model
from topomap_core.analyses.naps import compute_nap, compute_naps
from topomap_core.analyses.notes import map_notes
from topomap_core.analyses.overview import OverviewJob
from topomap_core.analyses.topomap import MapParams
from topomap_core.analyses.view import ViewRequest, view_of
from topomap_core.io.activations import batch_size_for, iter_layer_activations
from topomap_core.io.data import Dataset, digits_split
from topomap_core.io.sources import load_data
from topomap_core.profiles.nap import nap_from_activations
from topomap_core.profiles.separation import ExamplePool, draws_for, holm, separation


def test_several_layers_from_one_pass_equal_one_pass_each(digits_cnn, demo_dir):
    dataset = load_data("demo:digits", (8, 8, 1))
    params = MapParams(per_group=40, random_groups=2)
    batches = []
    naps = compute_naps(
        digits_cnn, dataset, ["conv1", "conv2", "output"], params,
        progress=lambda stage, done, total: batches.append((stage, done, total)),
    )  # fmt: skip
    for layer in ("conv1", "conv2", "output"):
        alone = compute_nap(digits_cnn, dataset, layer, params)
        np.testing.assert_allclose(naps[layer].normalized, alone.normalized, rtol=1e-5, atol=1e-6)
        assert naps[layer].group_names == alone.group_names
    # One pass: the activation batches are counted once for all three layers.
    totals = {total for stage, _, total in batches if stage == "activations"}
    assert len(totals) == 1
    assert sum(1 for stage, _, _ in batches if stage == "activations") == totals.pop()


def test_a_batch_is_bounded_by_memory_not_by_a_fixed_count(monkeypatch):
    vgg = zoo.vgg16((320, 320, 3), include_top=False)
    # block1 holds 320*320*64 floats per example: 26 MB; 256 of them would take 13 GB.
    batch = batch_size_for(vgg, ["block3_conv3"])
    assert 1 <= batch <= 8
    per_example = 4 * (80 * 80 * 256 + 320 * 320 * 3 + 2 * 320 * 320 * 64)
    assert batch * per_example <= 256 * 2**20
    monkeypatch.setenv("TOPOMAPS_BATCH_MB", "1024")
    assert batch_size_for(vgg, ["block3_conv3"]) == pytest.approx(4 * batch, abs=4)
    small = zoo.mini_xception()
    assert batch_size_for(small, ["conv2d_6"]) > 16  # small models keep large batches
    x = np.zeros((5, 64, 64, 1), np.float32)
    sizes = [len(acts["conv2d_6"]) for _, acts, _ in
             iter_layer_activations(small, ["conv2d_6", "add_4"], x, batch_size=2)]  # fmt: skip
    assert sizes == [2, 2, 1]


def test_the_default_layer_of_a_mini_xception_is_a_128_neuron_one_not_7():
    """Issue 19: the default layer of an uploaded mini-Xception was conv2d_7 (7 neurons, its
    class scores before pooling) although 128-neuron layers existed."""
    layers = describe_model(zoo.mini_xception())["layers"]
    name, why = default_layer(layers)
    assert name == "conv2d_6"
    assert next(layer["neurons"] for layer in layers if layer["name"] == name) == 128
    assert "at least 16 neurons" in why
    # A model whose layers are all narrow falls back to 3 neurons and says so.
    tiny = [{"name": n, "class": "Dense", "neurons": k} for n, k in (("a", 8), ("b", 4), ("o", 2))]
    assert default_layer(tiny) == ("b", "the Dense/Conv layer nearest the output with at least "
                                        "3 neurons (none has 16)")  # fmt: skip


def test_maps_of_groups_no_more_apart_than_chance_get_a_note():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(200, 32))
    labels = rng.integers(0, 4, 200)
    membership = labels[:, None] == np.arange(4)[None]
    nap = nap_from_activations(acts, membership, list("abcd"))
    pool = ExamplePool(acts.astype(np.float32), labels, list("abcd"))
    result = view_of(ViewRequest(method="PCA", layer="dense"), nap, pool=pool)
    warnings = [text for level, text in result.notes() if level == "warning"]
    assert any("no more than chance in layer dense" in w and "noise" in w for w in warnings)
    assert result.summary()["separation"]["p_value"] > 0.05
    # Groups the layer does tell apart get no such note.
    apart = acts + 3.0 * rng.normal(size=(4, 32))[labels]
    nap = nap_from_activations(apart, membership, list("abcd"))
    pool = ExamplePool(apart.astype(np.float32), labels, list("abcd"))
    notes = map_notes(nap, "dense", separation=separation(pool, 50, 0))
    assert not any("chance" in text for _, text in notes)


def test_holm_adjusts_as_defined_and_the_draws_make_it_reachable():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]
    # 54 layers: the smallest permutation p-value, 1/(draws+1), passes 5 % after Holm.
    draws = draws_for(54)
    assert 54 / (draws + 1) <= 0.05 < 54 / draws


def test_the_overview_corrects_for_its_layers_and_can_share_one_scale(demo_dir):
    job = OverviewJob()
    base = {"model": "demo:digits-cnn", "data": "demo:digits", "per_group": 20,
            "method": "PCA", "draws": 10}  # fmt: skip
    result = job.run(job.validate(base, paths=True))
    curve = result.curve()
    m = len(curve)
    assert m >= 2
    adjusted = holm([layer.separation.p_value for layer in result.layers])
    np.testing.assert_allclose([row["p_holm"] for row in curve], adjusted, atol=1e-6)
    assert all(row["draws"] >= draws_for(m) for row in curve)  # more than the 10 asked for
    notes = " ".join(text for _, text in result.notes())
    assert f"after Holm's correction for {m} layers" in notes
    assert len({layer.vmax for layer in result.layers}) == m  # each layer its own scale
    shared = job.run(job.validate({**base, "scale": "shared"}, paths=True))
    assert len({layer.vmax for layer in shared.layers}) == 1
    assert shared.layers[0].vmax == max(layer.vmax for layer in result.layers)


def test_digits_split_is_unchanged_by_preparation():
    """The demo data's own preparation (auto: as given) keeps them in [0, 1]."""
    _, _, x, y = digits_split()
    prepared = load_data("demo:digits", (8, 8, 1))
    np.testing.assert_array_equal(prepared.x, x)
    assert isinstance(prepared, Dataset) and prepared.prepared.preparation.preset == "none"
