"""Train a model with the topographic regularizer (Krug & Stober) on some of its layers.

``model + data + layer(s) + grid + neighbourhood + strength + mode -> trained .keras``: the
model's own weights are the start (fine-tuning; a freshly initialised model is trained from
its initial weights), the regularizer (:mod:`topomap_core.regularizers.topographic`) goes on
each named layer, and the model is trained on the data's integer labels. With ``demo:digits``
the model trains on the digits' train split and its accuracy is measured on the test split;
with a user's file it trains on all of it and the accuracy is on the same examples.

The result holds the saved ``.keras`` (it loads through the safe loader: the regularizer is on
its allowlist), the grids, and what was measured: loss and accuracy per epoch, seconds per
epoch, and each weights-mode layer's neighbour similarity before and after (with its shuffled
control).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import TopomapError
from ..io.demo import demo_names
from ..jobs.base import Job, register
from ..params import Grid, Interval, Name, Options, Reference, param
from ..regularizers import MODES
from ..regularizers.grid import DEFAULT_NEIGHBOURHOOD, MAX_NEIGHBOURHOOD, parse_grid
from .topomap import MAX_SEED, model_ref, preprocess_param, resize_param

__all__ = ["TrainResult", "TrainTopographicJob", "TrainTopographicRequest"]

MAX_EPOCHS = 1000
MAX_LAYERS = 16


@dataclass(frozen=True, kw_only=True)
class TrainTopographicRequest:
    """What to train: a model, its data, the layer(s) and the regularizer's settings."""

    model: str = model_ref(default="demo:digits-cnn", cli_required=True)
    data: str = param(
        Reference("data", lambda: demo_names("data")),
        "demo:digits",
        label="data",
        missing="Choose data",
        help="training data with integer labels y (.npz, image .zip) or demo:digits",
        cli_required=True,
    )
    preprocess: str = preprocess_param()
    resize: str = resize_param()
    layer: str = param(
        Name(),
        "conv2",
        label="layer",
        missing="Choose a layer",
        help="layer to regularize; several as conv1,conv2",
        cli_required=True,
    )
    grid: str = param(
        Grid(),
        "auto",
        label="grid",
        help="grid RxC holding the layer's units, or auto (16x8 for 128, 16x16 for 256)",
        metavar="RxC",
    )
    neighbourhood: int = param(
        Interval(int, 3, MAX_NEIGHBOURHOOD),
        DEFAULT_NEIGHBOURHOOD,
        label="neighbourhood",
        help="odd side of the square neighbourhood",
        metavar="N",
    )
    strength: float = param(
        Interval(float, 0.0, 100.0), 0.01, label="strength", help="factor of the penalty"
    )
    mode: str = param(
        Options(MODES, "mode"),
        "weights",
        label="mode",
        help="penalise the units' weights (the paper) or their activations over the batch",
    )
    epochs: int = param(Interval(int, 1, MAX_EPOCHS), 3, label="epochs", help="training epochs")
    learning_rate: float = param(
        Interval(float, 1e-7, 1.0), 1e-3, label="learning rate", help="Adam's learning rate"
    )
    batch_size: int = param(Interval(int, 1, 4096), 32, label="batch size", help="batch size")
    seed: int = param(Interval(int, 0, MAX_SEED), 0, label="seed", help="random seed")

    def layers(self) -> list[str]:
        """The named layers, in order, without repeats."""
        names = [name.strip() for name in self.layer.split(",")]
        if not all(names) or len(names) > MAX_LAYERS:
            raise TopomapError(
                f"layer {self.layer[:60]!r}: give 1 to {MAX_LAYERS} names separated by commas"
            )
        return list(dict.fromkeys(names))


