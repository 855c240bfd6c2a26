"""Time and peak memory of every layout method on the same NAP.

Each (method, N) runs in a fresh subprocess so peak memory is its own: we
report the growth of the process's peak RSS over its value just before the
layout starts (imports and the NAP excluded). A plain NumPy transcription of
the paper's PSO (section 3.2.4: full pairwise float64 arrays, 1000 steps) runs
beside ours, so the speed ratio is measured side by side in one run.

Usage::

    python benchmarks/bench_layouts.py                # N = 128 and 1024, all methods
    python benchmarks/bench_layouts.py --sizes 128 --methods PSO UMAP_PSO
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
sys.path.insert(0, str(ROOT))


def make_nap(n_neurons: int, n_groups: int = 10, seed: int = 0) -> np.ndarray:
    """A NAP with cluster structure like a trained dense layer's: shape (n_groups, n_neurons)."""
    rng = np.random.RandomState(seed)
    n_clusters = max(2, n_neurons // 32)
    centres = rng.normal(size=(n_clusters, n_groups))
    labels = rng.randint(n_clusters, size=n_neurons)
    nap = centres[labels] + 0.3 * rng.normal(size=(n_neurons, n_groups))
    nap[rng.rand(n_neurons) < 0.05] = 0.0  # dead units, as in real ReLU layers
    return (nap - nap.mean(axis=1, keepdims=True)).T


def baseline_pso(nap: np.ndarray, n_steps: int = 1000, seed: int = 0, global_force=True):
    """The paper's PSO written plainly from its equations with full N x N float64 arrays."""
    from scipy.spatial.distance import pdist, squareform

    X = nap.T
    D = np.nan_to_num(squareform(pdist(X, "cosine")), nan=1.0)
    f_glob = 1.5 * (1 - (D / D.max()) ** 3) - 0.5 * np.exp(-D / 2)
    pos = np.random.RandomState(seed).uniform(size=(X.shape[0], 2))
    w_l_all = (np.tanh(np.linspace(-3, 6, n_steps)) + 1) / 2
    for t in range(n_steps):
        w_l = w_l_all[t]
        w_g = 1 - w_l if global_force else 0.0
        diff = pos[None, :, :] - pos[:, None, :]
        d = np.maximum(np.sqrt((diff**2).sum(-1)), 0.01)
        f_loc = 1.5 / (d + 1) ** 3 - 15 * np.exp(-d / 2)
        f = (w_l * f_loc + w_g * f_glob) / 2
        pos = pos + (diff * f[:, :, None]).mean(axis=1)
    return pos


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(method: str, n: int) -> dict:
    """Run one layout in this process and return its time and peak-memory growth."""
    from topomap_core import compute_layout
    from topomap_core.config import quiet_tensorflow

    quiet_tensorflow()
    nap = make_nap(n)
    if method.endswith("UMAP") or method.startswith("UMAP"):
        import umap  # noqa: F401 - import (and TensorFlow it pulls in) is not layout time

        compute_layout(make_nap(32), "UMAP", random_state=0)  # JIT warm-up, as a worker would
    else:
        compute_layout(make_nap(32), "PCA_PSO", random_state=0, n_steps=2)  # numba warm-up
    before = _peak_rss_mb()
    t0 = time.perf_counter()
    if method == "baseline_PSO":
        baseline_pso(nap)
    else:
        compute_layout(nap, method, random_state=0)
    seconds = time.perf_counter() - t0
    return {"method": method, "n": n, "seconds": seconds, "peak_mb": _peak_rss_mb() - before}


def main() -> None:
    from topomap_core import available_methods

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--methods", nargs="+", default=available_methods() + ["baseline_PSO"])
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return

    rows = []
    print(f"{'method':14s} {'N':>6s} {'seconds':>9s} {'peak MB':>9s}", flush=True)
    for n in args.sizes:
        for method in args.methods:
            out = subprocess.run(
                [sys.executable, __file__, "--one", method, str(n)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ},
                check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{method:14s} {n:6d} {row['seconds']:9.2f} {row['peak_mb']:9.1f}", flush=True)
    by = {(r["method"], r["n"]): r for r in rows}
    for n in args.sizes:
        base = by.get(("baseline_PSO", n))
        ours = by.get(("PSO", n))
        if base and ours:
            print(
                f"N={n}: PSO is {base['seconds'] / ours['seconds']:.1f}x faster than the plain "
                f"NumPy baseline; peak memory {ours['peak_mb']:.1f} MB vs {base['peak_mb']:.1f} MB"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
