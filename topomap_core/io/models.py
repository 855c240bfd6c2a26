"""Load Keras models safely, list their layers and read out layer activations.

A model file is untrusted input: before Keras deserialises anything, its configuration is
read as plain JSON and walked by :func:`inspect_model_file`, which refuses everything that
could run Python code on load (``Lambda`` layers, custom or registered objects, classes or
functions from outside Keras).  Only then is the file handed to
``keras.saving.load_model(..., safe_mode=True, compile=False)``.

Layers are addressed by a path such as ``"backbone/conv2"``: the names of the enclosing
nested models, then the layer's own name (Keras forbids ``/`` in layer names, so the path is
unambiguous).  Activations are always returned with the neurons on the last axis.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from ..errors import (
    DataError,
    LayerNotFoundError,
    ModelLoadError,
    TopomapError,
    one_line,
)
from ..progress import ProgressCallback, report
from ..regularizers import topographic  # noqa: F401  (registers what the safe loader accepts)
from .model_safety import inspect_model_file

keras = config.import_keras()

#: Model file extensions accepted by :func:`load_model`.
MODEL_EXTENSIONS = (".keras", ".h5", ".hdf5")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_model(spec: str | Path) -> keras.Model:
    """Load a model file, refusing unsafe files.

    Demo names are resolved to their files first by :func:`topomap_core.io.sources.load_model`.

    Parameters
    ----------
    spec : str or Path
        The path of a ``.keras`` or legacy ``.h5`` file.

    Returns
    -------
    keras.Model
        The built, uncompiled model.

    Raises
    ------
    ModelLoadError
        Missing, empty, oversized, corrupt or unsupported file (including TensorFlow
        SavedModel directories), a demo name, or a model without defined inputs.
    ModelRefusedError
        The file contains code-carrying layers or custom objects (see
        :func:`inspect_model_file`).
    """
    if isinstance(spec, str) and spec.startswith("demo:"):
        raise ModelLoadError(
            f"{spec!r} is a demo name, not a file: resolve it first "
            "(topomap_core.io.sources.load_model does)"
        )
    path = Path(spec)
    _check_model_path(path)
    inspect_model_file(path)
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types; the user needs one readable line
        raise ModelLoadError(f"Keras could not load '{path.name}': {one_line(exc, 200)}") from None
    _check_built(model, path.name)
    return model


def _check_model_path(path: Path) -> None:
    valid = ", ".join(MODEL_EXTENSIONS)
    savedmodel_msg = (
        f"'{path.name}' is a TensorFlow SavedModel, which cannot expose its intermediate "
        "layers in Keras 3; save the model as .keras (model.save('m.keras'))"
    )
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise ModelLoadError(savedmodel_msg)
        raise ModelLoadError(f"'{path.name}' is a directory, not a model file ({valid})")
    if path.name == "saved_model.pb" or path.suffix.lower() == ".pb":
        raise ModelLoadError(savedmodel_msg)
    if not path.exists():
        raise ModelLoadError(f"model file '{path}' does not exist")
    if not path.is_file():
        raise ModelLoadError(f"'{path.name}' is not a regular file")
    if path.suffix.lower() not in MODEL_EXTENSIONS:
        raise ModelLoadError(
            f"model file '{path.name}' has unsupported extension {path.suffix!r}; "
            f"valid: {valid} or demo:{{digits-mlp, digits-cnn}}"
        )
    config.check_size(path.stat().st_size, path.name, "model", ModelLoadError)


def _check_built(model: Any, label: str) -> None:
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"'{label}' does not hold a Keras model (got {type(model).__name__})")
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not model.built or not inputs:
        raise ModelLoadError(
            f"model '{label}' has no defined input shape (it was saved unbuilt); build it "
            "with an Input layer or model.build(shape) before saving"
        )
    if len(inputs) != 1:
        raise ModelLoadError(
            f"model '{label}' has {len(inputs)} inputs; only single-input models are supported"
        )
    for layer in _all_layers(model):
        if not _SCOPE_NAME.match(layer.name):
            raise ModelLoadError(
                f"model '{label}' cannot run: its layer {layer.name!r} has a name TensorFlow "
                "refuses (only letters, digits and _ . > - are allowed); rename the layer "
                "and save the model again"
            )


# TensorFlow runs every layer in a name scope of the layer's name, and refuses others.
_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.\\/>-]*$")


def _all_layers(model: Any) -> list:
    found, stack = [], list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found


def model_hash(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes, read in chunks.

    Parameters
    ----------
    path : str or Path
        The model file.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerInfo:
    """One layer whose activations can be mapped.

    Attributes
    ----------
    name : str
        Path of the layer, e.g. ``"dense"`` or ``"backbone/conv2"`` inside a nested model.
    class_name : str
        Keras class, e.g. ``"Conv2D"``.
    output_shape : tuple
        Output shape without the batch axis, as the layer reports it, e.g. ``(4, 4, 128)``
        (``None`` for dimensions that vary).
    neurons : int
        Number of neurons (units or feature maps): the last axis, or axis 1 of the batched
        output for a ``channels_first`` layer.
    """

    name: str
    class_name: str
    output_shape: tuple
    neurons: int

    def to_dict(self) -> dict:
        """Return ``{"name", "class", "output_shape" (list), "neurons"}`` for JSON."""
        return {
            "name": self.name,
            "class": self.class_name,
            "output_shape": list(self.output_shape),
            "neurons": self.neurons,
        }


def _node_output(layer: Any) -> Any:
    """Symbolic output of the layer's first call (in the graph of its enclosing model)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        raise LayerNotFoundError(f"layer '{layer.name}' was never called, so it has no output")
    outputs = nodes[0].output_tensors
    return outputs[0] if len(outputs) == 1 else list(outputs)


