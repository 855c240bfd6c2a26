"""Read a Keras model's layer activations and predictions, batch by batch, in bounded memory.

One forward pass serves any number of layers (:func:`iter_layer_activations`: a sub-model with
one output per layer), so the overview of a 54-layer ResNet50 runs the network once, not 54
times. The batch size follows from the memory a batch takes (:func:`batch_size_for`): the
requested layers' outputs and the largest intermediate tensor of the pass, within
``TOPOMAPS_BATCH_MB``, so peak memory is bounded by that setting, not by the number of layers
or examples. Activations are always returned with the neurons on the last axis.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import config
from ..errors import DataError, TopomapError
from ..progress import ProgressCallback, report
from .models import (
    KerasModel,
    _all_layers,
    _find_layer,
    _is_channels_first,
    _node_output,
    _single,
    _symbolic_output,
    get_layer,
    input_shape,
)

keras = config.import_keras()

__all__ = [
    "activation_model",
    "batch_size_for",
    "iter_activations",
    "iter_layer_activations",
    "output_shape",
    "predict",
]

#: Most examples in one batch, whatever the memory allows (larger batches gain nothing).
MAX_BATCH = 256
#: Memory one batch's tensors may take, MiB (``TOPOMAPS_BATCH_MB``).
DEFAULT_BATCH_MB = 256


def batch_budget_bytes() -> int:
    """What one batch's tensors may take (``TOPOMAPS_BATCH_MB``, default 256 MiB)."""
    return config.int_setting("TOPOMAPS_BATCH_MB", DEFAULT_BATCH_MB, 8) * 2**20


def activation_model(
    model: KerasModel, name: str | Sequence[str], with_predictions: bool = True
) -> KerasModel:
    """Build a model mapping the inputs to the layers' activations (and the predictions).

    Parameters
    ----------
    model : KerasModel
        A built, single-input model.
    name : str or sequence of str
        Layer path(s), e.g. ``"dense"`` or ``"backbone/conv2"``.
    with_predictions : bool, default=True
        If False, the model has the layers' outputs only and stops computing where the deepest
        of them is.

    Returns
    -------
    keras.Model
        For one name, two outputs: the layer's output ``(batch, *layer_shape)`` and the
        model's (first) output ``(batch, *output_shape)``, so one pass yields both (one
        output without predictions). For a list, one output per layer, then the predictions.

    Raises
    ------
    LayerNotFoundError
        No such layer, or the layer has several outputs.
    """
    names = [name] if isinstance(name, str) else list(name)
    for layer in names:
        get_layer(model, layer)  # raises LayerNotFoundError listing the valid layers
    outputs = [_symbolic_output(model, layer.split("/")) for layer in names]
    if with_predictions:
        outputs.append(model.outputs[0])
    return keras.Model(_single(model.inputs), _single(outputs))


def _batches(n: int, batch_size: int) -> int:
    if batch_size < 1:
        raise TopomapError(f"batch_size must be at least 1, got {batch_size}")
    return (n + batch_size - 1) // batch_size


def _elements(shape: Sequence[Any]) -> int | None:
    """Numbers per example of a shape without the batch axis (None if a size varies)."""
    total = 1
    for dim in shape:
        if dim is None:
            return None
        total *= int(dim)
    return total


def _largest_tensor(model: Any) -> int | None:
    """Elements per example of the largest layer output of the model (None if unknown)."""
    largest = 0
    for layer in _all_layers(model):
        try:
            out = _node_output(layer)
        except TopomapError:
            continue
        for tensor in out if isinstance(out, list) else [out]:
            size = _elements(tuple(tensor.shape)[1:])
            if size is None:
                return None
            largest = max(largest, size)
    return largest


