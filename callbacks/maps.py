"""The Maps tab: the model's layers, the data check, the view job and its figures.

The result never travels to the browser whole: the result store holds the request and key,
and each figure callback reads the MapResult from the disk cache. The functions below are
plain (tested directly); :func:`register` wraps them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from layouts import maps as maps_layout
from layouts.controls import DEFAULTS
from layouts.figures import maps as figures
from layouts.ids import ID, MAPS_JOB
from layouts.page import TabPane
from topomap_core.analyses.view import MapResult, ViewRequest
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.results import cached
from topomap_core.store import Store

from .common import (
    hide_stored_ref,
    list_layers,
    message,
    model_description,
    readable_error,
    register_click,
    register_layer_list,
)
from .jobs import JobTab, register_job, timed
from .url import Link, Tab, field_check

#: The sidebar's controls that make a view's request, as (request field, component id).
INPUTS: tuple[tuple[str, str], ...] = (
    ("model", ID.MODEL_SELECT),
    ("data", ID.DATA_SELECT),
    ("layer", ID.LAYER_SELECT),
    ("groups", ID.GROUPS_SELECT),
    ("random_groups", ID.RANDOM_GROUPS),
    ("per_group", ID.PER_GROUP),
    ("method", ID.METHOD_SELECT),
    ("seed", ID.SEED_INPUT),
    ("nap", ID.NAP_SELECT),
    ("nap_class", ID.NAP_CLASS_SELECT),
)

#: The sidebar's controls every tab shares: data, grouping and layout.
SHARED_INPUTS: tuple[tuple[str, str], ...] = tuple(
    (name, cid) for name, cid in INPUTS if name not in ("model", "layer")
)


# --------------------------------------------------------------------------------- the job


def view_request(values: dict[str, Any]) -> tuple[Any, ViewRequest]:
    """The view job and the request the sidebar's values describe (validated)."""
    job = get_job("view")
    return job, job.validate({name: values.get(name) for name, _ in INPUTS})


def view_data(outcome, request: ViewRequest, values: dict[str, Any]) -> dict[str, Any]:
    """What the result store holds: the request and its key, never the arrays."""
    return {"request": asdict(request), "key": outcome.key}


def view_status(outcome, data: dict[str, Any]) -> str:
    if not outcome.computed:
        return "Loaded the stored result."
    n_groups, n_neurons = outcome.view.values.shape
    return f"{timed(outcome)}: {n_groups} groups, {n_neurons} neurons."


JOB = JobTab(MAPS_JOB, INPUTS, view_request, view_data, view_status)


