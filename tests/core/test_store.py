"""The content-addressed store of uploaded files."""

from __future__ import annotations

import keras
import pytest

from topomap_core import DataError, ModelLoadError, TopomapError
from topomap_core.analyses.describe import DescribeRequest
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
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
    description, _ = get_or_compute(JOBS["describe"], DescribeRequest(model=a), store)
    assert [layer["name"] for layer in description["layers"]] == ["flatten", "hidden", "out"]


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
