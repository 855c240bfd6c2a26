"""The Training tab: checkpoint uploads, the series' layers, the Run job and its cached result.

The job body :func:`run_training_job` and the cache check :func:`cached_training_result` are
plain functions (tested directly), as are the upload and the layer list; :func:`register`
wraps them. The maps of every state are computed by a ``callbacks.worker --training``
process (models load only there) into the store's cache. Once a result is there, the web
process splits it, once, into what the browser needs (:func:`prepare_view`): a small summary
for TRAIN_RESULT (states, groups, colour limit, change curve) and one *frame* per state (its
maps as plotly typed arrays) in the same disk cache, so a slider step reads one small entry
and sends only that state's maps (:mod:`callbacks.training_views`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, Patch, State, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (
    SHARED_IDS,
    app_data_dir,
    hide_stored_name,
    hide_stored_ref,
    job_options,
    message,
    readable_error,
    series_description,
    shared_dict,
)
from callbacks.models import LayerChoice, UploadError, decode_upload, default_layer
from callbacks.run import (
    CANCELLED,
    NOT_COMPUTED,
    ProgressRelay,
    SetProgress,
    compute_in_worker,
    log_job,
)
from callbacks.state import TAB_DEFAULTS, build_training_request
from layouts.controls import model_options
from layouts.ids import ID
from layouts.training import checkpoint_options
from layouts.training_figures import encode_maps
from topomap_core.errors import Cancelled, TopomapError
from topomap_core.store import Store
from topomap_core.training import DEMO_CHECKPOINTS, TrainingRequest, TrainingResult

LOG = logging.getLogger(__name__)

#: ``compute(request, data_dir, progress) -> None``: fills the store's cache for ``request``.
Compute = Callable[[TrainingRequest, Path, Callable[[str, int, int], None]], None]

#: The Run job's computation: a ``callbacks.worker --training`` process.
COMPUTE_TRAINING: Compute = partial(compute_in_worker, mode="--training")

#: Bump when the frames or the summary kept for the browser change form.
VIEW_VERSION = "1"


# --------------------------------------------------------------------------- the series


def series_info(store: Store, ref: str | None) -> dict[str, Any] | None:
    """The stored metadata of an uploaded series (``kind``, ``n_checkpoints``, ...), or None."""
    if not ref or ref == DEMO_CHECKPOINTS:
        return None
    for item in store.list_checkpoints():
        if item["id"] == ref:
            return item
    return None


@dataclass
class CheckpointsUpload:
    """Result of a checkpoint upload: dropdown options and value, and a message."""

    options: list[dict[str, str]]
    value: str | None
    message: str
    ok: bool


def upload_checkpoints(
    contents: str, filename: str | None, current: str | None, data_dir: str | Path
) -> CheckpointsUpload:
    """Store an uploaded ``.zip`` of checkpoints and select it; a refused one keeps ``current``.

    The archive is checked (zip safety, one kind of file, a number in every name, the
    configuration of every ``.keras`` member read as data) but no model is loaded here.
    """
    store = Store(data_dir)
    name = filename or "checkpoints.zip"
    content = b""
    try:
        content = decode_upload(contents, filename)
        ref = store.add_checkpoints(content, name)
    except UploadError as exc:
        return CheckpointsUpload(
            checkpoint_options(store.list_checkpoints()), current, str(exc), False
        )
    except TopomapError as exc:
        text = f"{name} refused: {hide_stored_name(readable_error(exc), content, name)}"
        return CheckpointsUpload(checkpoint_options(store.list_checkpoints()), current, text, False)
    except Exception as exc:
        text = f"{name} could not be stored: {readable_error(exc)}"
        return CheckpointsUpload(checkpoint_options(store.list_checkpoints()), current, text, False)
    info = series_info(store, ref) or {}
    n = info.get("n_checkpoints", "?")
    if info.get("kind") == "weights":
        what = f"{n} .weights.h5 states; choose the base model they belong to"
    else:
        what = f"{n} .keras states"
    text = f"Stored {name}: {what}."
    return CheckpointsUpload(checkpoint_options(store.list_checkpoints()), ref, text, True)


@dataclass
class SeriesChoice:
    """What the Training tab shows for a series: its layers, and whether it needs a base."""

    layers: LayerChoice = field(default_factory=LayerChoice)
    needs_base: bool = False


def series_layers(
    checkpoints: str | None, base_model: str | None, current: str | None, data_dir: str | Path
) -> SeriesChoice:
    """The layer options of a series (from a worker or the cache, never loaded here)."""
    from layouts.controls import layer_options

    if not checkpoints:
        return SeriesChoice(LayerChoice(message="Choose checkpoints.", ok=False))
    store = Store(data_dir)
    info = series_info(store, checkpoints)
    kind = info.get("kind") if info else None
    needs_base = kind == "weights"
    name = store.display_name(checkpoints)
    try:
        layers = series_description(checkpoints, base_model, data_dir, kind)["layers"]
    except Exception as exc:  # a series that cannot be loaded gives a message, never a crash
        text = readable_error(exc)
        for ref in (checkpoints, base_model):
            if ref:
                text = hide_stored_ref(text, ref, store.display_name(ref))
        return SeriesChoice(LayerChoice(message=f"{name}: {text}", ok=False), needs_base)
    value = default_layer(layers, current)
    if checkpoints == DEMO_CHECKPOINTS:
        text = "The demo: digits MLP trained for one epoch, a state after every batch."
    else:
        n = info.get("n_checkpoints") if info else None
        text = (
            f"{name}: {n} states, {len(layers)} layers." if n else f"{name}: {len(layers)} layers."
        )
    if current and value != current and current != TAB_DEFAULTS["train_layer"]:
        text += f" Layer {current!r} is not in this model; showing {value!r}."
    return SeriesChoice(LayerChoice(layer_options(layers), value, text), needs_base)


# --------------------------------------------------------------------------- the view data


def _key(*parts: Any) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


def frame_key(key: str, state: int) -> str:
    """Cache key of one state's frame (its maps as typed arrays) of training result ``key``."""
    return "training-frame-" + _key(VIEW_VERSION, key, int(state))


