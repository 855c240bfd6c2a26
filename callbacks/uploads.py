"""Uploads of models, data and checkpoint series, and the sidebar's upload callbacks.

The upload functions are plain (tested directly); every tab that takes a file calls them.
A refused or unreadable upload keeps the previous selection and says why.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from layouts.controls import data_options, model_options
from layouts.ids import ID
from layouts.training import checkpoint_options
from topomap_core.errors import TopomapError
from topomap_core.io.demo import DEMO_CHECKPOINTS
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.runner import run
from topomap_core.store import Store

from .common import (
    DESCRIBE_TIMEOUT_S,
    LayerChoice,
    hide_stored_name,
    hide_stored_ref,
    list_layers,
    message,
    model_description,
    readable_error,
)


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


@dataclass
class Upload:
    """Result of an upload: dropdown options and value, a message, a new model's layers."""

    options: list[dict[str, str]]
    value: str | None
    message: str
    ok: bool
    layers: LayerChoice | None = None


def _store(
    contents: str, filename: str | None, default_name: str, add: Callable[[bytes, str], str]
) -> tuple[str | None, str, str | None, bytes]:
    """``(ref, name, problem, content)``: the upload stored by ``add``, or why not."""
    name = filename or default_name
    content = b""
    try:
        content = decode_upload(contents, filename)
        return add(content, name), name, None, content
    except UploadError as exc:
        return None, name, str(exc), content
    except TopomapError as exc:
        text = hide_stored_name(readable_error(exc), content, name)
        return None, name, f"{name} refused: {text}", content
    except Exception as exc:
        return None, name, f"{name} could not be stored: {readable_error(exc)}", content


def upload_model(
    contents: str, filename: str | None, current: str | None, data_dir: str | Path
) -> Upload:
    """Store an uploaded model and select it; a refused or unreadable one keeps ``current``."""
    store = Store(data_dir)
    ref, name, problem, content = _store(contents, filename, "model", store.add_model)
    if ref is None:
        return Upload(model_options(store.list_models()), current, problem or "", ok=False)
    try:
        model_description(ref, data_dir)  # loaded by a job process, never here
    except TopomapError as exc:
        # Keras cannot load it (e.g. damaged weights): not kept, like a refused file.
        store.remove_model(ref)
        text = f"{name} refused: {hide_stored_ref(readable_error(exc), ref, name)}"
        return Upload(model_options(store.list_models()), current, text, ok=False)
    except Exception:
        pass  # a crash or time-out of the job: kept, and the layer list says what happened
    choice = list_layers(ref, None, data_dir)
    if not choice.options:
        text = hide_stored_name(choice.message, content, name)
        return Upload(model_options(store.list_models()), current, text, False)
    text = f"Stored {name}: {len(choice.options)} layers."
    return Upload(model_options(store.list_models()), ref, text, ok=True, layers=choice)


def upload_data(
    contents: str, filename: str | None, current: str | None, data_dir: str | Path
) -> Upload:
    """Store an uploaded .npz / .zip and select it; an unusable upload keeps ``current``."""
    store = Store(data_dir)
    ref, name, problem, _ = _store(contents, filename, "data", store.add_data)
    if ref is None:
        return Upload(data_options(store.list_data()), current, problem or "", ok=False)
    return Upload(data_options(store.list_data()), ref, f"Stored {name}.", ok=True)


def series_info(store: Store, ref: str | None) -> dict[str, Any] | None:
    """The stored metadata of an uploaded series (``kind``, ``n_checkpoints``, ...), or None."""
    if not ref or ref == DEMO_CHECKPOINTS:
        return None
    for item in store.list_checkpoints():
        if item["id"] == ref:
            return item
    return None


def upload_checkpoints(
    contents: str, filename: str | None, current: str | None, data_dir: str | Path
) -> Upload:
    """Store an uploaded ``.zip`` of checkpoints and select it; a refused one keeps ``current``.

    The archive's directory is checked here (sizes, ratios, paths); its members (one kind of
    file, a number in every name, the configuration of every ``.keras`` member read as data)
    by the ``inspect-checkpoints`` job in a job process. No model is loaded here.
    """
    store = Store(data_dir)
    ref, name, problem, _ = _store(contents, filename, "checkpoints.zip", store.add_checkpoints)
    if ref is not None:
        try:
            job = get_job("inspect-checkpoints")
            request = job.validate({"checkpoints": ref})
            store.set_series_info(ref, run(job, request, data_dir, timeout=DESCRIBE_TIMEOUT_S).view)
        except Exception as exc:  # refused, or the check could not finish: not kept
            store.remove_checkpoints(ref)
            text = hide_stored_ref(readable_error(exc), ref, name)
            problem, ref = f"{name} refused: {text}", None
    options = checkpoint_options(store.list_checkpoints())
    if ref is None:
        return Upload(options, current, problem or "", False)
    info = series_info(store, ref) or {}
    n = info.get("n_checkpoints", "?")
    if info.get("kind") == "weights":
        what = f"{n} .weights.h5 states; choose the base model they belong to"
    else:
        what = f"{n} .keras states"
    return Upload(options, ref, f"Stored {name}: {what}.", True)


def register_upload(
    app: Dash,
    data_dir: Path,
    upload: Callable[[str, str | None, str | None, str | Path], Upload],
    upload_id: str,
    select_id: str,
    message_id: str,
    also_options: tuple[str, ...] = (),
    shared_options: bool = False,
) -> None:
    """A ``dcc.Upload`` that stores its file with ``upload`` and selects it in ``select_id``.

    The options of ``select_id`` (and of the ``also_options`` dropdowns) list the new file;
    a refused upload keeps the selection and says why in ``message_id``. ``shared_options``:
    another callback sets those options too.
    """

    @app.callback(
        Output(select_id, "options", allow_duplicate=shared_options),
        *[Output(cid, "options", allow_duplicate=shared_options) for cid in also_options],
        Output(select_id, "value", allow_duplicate=True),
        Output(message_id, "children", allow_duplicate=True),
        Input(upload_id, "contents"),
        State(upload_id, "filename"),
        State(select_id, "value"),
        prevent_initial_call=True,
    )
    def on_upload(contents: str | None, filename: str | None, current: str | None):
        if not contents:
            raise PreventUpdate
        outcome = upload(contents, filename, current, data_dir)
        # Re-selecting the same file would reload what depends on it and hide the message.
        value = outcome.value if outcome.value != current else no_update
        options = [outcome.options] * (1 + len(also_options))
        return *options, value, message(outcome.message, outcome.ok)


def register(app: Dash, data_dir: Path) -> None:
    """Register the sidebar's model and data upload callbacks on ``app``."""
    register_upload(app, data_dir, upload_model, ID.MODEL_UPLOAD, ID.MODEL_SELECT, ID.MODEL_MESSAGE)
    register_upload(app, data_dir, upload_data, ID.DATA_UPLOAD, ID.DATA_SELECT, ID.DATA_MESSAGE)
