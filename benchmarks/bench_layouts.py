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


def make_nap(n_neurons: int, n_groups: int = 10, seed: int = 0) -> np.ndarray:
    """A NAP with cluster structure like a trained dense layer's: shape (n_groups, n_neurons)."""
    rng = np.random.RandomState(seed)
    n_clusters = max(2, n_neurons // 32)
    centres = rng.normal(size=(n_clusters, n_groups))
    labels = rng.randint(n_clusters, size=n_neurons)
    nap = centres[labels] + 0.3 * rng.normal(size=(n_neurons, n_groups))
    nap[rng.rand(n_neurons) < 0.05] = 0.0  # dead units, as in real ReLU layers
    return (nap - nap.mean(axis=1, keepdims=True)).T


def baseline_pso(nap: np.ndarray, n_steps: int = 1000, seed: int = 0, init=None):
    """The paper's PSO written plainly from its equations with full N x N float64 arrays.

    With ``init`` (a hybrid's start layout in [0, 1]) the global force is off, as in
    paper 3.2.5.
    """
    from scipy.spatial.distance import pdist, squareform

    X = nap.T
    global_force = init is None
    D = np.nan_to_num(squareform(pdist(X, "cosine")), nan=1.0)
    f_glob = 1.5 * (1 - (D / D.max()) ** 3) - 0.5 * np.exp(-D / 2)
    pos = np.random.RandomState(seed).uniform(size=(X.shape[0], 2)) if init is None else init
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


def _warm_up(method: str) -> None:
    from topomap_core import compute_layout

    if "UMAP" in method:
        import umap  # noqa: F401 - import (and TensorFlow it pulls in) is not layout time

        compute_layout(make_nap(32), "UMAP", random_state=0)  # JIT warm-up, as a worker would
    compute_layout(make_nap(32), "PCA_PSO", random_state=0, n_steps=2)  # numba warm-up


def _quality(nap: np.ndarray, xy: np.ndarray) -> dict:
    from topomap_core.profiles.interpolate import colour_limit, interpolate_maps
    from topomap_core.profiles.metrics import quality_metrics

    return quality_metrics(interpolate_maps(xy, nap), colour_limit(nap))


def run_one(method: str, n: int, seed: int = 0, quality: bool = False) -> dict:
    """Run one layout in this process and return its time and peak-memory growth.

    ``method`` is a registered name, or ``baseline_PSO`` / ``baseline_UMAP_PSO`` for the
    plain NumPy transcription (the latter starts from our UMAP layout, timed).
    """
    from topomap_core import compute_layout
    from topomap_core.config import quiet_tensorflow
    from topomap_core.placement._base import scale_unit

    quiet_tensorflow()
    nap = make_nap(n)
    _warm_up(method)
    before = _peak_rss_mb()
    t0 = time.perf_counter()
    if method.startswith("baseline_"):
        # The baseline hybrid starts from our UMAP layout (timed, as in the whole method).
        init = compute_layout(nap, "UMAP", random_state=seed) if "UMAP" in method else None
        xy = scale_unit(baseline_pso(nap, seed=seed, init=init))
    else:
        xy = compute_layout(nap, method, random_state=seed)
    seconds = time.perf_counter() - t0
    row = {"method": method, "n": n, "seed": seed, "seconds": seconds}
    row["peak_mb"] = _peak_rss_mb() - before
    if quality:
        row.update(_quality(nap, xy))
    return row


def _spawn(method: str, n: int, seed: int = 0, quality: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--one", method, str(n), str(seed)]
    if quality:
        cmd.append("--with-quality")
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ})
    if out.returncode:
        raise RuntimeError(f"{method} N={n} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


METRIC_KEYS = ("mse_blur_auc", "mse_resize_auc", "n_components", "mean_component_size")


def compare(n: int, seeds: int) -> list[dict]:
    """Ours vs the baseline for PSO and UMAP_PSO: time, memory and quality over seeds."""
    rows = []
    for method in ("PSO", "UMAP_PSO"):
        runs = {}
        for impl in (method, f"baseline_{method}"):
            runs[impl] = [_spawn(impl, n, seed, quality=True) for seed in range(seeds)]
            rows += runs[impl]
        ours, base = runs[method], runs[f"baseline_{method}"]
        t_ours = np.mean([r["seconds"] for r in ours])
        t_base = np.mean([r["seconds"] for r in base])
        print(
            f"\n{method}, N={n}, {seeds} seeds: ours {t_ours:.2f} s, baseline {t_base:.1f} s "
            f"-> {t_base / t_ours:.1f}x faster; peak MB ours "
            f"{max(r['peak_mb'] for r in ours):.1f} vs baseline "
            f"{max(r['peak_mb'] for r in base):.1f}"
        )
        print(f"  {'metric':22s} {'ours mean +- sd':>22s} {'baseline mean +- sd':>22s}")
        for key in METRIC_KEYS:
            a = np.array([r[key] for r in ours])
            b = np.array([r[key] for r in base])
            print(
                f"  {key:22s} {a.mean():12.1f} +- {a.std(ddof=1):6.1f} "
                f"{b.mean():12.1f} +- {b.std(ddof=1):6.1f}"
            )
    return rows


def scaling(sizes: list[int], method: str = "UMAP_PSO") -> list[dict]:
    """Time and memory of one method over growing N, with the fitted growth exponent."""
    rows = [_spawn(method, n) for n in sizes]
    print(f"\n{method} scaling")
    print(f"{'N':>7s} {'seconds':>9s} {'peak MB':>9s}")
    for r in rows:
        print(f"{r['n']:7d} {r['seconds']:9.2f} {r['peak_mb']:9.1f}")
    big = [r for r in rows if r["n"] >= 2048] or rows
    if len(big) >= 2:
        slope = np.polyfit(np.log([r["n"] for r in big]), np.log([r["seconds"] for r in big]), 1)
        print(f"fitted growth exponent (time ~ N^k, N >= {big[0]['n']}): k = {slope[0]:.2f}")
    return rows


def main() -> None:
    from topomap_core import available_methods

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--methods", nargs="+", default=available_methods() + ["baseline_PSO"])
    parser.add_argument(
        "--compare",
        type=int,
        metavar="N",
        help="ours vs baseline for PSO and UMAP_PSO at N neurons, over --seeds",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--scaling",
        type=int,
        nargs="+",
        metavar="N",
        help="UMAP_PSO time and memory at these N, with the growth exponent",
    )
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--with-quality", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.one:
        method, n, seed = args.one
        print(json.dumps(run_one(method, int(n), int(seed), args.with_quality)))
        return
    if args.compare or args.scaling:
        rows = []
        if args.compare:
            rows += compare(args.compare, args.seeds)
        if args.scaling:
            rows += scaling(args.scaling)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2))
        return

    rows = []
    print(f"{'method':14s} {'N':>6s} {'seconds':>9s} {'peak MB':>9s}", flush=True)
    for n in args.sizes:
        for method in args.methods:
            row = _spawn(method, n)
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