def _is_channels_first(layer: Any, rank: int) -> bool:
    # For rank-2 outputs (batch, features) the channel axis is already last.
    return getattr(layer, "data_format", None) == "channels_first" and rank >= 3


def _layer_info(layer: Any, path: str) -> LayerInfo | None:
    try:
        out = _node_output(layer)
    except LayerNotFoundError:
        return None
    if isinstance(out, list):  # several outputs: no single set of neurons to map
        return None
    shape = tuple(out.shape)
    if len(shape) < 2:
        return None
    neurons = shape[1] if _is_channels_first(layer, len(shape)) else shape[-1]
    if neurons is None:
        return None
    return LayerInfo(path, type(layer).__name__, shape[1:], int(neurons))


def _is_container(layer: Any) -> bool:
    return isinstance(layer, keras.Model)


def list_layers(model: keras.Model) -> list[LayerInfo]:
    """List the layers of a model whose activations can be mapped, in graph order.

    Input layers and layers with several outputs are left out.  A nested model is listed
    itself and followed by its own layers as ``"outer/inner"`` (recursively).

    Parameters
    ----------
    model : keras.Model
        A built model.

    Returns
    -------
    list of LayerInfo
    """
    result: list[LayerInfo] = []
    _collect_layers(model, "", result)
    return result


def _collect_layers(container: Any, prefix: str, result: list[LayerInfo]) -> None:
    for layer in container.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        path = f"{prefix}{layer.name}"
        info = _layer_info(layer, path)
        if info is not None:
            result.append(info)
        if _is_container(layer):
            _collect_layers(layer, path + "/", result)


def get_layer(model: keras.Model, name: str) -> LayerInfo:
    """Return the :class:`LayerInfo` of the layer at path ``name``.

    Parameters
    ----------
    model : keras.Model
    name : str
        Layer path as listed by :func:`list_layers`, e.g. ``"backbone/conv2"``.

    Raises
    ------
    LayerNotFoundError
        No such layer; the message lists valid names.
    """
    if not isinstance(name, str):
        raise LayerNotFoundError(f"layer name must be text like 'dense', got {name!r}")
    layers = list_layers(model)
    for info in layers:
        if info.name == name:
            return info
    if _find_layer(model, name) is not None:
        raise LayerNotFoundError(
            f"layer {name!r} cannot be mapped: it is an input layer, has several outputs or "
            "has no neuron axis"
        )
    names = [info.name for info in layers]
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
    raise LayerNotFoundError(f"model has no layer {name!r}; valid layers: {shown}")


