"""What one heavy Maps view costs the web process: a 1000-group view (within
``TOPOMAPS_MAX_GROUPS``) of 2000 examples and a 64-neuron layer.

Computes the view once in this process (a synthetic 16 -> 64 -> 10 model and ``.npz`` data
whose ``groups`` column makes 1000 groups of two), then does what the page does after a Run,
each time from a fresh :class:`Store` on the same folder (as another web worker would): read
the stored view, build the Maps tab's figures (:func:`callbacks.maps.build_views`) and encode
them as Dash sends them. Reports the stored result's size, the bytes read from the cache for
one page view, the response's JSON size and the build and encode time (the median of
``--repeats``), and the peak Python memory of one more such request (``tracemalloc``, which
slows it down too much to be timed), and the RSS of a fresh process serving one such view.

Usage::

    python benchmarks/bench_many_groups.py [--groups 1000] [--examples 2000] [--neurons 64]
"""

from __future__ import annotations

import argparse
import io
import pickle
import shutil
import statistics
import tempfile
import time
import tracemalloc
from dataclasses import asdict
from pathlib import Path


def _inputs(store, groups: int, examples: int, neurons: int) -> tuple[str, str]:
    import numpy as np

    from topomap_core.config import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(neurons, activation="tanh", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-many-inputs-"))
    try:
        model.save(folder / "model.keras")
        rng = np.random.default_rng(0)
        buf = io.BytesIO()
        np.savez(
            buf,
            x=rng.normal(size=(examples, 16)).astype(np.float32),
            y=rng.integers(0, 10, examples),
            groups=np.arange(examples) % groups,
        )
        model_ref = store.add_model((folder / "model.keras").read_bytes(), "model.keras")
        data_ref = store.add_data(buf.getvalue(), "groups.npz")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return model_ref, data_ref


class _Counting:
    """The real cache, counting the pickled bytes of what one request reads from it."""

    def __init__(self, cache):
        self.cache, self.read = cache, 0

    def get(self, key, default=None):
        value = self.cache.get(key, default)
        if value is not None:
            self.read += len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return value

    def __getattr__(self, name):
        return getattr(self.cache, name)

    def __contains__(self, key):
        return key in self.cache


def _one_request(root: Path, result_data: dict, trace: bool) -> tuple[float, int, int, int]:
    """(seconds, response bytes, bytes read from the cache, peak traced bytes); ``trace``:
    measure the peak memory (tracemalloc slows everything down: not timed then)."""
    import plotly.io as pio

    import topomap_core.store as store_module
    from callbacks.maps import build_views

    counting: list[_Counting] = []
    real_cache = store_module.Store.cache

    def cache(self):
        wrapped = _Counting(real_cache.fget(self))
        counting.append(wrapped)
        return wrapped

    store_module.Store.cache = property(cache)
    try:
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        views = build_views(root, result_data, None, None)
        figures = (views.maps, views.dendrogram, views.scatter, views.selected_map)
        body = sum(len(pio.to_json(fig, validate=False)) for fig in figures)
        seconds = time.perf_counter() - t0
        peak = 0
        if trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    finally:
        store_module.Store.cache = real_cache
    return seconds, body, sum(c.read for c in counting), peak


_VIEWER = """
import json, sys
import plotly.io as pio
from callbacks.maps import build_views

def rss_mb(field="VmRSS"):
    # VmHWM, not ru_maxrss: that one keeps the parent's peak across fork and exec.
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(field)) / 1024

root, data = sys.argv[1], json.loads(sys.argv[2])
before = rss_mb()
views = build_views(root, data, None, None)
figures = (views.maps, views.dendrogram, views.scatter, views.selected_map)
body = sum(len(pio.to_json(fig, validate=False)) for fig in figures)
peak = rss_mb("VmHWM")
print(json.dumps({"before": before, "peak": peak}))
"""


def _viewer_rss(root: Path, result_data: dict) -> tuple[float, float]:
    """(RSS before, peak RSS) in MB of a fresh process that imports the page's callbacks and
    serves one page view: what one viewer costs a web worker."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _VIEWER, str(root), json.dumps(result_data)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    return measured["before"], measured["peak"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--neurons", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from topomap_core.analyses.view import ViewRequest
    from topomap_core.jobs.registry import JOBS
    from topomap_core.jobs.results import get_or_compute, job_key
    from topomap_core.store import Store

    root = Path(tempfile.mkdtemp(prefix="bench-many-groups-"))
    try:
        store = Store(root)
        model_ref, data_ref = _inputs(store, args.groups, args.examples, args.neurons)
        request = ViewRequest(
            model=model_ref, data=data_ref, layer="hidden", groups="column", method="PCA"
        )
        t0 = time.perf_counter()
        result, key = get_or_compute(JOBS["view"], request, store)
        computed = time.perf_counter() - t0
        stored = len(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        assert key == job_key(JOBS["view"], request, store)
        print(
            f"{len(result.order.names)} groups, {result.nap.n_neurons} neurons; computed in "
            f"{computed:.1f} s; stored result {stored / 1e6:.1f} MB"
        )
        result_data = {"request": asdict(request), "key": key}
        runs = [_one_request(root, result_data, False) for _ in range(args.repeats)]
        seconds, body, read = (statistics.median(r[i] for r in runs) for i in range(3))
        peak = _one_request(root, result_data, True)[3]
        print(
            f"one page view: {seconds:.2f} s to read, build and encode; response "
            f"{body / 1e6:.2f} MB; read from the cache {read / 1e6:.1f} MB; peak Python memory "
            f"{peak / 1e6:.0f} MB (median of {args.repeats}; memory from one more, traced)"
        )
        before, top = _viewer_rss(root, result_data)
        print(f"a fresh viewer process: {before:.0f} MB RSS after imports, {top:.0f} MB peak")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