def batch_size_for(model: KerasModel, names: Sequence[str], with_predictions: bool = False) -> int:
    """Examples per batch so that one batch's tensors stay within :func:`batch_budget_bytes`.

    A batch holds every requested layer's output until the batch returns, and the pass holds
    at least the input and output of its largest layer at once (twice the largest tensor):
    a VGG16 at 320x320 has 26 MB per example in its first block, so 256 examples at once
    would take 13 GB. Sizes that vary (a fully convolutional input) give 32.
    """
    sizes = [_elements(get_layer(model, name).output_shape) for name in names]
    largest = _largest_tensor(model)
    if with_predictions:
        sizes.append(_elements(tuple(model.outputs[0].shape)[1:]))
    sizes.append(_elements(input_shape(model)))
    known = [s for s in sizes if s is not None]
    if largest is None or len(known) < len(sizes):
        return 32
    per_example = 4 * (sum(known) + 2 * largest)  # float32
    return int(max(1, min(MAX_BATCH, batch_budget_bytes() // max(per_example, 1))))


def _check_input_shape(model: KerasModel, x: np.ndarray) -> np.ndarray:
    """Check ``x`` against the model's input shape without copying it."""
    x = np.asarray(x)
    expected = input_shape(model)
    got = tuple(x.shape[1:])
    if (
        x.ndim == 0
        or len(got) != len(expected)
        or any(e is not None and e != g for e, g in zip(expected, got, strict=True))
    ):
        raise DataError(f"data examples have shape {got} but the model expects {expected}")
    return x


def iter_layer_activations(
    model: KerasModel,
    names: Sequence[str],
    x: np.ndarray,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    *,
    indices: np.ndarray | None = None,
    with_predictions: bool = False,
) -> Iterator[tuple[int, dict[str, np.ndarray], np.ndarray | None]]:
    """Yield several layers' activations batch by batch, all from one forward pass.

    Parameters
    ----------
    model : KerasModel
    names : sequence of str
        Layer paths (see :func:`~topomap_core.io.models.list_layers`).
    x : ndarray, shape (n, *input_shape)
    batch_size : int, optional
        Examples per batch; default :func:`batch_size_for` (bounded memory).
    progress : callable, optional
        ``progress("activations", batch_no, n_batches)`` after each batch; returning True
        raises :class:`~topomap_core.errors.Cancelled`.
    indices : ndarray of int, optional
        Only these examples of ``x``, in this order, gathered one batch at a time.
    with_predictions : bool, default=False
        Also the model's (first) output.

    Returns
    -------
    iterator of (start, activations, predictions)
        ``activations`` maps each name to an ndarray of shape (b, *layer_shape), float32,
        neurons last; ``predictions`` is None unless asked for.

    Raises
    ------
    LayerNotFoundError
        Unknown layer (raised at the call, before any batch).
    DataError
        ``x`` does not match the model's input shape.
    """
    names = list(dict.fromkeys(names))
    x = _check_input_shape(model, x)
    # Built (and validated) eagerly, so a bad layer name raises here rather than at the first
    # next() of the generator.
    extractor = activation_model(model, names, with_predictions)
    first = [
        _is_channels_first(_find_layer(model, name), len(get_layer(model, name).output_shape) + 1)
        for name in names
    ]
    if batch_size is None:
        batch_size = batch_size_for(model, names, with_predictions)
    n = len(x) if indices is None else len(indices)
    total = _batches(n, batch_size)
    return _layer_batches(extractor, names, first, x, indices, batch_size, total,
                          with_predictions, progress)  # fmt: skip


def _layer_batches(extractor, names, first, x, indices, batch_size, total, with_predictions,
                   progress):  # fmt: skip
    n = len(x) if indices is None else len(indices)
    for batch_no, start in enumerate(range(0, n, batch_size), start=1):
        stop = start + batch_size
        batch = x[start:stop] if indices is None else x[indices[start:stop]]
        # predict_on_batch runs Keras's compiled predict step: as fast as model.predict.
        out = extractor.predict_on_batch(np.asarray(batch, dtype=np.float32))
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        preds = np.asarray(out.pop()) if with_predictions else None
        acts = {}
        for name, channels_first, value in zip(names, first, out, strict=True):
            value = np.asarray(value, dtype=np.float32)
            acts[name] = np.moveaxis(value, 1, -1) if channels_first else value
        report(progress, "activations", batch_no, total)
        yield start, acts, preds


def iter_activations(
    model: KerasModel,
    name: str,
    x: np.ndarray,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    *,
    indices: np.ndarray | None = None,
    with_predictions: bool = True,
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Yield one layer's activations and the model's predictions batch by batch.

    :func:`iter_layer_activations` for one layer: ``(start, activations, predictions)``, with
    ``activations`` an ndarray of shape (b, *layer_shape) and ``predictions`` None when
    ``with_predictions`` is False (the model then runs only up to the layer).
    """
    batches = iter_layer_activations(
        model, [name], x, batch_size, progress, indices=indices, with_predictions=with_predictions
    )
    return ((start, acts[name], preds) for start, acts, preds in batches)


def output_shape(model: KerasModel) -> tuple:
    """The model's (first) output shape without the batch axis, e.g. ``(10,)``."""
    return tuple(model.outputs[0].shape[1:])


def predict(
    model: KerasModel,
    x: np.ndarray,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Return the model's (first) output for ``x``, computed batch by batch.

    Parameters
    ----------
    model : KerasModel
    x : ndarray, shape (n, *input_shape)
    batch_size : int, optional
        Default :func:`batch_size_for` (bounded memory).
    progress : callable, optional
        ``progress("predictions", batch_no, n_batches)`` after each batch; returning True
        raises :class:`~topomap_core.errors.Cancelled`.

    Returns
    -------
    ndarray, shape (n, *output_shape)
    """
    x = np.asarray(_check_input_shape(model, x), dtype=np.float32)
    # Calling a model (not model.predict) avoids Keras progress bars.  The wrapper takes a
    # single input tensor (whatever structure the model recorded, e.g. a 1-element list,
    # which would warn when called with an array) and keeps only the first output.
    net = keras.Model(_single(model.inputs), model.outputs[0])
    if batch_size is None:
        batch_size = batch_size_for(model, [], with_predictions=True)
    n = len(x)
    total = _batches(n, batch_size)
    parts = []
    for batch_no, start in enumerate(range(0, n, batch_size), start=1):
        parts.append(np.asarray(net.predict_on_batch(x[start : start + batch_size])))
        report(progress, "predictions", batch_no, total)
    if not parts:
        return np.zeros((0, *output_shape(model)), dtype=np.float32)
    return np.concatenate(parts, axis=0)
