"""The Compare tab: two models (or two training states) on one shared layout, and B − A.

Two models are compared by the compare job in a job process (models load only there); the
result is cached. Two states of the training series need no job of their own: the training
job's published frames already hold every state on one layout, so their maps are read and
subtracted (linear interpolation on one triangulation is linear in the values, so the map of
B − A is the map of B minus the map of A); when the series' maps are not stored yet, Compare
runs the training job first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx
from dash.exceptions import PreventUpdate

from layouts import compare as layout
from layouts.compare import CompareIds as C
from layouts.controls import model_options
from layouts.ids import ID
from layouts.page import TabPane
from topomap_core.analyses.compare import CompareRequest
from topomap_core.analyses.training_maps import TrainingRequest
from topomap_core.errors import TopomapError
from topomap_core.jobs.registry import get_job
from topomap_core.params import coerce_int, short
from topomap_core.store import Store

from .common import (
    hide_stored_ref,
    list_layers,
    message,
    model_description,
    readable_error,
    register_layer_list,
)
from .compare_view import compare_export, compare_view
from .jobs import NOT_COMPUTED, JobTab, register_job, timed
from .maps import SHARED_INPUTS, check_data
from .training import INPUTS as TRAINING_INPUTS
from .training import SERIES_LINKS, training_request
from .uploads import register_upload, upload_model
from .url import Link, Tab, field_check, options_check

NO_TRAINING_RESULT = (
    "The training maps of these checkpoints and settings are not computed yet: press Compare "
    "(or Run on the Training tab)."
)

#: What the tab can compare.
MODES = tuple(layout.COMPARE_MODE_LABELS)

#: The tab's controls, after the sidebar's shared ones; "two states" mode also reads the
#: Training tab's series.
INPUTS = (
    *SHARED_INPUTS,
    *zip(
        ("compare", "model_a", "layer_a", "model_b", "layer_b", "state_a", "state_b"),
        (C.MODE, C.MODEL_A, C.LAYER_A, C.MODEL_B, C.LAYER_B, C.STATE_A, C.STATE_B),
        strict=True,
    ),
    *TRAINING_INPUTS[len(SHARED_INPUTS) :],
)


# --------------------------------------------------------------------------------- layers


def layer_width(ref: str | None, layer: str | None, data_dir: str | Path) -> int | None:
    """Neurons of ``layer`` of model ``ref`` (its description); None when not known."""
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
    """Whether the two layers can share a layout: ``(message, ok)``."""
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


# ------------------------------------------------------------------------------------ job


def compare_states(values: Mapping[str, Any], n_states: int) -> tuple[int, int]:
    """States A and B of a series of ``n_states`` (default: the first and the last).

    Raises
    ------
    TopomapError
        A state outside the series.
    """
    out = []
    for key, label, default in (("state_a", "State A", 0), ("state_b", "State B", n_states - 1)):
        raw = values.get(key)
        value = default if raw is None or raw == "" else coerce_int(raw)
        if value is None or not 0 <= value < n_states:
            shown = value if value is not None else repr(short(raw))
            raise TopomapError(
                f"{label} {shown} is not a state of this series (0 to {n_states - 1})"
            )
        out.append(value)
    return out[0], out[1]


def _states_mode(values: Mapping[str, Any]) -> bool:
    return values.get("compare") != "models"


def compare_request(values: dict[str, Any]) -> tuple[Any, Any]:
    """Two states: the training job's request; two models: the compare job's."""
    if _states_mode(values):
        return training_request(values)
    job = get_job("compare")
    names = ("model_a", "model_b", "layer_b", *(name for name, _ in SHARED_INPUTS))
    return job, job.validate(
        {**{name: values.get(name) for name in names}, "layer": values.get("layer_a")}
    )


def compare_data(outcome, request, values: dict[str, Any]) -> dict[str, Any]:
    """What the result store holds: the mode, the request, the key (and states); never maps."""
    if not _states_mode(values):
        return {"mode": "models", "request": asdict(request), "key": outcome.key}
    a, b = compare_states(values, outcome.view["n"])
    labels = outcome.view["labels"]
    return {
        "mode": "states",
        "request": asdict(request),
        "key": outcome.key,
        "a": a,
        "b": b,
        "names": outcome.view["names"],
        "vmax": outcome.view["vmax"],
        "text": f"A = {labels[a]}; B = {labels[b]}.",
    }


def compare_status(outcome, data: dict[str, Any]) -> str:
    if data["mode"] == "states":
        # The states' maps come from the training job: its run (when Compare started it) took
        # this long; a stored one is said to be loaded, never given another's duration.
        if outcome.computed:
            return f"{timed(outcome)}: {data['text']}"
        return f"Loaded the stored training maps. {data['text']}"
    if not outcome.computed:
        return "Loaded the stored comparison."
    n_groups, n_neurons = outcome.view.values_a.shape
    return f"{timed(outcome)}: {n_groups} groups, {n_neurons} neurons."


def compare_shown(outcome, data: dict[str, Any]) -> str:
    if data["mode"] == "states":
        return data["text"]
    return "Showing the stored comparison for these settings."


def _not_computed(values: Mapping[str, Any]) -> str:
    if _states_mode(values):
        return NO_TRAINING_RESULT
    return NOT_COMPUTED.replace("press Run", "press Compare")


JOB = JobTab(
    layout.JOB, INPUTS, compare_request, compare_data, compare_status, "compare",
    not_computed=_not_computed, failed="Compare failed", starting="loading models and data…",
    shown=compare_shown,
)  # fmt: skip


def data_check(
    tab: str | None,
    mode: str | None,
    model_a: str | None,
    model_b: str | None,
    data_ref: str | None,
    groups: str | None,
    data_dir: str | Path,
    preprocess: str | None = None,
    resize: str | None = None,
) -> tuple[str, bool]:
    """The sidebar's data message on the Compare tab: the data against models A and B (the
    Maps tab's model is not what is compared here); nothing to check for two states."""
    if tab != "compare" or mode != "models":
        return "", True
    text, ok = check_data(model_a, data_ref, groups, data_dir, preprocess, resize)
    if not ok:
        return f"Model A: {text}", False
    if model_b and model_b != model_a:
        text_b, ok_b = check_data(model_b, data_ref, groups, data_dir, preprocess, resize)
        if not ok_b:
            return f"Model B: {text_b}", False
    return text.replace("the model's input", "the models' input") if model_b else text, True


