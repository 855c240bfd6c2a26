"""Model uploads and the layer list.

``upload_model`` and ``list_layers`` are plain functions (tested directly); ``register`` wraps
them as Dash callbacks.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (
    app_data_dir,
    hide_stored_name,
    hide_stored_ref,
    message,
    model_description,
    readable_error,
)
from callbacks.state import DEFAULTS
from layouts.controls import layer_options, model_options
from layouts.ids import ID
from topomap_core.errors import TopomapError
from topomap_core.store import Store


class UploadError(TopomapError):
    """The browser's upload could not be decoded."""


def decode_upload(contents: str, filename: str | None) -> bytes:
    """Bytes of a ``dcc.Upload`` value (``"data:<type>;base64,<data>"``)."""
    name = filename or "file"
    if not isinstance(contents, str) or "," not in contents:
        raise UploadError(f"{name} could not be read (the upload is not a data URL)")
    header, _, payload = contents.partition(",")
    if ";base64" not in header:
        raise UploadError(f"{name} could not be read (the upload is not base64-encoded)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(f"{name} could not be read (damaged base64 upload)") from None


def default_layer(layers: list[dict[str, Any]], current: str | None = None) -> str | None:
    """The layer to select: ``current`` if the model has it, else a hidden Dense/Conv layer.

    Among the layers before the output that have at least 3 neurons, Dense and convolution
    layers are preferred, and of those the middle one (``dense`` for the MLP demo).
    """
    names = [layer["name"] for layer in layers]
    if current in names:
        return current
    if not layers:
        return None
    hidden = layers[:-1] or layers
    usable = [layer for layer in hidden if layer["neurons"] >= 3]
    usable = usable or [layer for layer in layers if layer["neurons"] >= 3]
    if not usable:
        return layers[0]["name"]  # nothing can be mapped; the run will say why
    preferred = [layer for layer in usable if "Dense" in layer["class"] or "Conv" in layer["class"]]
    pool = preferred or usable
    return pool[len(pool) // 2]["name"]


@dataclass
class LayerChoice:
    """What the layer dropdown shows for a model, and the message under the model."""

    options: list[dict[str, Any]] = field(default_factory=list)
    value: str | None = None
    message: str = ""
    ok: bool = True


def list_layers(ref: str | None, current: str | None, data_dir: str | Path) -> LayerChoice:
    """Layer options of model ``ref``; a model that cannot be loaded gives a message.

    The layers come from the store's cache or from a worker process that loads the model
    (:func:`callbacks.common.model_description`): the web process never loads a model.
    """
    if not ref:
        return LayerChoice(message="Choose a model.", ok=False)
    store = Store(data_dir)
    try:
        layers = model_description(ref, data_dir)["layers"]
    except Exception as exc:  # a corrupt model must give a message, never a crash
        name = store.display_name(ref) if isinstance(ref, str) else str(ref)[:80]
        text = hide_stored_ref(readable_error(exc), ref, name)
        return LayerChoice(message=f"{name} could not be loaded: {text}", ok=False)
    value = default_layer(layers, current)
    name = store.display_name(ref)
    text = f"{name}: {len(layers)} layers."
    if current and value != current and current != DEFAULTS["layer"]:
        text += f" Layer {current!r} is not in this model; showing {value!r}."
    return LayerChoice(options=layer_options(layers), value=value, message=text)


@dataclass
class ModelUpload:
    """Result of an upload: dropdown options and value, a message, the new model's layers."""

    options: list[dict[str, str]]
    value: str | None
    message: str
    ok: bool
    layers: LayerChoice | None = None


def upload_model(
    contents: str, filename: str | None, current: str | None, data_dir: str | Path
) -> ModelUpload:
    """Store an uploaded model and select it; a refused or unreadable one keeps ``current``."""
    store = Store(data_dir)
    name = filename or "model"
    content = b""
    try:
        content = decode_upload(contents, filename)
        ref = store.add_model(content, name)
    except UploadError as exc:
        return ModelUpload(model_options(store.list_models()), current, str(exc), ok=False)
    except TopomapError as exc:
        text = f"{name} refused: {hide_stored_name(readable_error(exc), content, name)}"
        return ModelUpload(model_options(store.list_models()), current, text, ok=False)
    except Exception as exc:
        text = f"{name} could not be stored: {readable_error(exc)}"
        return ModelUpload(model_options(store.list_models()), current, text, ok=False)
    try:
        model_description(ref, data_dir)  # loaded by a worker, never here
    except TopomapError as exc:
        # Keras cannot load it (e.g. damaged weights): not kept, like a refused file.
        store.remove_model(ref)
        text = f"{name} refused: {hide_stored_ref(readable_error(exc), ref, name)}"
        return ModelUpload(model_options(store.list_models()), current, text, ok=False)
    except Exception:
        pass  # a crash or time-out of the worker: kept, and the layer list says what happened
    choice = list_layers(ref, None, data_dir)
    if not choice.options:
        text = hide_stored_name(choice.message, content, name)
        return ModelUpload(model_options(store.list_models()), current, text, False)
    text = f"Stored {name}: {len(choice.options)} layers."
    return ModelUpload(model_options(store.list_models()), ref, text, ok=True, layers=choice)


def register(app: Dash) -> None:
    """Register the upload and layer-list callbacks on ``app``."""
    data_dir = app_data_dir(app)

    @app.callback(
        Output(ID.MODEL_SELECT, "options"),
        Output(ID.MODEL_SELECT, "value", allow_duplicate=True),
        Output(ID.MODEL_MESSAGE, "children", allow_duplicate=True),
        Input(ID.MODEL_UPLOAD, "contents"),
        State(ID.MODEL_UPLOAD, "filename"),
        State(ID.MODEL_SELECT, "value"),
        prevent_initial_call=True,
    )
    def on_model_upload(contents: str | None, filename: str | None, current: str | None):
        if not contents:
            raise PreventUpdate
        outcome = upload_model(contents, filename, current, data_dir)
        # Re-selecting the same model would re-list its layers and hide the message.
        value = outcome.value if outcome.value != current else no_update
        return outcome.options, value, message(outcome.message, outcome.ok)

    @app.callback(
        Output(ID.LAYER_SELECT, "options"),
        Output(ID.LAYER_SELECT, "value", allow_duplicate=True),
        Output(ID.MODEL_MESSAGE, "children"),
        Output(ID.LINK_LAYER, "data", allow_duplicate=True),
        Input(ID.MODEL_SELECT, "value"),
        State(ID.LAYER_SELECT, "value"),
        State(ID.LINK_LAYER, "data"),
        prevent_initial_call=True,
    )
    def on_model_selected(ref: str | None, current: str | None, linked: str | None):
        choice = list_layers(ref, linked or current, data_dir)
        return choice.options, choice.value, message(choice.message, choice.ok), None
