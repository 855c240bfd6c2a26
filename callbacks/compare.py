"""The Compare tab: two models (or two training states) on one shared layout, and B − A.

Two models are compared by a background job whose computation runs in a
``callbacks.worker --compare`` process (models load only there); the result is cached.
Two states of the training series need no job: the Training tab's stored result already has
every state on one layout, so their maps are read from it and subtracted (linear
interpolation on one triangulation is linear in the values, so the map of B − A is the map
of B minus the map of A).

The job body, the cache check, the layer lists and the width check are plain functions
(tested directly); :func:`register` wraps them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, Patch, State, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import (
    SHARED_IDS,
    app_data_dir,
    hide_stored_ref,
    job_options,
    message,
    model_description,
    readable_error,
)
from callbacks.common import shared_dict as _shared_dict
from callbacks.models import list_layers, upload_model
from callbacks.run import (
    CANCELLED,
    NOT_COMPUTED,
    ProgressRelay,
    SetProgress,
    compute_in_worker,
    log_job,
)
from callbacks.state import (
    TAB_DEFAULTS,
    build_compare_request,
    build_training_request,
    compare_states,
)
from callbacks.training import COMPUTE_TRAINING, prepare_view
from layouts.compare import NO_COMPARISON
from layouts.controls import model_options
from layouts.figures import empty_figure
from layouts.ids import ID
from layouts.training_figures import compare_figure
from topomap_core.errors import Cancelled, TopomapError
from topomap_core.profiles.interpolate import colour_limit
from topomap_core.store import Store
from topomap_core.training import CompareRequest, TrainingRequest

#: ``compute(request, data_dir, progress) -> None``: fills the store's cache for ``request``.
Compute = Callable[[CompareRequest, Path, Callable[[str, int, int], None]], None]
#: The Run job's computation: a ``callbacks.worker --compare`` process.
COMPUTE_COMPARE: Compute = partial(compute_in_worker, mode="--compare")
#: ``compute(request, data_dir, progress) -> None`` for the training maps (two states).
TrainingCompute = Callable[[TrainingRequest, Path, Callable[[str, int, int], None]], None]

NO_TRAINING_RESULT = (
    "The training maps of these checkpoints and settings are not computed yet: press Compare "
    "(or Run on the Training tab)."
)


# --------------------------------------------------------------------------- layers


def layer_width(ref: str | None, layer: str | None, data_dir: str | Path) -> int | None:
    """Neurons of ``layer`` of model ``ref`` (its description, from the cache or a worker).

    None when there is no such layer or nothing chosen.

    Raises
    ------
    TopomapError, RuntimeError
        The model cannot be loaded (see :func:`callbacks.common.model_description`).
    """
    if not ref or not layer:
        return None
    for info in model_description(ref, data_dir)["layers"]:
        if info["name"] == layer:
            return int(info["neurons"])
    return None


def width_check(
    model_a: str | None,
    layer_a: str | None,
    model_b: str | None,
    layer_b: str | None,
    data_dir: str | Path,
) -> tuple[str, bool]:
    """Whether the two layers can share a layout: ``(message, ok)``.

    ``"Both layers have 128 neurons."`` or ``"Layer 'dense' of A has 128 neurons but layer
    'hidden' of B has 24: a shared layout needs the same width; choose other layers."``
    """
    widths = []
    for side, ref, layer in (("A", model_a, layer_a), ("B", model_b, layer_b)):
        try:
            widths.append(layer_width(ref, layer, data_dir))
        except Exception as exc:
            name = Store(data_dir).display_name(ref) if isinstance(ref, str) else "?"
            text = hide_stored_ref(readable_error(exc), str(ref), name)
            return f"Model {side} ({name}) could not be loaded: {text}", False
    width_a, width_b = widths
    if width_a is None or width_b is None:
        return "", True
    if (model_a, layer_a) == (model_b, layer_b):
        return "A and B are the same layer of the same model: choose (or upload) another B.", True
    if width_a == width_b:
        return f"Both layers have {width_a} neurons: they share one layout.", True
    return (
        f"Layer {layer_a!r} of A has {width_a} neurons but layer {layer_b!r} of B has "
        f"{width_b}: a shared layout needs the same width; choose other layers.",
        False,
    )


# --------------------------------------------------------------------------- results


def _tab(values: dict[str, Any]) -> dict[str, Any]:
    return {**TAB_DEFAULTS, **values}


def result_data(mode: str, request: Any, **extra: Any) -> dict[str, Any]:
    """What COMPARE_RESULT holds: the mode, the request (and states); never arrays."""
    return {"mode": mode, "request": asdict(request), **extra}


def _states_result(
    shared: dict[str, Any],
    tab: dict[str, Any],
    data_dir: str | Path,
    compute: TrainingCompute | None = None,
    report: SetProgress | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """Two states of the training series, from its stored result.

    With ``compute``, a result that is not stored yet is computed first (a job, logged).
    """
    request = build_training_request(shared, tab)
    store = Store(data_dir)
    key = store.training_key(request)
    summary = prepare_view(store, request, key) if key is not None else None
    if summary is None and compute is not None:
        log_job(data_dir, f"training:{key or 'demo-untrained'}", request.method)
        compute(request, Path(data_dir), ProgressRelay(report or (lambda value: None)))
        key = store.training_key(request)
        summary = prepare_view(store, request, key) if key is not None else None
    if summary is None:
        return None, NO_TRAINING_RESULT
    a, b = compare_states(tab, summary["n"])
    data = result_data("states", request, key=key, a=a, b=b)
    labels = summary["labels"]
    return data, f"A = state {a} ({labels[a]}), B = state {b} ({labels[b]})."


def run_compare_job(
    shared: dict[str, Any],
    tab: dict[str, Any],
    data_dir: str | Path,
    set_progress: SetProgress | None = None,
    compute: Compute = COMPUTE_COMPARE,
    compute_training: TrainingCompute = COMPUTE_TRAINING,
) -> tuple[dict[str, Any] | None, str]:
    """The Compare button's job: the stored comparison at once, else compute it with progress.

    Two states of the training series are read from its stored result, which is computed
    first (``compute_training``, the Training tab's job) when it is not stored.

    Returns
    -------
    result : dict or None
        COMPARE_RESULT data, None when nothing could be shown.
    status : str
        A readable line for COMPARE_STATUS; errors never raise.
    """
    report = set_progress or (lambda value: None)
    tab = _tab(tab)
    t0 = time.perf_counter()
    try:
        if tab.get("compare") == "states":
            result, status = _states_result(shared, tab, data_dir, compute_training, report)
            report((1, 1, "done"))
            return result, status
        request = build_compare_request(shared, tab)
        store = Store(data_dir)
        if store.cached_compare(request) is not None:
            report((1, 1, "done (cached)"))
            return result_data("models", request), "Loaded the stored comparison."
        log_job(data_dir, f"compare:{store.compare_key(request)}", request.method)
        report((0, 1, "loading models and data…"))
        compute(request, Path(data_dir), ProgressRelay(report))
        result = store.cached_compare(request)
        if result is None:
            raise RuntimeError("the comparison was computed but could not be stored")
    except Cancelled:
        return None, CANCELLED
    except Exception as exc:
        return None, f"Compare failed: {readable_error(exc)}"
    report((1, 1, "done"))
    n_groups, n_neurons = result.values_a.shape
    seconds = time.perf_counter() - t0
    status = f"Done in {seconds:.1f} s: {n_groups} groups, {n_neurons} neurons."
    return result_data("models", request), status


def cached_compare_result(
    shared: dict[str, Any],
    tab: dict[str, Any],
    data_dir: str | Path,
    warnings: list[str] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """The stored comparison for the controls, if any; never computes (nor logs a job)."""
    lines = list(warnings or [])
    tab = _tab(tab)
    result = None
    try:
        if tab.get("compare") == "states":
            result, text = _states_result(shared, tab, data_dir)
            lines.append(text)
        else:
            request = build_compare_request(shared, tab)
            if Store(data_dir).cached_compare(request) is not None:
                result = result_data("models", request)
                lines.append("Showing the stored comparison for these settings.")
            else:
                lines.append(NOT_COMPUTED.replace("press Run", "press Compare"))
    except TopomapError as exc:
        lines.append(readable_error(exc) + ".")
    except Exception as exc:
        lines.append(f"Could not look for a stored comparison: {readable_error(exc)}")
    return result, "\n".join(lines)


def compare_view(data_dir: str | Path, data: dict | None) -> go.Figure:
    """The figure of COMPARE_RESULT ``data``: A, B and B − A per group, or a placeholder."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return empty_figure(NO_COMPARISON, height=420)
    store = Store(data_dir)
    try:
        if data.get("mode") == "states":
            result = store.cache.get(data.get("key"))
            if result is None:
                return empty_figure("The stored training maps are gone: run them again.", 420)
            a, b = int(data["a"]), int(data["b"])
            maps_a, maps_b = result.maps[a], result.maps[b]
            diff = maps_b - maps_a
            diff_vmax = colour_limit(result.values[b] - result.values[a])
            return compare_figure(result.group_names, maps_a, maps_b, diff, result.vmax, diff_vmax)
        result = store.cached_compare(CompareRequest(**data["request"]))
        if result is None:
            return empty_figure("The stored comparison is gone: press Compare again.", 420)
        return compare_figure(
            result.group_names,
            result.maps_a,
            result.maps_b,
            result.diff_maps,
            result.vmax,
            result.diff_vmax,
        )
    except Exception as exc:  # a message in the page rather than a failed callback
        return empty_figure(f"Could not draw the comparison: {readable_error(exc)}", 420)


def describe_pair(data: dict | None, data_dir: str | Path) -> str:
    """A line naming A and B of COMPARE_RESULT ``data`` (shown above the maps)."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return ""
    req = data["request"]
    store = Store(data_dir)
    if data.get("mode") == "states":
        name = store.display_name(TrainingRequest(**req).checkpoints)
        return f"A = state {data['a']}, B = state {data['b']} of {name}, layer {req['layer']!r}."
    a = f"{store.display_name(req['model_a'])} ({req['layer']})"
    b = f"{store.display_name(req['model_b'])} ({req.get('layer_b') or req['layer']})"
    return f"A = {a}, B = {b}."


# --------------------------------------------------------------------------- callbacks


_TAB_STATES = [
    State(ID.COMPARE_MODE, "value"),
    State(ID.COMPARE_MODEL_A, "value"),
    State(ID.COMPARE_LAYER_A, "value"),
    State(ID.COMPARE_MODEL_B, "value"),
    State(ID.COMPARE_LAYER_B, "value"),
    State(ID.COMPARE_STATE_A, "value"),
    State(ID.COMPARE_STATE_B, "value"),
    State(ID.TRAIN_CHECKPOINTS, "value"),
    State(ID.TRAIN_BASE_MODEL, "value"),
    State(ID.TRAIN_LAYER, "value"),
]
_TAB_KEYS = (
    "compare",
    "model_a",
    "layer_a",
    "model_b",
    "layer_b",
    "state_a",
    "state_b",
    "checkpoints",
    "base_model",
    "train_layer",
)


def _tab_values(*values: Any) -> dict[str, Any]:
    return _tab(dict(zip(_TAB_KEYS, values, strict=True)))


def register(app: Dash) -> None:
    """Register the Compare tab's callbacks on ``app``."""
    data_dir = app_data_dir(app)

    @app.callback(
        Output(ID.COMPARE_MODELS_FIELDS, "style"),
        Output(ID.COMPARE_STATES_FIELDS, "style"),
        Input(ID.COMPARE_MODE, "value"),
    )
    def on_mode(mode: str | None):
        hidden = {"display": "none"}
        return ({}, hidden) if mode != "states" else (hidden, {})

    @app.callback(
        Output(ID.COMPARE_MODEL_A, "options"),
        Output(ID.COMPARE_MODEL_B, "options"),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_tab(tab: str | None):
        # Models uploaded on the Maps tab since the page loaded are listed too.
        if tab != "compare":
            raise PreventUpdate
        options = model_options(Store(data_dir).list_models())
        return options, options

    for side in ("a", "b"):
        model_id = ID.COMPARE_MODEL_A if side == "a" else ID.COMPARE_MODEL_B
        layer_id = ID.COMPARE_LAYER_A if side == "a" else ID.COMPARE_LAYER_B

        @app.callback(
            Output(layer_id, "options"),
            Output(layer_id, "value", allow_duplicate=True),
            Output(ID.COMPARE_LINK, "data", allow_duplicate=True),
            Input(model_id, "value"),
            Input(ID.TABS, "value"),
            State(layer_id, "value"),
            State(ID.COMPARE_LINK, "data"),
            prevent_initial_call=True,
        )
        def on_model(ref, tab, current, link, _side=side):
            if tab != "compare":
                raise PreventUpdate  # layer lists wait until the tab is opened
            key = f"layer_{_side}"
            # From the cache or a worker, never loaded here.
            choice = list_layers(ref, (link or {}).get(key) or current, data_dir)
            done = Patch()
            done[key] = None
            return choice.options, choice.value, done

    @app.callback(
        Output(ID.COMPARE_MESSAGE, "children"),
        Input(ID.COMPARE_MODEL_A, "value"),
        Input(ID.COMPARE_LAYER_A, "value"),
        Input(ID.COMPARE_MODEL_B, "value"),
        Input(ID.COMPARE_LAYER_B, "value"),
        Input(ID.COMPARE_MODE, "value"),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_layers(model_a, layer_a, model_b, layer_b, mode, tab):
        if tab != "compare" or mode == "states":
            return None
        text, ok = width_check(model_a, layer_a, model_b, layer_b, data_dir)
        return message(text, ok)

    @app.callback(
        Output(ID.COMPARE_MODEL_A, "options", allow_duplicate=True),
        Output(ID.COMPARE_MODEL_B, "options", allow_duplicate=True),
        Output(ID.COMPARE_MODEL_B, "value", allow_duplicate=True),
        Output(ID.COMPARE_MESSAGE, "children", allow_duplicate=True),
        Input(ID.COMPARE_UPLOAD, "contents"),
        State(ID.COMPARE_UPLOAD, "filename"),
        State(ID.COMPARE_MODEL_B, "value"),
        prevent_initial_call=True,
    )
    def on_upload(contents: str | None, filename: str | None, current: str | None):
        if not contents:
            raise PreventUpdate
        outcome = upload_model(contents, filename, current, data_dir)
        value = outcome.value if outcome.value != current else no_update
        return outcome.options, outcome.options, value, message(outcome.message, outcome.ok)

    @app.callback(
        Output(ID.COMPARE_RESULT, "data", allow_duplicate=True),
        Output(ID.COMPARE_STATUS, "children", allow_duplicate=True),
        Input(ID.COMPARE_RUN, "n_clicks"),
        *[State(cid, "value") for cid in SHARED_IDS],
        *_TAB_STATES,
        **job_options(
            ID.COMPARE_RUN, ID.COMPARE_CANCEL, ID.COMPARE_PROGRESS_BAR, ID.COMPARE_PROGRESS_TEXT
        ),
    )
    def on_run(set_progress: SetProgress, n_clicks: int | None, *values: Any):
        if not n_clicks:
            raise PreventUpdate
        shared, tab = values[: len(SHARED_IDS)], values[len(SHARED_IDS) :]
        result, status = run_compare_job(
            _shared_dict(*shared), _tab_values(*tab), data_dir, set_progress
        )
        return (result if result is not None else no_update), status

    @app.callback(
        Output(ID.COMPARE_STATUS, "children", allow_duplicate=True),
        Input(ID.COMPARE_CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )
    def on_cancel(n_clicks: int | None) -> str:
        if not n_clicks:
            raise PreventUpdate
        return CANCELLED

    @app.callback(
        Output(ID.COMPARE_RESULT, "data"),
        Output(ID.COMPARE_STATUS, "children"),
        *[Input(cid, "value") for cid in SHARED_IDS],
        *[Input(s.component_id, s.component_property) for s in _TAB_STATES],
        Input(ID.TABS, "value"),
        State(ID.URL_WARNINGS, "data"),
        prevent_initial_call=True,
    )
    def on_controls_changed(*args: Any):
        *values, tab_name, warnings = args
        if tab_name != "compare":
            raise PreventUpdate
        shared, tab = values[: len(SHARED_IDS)], values[len(SHARED_IDS) :]
        return cached_compare_result(_shared_dict(*shared), _tab_values(*tab), data_dir, warnings)

    @app.callback(
        Output(ID.COMPARE_GRAPH, "figure"),
        Input(ID.COMPARE_RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_result(data: dict | None) -> go.Figure:
        fig = compare_view(data_dir, data)
        pair = describe_pair(data, data_dir)
        if pair:
            fig.update_layout(title={"text": pair, "font": {"size": 13}, "x": 0.01})
            fig.update_layout(margin={"t": 60})
        return fig