def describe_pair(data: dict | None, data_dir: str | Path) -> str:
    """A line naming A and B of result-store ``data`` (shown above the maps)."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return ""
    req = data["request"]
    store = Store(data_dir)
    if data.get("mode") == "states":
        name = store.display_name(req["checkpoints"])
        return f"A = state {data['a']}, B = state {data['b']} of {name}, layer {req['layer']!r}."
    a = f"{store.display_name(req['model_a'])} ({req['layer']})"
    b = f"{store.display_name(req['model_b'])} ({req.get('layer_b') or req['layer']})"
    return f"A = {a}, B = {b}."


# ------------------------------------------------------------------------------ callbacks


def register(app: Dash, data_dir: Path) -> None:
    """Register the Compare tab's callbacks on ``app``."""
    register_job(app, JOB, data_dir)

    @app.callback(
        Output(C.MODELS_FIELDS, "style"),
        Output(C.STATES_FIELDS, "style"),
        Input(C.MODE, "value"),
    )
    def on_mode(mode: str | None):
        hidden = {"display": "none"}
        return ({}, hidden) if mode == "models" else (hidden, {})

    @app.callback(
        Output(C.MODEL_A, "options"),
        Output(C.MODEL_B, "options"),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_tab(tab: str | None):
        # Models uploaded on the Maps tab since the page loaded are listed too.
        if tab != "compare":
            raise PreventUpdate
        options = model_options(Store(data_dir).list_models())
        return options, options

    for model_id, layer_id, key in (
        (C.MODEL_A, C.LAYER_A, "layer_a"),
        (C.MODEL_B, C.LAYER_B, "layer_b"),
    ):
        register_layer_list(
            app,
            [model_id],
            layer_id,
            C.LINK,
            key,
            lambda ref, wanted: ((), list_layers(ref, wanted, data_dir)),
            tab="compare",
        )

    @app.callback(
        Output(C.MESSAGE, "children"),
        *[Input(cid, "value") for cid in (C.MODEL_A, C.LAYER_A, C.MODEL_B, C.LAYER_B, C.MODE)],
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_layers(model_a, layer_a, model_b, layer_b, mode, tab):
        if tab != "compare" or mode != "models":
            return None
        text, ok = width_check(model_a, layer_a, model_b, layer_b, data_dir)
        return message(text, ok)

    @app.callback(
        Output(ID.DATA_MESSAGE, "children", allow_duplicate=True),
        Input(ID.DATA_SELECT, "value"),
        Input(ID.GROUPS_SELECT, "value"),
        Input(ID.TABS, "value"),
        *[Input(cid, "value") for cid in (C.MODE, C.MODEL_A, C.MODEL_B)],
        Input(ID.PREPROCESS_INPUT, "value"),
        Input(ID.RESIZE_SELECT, "value"),
        prevent_initial_call=True,
    )
    def on_data(data_ref, groups, tab, mode, model_a, model_b, preprocess, resize):
        if tab != "compare":
            raise PreventUpdate  # the Maps tab checks against its own model
        text, ok = data_check(
            tab, mode, model_a, model_b, data_ref, groups, data_dir, preprocess, resize
        )
        return message(text, ok)

    @app.callback(
        Output(C.DOWNLOAD, "data"),
        *[Input(bid, "n_clicks") for bid, _, _ in layout.COMPARE_EXPORTS],
        State(C.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_export(*args: Any) -> dict[str, Any]:
        *clicks, data = args
        if not any(clicks):
            raise PreventUpdate
        return compare_export(ctx.triggered_id, data_dir, data)

    @app.callback(
        *[Output(bid, "disabled") for bid, _, _ in layout.COMPARE_EXPORTS],
        Input(C.RESULT, "data"),
    )
    def on_exportable(data: dict | None) -> list[bool]:
        return [not data] * len(layout.COMPARE_EXPORTS)

    # A model dropped here becomes B (and is listed for A too).
    register_upload(app, data_dir, upload_model, C.UPLOAD, C.MODEL_B, C.MESSAGE, (C.MODEL_A,), True)

    @app.callback(
        Output(C.GRAPH, "figure"),
        Input(C.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_result(data: dict | None) -> go.Figure:
        fig = compare_view(data_dir, data)
        pair = describe_pair(data, data_dir)
        if pair:
            fig.update_layout(title={"text": pair, "font": {"size": 13}, "x": 0.01})
            fig.update_layout(margin={"t": 60})
        return fig


# ----------------------------------------------------------------------------------- link


def _models(values: Mapping[str, Any]) -> bool:
    return values.get("compare") == "models"


def _states(values: Mapping[str, Any]) -> bool:
    return not _models(values)


def _state_check(label: str):
    def checker(raw: Any) -> tuple[Any, str | None]:
        value = coerce_int(raw)
        if value is None:
            return None, f"{label} {short(raw)!r} (not a whole number)"
        if value < 0:
            return None, f"{label} {value} (must be 0 or more)"
        return value, None

    return checker


def _model_link(key: str, component: str, label: str) -> Link:
    return Link(
        key,
        field_check(CompareRequest, key, label),
        layout.DEFAULTS[key],
        component,
        known="model",
        label=label,
        when=_models,
    )


def _layer_link(key: str, field: str, component: str, label: str) -> Link:
    return Link(
        key,
        field_check(CompareRequest, field, label),
        layout.DEFAULTS["layer"],
        component,
        store=C.LINK,
        label=label,
        when=_models,
    )


#: What a link carries while the tab is open: the mode, then the two models and layers, or
#: the series and the two states.
LINKS: tuple[Link, ...] = (
    Link(
        "compare",
        options_check(MODES, "comparison", "use "),
        layout.DEFAULT_MODE,
        C.MODE,
        label="comparison",
    ),
    _model_link("model_a", C.MODEL_A, "model A"),
    _layer_link("layer_a", "layer", C.LAYER_A, "layer of model A"),
    _model_link("model_b", C.MODEL_B, "model B"),
    _layer_link("layer_b", "layer_b", C.LAYER_B, "layer of model B"),
    *[dataclasses.replace(link, when=_states) for link in SERIES_LINKS],
    Link("state_a", _state_check("state A"), None, C.STATE_A, label="state A", when=_states),
    Link("state_b", _state_check("state B"), None, C.STATE_B, label="state B", when=_states),
)

TAB = Tab(
    TabPane("compare", "Compare", layout.build), register, LINKS, INPUTS,
    (CompareRequest, TrainingRequest),
)  # fmt: skip