@dataclass
class TrainResult:
    """A trained model (``.keras`` bytes) and what its training measured."""

    request: TrainTopographicRequest
    model_bytes: bytes
    grids: dict[str, dict]
    loss: list[float]
    accuracy: list[float]
    epoch_s: list[float]
    similarity: dict[str, dict]
    accuracy_before: float
    accuracy_after: float
    accuracy_on: str
    timings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "model": self.request.model,
            "data": self.request.data,
            "layers": self.grids,
            "epochs": self.request.epochs,
            "loss": [round(v, 6) for v in self.loss],
            "train_accuracy": [round(v, 6) for v in self.accuracy],
            "epoch_s": [round(v, 3) for v in self.epoch_s],
            "neighbour_similarity": self.similarity,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "accuracy_on": self.accuracy_on,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    from ..io.activations import predict

    return float(np.mean(predict(model, x).argmax(axis=1) == y))


def _training_data(request, sources, model):
    """``(x_train, y_train, x_eval, y_eval, what)``: the demo's split, or the file twice."""
    from ..io.models import input_spec

    if request.data == "demo:digits" and sources.spec("data") == "demo:digits":
        from ..io.data import check_fits, digits_split

        dataset = sources.load_data(input_spec(model))
        check_fits(dataset, input_spec(model))
        x_train, y_train, x_test, y_test = digits_split()
        return x_train, y_train, x_test, y_test, "the digits test split"
    dataset = sources.load_data(input_spec(model))
    return dataset.x, dataset.y, dataset.x, dataset.y, "the training data"


def save_bytes(model) -> bytes:
    """The model as ``.keras`` file bytes."""
    fd, tmp = tempfile.mkstemp(suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        return Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)


@register
class TrainTopographicJob(Job):
    """The Topographic tab's training job and the ``train-topographic`` command."""

    name = "train_topographic"
    request_type = TrainTopographicRequest
    inputs = {"model": "model", "data": "data"}
    command = "train-topographic"
    summary = "train a model with the topographic regularizer on some of its layers"

    def compute(self, request, sources, cache, progress):
        from ..regularizers.fit import fit_topographic, regularize

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        grid = None if request.grid == "auto" else parse_grid(request.grid)
        if request.neighbourhood % 2 == 0:
            raise TopomapError(f"Neighbourhood {request.neighbourhood} must be odd (3, 5, 7 or 9)")
        layers = request.layers()
        model = sources.load_model()
        x_train, y_train, x_eval, y_eval, what = _training_data(request, sources, model)
        timings["load"] = time.perf_counter() - t0
        grids = {
            name: regularize(
                model,
                name,
                grid,
                neighbourhood=request.neighbourhood,
                strength=request.strength,
                mode=request.mode,
            )
            for name in layers
        }
        before = _accuracy(model, x_eval, y_eval)
        t0 = time.perf_counter()
        log = fit_topographic(
            model,
            x_train,
            y_train,
            grids,
            epochs=request.epochs,
            learning_rate=request.learning_rate,
            batch_size=request.batch_size,
            seed=request.seed,
            progress=progress,
        )
        timings["training"] = time.perf_counter() - t0
        after = _accuracy(model, x_eval, y_eval)
        return TrainResult(
            request=request,
            model_bytes=save_bytes(model),
            grids={name: {**asdict(g), "grid": g.text} for name, g in grids.items()},
            loss=log.loss,
            accuracy=log.accuracy,
            epoch_s=log.epoch_s,
            similarity=log.similarity,
            accuracy_before=before,
            accuracy_after=after,
            accuracy_on=what,
            timings=timings,
        )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"model": out / "model.keras", "summary": out / "summary.json"}
        paths["model"].write_bytes(result.model_bytes)
        paths["summary"].write_text(json.dumps(result.summary(), indent=2))
        return paths

    def report(self, result):
        parts = []
        for name, g in result.grids.items():
            sim = result.similarity.get(name)
            text = f"{name} on {g['grid']} ({g['mode']})"
            if sim:
                text += (
                    f": neighbour similarity {sim['before']:.3f} -> {sim['after']:.3f} "
                    f"(shuffled {sim['after_shuffled']:.3f})"
                )
            parts.append(text)
        mean_epoch = float(np.mean(result.epoch_s)) if result.epoch_s else 0.0
        return (
            f"{'; '.join(parts)}; accuracy {result.accuracy_before:.3f} -> "
            f"{result.accuracy_after:.3f} on {result.accuracy_on}; "
            f"{len(result.epoch_s)} epochs, {mean_epoch:.1f} s per epoch"
        )
