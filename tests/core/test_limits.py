"""The limits every job runs under: the bounded queue, one computation per result, the
memory and time limits of job processes, and the cap on groups (issue 12, items 3 and 11-13).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from topomap_core.errors import TopomapError
from topomap_core.jobs import queue
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.results import get_or_compute
from topomap_core.jobs.runner import run
from topomap_core.profiles.groups import make_groups
from topomap_core.store import Store


def _wait(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_jobs_beyond_the_limit_queue_in_order_and_a_full_queue_refuses(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_MAX_JOBS", "1")
    monkeypatch.setenv("TOPOMAPS_MAX_QUEUE", "2")
    release = threading.Event()
    order: list[str] = []
    reports: dict[str, list[int]] = {"b": [], "c": []}

    def job(name: str) -> None:
        with queue.slot(tmp_path, on_wait=reports.get(name, []).append):
            order.append(name)
            if name == "a":
                release.wait(30)

    a = threading.Thread(target=job, args=("a",))
    a.start()
    _wait(lambda: order == ["a"])
    b = threading.Thread(target=job, args=("b",))
    b.start()
    _wait(lambda: reports["b"] == [0])  # queued, next in line
    c = threading.Thread(target=job, args=("c",))
    c.start()
    _wait(lambda: reports["c"] == [1])  # "Queued (1 ahead)"
    with pytest.raises(queue.QueueFullError, match="2 jobs are waiting.*TOPOMAPS_MAX_QUEUE"):
        with queue.slot(tmp_path):
            pass
    release.set()
    for thread in (a, b, c):
        thread.join(30)
    assert order == ["a", "b", "c"]  # first come, first served
    assert reports["c"][-1] == 0


def test_a_slot_held_by_another_process_counts_and_is_freed_when_it_dies(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_MAX_JOBS", "1")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from topomap_core.jobs import queue\n"
         "with queue.slot(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
         str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        waited: list[int] = []
        threading.Timer(1.0, holder.kill).start()
        t0 = time.monotonic()
        with queue.slot(tmp_path, on_wait=waited.append):
            assert waited == [0] and time.monotonic() - t0 >= 0.9
    finally:
        holder.kill()
        holder.wait()


def test_cancel_while_queued(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_MAX_JOBS", "1")
    cancel = threading.Event()
    with queue.slot(tmp_path):
        threading.Timer(0.5, cancel.set).start()
        with pytest.raises(Exception, match="cancelled while queued"):
            with queue.slot(tmp_path, cancel=cancel):
                pass
    assert not list((tmp_path / "queue" / "full").glob("*.ticket"))


def test_the_same_run_twice_at_once_computes_once(tmp_path, demo_dir):
    job = get_job("describe")
    request = job.validate({"model": "demo:digits-mlp"})
    computed: list[int] = []
    said: list[str] = []

    def compute(name, req, data_dir, progress):
        computed.append(1)
        time.sleep(1.0)  # long enough for the second caller to arrive
        get_or_compute(job, req, Store(data_dir))

    outcomes = [None, None]

    def caller(i: int) -> None:
        progress = (lambda stage, done, total: said.append(stage)) if i else None
        outcomes[i] = run(job, request, tmp_path, progress, compute=compute)

    first = threading.Thread(target=caller, args=(0,))
    first.start()
    _wait(lambda: computed)
    second = threading.Thread(target=caller, args=(1,))
    second.start()
    first.join(60)
    second.join(60)
    assert len(computed) == 1
    assert outcomes[0].computed and not outcomes[1].computed
    assert outcomes[0].key == outcomes[1].key
    assert any("same run" in stage for stage in said)


def test_a_job_past_its_time_limit_is_ended_with_a_message(tmp_path, demo_dir, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_JOB_TIMEOUT_S", "1")
    monkeypatch.setenv("TOPOMAPS_SPARE_WORKERS", "0")  # a cold process: well over 1 s
    job = get_job("view")
    request = job.validate({"model": "demo:digits-mlp", "method": "PCA", "per_group": 10})
    t0 = time.monotonic()
    with pytest.raises(TopomapError, match=r"time limit of 1 s \(TOPOMAPS_JOB_TIMEOUT_S\)"):
        run(job, request, tmp_path)
    assert time.monotonic() - t0 < 15


def test_a_job_process_runs_under_the_memory_limit(tmp_path):
    code = (
        "from topomap_core.jobs.worker import limit_memory\n"
        "print(limit_memory())\n"
        "try:\n    bytearray(3 * 2**30)\nexcept MemoryError:\n    print('refused')\n"
    )
    env = {**__import__("os").environ, "TOPOMAPS_JOB_MEMORY_MB": "1024"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["1024", "refused"], out.stderr


def test_a_job_that_runs_out_of_memory_says_which_limit(tmp_path, demo_dir, monkeypatch):
    # 1 GB: TensorFlow itself barely fits; the job fails one way or another, and says why.
    monkeypatch.setenv("TOPOMAPS_JOB_MEMORY_MB", "1024")
    monkeypatch.setenv("TOPOMAPS_SPARE_WORKERS", "0")
    job = get_job("view")
    request = job.validate({"model": "demo:digits-mlp", "method": "PCA", "per_group": 10})
    with pytest.raises(Exception, match=r"memory limit of 1024 MB \(TOPOMAPS_JOB_MEMORY_MB\)"):
        run(job, request, tmp_path, timeout=120)


def test_too_many_groups_are_refused_with_the_setting(monkeypatch):
    monkeypatch.setenv("TOPOMAPS_MAX_GROUPS", "50")
    column = np.arange(200).astype(str)
    with pytest.raises(TopomapError, match="200 groups, more than the 50.*TOPOMAPS_MAX_GROUPS"):
        make_groups(mode="column", column=column, per_group=5)
    assert len(make_groups(mode="column", column=column[:50], per_group=5).names) == 50
