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

import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from ..errors import (
    LayerNotFoundError,
    ModelLoadError,
)
from ..regularizers import topographic  # noqa: F401  (registers what the safe loader accepts)
from .legacy import convert, keras_cause, rewritten_copy
from .model_safety import check_config, inspect_model_file

keras = config.import_keras()

#: A Keras model, in annotations (Keras is imported at run time, so its classes are not
#: types a checker sees).
KerasModel = Any

#: Model file extensions accepted by :func:`load_model`.
MODEL_EXTENSIONS = (".keras", ".h5", ".hdf5")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_model(spec: str | Path) -> KerasModel:
    """Load a model file, refusing unsafe files.

    Demo names are resolved to their files first by :func:`topomap_core.io.sources.load_model`.

    Parameters
    ----------
    spec : str or Path
        The path of a ``.keras`` or legacy ``.h5`` file. A Keras 2 ``.h5`` whose
        configuration differs from Keras 3's only in the known, harmless ways of
        :data:`topomap_core.io.legacy.REWRITES` is rewritten first (:func:`conversions` says
        how).

    Returns
    -------
    keras.Model
        The built, uncompiled model.

    Raises
    ------
    ModelLoadError
        Missing, empty, oversized, corrupt or unsupported file (including TensorFlow
        SavedModel directories), a demo name, or a model without defined inputs; a file Keras
        cannot load, with Keras's whole cause in one line.
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
    model_config = inspect_model_file(path)
    converted: list[str] = []
    if path.suffix.lower() in (".h5", ".hdf5"):
        # Keras 2 files: the known, harmless differences rewritten (io.legacy), checked again.
        model_config, converted = convert(model_config)
        if converted:
            check_config(model_config, path.name)
    try:
        if converted:
            with rewritten_copy(path, model_config) as copy:
                model = keras.saving.load_model(copy, safe_mode=True, compile=False)
        else:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types; the user needs one readable line
        after = f" (after converting from Keras 2: {'; '.join(converted)})" if converted else ""
        raise ModelLoadError(
            f"Keras could not load '{path.name}'{after}: {keras_cause(exc)}"
        ) from exc
    _check_built(model, path.name)
    check_weights(model, path.name)
    _CONVERSIONS[model] = converted
    return model


def check_weights(model: Any, label: str) -> None:
    """Refuse a model whose weights hold NaN or infinite values, naming the first such layer.

    Such a model (saved after a diverged training, or damaged) gives NaN activations from that
    layer on, which behind a ReLU become zeros that look like dead neurons.

    Raises
    ------
    ModelLoadError
    """
    for layer in _layers_in_order(model):
        if _is_container(layer):
            continue  # its weights are its own layers': named there
        for weight in getattr(layer, "weights", []):
            values = np.asarray(weight)
            bad = int(values.size - np.count_nonzero(np.isfinite(values)))
            if bad:
                name = getattr(weight, "path", None) or getattr(weight, "name", "a weight")
                raise ModelLoadError(
                    f"model '{label}' has {bad} NaN or infinite weights in layer "
                    f"{layer.name!r} ({name}): its activations would be NaN from there on "
                    "(was it saved after its training diverged?)"
                )


def _layers_in_order(container: Any) -> list:
    """Every layer of the model in model order, a nested model's own layers after it."""
    found = []
    for layer in getattr(container, "layers", []):
        found.append(layer)
        if _is_container(layer):
            found.extend(_layers_in_order(layer))
    return found


#: What :mod:`topomap_core.io.legacy` rewrote to load each model (empty for most).
_CONVERSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def conversions(model: Any) -> list[str]:
    """The Keras 2 rewrites its file needed (``["dropped DepthwiseConv2D groups=1 in 13
    layers"]``), empty for a file Keras 3 read as it was."""
    return list(_CONVERSIONS.get(model, []))


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


def list_layers(model: KerasModel) -> list[LayerInfo]:
    """List the layers of a model whose activations can be mapped, in graph order.

    Input layers and layers with several outputs are left out.  A nested model is listed
    itself and followed by its own layers as ``"outer/inner"`` (recursively).

    Parameters
    ----------
    model : KerasModel
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


def get_layer(model: KerasModel, name: str) -> LayerInfo:
    """Return the :class:`LayerInfo` of the layer at path ``name``.

    Parameters
    ----------
    model : KerasModel
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


def layer_object(model: KerasModel, name: str) -> Any:
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


#: Layers that prepare a model's input themselves (a model starting with one expects raw values).
_PREPARATION_LAYERS = ("Rescaling", "Normalization")


def _describe_preparation(layer: Any) -> str:
    name = type(layer).__name__
    if name == "Rescaling":
        scale = np.asarray(layer.scale, dtype=np.float64).ravel()
        offset = np.asarray(layer.offset, dtype=np.float64).ravel()
        if scale.size == 1 and offset.size == 1:
            return f"Rescaling(x * {scale[0]:.6g} + {offset[0]:.6g})"
        return "Rescaling(per channel)"
    return name


def _first_data_format(container: Any) -> str | None:
    """The ``data_format`` of the first layer (in model order, nested models included) that
    has one."""
    for layer in container.layers:
        fmt = getattr(layer, "data_format", None)
        if fmt in ("channels_first", "channels_last"):
            return fmt
        if _is_container(layer):
            inner = _first_data_format(layer)
            if inner is not None:
                return inner
    return None


def input_spec(model: KerasModel):
    """The model's input as :class:`~topomap_core.io.prepare.InputSpec`: its shape, where its
    channels are (the first layer with a ``data_format`` says), and the layers that prepare
    the input themselves (``Rescaling``, ``Normalization``) if the model starts with them."""
    from .prepare import InputSpec

    shape = input_shape(model)
    layout = "features" if len(shape) < 2 else "channels_last"
    found: list[str] = []
    container, first = model, True
    while first:
        first = False
        for layer in container.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if type(layer).__name__ in _PREPARATION_LAYERS:
                found.append(_describe_preparation(layer))
                continue
            if _is_container(layer):  # a backbone sub-model first: look inside it
                container, first = layer, True
            break
    fmt = _first_data_format(model)
    if fmt is not None and len(shape) >= 2:
        layout = fmt
    return InputSpec(tuple(shape), layout, ", ".join(found) or None)


def input_shape(model: KerasModel) -> tuple:
    """Return the model's input shape without the batch axis, e.g. ``(8, 8, 1)``.

    Raises
    ------
    ModelLoadError
        The model has no defined input or several inputs.
    """
    _check_built(model, model.name)
    return tuple(model.inputs[0].shape[1:])
