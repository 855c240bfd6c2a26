"""How fast a computed view comes back from the result cache, at the library level.

Computes one view per layer width on a synthetic dense model (first request), then asks for it
again from a *new* :class:`Store` on the same folder (as another process or a restarted server
would) and reports the median and worst of repeated cache reads next to the first request.
With ``--redis``, a ``redis-server`` is started on a free loopback port (``REDIS_URL``) and the
same views are read back from Redis and, with Redis emptied before each read, from disk, side
by side in this one run.

Usage::

    python benchmarks/bench_cache.py [--widths 128 2048 8192] [--repeats 20] [--redis]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    program = shutil.which("redis-server")
    if program is None:
        sys.exit("--redis needs redis-server (make services-deps)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    return proc, f"redis://127.0.0.1:{port}/0"


def _reads(root: Path, request, repeats: int, before=None) -> list[float]:
    from topomap_core.jobs.registry import JOBS
    from topomap_core.jobs.results import cached
    from topomap_core.store import Store

    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        fresh = Store(root)  # nothing in memory: every read comes from the cache
        t0 = time.perf_counter()
        assert cached(JOBS["view"], request, fresh) is not None
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 2048, 8192])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--redis", action="store_true", help="also read through Redis")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    redis_proc = None
    if args.redis:
        redis_proc, os.environ["REDIS_URL"] = _start_redis(root)

    from topomap_core.analyses.view import ViewRequest
    from topomap_core.config import import_keras
    from topomap_core.jobs.registry import JOBS
    from topomap_core.jobs.results import get_or_compute
    from topomap_core.store import Store

    keras = import_keras()
    store = Store(root)
    head = f"{'neurons':>8s} {'first s':>8s} {'disk median s':>14s} {'disk max s':>11s}"
    if args.redis:
        head += f" {'Redis median s':>15s} {'Redis max s':>12s} {'disk/Redis':>10s}"
    print(head + f" {'first/cached':>12s}")
    try:
        for width in args.widths:
            keras.utils.set_random_seed(0)
            model = keras.Sequential(
                [
                    keras.Input((8, 8, 1)),
                    keras.layers.Flatten(),
                    keras.layers.Dense(width, activation="relu", name="wide"),
                    keras.layers.Dense(10, activation="softmax"),
                ]
            )
            path = root / f"m{width}.keras"
            model.save(path)
            ref = store.add_model(path.read_bytes(), path.name)
            request = ViewRequest(model=ref, layer="wide", method="PCA_PSO", per_group=100)
            t0 = time.perf_counter()
            get_or_compute(JOBS["view"], request, store)
            first = time.perf_counter() - t0
            line = f"{width:8d} {first:8.2f}"
            if args.redis:
                client = store.cache.redis
                disk = _reads(root, request, args.repeats, before=client.flushdb)
                _reads(root, request, 1)  # put it back into Redis
                hot = _reads(root, request, args.repeats)
                line += f" {statistics.median(disk):14.4f} {max(disk):11.4f}"
                line += f" {statistics.median(hot):15.4f} {max(hot):12.4f}"
                line += f" {statistics.median(disk) / statistics.median(hot):9.1f}x"
                best = min(statistics.median(disk), statistics.median(hot))
            else:
                disk = _reads(root, request, args.repeats)
                line += f" {statistics.median(disk):14.4f} {max(disk):11.4f}"
                best = statistics.median(disk)
            print(line + f" {first / best:11.0f}x", flush=True)
    finally:
        if redis_proc is not None:
            redis_proc.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
