"""The topographic demo measured (issue 13): neighbour similarity, accuracy, layout quality,
and the regularizer's cost per training epoch.

On ``demo:digits-cnn-topographic`` (``digits-cnn`` fine-tuned with the regularizer on conv2,
16x8 grid) against the unregularised ``digits-cnn`` and against ``digits-cnn`` fine-tuned the
same way with strength 0 (the same epochs without the penalty):

1. mean neighbour cosine similarity of conv2's filters on the grid, the same filters in
   shuffled positions (20 permutations), and the unregularised filters on the same grid;
2. test accuracy (540 digits);
3. the quality metrics (paper 4.2) of the ``grid`` layout of the topographic conv2 against
   UMAP_PSO on the unregularised conv2 (and on the topographic one);
4. seconds per training epoch with and without the regularizer, measured side by side in
   alternating runs (first epoch, which traces the graph, left out), wall and process CPU;
   "with" uses the penalty as committed (one product with the neighbourhood weight matrix
   at 128 units), "with_shift" the earlier computation by grid shifts (the "before").

Usage::

    TOPOMAPS_DATA_DIR=/tmp/bench python benchmarks/bench_topographic.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from topomap_core import config

config.quiet_tensorflow()


def accuracy(model, x, y) -> float:
    from topomap_core.io.activations import predict

    return float(np.mean(predict(model, x).argmax(axis=1) == y))


def timed_finetune(
    strength: float, epochs: int, dense_max_units: int | None = None
) -> tuple[list[float], list[float], object]:
    """Fine-tune digits-cnn (conv2 on 16x8); wall and CPU seconds per epoch after the first.

    ``dense_max_units=0`` makes the penalty use grid shifts (the computation before the dense
    one)."""
    import os

    import keras

    from topomap_core.io.data import digits_split
    from topomap_core.io.demo import TOPOGRAPHIC_DEMO, demo_model_path
    from topomap_core.io.models import load_model
    from topomap_core.regularizers import topographic
    from topomap_core.regularizers.fit import fit_topographic, regularize

    model = load_model(demo_model_path("demo:digits-cnn"))
    x, y, _, _ = digits_split()
    keras.utils.set_random_seed(0)
    grids = {}
    if strength > 0:
        grids["conv2"] = regularize(model, "conv2", (16, 8), strength=strength)
    cpu: list[float] = []

    class Cpu(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = os.times()

        def on_epoch_end(self, epoch, logs=None):
            t = os.times()
            cpu.append(t.user + t.system - self.t.user - self.t.system)

    # fit_topographic's own callback times the wall clock per epoch.
    original = keras.Model.fit

    def fit(self, *args, callbacks=None, **kwargs):
        return original(self, *args, callbacks=[*(callbacks or []), Cpu()], **kwargs)

    keras.Model.fit = fit
    saved_limit = topographic.DENSE_MAX_UNITS
    if dense_max_units is not None:
        topographic.DENSE_MAX_UNITS = dense_max_units
    try:
        log = fit_topographic(
            model, x, y, grids, epochs=epochs, learning_rate=TOPOGRAPHIC_DEMO["learning_rate"]
        )
    finally:
        keras.Model.fit = original
        topographic.DENSE_MAX_UNITS = saved_limit
    return log.epoch_s[1:], cpu[1:], model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating timing runs")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timing run")
    args = parser.parse_args()

    from topomap_core.analyses.view import ViewJob, ViewRequest
    from topomap_core.io.data import digits_split
    from topomap_core.io.demo import TOPOGRAPHIC_DEMO
    from topomap_core.io.sources import load_model
    from topomap_core.regularizers.fit import unit_vectors
    from topomap_core.regularizers.grid import neighbour_similarity, shuffled_similarity

    t0 = time.perf_counter()
    topo = load_model("demo:digits-cnn-topographic")
    build_s = time.perf_counter() - t0
    base = load_model("demo:digits-cnn")
    _, _, x_test, y_test = digits_split()
    out: dict = {"demo_load_or_build_s": round(build_s, 1)}

    k_topo, k_base = unit_vectors(topo, "conv2"), unit_vectors(base, "conv2")
    sim = {
        "topographic": neighbour_similarity(k_topo, 16, 8),
        "topographic_shuffled": shuffled_similarity(k_topo, 16, 8),
        "unregularised": neighbour_similarity(k_base, 16, 8),
    }
    sim["ratio_to_shuffled"] = sim["topographic"] / sim["topographic_shuffled"]
    sim["ratio_to_unregularised"] = sim["topographic"] / sim["unregularised"]
    out["neighbour_similarity"] = {k: round(v, 4) for k, v in sim.items()}

    # Timing runs alternate with and without the regularizer; the last strength-0 run is
    # also the accuracy control (the same fine-tuning without the penalty).
    arms = (
        ("with", TOPOGRAPHIC_DEMO["strength"], None),
        ("with_shift", TOPOGRAPHIC_DEMO["strength"], 0),
        ("without", 0.0, None),
    )
    wall: dict[str, list[float]] = {name: [] for name, _, _ in arms}
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in arms}
    control = None
    for _ in range(args.repeats):
        for name, strength, limit in arms:
            w, c, model = timed_finetune(strength, args.epochs, limit)
            wall[name] += w
            cpu[name] += c
            if name == "without":
                control = model
    epoch_s: dict[str, float] = {}
    for name, _, _ in arms:
        epoch_s[f"{name}_median_wall"] = round(float(np.median(wall[name])), 3)
        epoch_s[f"{name}_median_cpu"] = round(float(np.median(cpu[name])), 3)
    for name in ("with", "with_shift"):
        for clock in ("wall", "cpu"):
            epoch_s[f"ratio_{name}_{clock}"] = round(
                epoch_s[f"{name}_median_{clock}"] / epoch_s[f"without_median_{clock}"], 3
            )
    out["epoch_s"] = epoch_s
    out["test_accuracy"] = {
        "digits-cnn": accuracy(base, x_test, y_test),
        "digits-cnn-topographic": accuracy(topo, x_test, y_test),
        f"digits-cnn fine-tuned {TOPOGRAPHIC_DEMO['epochs']}+ epochs without the penalty": (
            accuracy(control, x_test, y_test)
        ),
    }

    job = ViewJob()
    quality = {}
    for label, model, method in (
        ("grid on digits-cnn-topographic", "demo:digits-cnn-topographic", "grid"),
        ("UMAP_PSO on digits-cnn", "demo:digits-cnn", "UMAP_PSO"),
        ("UMAP_PSO on digits-cnn-topographic", "demo:digits-cnn-topographic", "UMAP_PSO"),
    ):
        t0 = time.perf_counter()
        result = job.run(ViewRequest(model=model, layer="conv2", method=method))
        quality[label] = {
            **{k: round(float(v), 3) for k, v in result.metrics.items()},
            "layout_s": round(result.timings.get("layout", 0.0), 3),
            "total_s": round(time.perf_counter() - t0, 2),
        }
    out["quality"] = quality
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