def result_from_store(data_dir: str | Path, data: dict | None) -> MapResult | None:
    """The MapResult a result-store entry (``{"request": ..., "key": ...}``) points to."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return None
    try:
        job = get_job("view")
        return cached(job, job.validate(data["request"]), Store(data_dir))
    except (TypeError, ValueError, OSError):
        return None


# ------------------------------------------------------------------------------ the data


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
        # The model's input shape, from the cache or a job process: no model is loaded here.
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


# ------------------------------------------------------------------------------- the view


@dataclass
class Views:
    """Everything the main area shows for one state of the page."""

    maps: go.Figure
    dendrogram: go.Figure
    scatter: go.Figure
    selected_map: go.Figure
    metrics: html.Table | html.P


def build_views(
    data_dir: str | Path, result_data: dict | None, group: str | None, neuron: int | None
) -> Views:
    """The four figures and the metrics table; placeholders when there is no result."""
    result = result_from_store(data_dir, result_data)
    if result is None:
        gone = "The stored result is gone: press Run again."
        return _placeholders(maps_layout.NO_RESULT if not result_data else gone)
    if group not in result.order.names:
        group = result.order.names[0]
    try:
        return Views(
            maps=figures.maps_figure(result, group, neuron),
            dendrogram=figures.dendrogram_figure(result, group),
            scatter=figures.scatter_figure(result, group, neuron),
            selected_map=figures.selected_map_figure(result, group, neuron),
            metrics=maps_layout.metrics_table(figures.metrics_rows(result)),
        )
    except Exception as exc:  # a message in the page rather than a failed callback
        return _placeholders(f"Could not draw the maps: {readable_error(exc)}")


def _placeholders(text: str) -> Views:
    return Views(
        maps=figures.empty_figure(text, height=420),
        dendrogram=figures.empty_figure("", height=120),
        scatter=figures.empty_figure("", height=420),
        selected_map=figures.empty_figure("", height=420),
        metrics=maps_layout.metrics_table([]),
    )


def select_group(click_data: dict | None, data_dir: str | Path, result_data: dict | None):
    """The group name a click on the map grid selects, or None."""
    result = result_from_store(data_dir, result_data)
    if result is None:
        return None
    return figures.clicked_group(click_data, result.order.names)


def mark_neuron(
    click_data: dict | None, current: int | None, data_dir: str | Path, result_data: dict | None
) -> int | None:
    """The neuron a click marks; clicking the marked neuron again unmarks it.

    Raises
    ------
    PreventUpdate
        When the click was not on a neuron (e.g. on a map pixel).
    """
    result = result_from_store(data_dir, result_data)
    if result is None:
        raise PreventUpdate
    neuron = figures.clicked_neuron(click_data, len(result.layout))
    if neuron is None:
        raise PreventUpdate
    return None if neuron == current else neuron


# ----------------------------------------------------------------------------- callbacks


def register(app: Dash, data_dir: Path) -> None:
    """Register the Maps tab's callbacks: layers, data check, the job, figures, clicks."""
    register_job(app, JOB, data_dir)

    register_layer_list(
        app,
        [ID.MODEL_SELECT],
        ID.LAYER_SELECT,
        ID.LINK_LAYER,
        "layer",
        lambda ref, wanted: ((), list_layers(ref, wanted, data_dir, DEFAULTS["layer"])),
        message_id=ID.MODEL_MESSAGE,
    )

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

    graphs = (ID.MAPS_GRAPH, ID.DENDROGRAM_GRAPH, ID.SCATTER_GRAPH, ID.SELECTED_MAP_GRAPH)

    @app.callback(
        *[Output(graph, "figure") for graph in graphs],
        Output(ID.METRICS_TABLE, "children"),
        *[Input(cid, "data") for cid in (ID.RESULT_STORE, ID.SELECTED_GROUP, ID.MARKED_NEURON)],
    )
    def on_views(result_data: dict | None, group: str | None, neuron: int | None):
        views = build_views(data_dir, result_data, group, neuron)
        return views.maps, views.dendrogram, views.scatter, views.selected_map, views.metrics

    register_click(
        app,
        (ID.SELECTED_GROUP, "data"),
        ID.MAPS_GRAPH,
        ID.RESULT_STORE,
        lambda click, data: select_group(click, data_dir, data),
    )

    @app.callback(
        Output(ID.MARKED_NEURON, "data"),
        *[Input(graph, "clickData") for graph in (ID.SCATTER_GRAPH, ID.SELECTED_MAP_GRAPH)],
        *[State(cid, "data") for cid in (ID.MARKED_NEURON, ID.RESULT_STORE)],
        prevent_initial_call=True,
    )
    def on_neuron_clicked(
        scatter_click: dict | None, map_click: dict | None, current: int | None, result_data: Any
    ) -> int | None:
        click = map_click if ctx.triggered_id == ID.SELECTED_MAP_GRAPH else scatter_click
        return mark_neuron(click, current, data_dir, result_data)


def _link(name: str, component: str, **kwargs: Any) -> Link:
    return Link(
        name,
        field_check(ViewRequest, name),
        DEFAULTS[name],
        component,
        label=name,
        **kwargs,
    )


#: What a link carries for this tab: every sidebar control and the selected group (always).
LINKS: tuple[Link, ...] = (
    _link("model", ID.MODEL_SELECT, known="model"),
    _link("data", ID.DATA_SELECT, known="data"),
    _link("layer", ID.LAYER_SELECT, store=ID.LINK_LAYER),
    *[_link(name, cid) for name, cid in INPUTS[3:]],
    Link(
        "group",
        lambda raw: _group(raw),
        None,
        ID.SELECTED_GROUP,
        prop="data",
        label="group",
    ),
)


def _group(raw: Any) -> tuple[Any, str | None]:
    from topomap_core.params import Name, ParamError

    try:
        return Name().clean(raw), None
    except ParamError as exc:
        return None, f"group {exc}"


TAB = Tab(TabPane("maps", "Maps", maps_layout.build), register, LINKS)
