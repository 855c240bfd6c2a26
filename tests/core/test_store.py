"""The content-addressed store of uploaded files."""

from __future__ import annotations

import errno
import io
import json
import os
import zipfile

import keras
import numpy as np
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


def test_the_store_checks_bounds_and_the_describe_job_refuses_code(store, tmp_path):
    # The store (the web process) parses nothing: a Lambda model passes its bounded checks,
    # and the job that first loads it refuses it (the dashboard then removes it).
    ref = store.add_model(_model_bytes(tmp_path, lam=True), "lam.keras")
    with pytest.raises(TopomapError, match="Lambda"):
        get_or_compute(JOBS["describe"], DescribeRequest(model=ref), store)
    store.remove_model(ref)
    assert not any(store.models_dir.iterdir())


def _keras_archive(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return path.read_bytes()


def test_an_oversized_config_is_refused_before_it_is_parsed(store, tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_MAX_CONFIG_MB", "1")
    big = b'{"class_name": "Sequential", "config": {"name": "' + b"x" * 2**21 + b'"}}'
    content = _keras_archive(tmp_path / "big.keras", {"config.json": big})
    with pytest.raises(TopomapError, match=r"over the 1 MB limit \(TOPOMAPS_MAX_CONFIG_MB\)"):
        store.add_model(content, "big.keras")
    assert not any(store.models_dir.iterdir())  # refused files are not kept


def test_an_archive_of_zero_assets_is_refused_as_a_bomb(store, tmp_path):
    members = {"config.json": b"{}", "assets/a.bin": bytes(50 * 2**20)}
    content = _keras_archive(tmp_path / "assets.keras", members)
    assert len(content) < 2**20
    with pytest.raises(TopomapError, match="expands .* times .*zip bomb"):
        store.add_model(content, "assets.keras")
    assert not any(store.models_dir.iterdir())


def test_an_h5_config_attribute_over_the_cap_is_refused_unparsed(store, tmp_path, monkeypatch):
    import h5py

    monkeypatch.setenv("TOPOMAPS_MAX_CONFIG_MB", "1")
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = b"x" * (2 * 2**20)
    # A variable-length attribute declares no size: the web process does not read it, and
    # the job that does refuses it before parsing.
    ref = store.add_model(path.read_bytes(), "big.h5")
    with pytest.raises(TopomapError, match="model_config attribute.*TOPOMAPS_MAX_CONFIG_MB"):
        get_or_compute(JOBS["describe"], DescribeRequest(model=ref), store)


def test_a_huge_declared_layer_is_refused_before_it_is_built(store, tmp_path):
    # 32768 x 32768 weights (4 GB as float32) declared in a file of a few kB.
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "bomb",
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "config": {"batch_shape": [None, 32768], "name": "in"}},
                {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                 "config": {"name": "huge", "units": 32768},
                 "build_config": {"input_shape": [None, 32768]}},
            ],
        },
        "registered_name": None,
    }  # fmt: skip
    content = _keras_archive(tmp_path / "bomb.keras", {"config.json": json.dumps(config)})
    ref = store.add_model(content, "bomb.keras")
    with pytest.raises(TopomapError, match=r"declares 1,073,774,592 parameters.*memory limit"):
        get_or_compute(JOBS["describe"], DescribeRequest(model=ref), store)


def test_metadata_is_written_atomically_and_bad_entries_are_skipped(store, tmp_path, monkeypatch):
    good = store.add_model(_model_bytes(tmp_path), "good.keras")
    # A full disk during an earlier upload left a 0-byte metadata file and a .part file.
    (store.models_dir / f"{'b' * 64}.json").write_bytes(b"")
    (store.models_dir / f"{'c' * 64}.json").write_text("[1, 2]")
    stale = store.models_dir / ".x.keras.part"
    stale.write_bytes(b"half")
    assert [item["id"] for item in store.list_models()] == [good]
    assert store.display_name("b" * 64) == "b" * 16
    os.utime(stale, (0, 0))
    assert store.clean_partial() == 1 and not stale.exists()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        store.add_data(_npz_bytes(), "tiny.npz")
    assert store.list_data() == []
    assert not [p for p in store.data_dir.iterdir()], "a failed write left files behind"


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((4, 8, 8, 1), np.float32), y=np.arange(4))
    return buffer.getvalue()


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
