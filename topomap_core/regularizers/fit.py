"""Put the topographic regularizer on a model's layers, train, and read the grid back.

Shared by the ``train-topographic`` job (:mod:`topomap_core.analyses.train_topographic`) and
the topographic demo (:mod:`topomap_core.io.demo`), so both train the same way; the ``grid``
layout and the Topographic tab read a trained layer's grid with :func:`layer_grid`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import config
from ..errors import TopomapError
from ..progress import ProgressCallback, report
from .grid import auto_grid, check_grid, grid_text, neighbour_similarity, shuffled_similarity
from .topographic import MODES, TopographicRegularizer

__all__ = ["LayerGrid", "TrainLog", "fit_topographic", "layer_grid", "regularize", "unit_vectors"]


@dataclass(frozen=True)
class LayerGrid:
    """Where a layer's units sit: its regularizer's grid, neighbourhood and mode."""

    rows: int
    cols: int
    neighbourhood: int
    mode: str
    strength: float

    @property
    def text(self) -> str:
        return grid_text(self.rows, self.cols)


def _reg_of(layer) -> TopographicRegularizer | None:
    for attr in ("kernel_regularizer", "activity_regularizer"):
        reg = getattr(layer, attr, None)
        if isinstance(reg, TopographicRegularizer):
            return reg
    return None


def layer_grid(model, layer: str) -> LayerGrid | None:
    """The grid of ``layer`` if it was trained with the topographic regularizer, else None."""
    from ..io.models import layer_object

    reg = _reg_of(layer_object(model, layer))
    if reg is None:
        return None
    return LayerGrid(reg.rows, reg.cols, reg.neighbourhood, reg.mode, reg.strength)


def regularize(
    model,
    layer: str,
    grid: tuple[int, int] | None = None,
    *,
    neighbourhood: int = 3,
    strength: float = 0.01,
    mode: str = "weights",
) -> LayerGrid:
    """Give ``layer`` of ``model`` the topographic regularizer (in place).

    Parameters
    ----------
    grid : (rows, cols), optional
        Default :func:`.grid.auto_grid` of the layer's unit count.
    mode : {"weights", "activations"}
        ``weights`` needs a layer with a kernel of one column per unit (Dense, convolutions);
        ``activations`` any layer with a channels-last unit axis.

    Raises
    ------
    TopomapError
        The grid cannot hold the layer's units, or the layer does not fit the mode.
    """
    from ..io.models import get_layer, layer_object

    info = get_layer(model, layer)
    obj = layer_object(model, layer)
    rows, cols = grid if grid is not None else auto_grid(info.neurons)
    try:
        check_grid(rows, cols, info.neurons, f"layer {layer!r}")
        reg = TopographicRegularizer(rows, cols, neighbourhood, strength, mode)
    except ValueError as exc:
        raise TopomapError(str(exc)) from None
    if mode == "weights":
        kernel = getattr(obj, "kernel", None)
        if kernel is None or int(kernel.shape[-1]) != info.neurons:
            raise TopomapError(
                f"layer {layer!r} ({info.class_name}) has no kernel with one column per unit; "
                "mode weights needs a Dense or convolution layer (or use mode activations)"
            )
        obj.kernel_regularizer = reg
        kernel.regularizer = reg
    elif mode == "activations":
        if getattr(obj, "data_format", None) == "channels_first":
            raise TopomapError(
                f"layer {layer!r} is channels_first; mode activations needs the "
                "units on the last axis"
            )
        obj.activity_regularizer = reg
    else:
        raise TopomapError(f"unknown mode {mode!r} (use one of {', '.join(MODES)})")
    return LayerGrid(rows, cols, neighbourhood, mode, strength)


def unit_vectors(model, layer: str) -> np.ndarray:
    """The layer's kernel, one column per unit (what the weights mode compares)."""
    from ..io.models import layer_object

    kernel = getattr(layer_object(model, layer), "kernel", None)
    if kernel is None:
        raise TopomapError(f"layer {layer!r} has no kernel")
    k = np.asarray(kernel.numpy())
    return k.reshape(-1, k.shape[-1])


@dataclass
class TrainLog:
    """What one training run measured, per epoch and before/after."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    epoch_s: list[float] = field(default_factory=list)
    similarity: dict = field(default_factory=dict)


def _from_logits(model, x: np.ndarray) -> bool:
    """Whether the model outputs logits (else probabilities that sum to 1)."""
    out = np.asarray(model(x[:32], training=False))
    return not (np.all(out >= 0) and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))


def fit_topographic(
    model,
    x: np.ndarray,
    y: np.ndarray,
    grids: dict[str, LayerGrid],
    *,
    epochs: int,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> TrainLog:
    """Train ``model`` (regularized with :func:`regularize`) on integer labels ``y``.

    Progress is ``("training", epoch, epochs)`` after every epoch; returning True cancels
    (:class:`~topomap_core.errors.Cancelled`). Neighbour similarity of every weights-mode
    layer is measured before and after (with its shuffled control).
    """
    keras = config.import_keras()
    y = np.asarray(y)
    n_out = int(model.outputs[0].shape[-1])
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_out:
        raise TopomapError(
            f"training needs integer class labels 0..{n_out - 1} (the model has {n_out} "
            f"outputs); the data's labels are {y.dtype} from {y.min()} to {y.max()}"
        )
    keras.utils.set_random_seed(seed)
    log = TrainLog()

    def measure(when: str) -> None:
        for name, g in grids.items():
            if g.mode == "weights":
                v = unit_vectors(model, name)
                log.similarity.setdefault(name, {})[when] = neighbour_similarity(
                    v, g.rows, g.cols, g.neighbourhood
                )
                log.similarity[name][f"{when}_shuffled"] = shuffled_similarity(
                    v, g.rows, g.cols, g.neighbourhood
                )

    measure("before")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=_from_logits(model, x)),
        metrics=["accuracy"],
    )

    callback: Any = keras.callbacks.Callback  # a base a type checker cannot see

    class Epochs(callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            log.epoch_s.append(time.perf_counter() - self.t0)
            log.loss.append(float(logs["loss"]))
            log.accuracy.append(float(logs["accuracy"]))
            report(progress, "training", epoch + 1, epochs)

    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[Epochs()])
    measure("after")
    return log
