"""Soak: 20 clients' worth of requests for 60 s while jobs run, a job process killed mid-job
and a cache file corrupted mid-run (issue 12). Not a test: run it by hand and read the line.

    .venv/bin/python benchmarks/soak.py [--clients 20] [--seconds 60]

It starts the real app (``python app.py``) on a fresh data directory, then at once

- ``--clients`` threads send what browsers send: the page, the layout, the cached-view
  callback and the data check for random seeds and methods;
- a job thread runs views (PCA, different seeds) through the same runner the Run button uses,
  against the same data directory;
- after 15 s it kills the job process of a running view (SIGKILL) and checks that the job
  reports a failure and that the same request then computes;
- after 30 s it corrupts one stored result file and checks that it is recomputed.

and prints the request count, the server errors (5xx, connection failures) and the three
fault outcomes. The acceptance is 0 server errors and the three outcomes true.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

from callbacks.maps import INPUTS
from layouts.ids import ID
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.results import cached
from topomap_core.jobs.runner import run
from topomap_core.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    # The test helpers are files, not an installed package.
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


BASE = {
    "model": "demo:digits-mlp",
    "data": "demo:digits",
    "layer": "dense",
    "groups": "label",
    "random_groups": 0,
    "per_group": 30,
    "method": "PCA",
    "seed": 0,
}


def client(url: str, callbacks, stop: threading.Event, counts: dict) -> None:
    session = requests.Session()
    rng = random.Random(threading.get_ident())
    while not stop.is_set():
        values = {**BASE, "seed": rng.randrange(50), "method": rng.choice(["PCA", "UMAP_PSO"])}
        kind = rng.choice(["page", "layout", "view", "check"])
        try:
            if kind == "page":
                response = session.get(url, timeout=60)
            elif kind == "layout":
                response = session.get(url + "_dash-layout", timeout=60)
            elif kind == "view":
                body = callbacks.body(
                    f"{ID.RESULT_STORE}.data",
                    {**{f"{cid}.value": values[n] for n, cid in INPUTS},
                     f"{ID.URL_WARNINGS}.data": []},
                )  # fmt: skip
                response = session.post(url + "_dash-update-component", json=body, timeout=120)
            else:
                body = callbacks.body(
                    f"{ID.DATA_MESSAGE}.children",
                    {f"{ID.MODEL_SELECT}.value": values["model"],
                     f"{ID.DATA_SELECT}.value": values["data"],
                     f"{ID.GROUPS_SELECT}.value": "label"},
                )  # fmt: skip
                response = session.post(url + "_dash-update-component", json=body, timeout=120)
            key = "ok" if response.status_code < 500 else "server_errors"
        except requests.RequestException:
            key = "server_errors"
        with counts["lock"]:
            counts[key] += 1


def job_processes(pid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.Process(pid).children(recursive=True):
        try:
            if "topomap_core.jobs.worker" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    launch_app = _load("support", ROOT / "tests" / "support.py").launch_app
    security_support = ROOT / "tests" / "security" / "security_support.py"
    Callbacks = _load("security_support", security_support).Callbacks  # noqa: N806
    tmp = Path(tempfile.mkdtemp(prefix="topomaps-soak-"))
    data_dir = tmp / "data"
    server = launch_app(data_dir, tmp / "app.log")
    os.environ["TOPOMAPS_DATA_DIR"] = str(data_dir)
    callbacks = Callbacks(requests.get(server.url + "_dash-dependencies", timeout=60).json())
    counts = {"ok": 0, "server_errors": 0, "lock": threading.Lock()}
    stop = threading.Event()
    threads = [
        threading.Thread(target=client, args=(server.url, callbacks, stop, counts), daemon=True)
        for _ in range(args.clients)
    ]
    job = get_job("view")
    outcomes = {"killed job reported": False, "killed job re-runnable": False,
                "corrupted entry recomputed": False}  # fmt: skip
    try:
        for thread in threads:
            thread.start()
        t0 = time.monotonic()
        # A long job to kill: UMAP_PSO on many examples, from this process's runner.
        victim = job.validate({**BASE, "method": "UMAP_PSO", "per_group": 150, "seed": 999})
        failure: list[BaseException] = []

        def run_victim() -> None:
            try:
                run(job, victim, data_dir)
            except BaseException as exc:  # noqa: BLE001 - recorded and reported
                failure.append(exc)

        runner = threading.Thread(target=run_victim, daemon=True)
        time.sleep(max(0.0, min(15, args.seconds / 4) - (time.monotonic() - t0)))
        runner.start()
        deadline = time.monotonic() + 60
        while not job_processes(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        for proc in job_processes(os.getpid()):
            proc.send_signal(signal.SIGKILL)
        runner.join(120)
        outcomes["killed job reported"] = bool(failure)
        outcome = run(job, victim, data_dir)
        outcomes["killed job re-runnable"] = outcome.computed
        # Corrupt a stored result mid-run; the next read recomputes it.
        steady = job.validate({**BASE, "seed": 4242})
        first = run(job, steady, data_dir)
        store = Store(data_dir)
        for path in (data_dir / "results").rglob("*.val"):
            raw = bytearray(path.read_bytes())
            raw[len(raw) // 2] ^= 0xFF
            path.write_bytes(bytes(raw))
        gone = cached(job, steady, store) is None
        again = run(job, steady, data_dir)
        outcomes["corrupted entry recomputed"] = gone and again.computed
        del first
        time.sleep(max(0.0, args.seconds - (time.monotonic() - t0)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(130)
        alive = server.proc.poll() is None
        server.stop()
    print(
        f"soak: {args.clients} clients, {args.seconds:.0f} s: {counts['ok']} requests answered, "
        f"{counts['server_errors']} server errors; server alive: {alive}; "
        + "; ".join(f"{k}: {v}" for k, v in outcomes.items())
    )
    return 0 if counts["server_errors"] == 0 and alive and all(outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
