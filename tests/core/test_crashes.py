"""No crash without a reason (issue 19): the mini-Xception's Find examples that killed its job
process, and every job process that dies said with its signal, its stage and its limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import numpy as np
import psutil
import pytest
import zoo

from callbacks.common import readable_error
from topomap_core.errors import JobError
from topomap_core.jobs import crashes
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.runner import run
from topomap_core.store import Store


def test_find_examples_on_a_mini_xception_finishes_in_a_job_process(tmp_path, monkeypatch):
    """Issue 19: Find examples failed 3 of 3 times on conv2d_6 of a real mini-Xception ("the
    spare job process closed its connection"; glibc: corrupted double-linked list). The cause:
    oneDNN's backward pass of its strided 1x1 convolutions with 8 input channels writes past
    its workspace (uxlfoundation/oneDNN#6035); job processes run without oneDNN."""
    monkeypatch.setenv("TOPOMAPS_SPARE_WORKERS", "0")
    store = Store(tmp_path)
    model_path = tmp_path / "mini_xception.keras"
    zoo.mini_xception().save(model_path)
    model = store.add_model(model_path.read_bytes(), "mini_xception.keras")
    x, y = zoo.images(40, (64, 64, 1), classes=2)
    data_path = tmp_path / "faces.npz"
    np.savez(data_path, x=x, y=y, label_names=np.array(["neutral", "happy"]))
    data = store.add_data(data_path.read_bytes(), "faces.npz")
    job = get_job("regions")
    request = job.validate(
        {
            "model": model,
            "data": data,
            "layer": "conv2d_6",
            "group": "neutral",
            "preprocess": "unit",
            "method": "PCA",
            "optimise_steps": 8,
        }  # fmt: skip
    )
    outcome = run(job, request, tmp_path, timeout=300)
    result = outcome.view
    assert result.regions and len(result.optimised) == len(result.regions)
    assert all(image is not None for image in result.optimised)  # the gradients ran


def _job_process() -> psutil.Process | None:
    for child in psutil.Process().children(recursive=True):
        try:
            if "topomap_core.jobs.worker" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def test_a_job_process_that_crashes_is_reported_with_signal_stage_and_layer(
    tmp_path, demo_dir, monkeypatch
):
    monkeypatch.setenv("TOPOMAPS_SPARE_WORKERS", "0")
    job = get_job("view")
    request = job.validate({"model": "demo:digits-mlp", "method": "PSO", "per_group": 30})
    fired = threading.Event()

    def progress(stage, done, total):
        if stage == "PSO" and not fired.is_set():
            target = _job_process()
            if target is not None:
                fired.set()
                os.kill(target.pid, signal.SIGSEGV)  # a native crash, as oneDNN's was

    with pytest.raises(JobError) as info:
        run(job, request, tmp_path, progress, timeout=300)
    text = str(info.value)
    assert fired.is_set()
    assert "crashed with SIGSEGV" in text and "while computing the layout (PSO)" in text
    assert "memory limit" in text  # how much of it the process used: here, not the limit
    shown = readable_error(info.value)
    assert not shown.startswith("Something went wrong") and "SIGSEGV" in shown


def test_a_crash_note_says_the_signal(tmp_path, monkeypatch):
    code = (
        "import os, signal\n"
        "from topomap_core.jobs import crashes\n"
        "crashes.enable_note()\n"
        "import numpy as np\n"
        "np.frompyfunc(lambda v: os.kill(os.getpid(), signal.SIGABRT), 1, 1)(np.zeros(2))\n"
    )
    monkeypatch.setenv(crashes.CRASH_DIR_ENV, str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    assert proc.wait(timeout=60) == -signal.SIGABRT
    note = crashes.read_note(proc.pid)
    assert note is not None and note.signal == "SIGABRT"
    assert not list(tmp_path.glob("crash-*.txt"))  # read once, then gone


@pytest.mark.parametrize(
    ("status", "note", "memory", "expected"),
    [
        ("the spare job process closed its connection",
         crashes.CrashNote("SIGSEGV", "TensorFlow"), {"vm_mb": 5900},
         "crashed with SIGSEGV in TensorFlow while computing activations of layer block3_conv3;"
         " it was using 5900 MB of its memory limit of 6144 MB (TOPOMAPS_JOB_MEMORY_MB), so "
         "most likely it ran out of it"),
        ("killed by SIGKILL", None, {"vm_mb": 900},
         "was killed (SIGKILL) while computing activations of layer block3_conv3: the system "
         "may have run out of memory (at 900 MB of its memory limit of 6144 MB: not the limit)"),
        ("exit status 1", None, None,
         "stopped without a result (exit status 1) while computing activations"),
    ],
)  # fmt: skip
def test_explain_names_what_stopped_the_job_and_which_limit_applies(status, note, memory, expected):
    text = crashes.explain(status, note, "activations", "block3_conv3", memory, 6144)
    assert expected in text
