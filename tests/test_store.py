"""Content-addressed store and result cache."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from topomap_core import DataError, ModelLoadError, TopomapError
from topomap_core.pipeline import MapRequest
from topomap_core.store import Store


@pytest.fixture
def store(tmp_path, demo_dir):
    return Store(tmp_path / "store")


def _model_bytes(tmp_path, lam=False):
    layers = [
        keras.Input((8, 8, 1)),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(6, name="hidden"),
    ]
    if lam:
        layers.append(keras.layers.Lambda(lambda t: t + 1))
    layers.append(keras.layers.Dense(10, activation="softmax", name="out"))
    path = tmp_path / ("lam.keras" if lam else "m.keras")
    keras.Sequential(layers).save(path)
    return path.read_bytes()


def test_same_file_is_stored_once_under_its_hash(store, tmp_path):
    content = _model_bytes(tmp_path)
    a = store.add_model(content, "first name.keras")
    b = store.add_model(content, "../../etc/second.keras")
    assert a == b and len(a) == 64
    stored = [p for p in store.models_dir.iterdir() if p.suffix == ".keras"]
    assert [p.name for p in stored] == [f"{a}.keras"]
    assert store.list_models()[0]["name"] == "first name.keras"
    assert [layer["name"] for layer in store.layers(a)] == ["flatten", "hidden", "out"]


def test_refused_model_is_not_kept(store, tmp_path):
    with pytest.raises(TopomapError, match="Lambda"):
        store.add_model(_model_bytes(tmp_path, lam=True), "lam.keras")
    assert not any(store.models_dir.iterdir())


@pytest.mark.parametrize(
    "content, name, match",
    [(b"", "m.keras", "empty"), (b"abc", "m.exe", "unsupported extension")],
)
def test_bad_uploads(store, content, name, match):
    with pytest.raises(TopomapError, match=match):
        store.add_model(content, name)


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "demo:other", "ABC", "0" * 63])
def test_references_never_become_paths(store, ref):
    with pytest.raises(ModelLoadError, match="not a demo model"):
        store.model_source(ref)
    with pytest.raises(DataError):
        store.data_source(ref)


def test_unknown_hash_is_a_clear_error(store):
    with pytest.raises(ModelLoadError, match="is not in the model store"):
        store.model_source("a" * 64)


def test_views_are_cached_and_naps_shared_between_methods(store):
    req = MapRequest("demo:digits-mlp", "demo:digits", "dense", per_group=30, method="PCA")
    assert store.cached_view(req) is None
    first = store.view(req)
    assert "activations" in first.timings  # really computed

    again = store.cached_view(req)  # its speed is measured in benchmarks/bench_cache.py
    np.testing.assert_array_equal(again.layout, first.layout)
    np.testing.assert_array_equal(again.maps, first.maps)

    # Another method: new view key, same NAP key, so no activations are computed.
    other = MapRequest("demo:digits-mlp", "demo:digits", "dense", per_group=30, method="SOM")
    assert store.view_key(other) != store.view_key(req)
    assert store.nap_key(other) == store.nap_key(req)
    result = store.view(other)
    assert "activations" not in result.timings and "layout" in result.timings

    # A new Store object on the same folder (another process, after a restart) sees it all.
    assert Store(store.root).cached_view(other) is not None


def test_nap_key_depends_on_everything_that_defines_it(store):
    base = MapRequest("demo:digits-mlp", "demo:digits", "dense")
    keys = {store.nap_key(base)}
    for change in (
        {"layer": "output"}, {"groups": "label+correctness"}, {"random_groups": 2},
        {"per_group": 10}, {"seed": 1}, {"model": "demo:digits-cnn", "layer": "conv1"},
    ):  # fmt: skip
        keys.add(store.nap_key(MapRequest(**{**base.__dict__, **change})))
    assert len(keys) == 7