def layer_object(model: keras.Model, name: str) -> Any:
    """The Keras layer at path ``name`` (:func:`get_layer` checks it and names the valid ones)."""
    get_layer(model, name)
    return _find_layer(model, name)


def _find_layer(model: Any, name: str) -> Any:
    """Return the Keras layer at path ``name`` (e.g. ``"backbone/conv2"``), or None."""
    layer = model
    for part in name.split("/"):
        if not _is_container(layer):
            return None
        try:
            layer = layer.get_layer(part)
        except ValueError:
            return None
    return None if layer is model else layer


def _single(tensors: Any) -> Any:
    # Passing a 1-element list where Keras recorded a single tensor triggers structure
    # warnings; unwrap it.
    if isinstance(tensors, (list, tuple)) and len(tensors) == 1:
        return tensors[0]
    return tensors


def _symbolic_output(container: Any, parts: list[str]) -> Any:
    """Symbolic output of the layer at ``parts``, in ``container``'s own graph.

    A layer inside a nested model only has a node in the nested model's graph, so an
    extractor ``nested.inputs -> layer.output`` is built and called on the tensors the
    outer graph feeds the nested model.
    """
    layer = container.get_layer(parts[0])
    if len(parts) == 1:
        return _node_output(layer)
    inner = _symbolic_output(layer, parts[1:])
    extractor = keras.Model(_single(layer.inputs), inner)
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        raise LayerNotFoundError(f"nested model '{layer.name}' is not connected to its model")
    return extractor(_single(list(nodes[0].input_tensors)))


def activation_model(model: keras.Model, name: str, with_predictions: bool = True) -> keras.Model:
    """Build a model mapping the inputs to ``[layer activations, predictions]``.

    Parameters
    ----------
    model : keras.Model
        A built, single-input model.
    name : str
        Layer path, e.g. ``"dense"`` or ``"backbone/conv2"``.

    with_predictions : bool, default=True
        If False, the model has the layer's output only and stops computing there.

    Returns
    -------
    keras.Model
        Two outputs: the layer's output ``(batch, *layer_shape)`` and the model's (first)
        output ``(batch, *output_shape)``, so one pass yields both.

    Raises
    ------
    LayerNotFoundError
        No such layer, or the layer has several outputs.
    """
    get_layer(model, name)  # raises LayerNotFoundError listing the valid layers
    inner = _symbolic_output(model, name.split("/"))
    outputs = [inner, model.outputs[0]] if with_predictions else inner
    return keras.Model(_single(model.inputs), outputs)


def _batches(n: int, batch_size: int) -> int:
    if batch_size < 1:
        raise TopomapError(f"batch_size must be at least 1, got {batch_size}")
    return (n + batch_size - 1) // batch_size