def summary_key(key: str) -> str:
    """Cache key of the browser's summary of training result ``key``."""
    return "training-summary-" + _key(VIEW_VERSION, key)


def _floats(values: Any) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        f = None if v is None else float(v)
        out.append(None if f is None or f != f else f)  # NaN -> None (JSON null)
    return out


def view_summary(result: TrainingResult, key: str) -> dict[str, Any]:
    """What TRAIN_RESULT holds: the request, the key, and what the browser draws besides maps.

    Never the maps themselves (those are frames, fetched one state at a time).
    """
    return {
        "request": asdict(result.request),
        "key": key,
        "n": result.n_states,
        "steps": [int(s) for s in result.steps],
        "labels": [result.frame_title(i) for i in range(result.n_states)],
        "names": list(result.group_names),
        "vmax": float(result.vmax),
        "change": _floats(result.change),
        "accuracy": _floats(result.accuracy),
        "resolution": int(result.maps.shape[-1]),
        "n_neurons": int(result.layout.shape[0]),
        "computed": int(sum(not c for c in result.from_cache)),
    }


def prepare_view(
    store: Store, request: TrainingRequest, key: str, result: TrainingResult | None = None
) -> dict[str, Any] | None:
    """The summary of the stored result ``key``, writing its frames on first use.

    Returns None when the result is not stored. The cache evicts entries on its own, so the
    result and every frame are checked (a key lookup each, no value read).
    """
    summary = store.cache.get(summary_key(key))
    if (
        summary is not None
        and key in store.cache
        and all(frame_key(key, i) in store.cache for i in range(summary["n"]))
    ):
        return {**summary, "request": asdict(request)}
    if result is None:
        result = store.cache.get(key)
        if result is None:
            return None
    for i in range(result.n_states):
        store.cache.set(frame_key(key, i), encode_maps(result.maps[i]))
    summary = view_summary(result, key)
    store.cache.set(summary_key(key), summary)  # last: a summary means every frame is there
    return {**summary, "request": asdict(request)}


def frame(data_dir: str | Path, data: dict | None, state: int) -> list[dict[str, str]] | None:
    """The maps of state ``state`` of the TRAIN_RESULT ``data``, as typed arrays, or None."""
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return None
    return Store(data_dir).cache.get(frame_key(data["key"], int(state)))


def training_result(data_dir: str | Path, data: dict | None) -> TrainingResult | None:
    """The whole TrainingResult a TRAIN_RESULT entry points to (for exports), or None."""
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return None
    try:
        return Store(data_dir).cache.get(data["key"])
    except (TypeError, ValueError, OSError):
        return None


# --------------------------------------------------------------------------- running


