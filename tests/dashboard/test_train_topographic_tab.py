"""The Train tab: the train-topographic job from the dashboard, its model stored like an upload."""

from __future__ import annotations

from urllib.parse import parse_qs

import keras
import numpy as np
import pytest

from callbacks import train_topographic as tab
from callbacks.common import model_description
from callbacks.jobs import run_job
from layouts.train_topographic import DEFAULTS
from topomap_core.errors import TopomapError
from topomap_core.store import Store


@pytest.fixture
def store_with_upload(tmp_path):
    """A store holding a tiny uploaded model (5 -> 16 -> 3) and 60 labelled examples."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.save(tmp_path / "tiny.keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=np.argmax(x[:, :3], axis=1))
    folder = tmp_path / "store"
    store = Store(folder)
    model_ref = store.add_model((tmp_path / "tiny.keras").read_bytes(), "tiny.keras")
    data_ref = store.add_data((tmp_path / "data.npz").read_bytes(), "data.npz")
    return folder, model_ref, data_ref


def test_bad_settings_fail_in_one_line_before_any_job():
    values = {**DEFAULTS, "grid": "  "}
    _, request = tab.train_request(values)
    assert request.grid == "auto"  # an emptied field means the default
    with pytest.raises(TopomapError, match="Strength -1.0 .must be between 0.0 and 100.0"):
        tab.train_request({**DEFAULTS, "strength": -1})
    with pytest.raises(TopomapError, match="Epochs 0"):
        tab.train_request({**DEFAULTS, "epochs": 0})


def test_training_from_the_tab_stores_a_model_that_opens_in_the_topographic_tab(
    store_with_upload,
):
    folder, model_ref, data_ref = store_with_upload
    spec = tab.job_tab(folder)
    values = {**DEFAULTS, "model": model_ref, "data": data_ref, "layer": "hidden",
              "grid": "4x4", "strength": 0.1, "epochs": 2, "learning_rate": 0.05,
              "batch_size": 8, "seed": 0}  # fmt: skip
    reported = []
    data, status = run_job(spec, values, folder, reported.append)
    assert data is not None, status
    assert "2 epochs" in status and "stored as model tiny-topographic-hidden.keras" in status
    # The trained model is in the store, next to the upload it came from, and it loads
    # through the safe loader (its layers are listed by a job process).
    store = Store(folder)
    assert {m["id"] for m in store.list_models()} == {model_ref, data["model"]}
    assert data["layers"] == ["hidden"] and data["model"] != model_ref
    layers = [layer["name"] for layer in model_description(data["model"], folder)["layers"]]
    assert "hidden" in layers
    # Progress came per epoch.
    assert "training: 1/2" in str(reported) and "training: 2/2" in str(reported), reported
    content, href, hidden = tab.report(folder, data)
    assert not hidden
    query = parse_qs(href.lstrip("?"))
    assert query == {"tab": ["topographic"], "topo_model": [data["model"]],
                     "topo_layer": ["hidden"]}  # fmt: skip
    text = str(content)
    assert "hidden on a 4x4 grid (weights, strength 0.1)" in text
    assert text.count("Tr(") == 3  # the header and one row per epoch
    # Issue 20 item 19: each header is aligned as its column's cells (all numbers, right).
    (table,) = [c for c in content.children if type(c).__name__ == "Table"]
    head, body = table.children
    headers = [th.className for th in head.children.children]
    for row in body.children:
        assert [td.className for td in row.children] == headers == ["num"] * 4
    # Run again: the stored training, the same stored model (by content), nothing trained.
    again, status = run_job(spec, values, folder)
    assert again["model"] == data["model"] and "Loaded the stored training" in status
    assert len(store.list_models()) == 2


def test_a_layer_the_mode_cannot_take_is_refused_with_the_reason(store_with_upload):
    folder, model_ref, data_ref = store_with_upload
    values = {**DEFAULTS, "model": model_ref, "data": data_ref, "layer": "hidden",
              "grid": "3x3", "epochs": 1, "seed": 0}  # fmt: skip
    data, status = run_job(tab.job_tab(folder), values, folder)
    assert data is None
    assert status.startswith("Training failed:") and "3x3" in status and "16" in status
    assert len(Store(folder).list_models()) == 1  # nothing stored
