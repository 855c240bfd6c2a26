"""Helpers shared by the callback modules: the app's data dir, results, readable errors."""

from __future__ import annotations

import hashlib
import re
from functools import partial
from pathlib import Path
from typing import Any

from dash import Dash, html

from layouts.ids import ID
from topomap_core.config import data_dir as default_data_dir
from topomap_core.errors import TopomapError
from topomap_core.pipeline import MapRequest, MapResult
from topomap_core.store import HASH_RE, Store

from .worker import describe_in_worker

#: Key of the data directory in the Flask config of the app (set by ``app.create_app``).
DATA_DIR_KEY = "TOPOMAPS_DATA_DIR"

#: The control values a view depends on, in the order the callbacks receive them.
CONTROL_ORDER: tuple[str, ...] = (
    "model",
    "data",
    "layer",
    "groups",
    "random_groups",
    "per_group",
    "method",
    "seed",
)


#: The controls' component ids, in :data:`CONTROL_ORDER`.
CONTROL_IDS: tuple[str, ...] = (
    ID.MODEL_SELECT,
    ID.DATA_SELECT,
    ID.LAYER_SELECT,
    ID.GROUPS_SELECT,
    ID.RANDOM_GROUPS,
    ID.PER_GROUP,
    ID.METHOD_SELECT,
    ID.SEED_INPUT,
)


def app_data_dir(app: Dash) -> Path:
    """The data directory this app stores models, data, results and jobs in."""
    configured = app.server.config.get(DATA_DIR_KEY)
    return Path(configured) if configured else default_data_dir()


def controls_dict(*values: Any) -> dict[str, Any]:
    """Name the control values received in :data:`CONTROL_ORDER`."""
    return dict(zip(CONTROL_ORDER, values, strict=True))


def one_line(exc: BaseException, limit: int = 300) -> str:
    """First line of an exception message, shortened: never a traceback."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    text = text or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def readable_error(exc: BaseException) -> str:
    """A message for the page: a TopomapError's own text, else what kind of failure it was."""
    if isinstance(exc, TopomapError):
        text = one_line(exc)
        return text[0].upper() + text[1:]
    return f"Something went wrong ({type(exc).__name__}: {one_line(exc)})"


def hide_stored_name(text: str, content: bytes, filename: str) -> str:
    """Replace the store's content-hash file name in a message by the user's file name."""
    digest = hashlib.sha256(content).hexdigest()
    return re.sub(digest + r"(\.[A-Za-z0-9]+)?", lambda _: filename, text)


def hide_stored_ref(text: str, ref: str, name: str) -> str:
    """Replace a stored file's hash name (``<ref>.keras``) in a message by ``name``."""
    if not isinstance(ref, str) or not HASH_RE.match(ref):
        return text
    return re.sub(ref + r"(\.[A-Za-z0-9]+)?", lambda _: name, text)


def model_description(ref: str, data_dir: str | Path) -> dict[str, Any]:
    """Layers and input shape of model ``ref``: from the store's cache, else from a worker.

    The model is loaded by a ``callbacks.worker --describe`` process, never by the web process
    (see :func:`callbacks.worker.describe_in_worker`); the answer is cached by model content.

    Raises
    ------
    TopomapError
        A bad reference or a model that cannot be loaded (the message says why).
    RuntimeError
        The worker crashed or timed out.
    """
    store = Store(data_dir)
    return store.describe(ref, partial(describe_in_worker, data_dir=store.root))


def result_from_store(data_dir: str | Path, data: dict | None) -> MapResult | None:
    """The MapResult a RESULT_STORE entry (``{"request": ..., "key": ...}``) points to."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return None
    try:
        request = MapRequest(**data["request"])
        return Store(data_dir).cached_view(request)
    except (TypeError, ValueError, OSError):
        return None


def message(text: str | None, ok: bool = True) -> html.Span | None:
    """A one-line message under a control, styled as information or as a problem."""
    if not text:
        return None
    return html.Span(text, className="msg-ok" if ok else "msg-error")
