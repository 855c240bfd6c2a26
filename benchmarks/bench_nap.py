"""NAP extraction against plain batched prediction, and its memory as examples grow 10x.

Both sides run the same model on the same examples in batches of the same size, in one
process run each (fresh subprocesses, so peak memory is their own). Peak memory is the growth
of the process's peak RSS over its RSS once the data exists: the peak (``VmHWM``) is reset
through ``/proc/self/clear_refs`` after the data is made, so neither the data itself (which
grows 10x by design) nor the temporaries of making it are counted.

Usage::

    python benchmarks/bench_nap.py                 # 2000 and 20000 examples
    python benchmarks/bench_nap.py --examples 1000 10000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not in /proc/self/status")


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (less disturbed by other load)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peak() -> float:
    """Reset the peak RSS to the current RSS (Linux ``clear_refs`` 5); return the RSS in MB."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status_mb("VmRSS")


def build_model():
    """A small image CNN (32x32x3, three conv blocks, 10 classes), untrained, seeded."""
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(),
            layers.Conv2D(128, 3, padding="same", activation="relu", name="conv3"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(256, activation="relu", name="dense"),
            layers.Dense(10, activation="softmax", name="output"),
        ]
    )


def run_one(mode: str, n: int, layer: str, batch_size: int) -> dict:
    from topomap_core.config import quiet_tensorflow

    quiet_tensorflow()
    from topomap_core.analyses.naps import compute_nap
    from topomap_core.analyses.topomap import MapParams
    from topomap_core.io.data import Dataset

    model = build_model()
    rng = np.random.RandomState(0)
    x = rng.rand(n, 32, 32, 3).astype(np.float32)
    y = rng.randint(10, size=n)
    model.predict(x[:batch_size], verbose=0)  # build and trace once, for both sides
    before = _reset_peak()
    c0 = _cpu_seconds()
    t0 = time.perf_counter()
    if mode == "predict":
        model.predict(x, batch_size=batch_size, verbose=0)
    else:
        data = Dataset(x=x, y=y, groups=None, label_names=None, name="bench")
        compute_nap(model, data, layer, MapParams(per_group=n), batch_size=batch_size)
    return {
        "mode": mode, "n": n, "layer": layer, "seconds": time.perf_counter() - t0,
        "cpu_seconds": _cpu_seconds() - c0,
        "peak_mb": _status_mb("VmHWM") - before,
    }  # fmt: skip


def _spawn(mode: str, n: int, layer: str, batch_size: int) -> dict:
    cmd = [sys.executable, __file__, "--one", mode, str(n), layer, str(batch_size)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--layers", nargs="+", default=["conv2", "dense"])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating runs of each side; the fastest counts"
    )
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        mode, n, layer, bs = args.one
        print(json.dumps(run_one(mode, int(n), layer, int(bs))))
        return
    print(f"{'layer':8s} {'examples':>9s} {'predict s':>10s} {'NAP s':>8s} {'ratio':>6s} "
          f"{'CPU ratio':>9s} {'predict MB':>11s} {'NAP MB':>8s}")  # fmt: skip
    for layer in args.layers:
        for n in args.examples:
            # Alternate the two sides so that load from other processes hits both alike, and
            # keep each side's fastest run (the least disturbed one).
            runs = [
                (
                    _spawn("predict", n, layer, args.batch_size),
                    _spawn("nap", n, layer, args.batch_size),
                )
                for _ in range(max(1, args.repeats))
            ]
            p = min((r[0] for r in runs), key=lambda r: r["seconds"])
            q = min((r[1] for r in runs), key=lambda r: r["seconds"])
            cpu = min(r[1]["cpu_seconds"] for r in runs) / min(r[0]["cpu_seconds"] for r in runs)
            print(f"{layer:8s} {n:9d} {p['seconds']:10.2f} {q['seconds']:8.2f} "
                  f"{q['seconds'] / p['seconds']:6.2f} {cpu:9.2f} {p['peak_mb']:11.1f} "
                  f"{q['peak_mb']:8.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
