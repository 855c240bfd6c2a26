"""Models are loaded only by worker processes, never by the web process.

The web process (here: the test process calling the callback functions) lists layers and
checks data through :meth:`Store.describe`, which caches a description computed by
``python -m callbacks.worker --describe``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from security_support import REPO_ROOT, as_upload

import topomap_core.io.models
from callbacks import data as data_cb
from callbacks import models as models_cb
from callbacks import worker
from topomap_core.io import demo
from topomap_core.errors import ModelLoadError, TopomapError
from topomap_core.store import Store, demo_model_file


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
    monkeypatch.setattr(demo, "load_demo_model", refuse("demo.load_demo_model"))
    return attempts


def test_upload_layers_and_data_check_load_no_model_in_the_web_process(
    no_model_loading, tmp_path, demo_models
):
    store_dir = tmp_path / "store"
    content = _tiny_model_bytes(tmp_path)
    outcome = models_cb.upload_model(as_upload(content), "tiny.keras", None, store_dir)
    assert outcome.ok, outcome.message
    assert outcome.message == "Stored tiny.keras: 3 layers."
    ref = outcome.value
    choice = models_cb.list_layers(ref, None, store_dir)
    assert [o["value"] for o in choice.options] == ["flat", "hidden", "out"]
    assert choice.value == "hidden"
    demo_choice = models_cb.list_layers("demo:digits-mlp", None, store_dir)
    assert demo_choice.value == "dense"

    data = _npz(x=np.random.default_rng(0).random((12, 8, 8, 1)), y=np.arange(12) % 3)
    stored = data_cb.upload_data(as_upload(data), "d.npz", "demo:digits", store_dir)
    text, ok = data_cb.check_data(ref, stored.value, "label", store_dir)
    assert ok and text == "12 examples, 3 classes; fits the model's input 8×8×1.", text
    text, ok = data_cb.check_data("demo:digits-mlp", "demo:digits", "label", store_dir)
    assert ok and text.startswith("540 examples, 10 classes"), text

    assert no_model_loading == []  # every model above was loaded by a worker process
    cached = Store(store_dir).describe(ref, describer=_never)
    assert cached["input_shape"] == [8, 8, 1]


def _never(ref):
    raise AssertionError(f"{ref} should have been described from the cache")


def test_describe_is_cached_by_content_and_bad_refs_never_reach_the_describer(
    tmp_path, demo_models
):
    store = Store(tmp_path / "store")
    ref = store.add_model(_tiny_model_bytes(tmp_path), "tiny.keras")
    calls = []

    def describer(r):
        calls.append(r)
        return {"layers": [{"name": "x"}], "input_shape": (None, 4)}

    assert store.describe(ref, describer) == {"layers": [{"name": "x"}], "input_shape": [None, 4]}
    assert Store(store.root).describe(ref, describer)["input_shape"] == [None, 4]
    assert Store(store.root).input_shape(ref, describer) == (None, 4)
    assert calls == [ref]
    for bad in ("../../etc/passwd", "a" * 64, "demo:nope", None):
        with pytest.raises(ModelLoadError):
            store.describe(bad, describer)
    assert calls == [ref]


def test_a_failed_description_is_remembered_for_a_while(tmp_path, demo_models):
    store = Store(tmp_path / "store")
    ref = store.add_model(_tiny_model_bytes(tmp_path), "tiny.keras")
    calls = []

    def broken(r):
        calls.append(r)
        raise TopomapError("Keras could not load it")

    for _ in range(3):
        with pytest.raises(TopomapError, match="Keras could not load it"):
            store.describe(ref, broken)
    assert calls == [ref]  # the same bad model selected again starts no new worker


def test_crashes_are_not_remembered(tmp_path, demo_models):
    store = Store(tmp_path / "store")
    ref = store.add_model(_tiny_model_bytes(tmp_path), "tiny.keras")
    calls = []

    def crashing(r):
        calls.append(r)
        raise RuntimeError("worker killed")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            store.describe(ref, crashing)
    assert calls == [ref, ref]


def test_demo_file_path_is_where_the_demo_module_stores_it(demo_models):
    for name in demo.DEMO_MODELS:
        assert demo_model_file(f"demo:{name}") == demo._stored_path(name)


def _run_worker(job: str, *args: str) -> tuple[int, list[dict]]:
    proc = subprocess.run(
        [sys.executable, "-m", "callbacks.worker", *args],
        cwd=REPO_ROOT,
        env=worker.worker_env(),
        input=job,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    payloads = [worker.parse_line(line) for line in proc.stdout.splitlines()]
    return proc.returncode, [p for p in payloads if p is not None]


def test_describe_protocol(tmp_path, demo_models):
    store = Store(tmp_path / "store")
    ref = store.add_model(_tiny_model_bytes(tmp_path), "tiny.keras")
    code, lines = _run_worker(json.dumps({"data_dir": str(store.root), "model": ref}), "--describe")
    assert code == 0
    assert lines == [
        {
            "ok": True,
            "layers": [
                {"name": "flat", "class": "Flatten", "output_shape": [64], "neurons": 64},
                {"name": "hidden", "class": "Dense", "output_shape": [5], "neurons": 5},
                {"name": "out", "class": "Dense", "output_shape": [3], "neurons": 3},
            ],
            "input_shape": [8, 8, 1],
        }
    ]
    code, lines = _run_worker(
        json.dumps({"data_dir": str(store.root), "model": "b" * 64}), "--describe"
    )
    assert code == 1 and lines[-1]["topomap"] is True
    assert "is not in the model store" in lines[-1]["error"]
    bad_job = [{"error": "bad job description (not a JSON object)"}]
    assert _run_worker("[1, 2]", "--describe") == (2, bad_job)
    code, lines = _run_worker("{}", "--frobnicate")
    assert code == 2 and "unknown arguments" in lines[-1]["error"]


def test_describe_in_worker_raises_readable_errors(tmp_path, demo_models):
    store = Store(tmp_path / "store")
    with pytest.raises(TopomapError, match="is not in the model store"):
        worker.describe_in_worker("c" * 64, store.root)


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
