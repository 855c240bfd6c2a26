"""Models are loaded only by job processes, never by the web process.

The web process (here: the test process calling the callback functions) lists layers and
checks data through the ``describe`` job, whose description a job process computes
(``python -m topomap_core.jobs.worker``) and the cache keeps by model content.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from security_support import REPO_ROOT

import topomap_core.io.models
import topomap_core.io.sources
from callbacks import maps, uploads
from callbacks.common import list_layers, model_description
from topomap_core.analyses.describe import DescribeRequest
from topomap_core.errors import ModelLoadError, TopomapError
from topomap_core.io import demo
from topomap_core.jobs import worker
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import cached, get_or_compute, job_key
from topomap_core.jobs.runner import compute_in_worker, run
from topomap_core.store import Store


def _tiny_model_bytes(tmp_path) -> bytes:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(5, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    path = tmp_path / "tiny.keras"
    model.save(path)
    return path.read_bytes()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.fixture
def no_model_loading(monkeypatch):
    """Make every way of loading a Keras model fail in this process; record attempts."""
    attempts: list[str] = []

    def refuse(name):
        def loader(*args, **kwargs):
            attempts.append(name)
            raise AssertionError(f"{name} was called in the web process")

        return loader

    monkeypatch.setattr(topomap_core.io.models, "load_model", refuse("topomap_core.io.models"))
    monkeypatch.setattr(keras.saving, "load_model", refuse("keras.saving.load_model"))
    monkeypatch.setattr(keras.models, "load_model", refuse("keras.models.load_model"))
    monkeypatch.setattr(topomap_core.io.sources, "load_model", refuse("sources.load_model"))
    return attempts


def test_upload_layers_and_data_check_load_no_model_in_the_web_process(
    no_model_loading, tmp_path, demo_models
):
    store_dir = tmp_path / "store"
    content = _tiny_model_bytes(tmp_path)
    answer, _ = uploads.receive("model", io.BytesIO(content), "tiny.keras", store_dir)
    outcome = uploads.upload_model(answer, None, store_dir)
    assert outcome.ok, outcome.message
    assert outcome.message == "Stored tiny.keras: 3 layers."
    ref = outcome.value
    choice = list_layers(ref, None, store_dir)
    assert [o["value"] for o in choice.options] == ["flat", "hidden", "out"]
    assert choice.value == "hidden"
    demo_choice = list_layers("demo:digits-mlp", None, store_dir)
    assert demo_choice.value == "dense"

    data = _npz(x=np.random.default_rng(0).random((12, 8, 8, 1)), y=np.arange(12) % 3)
    answer, _ = uploads.receive("data", io.BytesIO(data), "d.npz", store_dir)
    stored = uploads.upload_data(answer, "demo:digits", store_dir)
    text, ok = maps.check_data(ref, stored.value, "label", store_dir)
    assert ok and text.startswith("12 examples, 3 classes; fits the model's input 8×8×1."), text
    text, ok = maps.check_data("demo:digits-mlp", "demo:digits", "label", store_dir)
    assert ok and text.startswith("540 examples, 10 classes"), text

    assert no_model_loading == []  # every model above was loaded by a job process
    described = run(DESCRIBE, DescribeRequest(model=ref), store_dir, compute=_never)
    assert described.view["input_shape"] == [8, 8, 1]


def _never(*args):
    raise AssertionError("this should have been answered from the cache")


DESCRIBE = JOBS["describe"]


def test_describe_is_cached_by_content_and_bad_refs_never_reach_a_job(tmp_path, demo_models):
    store = Store(tmp_path / "store")
    ref = store.add_model(_tiny_model_bytes(tmp_path), "tiny.keras")
    calls = []

    def describer(job_name, request, data_dir, progress):
        calls.append(request.model)  # what a job process would store under the key
        Store(data_dir).cache.set(
            job_key(DESCRIBE, request, Store(data_dir)),
            {"layers": [{"name": "x"}], "input_shape": [None, 4]},
        )
        return ""

    request = DescribeRequest(model=ref)
    first = run(DESCRIBE, request, store.root, compute=describer)
    assert first.view == {"layers": [{"name": "x"}], "input_shape": [None, 4]} and first.computed
    again = run(DESCRIBE, request, Store(store.root).root, compute=_never)
    assert again.view["input_shape"] == [None, 4] and not again.computed
    assert calls == [ref]
    for bad in ("../../etc/passwd", "a" * 64, "demo:nope", None):
        with pytest.raises(TopomapError):
            model_description(bad, store.root)
    with pytest.raises(ModelLoadError, match="is not in the model store"):
        run(DESCRIBE, DescribeRequest(model="a" * 64), store.root, compute=describer)
    assert calls == [ref]


def test_a_failed_description_is_remembered_for_a_while(tmp_path, demo_models, monkeypatch):
    store = Store(tmp_path / "store")
    ref = store.add_model(_tiny_model_bytes(tmp_path), "tiny.keras")
    calls = []

    def broken(request, sources, cache, progress):
        calls.append(request.model)
        raise TopomapError("Keras could not load it")

    monkeypatch.setattr(DESCRIBE, "compute", broken)
    request = DescribeRequest(model=ref)
    with pytest.raises(TopomapError, match="Keras could not load it"):
        get_or_compute(DESCRIBE, request, store)  # in the job process
    for _ in range(3):  # the same bad model selected again starts no new job
        with pytest.raises(TopomapError, match="Keras could not load it"):
            run(DESCRIBE, request, store.root, compute=_never)
    assert calls == [ref]
    assert DESCRIBE.remember_errors_s == 300


def test_crashes_are_not_remembered(tmp_path, demo_models):
    store = Store(tmp_path / "store")
    ref = store.add_model(_tiny_model_bytes(tmp_path), "tiny.keras")
    calls = []

    def crashing(job_name, request, data_dir, progress):
        calls.append(request.model)
        raise RuntimeError("worker killed")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            run(DESCRIBE, DescribeRequest(model=ref), store.root, compute=crashing)
    assert calls == [ref, ref]


def test_demo_file_path_is_where_the_demo_module_stores_it(demo_models):
    for spec in demo.DEMO_MODELS:  # looked up without training: the file training wrote
        assert demo.stored_demo_model(spec) == demo.demo_model_path(spec)
        assert demo.stored_demo_model(spec).is_file()


def _run_worker(job: str, *args: str) -> tuple[int, list[dict]]:
    proc = subprocess.run(
        [sys.executable, "-m", "topomap_core.jobs.worker", *args],
        cwd=REPO_ROOT,
        input=job,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    payloads = [worker.parse_line(line) for line in proc.stdout.splitlines()]
    payloads = [p for p in payloads if p is not None]
    # Memory reports come while a job computes (how the caller explains a crash).
    reports = [p for p in payloads if "memory" in p]
    assert all(set(p["memory"]) == {"vm_mb", "rss_mb"} for p in reports), reports
    return proc.returncode, [p for p in payloads if "memory" not in p]


def test_describe_protocol(tmp_path, demo_models):
    store = Store(tmp_path / "store")
    ref = store.add_model(_tiny_model_bytes(tmp_path), "tiny.keras")
    job = {"job": "describe", "data_dir": str(store.root), "request": {"model": ref}}
    code, lines = _run_worker(json.dumps(job))
    assert code == 0
    key = job_key(DESCRIBE, DescribeRequest(model=ref), store)
    assert lines == [{"ok": True, "key": key, "pid": lines[0]["pid"], "jobs_in_process": 1}]
    assert cached(DESCRIBE, DescribeRequest(model=ref), store) == {
        "layers": [
            {"name": "flat", "class": "Flatten", "output_shape": [64], "neurons": 64},
            {"name": "hidden", "class": "Dense", "output_shape": [5], "neurons": 5},
            {"name": "out", "class": "Dense", "output_shape": [3], "neurons": 3},
        ],
        "input_shape": [8, 8, 1],
        "input": {"shape": [8, 8, 1], "layout": "channels_last", "scaling": None},
        "output_shape": [3],
        "converted": [],
    }
    code, lines = _run_worker(json.dumps({**job, "request": {"model": "b" * 64}}))
    assert code == 1 and lines[-1]["topomap"] is True
    assert "is not in the model store" in lines[-1]["error"]
    code, lines = _run_worker(json.dumps({**job, "request": {"model": "../../x.keras"}}))
    assert code == 1 and "nknown model '../../x.keras'" in lines[-1]["error"]  # never a path
    code, lines = _run_worker(json.dumps({**job, "job": "frobnicate"}))
    assert code == 1 and "unknown job 'frobnicate'" in lines[-1]["error"]
    bad_job = [{"error": "bad job description (not a JSON object)"}]
    assert _run_worker("[1, 2]") == (2, bad_job)
    code, lines = _run_worker("{}", "--frobnicate")
    assert code == 2 and "unknown arguments" in lines[-1]["error"]


def test_compute_in_worker_raises_readable_errors(tmp_path, demo_models):
    store = Store(tmp_path / "store")
    with pytest.raises(TopomapError, match="is not in the model store"):
        compute_in_worker("describe", DescribeRequest(model="c" * 64), store.root)


def test_models_are_always_loaded_with_safe_mode(monkeypatch, tmp_path):
    calls = []
    real = keras.saving.load_model

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    path = tmp_path / "tiny.keras"
    path.write_bytes(_tiny_model_bytes(tmp_path))
    topomap_core.io.models.load_model(path)
    assert calls == [{"safe_mode": True, "compile": False}]
