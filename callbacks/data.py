"""Data uploads and the check that the data fits the model.

``upload_data`` and ``check_data`` are plain functions (tested directly); ``register`` wraps
them as Dash callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
from callbacks.models import UploadError, decode_upload
from layouts.controls import data_options
from layouts.ids import ID
from topomap_core.errors import TopomapError
from topomap_core.store import Store


@dataclass
class DataUpload:
    """Result of a data upload: dropdown options and value, and a message."""

    options: list[dict[str, str]]
    value: str | None
    message: str
    ok: bool


def upload_data(
    contents: str, filename: str | None, current: str | None, data_dir: str | Path
) -> DataUpload:
    """Store an uploaded .npz / .zip and select it; an unusable upload keeps ``current``."""
    store = Store(data_dir)
    name = filename or "data"
    content = b""
    try:
        content = decode_upload(contents, filename)
        ref = store.add_data(content, name)
    except UploadError as exc:
        return DataUpload(data_options(store.list_data()), current, str(exc), ok=False)
    except TopomapError as exc:
        text = f"{name} refused: {hide_stored_name(readable_error(exc), content, name)}"
        return DataUpload(data_options(store.list_data()), current, text, ok=False)
    except Exception as exc:
        text = f"{name} could not be stored: {readable_error(exc)}"
        return DataUpload(data_options(store.list_data()), current, text, ok=False)
    return DataUpload(data_options(store.list_data()), ref, f"Stored {name}.", ok=True)


def check_data(
    model_ref: str | None, data_ref: str | None, groups: str | None, data_dir: str | Path
) -> tuple[str, bool]:
    """Whether the data can be fed to the model (and grouped as asked).

    Returns
    -------
    message : str
        E.g. ``"540 examples, 10 classes; fits the model's input 8×8×1."`` or
        ``"data examples have shape (5, 5, 1) but the model expects (8, 8, 1)"``.
    ok : bool
    """
    if not model_ref or not data_ref:
        return "", True
    from topomap_core.io.data import check_fits, load_data

    store = Store(data_dir)
    try:
        # The model's input shape, from the cache or a worker: no model is loaded here.
        shape = tuple(model_description(model_ref, data_dir)["input_shape"])
    except Exception:
        return "", True  # the model's own message says what is wrong with it
    try:
        # Data files are not code: reading them here is safe (no pickle, zip checks).
        dataset = load_data(store.data_source(data_ref), input_shape=shape)
        check_fits(dataset, shape)
    except Exception as exc:
        name = store.display_name(data_ref)
        return hide_stored_ref(readable_error(exc), data_ref, name), False
    parts = [f"{dataset.n_examples} examples"]
    classes = None
    if dataset.y is not None:
        classes = sorted(set(dataset.y.tolist()))
        parts.append(f"{len(classes)} class{'es' if len(classes) != 1 else ''}")
    shown = "×".join("?" if s is None else str(s) for s in shape)
    text = f"{', '.join(parts)}; fits the model's input {shown}."
    if groups in ("label", "label+correctness") and dataset.y is None:
        return text + f" But it has no labels (y), so grouping {groups!r} cannot work.", False
    if groups == "column" and dataset.groups is None:
        return text + " But it has no 'groups' column, so grouping 'column' cannot work.", False
    if groups == "label" and classes is not None and len(classes) < 2:
        only = dataset.label_name(classes[0]) if classes else "none"
        return (
            text + f" But all examples have the same label ({only}), so grouping 'label' gives "
            "a single group: add random groups or group another way.",
            False,
        )
    return text, True


def register(app: Dash) -> None:
    """Register the data upload and data check callbacks on ``app``."""
    data_dir = app_data_dir(app)

    @app.callback(
        Output(ID.DATA_SELECT, "options"),
        Output(ID.DATA_SELECT, "value", allow_duplicate=True),
        Output(ID.DATA_MESSAGE, "children", allow_duplicate=True),
        Input(ID.DATA_UPLOAD, "contents"),
        State(ID.DATA_UPLOAD, "filename"),
        State(ID.DATA_SELECT, "value"),
        prevent_initial_call=True,
    )
    def on_data_upload(contents: str | None, filename: str | None, current: str | None):
        if not contents:
            raise PreventUpdate
        outcome = upload_data(contents, filename, current, data_dir)
        value = outcome.value if outcome.value != current else no_update
        return outcome.options, value, message(outcome.message, outcome.ok)

    @app.callback(
        Output(ID.DATA_MESSAGE, "children"),
        Input(ID.MODEL_SELECT, "value"),
        Input(ID.DATA_SELECT, "value"),
        Input(ID.GROUPS_SELECT, "value"),
        prevent_initial_call=True,
    )
    def on_data_selected(model_ref: str | None, data_ref: str | None, groups: str | None):
        text, ok = check_data(model_ref, data_ref, groups, data_dir)
        return message(text, ok)
