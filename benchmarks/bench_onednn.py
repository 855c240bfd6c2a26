"""TensorFlow with and without its oneDNN kernels, side by side: what turning them off costs.

Job processes run with ``TF_ENABLE_ONEDNN_OPTS=0`` (``config.quiet_tensorflow``): oneDNN's
backward pass of a strided 1x1 convolution with fewer than 16 input channels corrupts the heap
(uxlfoundation/oneDNN#6035). This measures, each in a fresh process per setting, the work a
job does with TensorFlow: forward passes (the demo CNN on 540 digits, ResNet50 on 16 images of
224x224) and gradients (feature visualisation on the demo CNN: 64 steps)::

    .venv/bin/python benchmarks/bench_onednn.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import importlib.util, json, sys, time
import numpy as np
from topomap_core import config
config.import_keras()
spec = importlib.util.spec_from_file_location("zoo", sys.argv[1] + "/tests/zoo.py")
zoo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(zoo)
from topomap_core.analyses.feature_vis import maximise_activations
from topomap_core.io.activations import predict
from topomap_core.io.data import digits_split
from topomap_core.io.sources import load_model

def best(fn, repeats=3):
    fn()  # traced and warmed once
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return min(times)

cnn = load_model("demo:digits-cnn")
_, _, x, _ = digits_split()
resnet = zoo.resnet50()
photos = np.random.default_rng(0).uniform(-120, 150, (16, 224, 224, 3)).astype(np.float32)
out = {
    "demo CNN, 540 digits": best(lambda: predict(cnn, x)),
    "ResNet50, 16 images": best(lambda: predict(resnet, photos, batch_size=16)),
    "feature vis., 64 steps": best(lambda: maximise_activations(cnn, "conv2", [[0], [1]]), 2),
}
print(json.dumps(out))
"""


def measure(onednn: str) -> dict[str, float]:
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT)], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    off, on = measure("0"), measure("1")
    print(f"{'':24} {'oneDNN off':>11} {'oneDNN on':>10} {'off / on':>9}")
    for name in off:
        print(f"{name:24} {off[name]:10.3f}s {on[name]:9.3f}s {off[name] / on[name]:8.2f}x")


if __name__ == "__main__":
    main()