def _done_status(summary: dict[str, Any], seconds: float | None) -> str:
    n, groups, neurons = summary["n"], len(summary["names"]), summary["n_neurons"]
    what = f"{n} states, {groups} groups, {neurons} neurons"
    if seconds is None:
        return f"Loaded the stored result: {what}."
    computed = summary.get("computed", n)
    reused = f"; {n - computed} NAPs from the cache" if computed < n else ""
    return f"Done in {seconds:.1f} s: {what}{reused}."


def run_training_job(
    shared: dict[str, Any],
    tab: dict[str, Any],
    data_dir: str | Path,
    set_progress: SetProgress | None = None,
    compute: Compute = COMPUTE_TRAINING,
) -> tuple[dict[str, Any] | None, str]:
    """The Training tab's Run job: the stored result at once, else compute it with progress.

    Parameters
    ----------
    shared : dict
        The sidebar's shared controls (:data:`callbacks.state.SHARED_KEYS`).
    tab : dict
        The tab values (:data:`callbacks.state.TAB_KEYS`).

    Returns
    -------
    result : dict or None
        TRAIN_RESULT data (:func:`view_summary`), None when nothing could be shown.
    status : str
        A readable line for TRAIN_STATUS; errors never raise.
    """
    data_dir = Path(data_dir)
    report = set_progress or (lambda value: None)
    t0 = time.perf_counter()
    try:
        request = build_training_request(shared, tab)
        store = Store(data_dir)
        key = store.training_key(request)
        if key is not None:
            summary = prepare_view(store, request, key)
            if summary is not None:
                report((1, 1, "done (cached)"))
                return summary, _done_status(summary, None)
        log_job(data_dir, f"training:{key or 'demo-untrained'}", request.method)
        LOG.info("computing training maps (%s) in pid %d", request.method, os.getpid())
        report((0, 1, "loading checkpoints and data…"))
        compute(request, data_dir, ProgressRelay(report))
        key = store.training_key(request)
        summary = prepare_view(store, request, key) if key is not None else None
        if summary is None:
            raise RuntimeError("the result was computed but could not be stored")
    except Cancelled:
        return None, CANCELLED
    except Exception as exc:  # the page shows one readable line; the server keeps serving
        return None, f"Run failed: {readable_error(exc)}"
    report((1, 1, "done"))
    return summary, _done_status(summary, time.perf_counter() - t0)


