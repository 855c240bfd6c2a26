"""How fast a computed view comes back from the on-disk cache, at the library level.

Computes one view per layer width on a synthetic dense model (first request), then asks for it
again from a *new* :class:`Store` on the same folder (as another process or a restarted server
would) and reports the median and worst of repeated cache reads next to the first request.

Usage::

    python benchmarks/bench_cache.py [--widths 128 2048 8192] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from topomap_core.config import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from topomap_core.pipeline import MapRequest
    from topomap_core.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 2048, 8192])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    store = Store(root)
    print(f"{'neurons':>8s} {'first s':>8s} {'cached median s':>16s} {'cached max s':>13s} "
          f"{'ratio':>7s}")  # fmt: skip
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
        request = MapRequest(ref, "demo:digits", "wide", method="PCA_PSO", per_group=100)
        t0 = time.perf_counter()
        store.view(request)
        first = time.perf_counter() - t0
        reads = []
        for _ in range(args.repeats):
            fresh = Store(root)  # nothing in memory: every read comes from disk
            t0 = time.perf_counter()
            assert fresh.cached_view(request) is not None
            reads.append(time.perf_counter() - t0)
        med = statistics.median(reads)
        print(f"{width:8d} {first:8.2f} {med:16.4f} {max(reads):13.4f} {first / med:7.0f}x",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
