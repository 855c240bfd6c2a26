"""Uploads of models, data and checkpoint series: the upload route and the upload callbacks.

An upload travels in two steps, so that no file is ever held in the web process's memory:

1. The page's upload zone (:func:`layouts.controls.upload_zone`, driven by
   ``assets/uploads.js``) sends the file's bytes as they are to ``POST
   <prefix>_topomaps/upload/<kind>?name=<file name>`` (:func:`register_route`), behind the
   same auth and limits as every route (``security.py``: at most ``MAX_UPLOAD_MB``).
   :func:`receive` streams them into the store in chunks, hashing them on the way, with the
   bounded checks (:meth:`topomap_core.store.Store.store`), and answers JSON: the stored
   file's id and name, or why it was refused.
2. The page puts that answer into the zone's ``dcc.Store``; its callback
   (:func:`register_upload`) does what needs a job process (a model's description, a
   series' inspection), lists and selects the file and says so.

The upload functions (:func:`upload_model`, :func:`upload_data`, :func:`upload_checkpoints`:
step 2) are plain (tested directly); every tab that takes a file calls them. A refused or
unreadable upload keeps the previous selection and says why. Names are shown as
:func:`topomap_core.store.safe_name` writes them, whatever the browser sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dash import Dash, Input, Output, State, no_update
from dash.exceptions import PreventUpdate
from flask import jsonify, request

from layouts.controls import data_options, model_options, uploaded_id
from layouts.ids import ID
from layouts.training import checkpoint_options
from security import UPLOAD_PATH
from topomap_core.config import max_upload_bytes
from topomap_core.errors import TopomapError
from topomap_core.io.demo import DEMO_CHECKPOINTS
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.runner import run
from topomap_core.params import HASH_RE
from topomap_core.store import CHUNK_BYTES, Store, safe_name, shown_name

from .common import (
    DESCRIBE_TIMEOUT_S,
    LayerChoice,
    hide_stored_ref,
    list_layers,
    message,
    model_description,
    readable_error,
)

#: The kinds of upload the route takes, and what a file of each is called by default.
KINDS = {"model": "model", "data": "data", "checkpoints": "checkpoints.zip"}


class _Counted:
    """A request body that counts what was read of it."""

    def __init__(self, body: BinaryIO):
        self.body, self.read_bytes = body, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.body.read(size)
        self.read_bytes += len(chunk)
        return chunk

    def drain(self) -> None:
        # What the client still sends is read and dropped (bounded: the request's length
        # is capped), so that it gets the answer rather than a reset connection.
        while self.read(CHUNK_BYTES):
            pass


def receive(
    kind: str, body: BinaryIO | bytes, filename: str | None, data_dir: str | Path
) -> tuple[dict[str, Any], int]:
    """Step 1 of an upload: store ``body`` (a stream of the file's bytes, or the bytes) as a
    ``kind`` file; the route's answer and HTTP status.

    Returns
    -------
    answer : dict
        ``{"ok": True, "kind", "ref", "name", "size", "previous"}`` (``previous``: the name
        the same bytes were listed under before, or None), or ``{"ok": False, "kind",
        "name", "message"}`` with the message the page shows.
    status : int
        200; 404 for an unknown kind; 413 for a file over ``MAX_UPLOAD_MB``; 400 for a
        file refused by its checks.
    """
    name = safe_name(filename, KINDS.get(kind, "file"))
    if kind not in KINDS:
        text = f"{name} refused: unknown kind of upload {safe_name(kind)!r}; use " + (
            ", ".join(KINDS)
        )
        return {"ok": False, "kind": None, "name": name, "message": text}, 404
    counted = _Counted(body) if not isinstance(body, bytes) else body
    try:
        stored = Store(data_dir).store(kind, counted, filename)
    except TopomapError as exc:
        too_large = isinstance(counted, _Counted) and counted.read_bytes > max_upload_bytes()
        if isinstance(counted, _Counted) and not too_large:
            counted.drain()
        text = f"{name} refused: {readable_error(exc)}"
        return {"ok": False, "kind": kind, "name": name, "message": text}, (
            413 if too_large else 400
        )
    except OSError as exc:  # e.g. a full disk: nothing was kept
        text = f"{name} could not be stored: {readable_error(exc)}"
        return {"ok": False, "kind": kind, "name": name, "message": text}, 507
    answer = {
        "ok": True,
        "kind": kind,
        "ref": stored.ref,
        "name": stored.name,
        "size": stored.size,
        "previous": stored.previous,
    }
    return answer, 200


def register_route(app: Dash, data_dir: Path) -> None:
    """The upload route, ``POST <prefix>_topomaps/upload/<kind>?name=<file name>``, whose
    body is the file's bytes (``Content-Type: application/octet-stream``): :func:`receive`.

    Only that content type is taken: a page of another site can make a browser send a form
    (with the credentials it keeps for this one), but not this without asking this server
    first (CORS), which it never allows.
    """
    route = f"{app.config.routes_pathname_prefix}{UPLOAD_PATH}<kind>"

    @app.server.post(route, endpoint="topomaps_upload")
    def upload_route(kind: str):
        name = safe_name(request.args.get("name"), KINDS.get(kind, "file"))
        if request.mimetype != "application/octet-stream":
            text = (
                f"{name} refused: send the file's bytes as the body, with Content-Type "
                "application/octet-stream"
            )
            return jsonify(ok=False, kind=kind, name=name, message=text), 415
        answer, status = receive(kind, request.stream, request.args.get("name"), data_dir)
        return jsonify(answer), status


@dataclass(frozen=True)
class Received:
    """What the upload route answered, as the page hands it back to the zone's callback.

    Attributes
    ----------
    ref : str or None
        The stored file's id; None when it was refused (``message`` says why).
    name : str
        The file's name as the store lists it (or as given, made safe to show).
    message : str
        Why it was refused.
    previous : str or None
        The name the same bytes were listed under before.
    """

    ref: str | None
    name: str
    message: str = ""
    previous: str | None = None

    @classmethod
    def of(cls, answer: Any, default: str) -> Received:
        """Read the route's answer (from the browser, so checked like any input)."""
        if not isinstance(answer, dict):
            return cls(None, default, "The upload's answer could not be read; upload it again.")
        name = answer.get("name")
        name = shown_name(name) if isinstance(name, str) and name else default
        ref = answer.get("ref")
        if answer.get("ok") is True and isinstance(ref, str) and HASH_RE.match(ref):
            previous = answer.get("previous")
            previous = shown_name(previous) if isinstance(previous, str) and previous else None
            return cls(ref, name, previous=previous)
        text = answer.get("message")
        text = str(text)[:600] if text else f"{name} could not be uploaded."
        return cls(None, name, text)

    def stored_text(self, what: str = "") -> str:
        """``"Stored new.keras: 3 layers."`` plus, for bytes stored before under another
        name, ``" Same file as old.keras, now listed as new.keras."``"""
        text = f"Stored {self.name}{': ' + what if what else ''}."
        if self.previous:
            text += f" Same file as {self.previous}, now listed as {self.name}."
        return text


@dataclass
class Upload:
    """Result of an upload: dropdown options and value, a message, a new model's layers."""

    options: list[dict[str, str]]
    value: str | None
    message: str
    ok: bool
    layers: LayerChoice | None = None


def _listed(items: list[dict[str, Any]], got: Received) -> Received:
    """``got`` with the store's name for its file; ``ref`` None when the store lacks it (it
    was removed meanwhile, or the answer was not this server's)."""
    if got.ref is None:
        return got
    item = next((item for item in items if item["id"] == got.ref), None)
    if item is None:
        return Received(None, got.name, f"{got.name} is not stored (any more); upload it again.")
    return Received(got.ref, item["name"], previous=got.previous)


def upload_model(answer: Any, current: str | None, data_dir: str | Path) -> Upload:
    """Step 2 of a model upload: describe the stored model (a job process) and select it; a
    refused or unreadable one keeps ``current`` (and is not kept)."""
    store = Store(data_dir)
    got = _listed(store.list_models(), Received.of(answer, KINDS["model"]))
    ref, name = got.ref, got.name
    if ref is None:
        return Upload(model_options(store.list_models()), current, got.message, ok=False)
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
        text = hide_stored_ref(choice.message, ref, name)
        return Upload(model_options(store.list_models()), current, text, False)
    text = got.stored_text(f"{len(choice.options)} layers")
    return Upload(model_options(store.list_models()), ref, text, ok=True, layers=choice)


def upload_data(answer: Any, current: str | None, data_dir: str | Path) -> Upload:
    """Step 2 of a data upload: select the stored .npz / .zip; a refused one keeps
    ``current``. Its arrays are read by the data check (a job process), not here."""
    store = Store(data_dir)
    got = _listed(store.list_data(), Received.of(answer, KINDS["data"]))
    if got.ref is None:
        return Upload(data_options(store.list_data()), current, got.message, ok=False)
    return Upload(data_options(store.list_data()), got.ref, got.stored_text(), ok=True)


def series_info(store: Store, ref: str | None) -> dict[str, Any] | None:
    """The stored metadata of an uploaded series (``kind``, ``n_checkpoints``, ...), or None."""
    if not ref or ref == DEMO_CHECKPOINTS:
        return None
    for item in store.list_checkpoints():
        if item["id"] == ref:
            return item
    return None


def upload_checkpoints(answer: Any, current: str | None, data_dir: str | Path) -> Upload:
    """Step 2 of a checkpoint upload: inspect the stored ``.zip`` and select it; a refused
    one keeps ``current`` (and is not kept).

    The archive's directory was checked when it was stored (sizes, ratios, paths); its
    members (one kind of file, a number in every name, the configuration of every
    ``.keras`` member read as data) are checked by the ``inspect-checkpoints`` job in a job
    process. No model is loaded here.
    """
    store = Store(data_dir)
    got = _listed(store.list_checkpoints(), Received.of(answer, KINDS["checkpoints"]))
    ref, name, problem = got.ref, got.name, got.message
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
    return Upload(options, ref, got.stored_text(what), True)


def register_upload(
    app: Dash,
    data_dir: Path,
    upload: Callable[[Any, str | None, str | Path], Upload],
    upload_id: str,
    select_id: str,
    message_id: str,
    also_options: tuple[str, ...] = (),
    shared_options: bool = False,
) -> None:
    """The callback of upload zone ``upload_id``: ``upload`` (step 2) on each answer of the
    upload route the page hands over, selecting the file in ``select_id``.

    The options of ``select_id`` (and of the ``also_options`` dropdowns) list the new file;
    a refused upload keeps the selection and says why in ``message_id``. ``shared_options``:
    another callback sets those options too.
    """

    @app.callback(
        Output(select_id, "options", allow_duplicate=shared_options),
        *[Output(cid, "options", allow_duplicate=shared_options) for cid in also_options],
        Output(select_id, "value", allow_duplicate=True),
        Output(message_id, "children", allow_duplicate=True),
        Input(uploaded_id(upload_id), "data"),
        State(select_id, "value"),
        prevent_initial_call=True,
    )
    def on_upload(answer: Any, current: str | None):
        if not answer:
            raise PreventUpdate
        outcome = upload(answer, current, data_dir)
        # Re-selecting the same file would reload what depends on it and hide the message.
        value = outcome.value if outcome.value != current else no_update
        options = [outcome.options] * (1 + len(also_options))
        return *options, value, message(outcome.message, outcome.ok)


def register(app: Dash, data_dir: Path) -> None:
    """Register the upload route and the sidebar's model and data upload callbacks on
    ``app``."""
    register_route(app, data_dir)
    register_upload(app, data_dir, upload_model, ID.MODEL_UPLOAD, ID.MODEL_SELECT, ID.MODEL_MESSAGE)
    register_upload(app, data_dir, upload_data, ID.DATA_UPLOAD, ID.DATA_SELECT, ID.DATA_MESSAGE)
