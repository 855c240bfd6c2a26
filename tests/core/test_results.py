"""Results of jobs over a store: keys by content, the cache, NAPs shared between views."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from topomap_core.analyses.topomap import nap_key
from topomap_core.analyses.view import ViewRequest
from topomap_core.jobs.base import digest
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import StoreInputs, cached, get_or_compute, job_key
from topomap_core.store import Store

VIEW = JOBS["view"]


@pytest.fixture
def store(tmp_path, demo_dir):
    return Store(tmp_path / "store")


def _nap_key(store, request):
    inputs = StoreInputs(store)
    ids = [inputs.content_id(kind, getattr(request, kind)) for kind in ("model", "data")]
    return digest(nap_key(*ids, request.layer, request))


def test_views_are_cached_and_naps_shared_between_methods(store):
    req = ViewRequest(model="demo:digits-mlp", data="demo:digits", per_group=30, method="PCA")
    assert cached(VIEW, req, store) is None
    first, key = get_or_compute(VIEW, req, store)
    assert "activations" in first.timings  # really computed
    assert key == job_key(VIEW, req, store)

    again = cached(VIEW, req, store)  # its speed is measured in benchmarks/bench_cache.py
    np.testing.assert_array_equal(again.layout, first.layout)
    np.testing.assert_array_equal(again.maps, first.maps)

    # Another method: new view key, same NAP key, so no activations are computed.
    other = dataclasses.replace(req, method="SOM")
    assert job_key(VIEW, other, store) != job_key(VIEW, req, store)
    assert _nap_key(store, other) == _nap_key(store, req)
    result, _ = get_or_compute(VIEW, other, store)
    assert "activations" not in result.timings and "layout" in result.timings

    # A new Store object on the same folder (another process, after a restart) sees it all.
    assert cached(VIEW, other, Store(store.root)) is not None


def test_nap_key_depends_on_everything_that_defines_it(store):
    base = ViewRequest(model="demo:digits-mlp", data="demo:digits", layer="dense")
    keys = {_nap_key(store, base)}
    for change in (
        {"layer": "output"}, {"groups": "label+correctness"}, {"random_groups": 2},
        {"per_group": 10}, {"seed": 1}, {"model": "demo:digits-cnn", "layer": "conv1"},
    ):  # fmt: skip
        keys.add(_nap_key(store, dataclasses.replace(base, **change)))
    assert len(keys) == 7
    # The layout's parameters are not part of it.
    assert _nap_key(store, dataclasses.replace(base, method="PCA", profile="mean")) in keys


def _value_files(store) -> list:
    return sorted((store.root / "results").rglob("*.val"))


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_cache_entry_is_a_miss_and_is_computed_again(store, damage, caplog):
    req = ViewRequest(model="demo:digits-mlp", data="demo:digits", per_group=20, method="PCA")
    first, key = get_or_compute(VIEW, req, store)
    files = _value_files(store)
    assert files, "the view is large enough to be kept in a file"
    for path in files:  # every file entry: the view, its NAP
        raw = bytearray(path.read_bytes())
        if damage == "truncate":
            path.write_bytes(bytes(raw[: len(raw) // 2]))
        else:
            raw[len(raw) // 2] ^= 0xFF
            path.write_bytes(bytes(raw))
    store = Store(store.root)  # a fresh process's view of the same files
    assert cached(VIEW, req, store) is None
    assert "computed again" in caplog.text
    again, key2 = get_or_compute(VIEW, req, store)
    assert key2 == key and again.timings != first.timings  # computed again, not read
    np.testing.assert_array_equal(again.maps, first.maps)
    np.testing.assert_array_equal(cached(VIEW, req, store).maps, first.maps)