def cached_training_result(
    shared: dict[str, Any],
    tab: dict[str, Any],
    data_dir: str | Path,
    warnings: list[str] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """The stored training result for the controls, if any; never computes (nor logs a job).

    Returns
    -------
    result : dict or None
        TRAIN_RESULT data, or None when not stored (or the controls are invalid).
    status : str
        ``warnings`` (one per line) followed by what happened.
    """
    lines = list(warnings or [])
    result = None
    try:
        request = build_training_request(shared, tab)
        store = Store(data_dir)
        key = store.training_key(request)
        result = prepare_view(store, request, key) if key is not None else None
        lines.append(
            "Showing the stored result for these settings." if result is not None else NOT_COMPUTED
        )
    except TopomapError as exc:
        lines.append(readable_error(exc) + ".")
    except Exception as exc:
        lines.append(f"Could not look for a stored result: {readable_error(exc)}")
    return result, "\n".join(lines)


# --------------------------------------------------------------------------- callbacks


def _tab_values(checkpoints: Any, base: Any, layer: Any) -> dict[str, Any]:
    return {**TAB_DEFAULTS, "checkpoints": checkpoints, "base_model": base, "train_layer": layer}


def register(app: Dash) -> None:
    """Register the Training tab's upload, layer list, Run job and cached-result callbacks."""
    data_dir = app_data_dir(app)
    series = [
        State(ID.TRAIN_CHECKPOINTS, "value"),
        State(ID.TRAIN_BASE_MODEL, "value"),
        State(ID.TRAIN_LAYER, "value"),
    ]

    @app.callback(
        Output(ID.TRAIN_CHECKPOINTS, "options"),
        Output(ID.TRAIN_CHECKPOINTS, "value", allow_duplicate=True),
        Output(ID.TRAIN_MESSAGE, "children", allow_duplicate=True),
        Input(ID.TRAIN_UPLOAD, "contents"),
        State(ID.TRAIN_UPLOAD, "filename"),
        State(ID.TRAIN_CHECKPOINTS, "value"),
        prevent_initial_call=True,
    )
    def on_upload(contents: str | None, filename: str | None, current: str | None):
        if not contents:
            raise PreventUpdate
        outcome = upload_checkpoints(contents, filename, current, data_dir)
        value = outcome.value if outcome.value != current else no_update
        return outcome.options, value, message(outcome.message, outcome.ok)

    @app.callback(
        Output(ID.TRAIN_BASE_FIELD, "style"),
        Output(ID.TRAIN_LAYER, "options"),
        Output(ID.TRAIN_LAYER, "value", allow_duplicate=True),
        Output(ID.TRAIN_MESSAGE, "children"),
        Output(ID.TRAIN_LINK, "data", allow_duplicate=True),
        Input(ID.TRAIN_CHECKPOINTS, "value"),
        Input(ID.TRAIN_BASE_MODEL, "value"),
        Input(ID.TABS, "value"),
        State(ID.TRAIN_LAYER, "value"),
        State(ID.TRAIN_LINK, "data"),
        prevent_initial_call=True,
    )
    def on_series(checkpoints, base, tab, current, link):
        if tab != "training":
            raise PreventUpdate  # the layer list waits until the tab is opened
        linked = (link or {}).get("train_layer")
        choice = series_layers(checkpoints, base, linked or current, data_dir)
        style = {} if choice.needs_base else {"display": "none"}
        layers = choice.layers
        done = Patch()
        done["train_layer"] = None
        return style, layers.options, layers.value, message(layers.message, layers.ok), done

    @app.callback(
        Output(ID.TRAIN_BASE_MODEL, "options"),
        Output(ID.TRAIN_CHECKPOINTS, "options", allow_duplicate=True),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_tab(tab: str | None):
        # Models and series uploaded since the page loaded are listed too.
        if tab != "training":
            raise PreventUpdate
        store = Store(data_dir)
        return model_options(store.list_models()), checkpoint_options(store.list_checkpoints())

    @app.callback(
        Output(ID.TRAIN_RESULT, "data", allow_duplicate=True),
        Output(ID.TRAIN_STATUS, "children", allow_duplicate=True),
        Input(ID.TRAIN_RUN, "n_clicks"),
        *[State(cid, "value") for cid in SHARED_IDS],
        *series,
        **job_options(ID.TRAIN_RUN, ID.TRAIN_CANCEL, ID.TRAIN_PROGRESS_BAR, ID.TRAIN_PROGRESS_TEXT),
    )
    def on_run(set_progress: SetProgress, n_clicks: int | None, *values: Any):
        if not n_clicks:
            raise PreventUpdate
        *shared, checkpoints, base, layer = values
        result, status = run_training_job(
            shared_dict(*shared), _tab_values(checkpoints, base, layer), data_dir, set_progress
        )
        return (result if result is not None else no_update), status

    app.clientside_callback(
        """function(n) {
            const skip = window.dash_clientside.no_update;
            return n ? 'Running…' : skip;
        }""",
        Output(ID.TRAIN_STATUS, "children", allow_duplicate=True),
        Input(ID.TRAIN_RUN, "n_clicks"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ID.TRAIN_STATUS, "children", allow_duplicate=True),
        Input(ID.TRAIN_CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )
    def on_cancel(n_clicks: int | None) -> str:
        if not n_clicks:
            raise PreventUpdate
        return CANCELLED

    @app.callback(
        Output(ID.TRAIN_RESULT, "data"),
        Output(ID.TRAIN_STATUS, "children"),
        *[Input(cid, "value") for cid in SHARED_IDS],
        Input(ID.TRAIN_CHECKPOINTS, "value"),
        Input(ID.TRAIN_BASE_MODEL, "value"),
        Input(ID.TRAIN_LAYER, "value"),
        Input(ID.TABS, "value"),
        State(ID.URL_WARNINGS, "data"),
        State(ID.TRAIN_RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_controls_changed(*args: Any):
        *shared, checkpoints, base, layer, tab, warnings, shown = args
        if tab != "training":
            raise PreventUpdate  # nothing of a training result is read for the other tabs
        result, status = cached_training_result(
            shared_dict(*shared), _tab_values(checkpoints, base, layer), data_dir, warnings
        )
        if same_result(result, shown):
            raise PreventUpdate  # e.g. back from another tab: keep the state shown
        return result, status


def same_result(new: dict | None, shown: dict | None) -> bool:
    """Whether two TRAIN_RESULT entries show the same stored result."""
    return (
        isinstance(new, dict)
        and isinstance(shown, dict)
        and new.get("key") == shown.get("key")
        and new.get("request") == shown.get("request")
    )
