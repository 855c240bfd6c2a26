"""The overview of a ResNet50-size model: wall time and peak memory, before and after.

Builds ``keras.applications.ResNet50`` with random weights (no download), 224x224 "photos"
(raw 0-255, prepared with ``--preprocess caffe``) in 5 groups, and runs the ``overview``
command on every Dense and Conv layer (54) in a fresh process, sampling the process's memory
(resident and address space, the latter what ``TOPOMAPS_JOB_MEMORY_MB`` limits) every 0.1 s.

``--dashboard`` also runs it as the dashboard does: the overview job in a job process under
the default job limits (memory, time), from a fresh data directory.

``--before DIR`` runs the same command from another checkout (e.g. a ``git worktree`` of the
commit before a change) in the same run, side by side, and prints the ratios::

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/bench_overview.py --before /tmp/before

An older checkout that has no ``--preprocess`` gets its data already prepared (caffe) as an
``.npz``: the same input reaches both models.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _zoo():
    """The tests' model zoo (``tests/zoo.py``), loaded from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("zoo", ROOT / "tests" / "zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make_inputs(folder: Path, n: int, classes: int) -> tuple[Path, Path, Path]:
    """ResNet50 (random weights), raw photos and the same photos caffe-prepared."""
    zoo = _zoo()

    from topomap_core.io.prepare import InputSpec, resolve

    model_path = folder / "resnet50.keras"
    if not model_path.exists():
        zoo.resnet50().save(model_path)
    x, y = zoo.images(n, (224, 224, 3), classes=classes)
    raw = folder / "photos.npz"
    np.savez(raw, x=x.astype(np.uint8), y=y)
    prepared = folder / "photos-caffe.npz"
    caffe = resolve("caffe", "array", InputSpec((224, 224, 3))).apply(
        x.copy(), InputSpec((224, 224, 3))
    )
    np.savez(prepared, x=caffe, y=y)
    return model_path, raw, prepared


def _watch(proc: subprocess.Popen, peaks: dict) -> None:
    import psutil

    try:
        parent = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        return
    while proc.poll() is None:
        try:
            for p in [parent, *parent.children(recursive=True)]:
                info = p.memory_info()
                peaks["rss"] = max(peaks.get("rss", 0), info.rss)
                peaks["vms"] = max(peaks.get("vms", 0), info.vms)
        except psutil.Error:
            pass
        time.sleep(0.1)


def run(checkout: Path, args: list[str], label: str) -> dict:
    """Run ``python -m topomap_core <args>`` from ``checkout``; wall time and memory peaks."""
    # ``python -m`` from the checkout's folder imports that checkout's package first.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "topomap_core", *args, "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peaks: dict = {}
    watcher = threading.Thread(target=_watch, args=(proc, peaks), daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join(1)
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}):\n{out[-3000:]}")
    result = {
        "wall_s": wall,
        "rss_mb": peaks.get("rss", 0) / 2**20,
        "vm_mb": peaks.get("vms", 0) / 2**20,
    }
    _print(label, result)
    return result


def _print(label: str, result: dict) -> None:
    print(
        f"{label:>9}: {result['wall_s']:7.1f} s wall, peak {result['rss_mb']:7.0f} MB "
        f"resident, {result['vm_mb']:7.0f} MB address space",
        flush=True,
    )


def run_dashboard(model: Path, data: Path, method: str) -> dict:
    """The overview job as the dashboard runs it: a job process under the default limits."""
    from topomap_core.config import job_memory_mb
    from topomap_core.jobs.registry import get_job
    from topomap_core.jobs.runner import run as run_job
    from topomap_core.store import Store

    os.environ["TOPOMAPS_SPARE_WORKERS"] = "0"
    data_dir = Path(tempfile.mkdtemp(prefix="topomaps-bench-dashboard-"))
    store = Store(data_dir)
    request = get_job("overview").validate({
        "model": store.add_model(model.read_bytes(), model.name),
        "data": store.add_data(data.read_bytes(), data.name),
        "preprocess": "caffe", "method": method,
    })  # fmt: skip
    peaks: dict = {}
    stop = threading.Event()

    def watch() -> None:
        import psutil

        me = psutil.Process()
        while not stop.is_set():
            for p in me.children(recursive=True):
                try:
                    info = p.memory_info()
                except psutil.Error:
                    continue
                peaks["rss"] = max(peaks.get("rss", 0), info.rss)
                peaks["vms"] = max(peaks.get("vms", 0), info.vms)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    outcome = run_job(get_job("overview"), request, data_dir)
    wall = time.perf_counter() - t0
    stop.set()
    result = {"wall_s": wall, "rss_mb": peaks.get("rss", 0) / 2**20,
              "vm_mb": peaks.get("vms", 0) / 2**20}  # fmt: skip
    _print("dashboard", result)
    print(f"           {len(outcome.view.layers)} layers, under the default job memory limit of "
          f"{job_memory_mb()} MB (TOPOMAPS_JOB_MEMORY_MB)")  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout to run side by side")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--method", default="UMAP_PSO")
    parser.add_argument("--folder", type=Path, help="where the model and data are kept")
    parser.add_argument("--dashboard", action="store_true", help="also as a dashboard job")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.gettempdir()) / "topomaps-bench-overview"
    folder.mkdir(parents=True, exist_ok=True)
    model, raw, prepared = _make_inputs(folder, args.examples, args.groups)
    common = ["overview", "--model", str(model), "--method", args.method]
    print(
        f"ResNet50 (random weights), {args.examples} images of 224x224 in {args.groups} "
        f"groups, every Dense/Conv layer, {args.method}; {os.cpu_count()} cores",
        flush=True,
    )
    results = {}
    if args.before is not None:
        out = folder / "out-before"
        results["before"] = run(args.before.resolve(), [*common, "--data", str(prepared),
                                                       "--out", str(out)], "before")  # fmt: skip
    out = folder / "out-after"
    results["after"] = run(ROOT, [*common, "--data", str(raw), "--preprocess", "caffe",
                                  "--out", str(out)], "after")  # fmt: skip
    if args.dashboard:
        results["dashboard"] = run_dashboard(model, raw, args.method)
    if "before" in results:
        b, a = results["before"], results["after"]
        print(
            f"   ratio: {b['wall_s'] / a['wall_s']:.2f}x faster, "
            f"{b['rss_mb'] / a['rss_mb']:.2f}x less resident memory, "
            f"{b['vm_mb'] / a['vm_mb']:.2f}x less address space"
        )


if __name__ == "__main__":
    main()
