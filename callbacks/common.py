"""Helpers shared by the callback modules: the app's data dir, results, readable errors, jobs."""

from __future__ import annotations

import hashlib
import re
from functools import partial
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, html, no_update

from callbacks.worker import describe_in_worker
from layouts.ids import ID
from topomap_core.config import data_dir as default_data_dir
from topomap_core.errors import TopomapError
from topomap_core.pipeline import MapRequest, MapResult
from topomap_core.store import HASH_RE, Store

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


#: The tab values (:data:`callbacks.state.TAB_KEYS`), in the order the callbacks receive them.
TAB_ORDER: tuple[str, ...] = (
    "tab",
    "checkpoints",
    "base_model",
    "train_layer",
    "state",
    "compare",
    "model_a",
    "layer_a",
    "model_b",
    "layer_b",
    "state_a",
    "state_b",
)

#: The components holding the tab values (their ``value``), in :data:`TAB_ORDER`.
TAB_IDS: tuple[str, ...] = (
    ID.TABS,
    ID.TRAIN_CHECKPOINTS,
    ID.TRAIN_BASE_MODEL,
    ID.TRAIN_LAYER,
    ID.TRAIN_SLIDER,
    ID.COMPARE_MODE,
    ID.COMPARE_MODEL_A,
    ID.COMPARE_LAYER_A,
    ID.COMPARE_MODEL_B,
    ID.COMPARE_LAYER_B,
    ID.COMPARE_STATE_A,
    ID.COMPARE_STATE_B,
)

#: The sidebar controls every tab shares (data, groups, layout), as :data:`CONTROL_ORDER`
#: names and component ids.
SHARED_ORDER: tuple[str, ...] = CONTROL_ORDER[1:2] + CONTROL_ORDER[3:]
SHARED_IDS: tuple[str, ...] = CONTROL_IDS[1:2] + CONTROL_IDS[3:]


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


def job_failed(exc: Exception) -> tuple[Any, str]:
    """``on_error`` of the background jobs: the outputs for a job that failed outside its body.

    That is a job whose process died (:class:`callbacks.celery_app.JobManager` reports it);
    Dash wraps the message in "An error occurred inside a background callback: ...".
    """
    text = one_line(exc).removeprefix("An error occurred inside a background callback:").strip()
    return no_update, f"Run failed: {text or type(exc).__name__}"


def job_options(run_id: str, cancel_id: str, bar_id: str, text_id: str) -> dict[str, Any]:
    """The ``app.callback`` keywords of a Run/Cancel background job with a progress bar.

    Use as ``@app.callback(outputs..., inputs..., **job_options(...))``: while the job runs,
    ``run_id`` is disabled and ``cancel_id`` enabled; ``cancel_id`` clicks cancel it;
    ``set_progress((value, max, text))`` feeds bar ``bar_id`` and text ``text_id``; a job
    whose process died ends through :func:`job_failed`.
    """
    return {
        "background": True,
        "running": [
            (Output(run_id, "disabled"), True, False),
            (Output(cancel_id, "disabled"), False, True),
        ],
        "cancel": [Input(cancel_id, "n_clicks")],
        "progress": [
            Output(bar_id, "value"),
            Output(bar_id, "max"),
            Output(text_id, "children"),
        ],
        "progress_default": [0, 1, ""],
        "interval": 500,
        "on_error": job_failed,
        "prevent_initial_call": True,
    }


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


def tab_dict(*values: Any) -> dict[str, Any]:
    """Name the tab values received in :data:`TAB_ORDER`."""
    return dict(zip(TAB_ORDER, values, strict=True))


def shared_dict(*values: Any) -> dict[str, Any]:
    """Name the shared control values received in :data:`SHARED_ORDER`."""
    return dict(zip(SHARED_ORDER, values, strict=True))


#: Bump when the cached description of a checkpoint series changes form.
_SERIES_DESCRIPTION_VERSION = "1"


def series_description(
    checkpoints: str, base_model: str | None, data_dir: str | Path, kind: str | None = None
) -> dict[str, Any]:
    """Layers and input shape of a checkpoint series, from a worker (never this process).

    A ``.weights.h5`` series (``kind == "weights"``) has its base model's layers; the demo
    series is ``digits-mlp`` trained for an epoch, so it has the demo model's layers; a
    series of ``.keras`` files is described by a ``--describe-series`` worker that loads its
    last state, and the answer is cached under the series' content id.

    Raises
    ------
    TopomapError
        A bad reference, a weights series without a base model, or a series that cannot
        be loaded.
    RuntimeError
        The worker crashed or timed out.
    """
    from topomap_core.training import DEMO_CHECKPOINTS

    if checkpoints == DEMO_CHECKPOINTS:
        return model_description("demo:digits-mlp", data_dir)
    if kind == "weights":
        if not base_model:
            raise TopomapError(
                "These checkpoints are .weights.h5 files: choose the base model they belong to"
            )
        return model_description(base_model, data_dir)
    store = Store(data_dir)
    store.checkpoints_source(checkpoints)  # a bad or unknown reference never reaches a worker
    key = (
        "describe-series-"
        + hashlib.sha256(f"{_SERIES_DESCRIPTION_VERSION}:{checkpoints}".encode()).hexdigest()
    )
    hit = store.cache.get(key)
    if hit is not None:
        return hit
    description = describe_in_worker(checkpoints, store.root, series=True)
    store.cache.set(key, description)
    return description


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