def iter_activations(
    model: keras.Model,
    name: str,
    x: np.ndarray,
    batch_size: int = 256,
    progress: ProgressCallback | None = None,
    *,
    indices: np.ndarray | None = None,
    with_predictions: bool = True,
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Yield a layer's activations and the model's predictions batch by batch.

    Parameters
    ----------
    model : keras.Model
    name : str
        Layer path (see :func:`list_layers`).
    x : ndarray, shape (n, *input_shape)
        Model inputs.
    batch_size : int
        Examples per batch.
    progress : callable, optional
        ``progress("activations", batch_no, n_batches)`` after each batch is computed and
        before it is yielded (``batch_no`` counts from 1); returning True raises
        :class:`~topomap_core.errors.Cancelled`.
    indices : ndarray of int, optional
        Only these examples of ``x``, in this order, gathered one batch at a time (no copy
        of the whole subset, so memory does not grow with it).
    with_predictions : bool, default=True
        If False, the model runs only up to the layer and ``predictions`` is None.

    Returns
    -------
    iterator of (start, activations, predictions)
        ``start`` (int) is the position of the batch's first example in ``x`` (or in
        ``indices``);
        ``activations`` (ndarray, shape (b, *layer_shape), float32) has the neurons on the
        last axis (a ``channels_first`` layer's channel axis is moved last);
        ``predictions`` (ndarray, shape (b, *output_shape)) is the model's (first) output.

    Raises
    ------
    LayerNotFoundError
        Unknown layer (raised at the call, before any batch).
    DataError
        ``x`` does not match the model's input shape.
    """
    x = _check_input_shape(model, x)
    # Build (and validate) eagerly, so a bad layer name raises here rather than at the
    # first next() of the generator.
    extractor = activation_model(model, name, with_predictions)
    channels_first = _is_channels_first(
        _find_layer(model, name), len(get_layer(model, name).output_shape) + 1
    )
    n = len(x) if indices is None else len(indices)
    total = _batches(n, batch_size)
    return _activation_batches(
        extractor, x, indices, batch_size, total, channels_first, with_predictions, progress
    )


def _activation_batches(
    extractor: keras.Model,
    x: np.ndarray,
    indices: np.ndarray | None,
    batch_size: int,
    total: int,
    channels_first: bool,
    with_predictions: bool,
    progress: ProgressCallback | None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    n = len(x) if indices is None else len(indices)
    for batch_no, start in enumerate(range(0, n, batch_size), start=1):
        stop = start + batch_size
        batch = x[start:stop] if indices is None else x[indices[start:stop]]
        # predict_on_batch runs Keras's compiled predict step: as fast as model.predict.
        out = extractor.predict_on_batch(np.asarray(batch, dtype=np.float32))
        acts, preds = out if with_predictions else (out, None)
        acts = np.asarray(acts, dtype=np.float32)
        if channels_first:
            acts = np.moveaxis(acts, 1, -1)
        report(progress, "activations", batch_no, total)
        yield start, acts, None if preds is None else np.asarray(preds)


def _check_input_shape(model: keras.Model, x: np.ndarray) -> np.ndarray:
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


def _as_inputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Return ``x`` as float32, checking it against the model's input shape."""
    return np.asarray(_check_input_shape(model, x), dtype=np.float32)


def predict(
    model: keras.Model,
    x: np.ndarray,
    batch_size: int = 256,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Return the model's (first) output for ``x``, computed batch by batch.

    Parameters
    ----------
    model : keras.Model
    x : ndarray, shape (n, *input_shape)
    batch_size : int
    progress : callable, optional
        ``progress("predictions", batch_no, n_batches)`` after each batch; returning True
        raises :class:`~topomap_core.errors.Cancelled`.

    Returns
    -------
    ndarray, shape (n, *output_shape)
    """
    x = _as_inputs(model, x)
    # Calling a model (not model.predict) avoids Keras progress bars.  The wrapper takes a
    # single input tensor (whatever structure the model recorded, e.g. a 1-element list,
    # which would warn when called with an array) and keeps only the first output.
    net = keras.Model(_single(model.inputs), model.outputs[0])
    n = len(x)
    total = _batches(n, batch_size)
    parts = []
    for batch_no, start in enumerate(range(0, n, batch_size), start=1):
        parts.append(np.asarray(net.predict_on_batch(x[start : start + batch_size])))
        report(progress, "predictions", batch_no, total)
    if not parts:
        out_shape = tuple(model.outputs[0].shape[1:])
        return np.zeros((0, *out_shape), dtype=np.float32)
    return np.concatenate(parts, axis=0)


def input_shape(model: keras.Model) -> tuple:
    """Return the model's input shape without the batch axis, e.g. ``(8, 8, 1)``.

    Raises
    ------
    ModelLoadError
        The model has no defined input or several inputs.
    """
    _check_built(model, model.name)
    return tuple(model.inputs[0].shape[1:])
