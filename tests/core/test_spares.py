"""Spare job processes: warm, one job each, replaced after it, and cancelled by a closed socket."""

from __future__ import annotations

import time

import keras
import pytest

from topomap_core.analyses.describe import DescribeRequest
from topomap_core.analyses.view import ViewRequest
from topomap_core.errors import Cancelled
from topomap_core.jobs import spares
from topomap_core.jobs.runner import compute_in_worker
from topomap_core.store import Store

WARM_UP_S = 240  # TensorFlow, Keras and UMAP's JIT on a busy 2-core machine


def _ready(folder, timeout=WARM_UP_S, not_pid=None) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in folder.glob("ready-*.sock"):
            pid = int(path.stem.split("-")[1])
            if pid != not_pid:
                return pid
        time.sleep(0.2)
    raise AssertionError(f"no spare became ready in {folder} within {timeout} s")


def _gone(pid: int, timeout: float) -> bool:
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def keeper(tmp_path, demo_dir, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_SPARE_WORKERS", "1")
    data_dir = tmp_path / "data"
    keeper = spares.start_keeper(data_dir)
    assert keeper is not None and spares.start_keeper(data_dir) is keeper  # one per folder
    yield data_dir, spares.spare_dir(data_dir), keeper
    spares.stop_keepers()


def _wide_model(store: Store, folder) -> str:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(),
         keras.layers.Dense(4000, name="wide"), keras.layers.Dense(10)]
    )  # fmt: skip
    model.save(folder / "wide.keras")
    return store.add_model((folder / "wide.keras").read_bytes(), "wide.keras")


def test_a_spare_serves_one_job_is_replaced_and_dies_with_its_claimer(keeper, tmp_path):
    data_dir, base, _ = keeper
    # A description is light: a light spare (TensorFlow and Keras only) serves it.
    first = _ready(base / "light")
    outcome = compute_in_worker("describe", DescribeRequest(model="demo:digits-mlp"), data_dir)
    # Served by the warm spare, which ran this one job only and then exited.
    assert outcome["pid"] == first and outcome["jobs_in_process"] == 1
    assert _gone(first, 10), "the spare outlived its job"
    assert _ready(base / "light", not_pid=first)  # the keeper started the next one
    folder = base / "full"
    second = _ready(folder)

    # A long job on the next spare, cancelled at its first layout step: closing the
    # connection ends the process (the PSO of 4000 neurons would run for minutes).
    ref = _wide_model(Store(data_dir), tmp_path)
    request = ViewRequest(model=ref, layer="wide", method="PSO", per_group=5)
    seen = []

    def cancel_in_pso(stage, done, total):
        seen.append(stage)
        return stage == "PSO"

    with pytest.raises(Cancelled):
        compute_in_worker("view", request, data_dir, cancel_in_pso)
    assert "PSO" in seen
    assert _gone(second, 5), "the cancelled spare is still computing"
    assert not list(folder.glob(f"*-{second}*"))  # its socket files are gone too


def test_without_spares_a_job_starts_cold_in_a_process_of_its_own(tmp_path, demo_dir, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_SPARE_WORKERS", "0")
    assert spares.start_keeper(tmp_path / "data") is None
    assert spares.claim(tmp_path / "data") is None
    pids = set()
    for model in ("demo:digits-mlp", "demo:digits-cnn"):
        outcome = compute_in_worker("describe", DescribeRequest(model=model), tmp_path / "data")
        assert outcome["jobs_in_process"] == 1  # nothing of an earlier job is in the process
        pids.add(outcome["pid"])
    assert len(pids) == 2
