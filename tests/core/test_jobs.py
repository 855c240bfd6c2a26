"""The Job protocol: a contract every registered job keeps, and keys by content."""

from __future__ import annotations

import dataclasses
import json

import pytest

from topomap_core import params
from topomap_core.errors import TopomapError
from topomap_core.jobs.base import Job, NullCache, digest, memo
from topomap_core.jobs.registry import JOBS, get_job
from topomap_core.jobs.results import job_key
from topomap_core.store import Store


def test_the_registry_lists_every_analysis():
    assert {
        "view",
        "training",
        "compare",
        "describe",
        "describe-series",
        "check-data",
        "inspect-checkpoints",
        "overview",
        "bias",
    } <= set(JOBS)
    commands = {job.command for job in JOBS.values() if job.command}
    assert commands >= {"map", "training", "compare", "overview", "bias"}
    with pytest.raises(
        TopomapError, match="unknown job 'nope'; valid: bias, check-data, compare, describe, "
    ):
        get_job("nope")


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_keeps_the_contract(name):
    job = JOBS[name]
    assert isinstance(job, Job) and job.name == name
    cls = job.request_type
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    declared = params.declared(cls)
    assert set(declared) == {f.name for f in dataclasses.fields(cls)}  # every field declared
    assert set(job.inputs) <= set(declared)  # inputs are fields ...
    assert set(job.inputs.values()) <= {"model", "data", "checkpoints", "selection"}  # known
    request = job.validate({})  # the defaults make a valid request (what a page starts with)
    parts = job.key_parts(request)
    assert not set(parts) & set(job.inputs)  # inputs enter the key by content, not by name
    json.dumps(parts)  # a key is plain data


def test_keys_are_by_content_and_change_with_the_version(tmp_path, demo_dir, monkeypatch):
    store = Store(tmp_path / "store")
    view = JOBS["view"]
    request = view.validate({"method": "PCA"})
    key = job_key(view, request, store, build=True)
    assert job_key(view, request, Store(store.root)) == key  # another process, same key
    assert job_key(view, dataclasses.replace(request, seed=1), store) != key
    monkeypatch.setattr(type(view), "version", view.version + "-next")
    assert job_key(view, request, store) != key


def test_an_unbuilt_demo_has_no_key_until_a_job_builds_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_DATA_DIR", str(tmp_path / "empty"))
    store = Store(tmp_path / "store")
    assert job_key(JOBS["view"], JOBS["view"].validate({}), store) is None  # nothing trained


def test_memo_computes_once_per_key():
    calls = []

    class Dict(dict):
        def set(self, key, value, expire=None):
            self[key] = value

    cache = Dict()
    assert memo(cache, {"a": 1}, lambda: calls.append(1) or "x") == ("x", False)
    assert memo(cache, {"a": 1}, lambda: calls.append(2) or "y") == ("x", True)
    assert list(cache) == [digest({"a": 1})] and calls == [1]
    assert memo(NullCache(), {"a": 1}, lambda: "z") == ("z", False)
