"""The Maps tab: the model's layers, the data check, the view job and its figures.

The result never travels to the browser whole: the result store holds the request and key,
and each figure callback reads the MapResult from the disk cache. The functions below are
plain (tested directly); :func:`register` wraps them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from layouts import maps as maps_layout
from layouts.controls import DEFAULTS
from layouts.figures import maps as figures
from layouts.ids import ID, MAPS_JOB
from layouts.page import TabPane
from topomap_core.analyses.view import MapResult, ViewRequest
from topomap_core.analyses.view_pages import MAPS_PAGE, n_pages, page_bounds
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.results import cached_view
from topomap_core.jobs.runner import run
from topomap_core.params import short
from topomap_core.store import Store

from .common import (
    DESCRIBE_TIMEOUT_S,
    hide_stored_ref,
    list_layers,
    message,
    model_description,
    readable_error,
    register_layer_list,
)
from .jobs import JobTab, register_job, timed
from .url import Link, Tab, field_check

#: The sidebar's controls that make a view's request, as (request field, component id).
INPUTS: tuple[tuple[str, str], ...] = (
    ("model", ID.MODEL_SELECT),
    ("data", ID.DATA_SELECT),
    ("layer", ID.LAYER_SELECT),
    ("preprocess", ID.PREPROCESS_INPUT),
    ("resize", ID.RESIZE_SELECT),
    ("groups", ID.GROUPS_SELECT),
    ("random_groups", ID.RANDOM_GROUPS),
    ("per_group", ID.PER_GROUP),
    ("method", ID.METHOD_SELECT),
    ("seed", ID.SEED_INPUT),
    ("selection", ID.SELECTION_SELECT),
    ("nap", ID.NAP_SELECT),
    ("nap_class", ID.NAP_CLASS_SELECT),
)

#: The sidebar's data controls: the data and how it is prepared for the model.
DATA_INPUTS: tuple[tuple[str, str], ...] = tuple(
    (name, cid) for name, cid in INPUTS if name in ("data", "preprocess", "resize")
)

#: The sidebar's controls every tab shares: data, grouping and layout (the custom group
#: is the Maps tab's only).
SHARED_INPUTS: tuple[tuple[str, str], ...] = tuple(
    (name, cid) for name, cid in INPUTS if name not in ("model", "layer", "selection")
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
    """The view a result-store entry (``{"request": ..., "key": ...}``) points to, as the
    view job publishes it for viewers (:meth:`ViewJob.view`): a MapResult whose maps are read
    from the cache a page at a time, so a request holds the pages it shows, never all maps
    (a 1000-group result is 50 MB)."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return None
    try:
        job = get_job("view")
        return cached_view(job, job.validate(data["request"]), Store(data_dir))[1]
    except (TypeError, ValueError, OSError):
        return None


# ------------------------------------------------------------------------------ the data


@dataclass
class DataCheck:
    """The data message: its text, whether the data can be used, and whether the model's
    check of them warns (wrongly prepared input, labels that do not number its classes).

    Unpacks as ``text, ok``.
    """

    text: str
    ok: bool
    warning: bool = False

    def __iter__(self):
        return iter((self.text, self.ok))


def check_data(
    model_ref: str | None,
    data_ref: str | None,
    groups: str | None,
    data_dir: str | Path,
    preprocess: str | None = None,
    resize: str | None = None,
) -> DataCheck:
    """Whether the data can be fed to the model (and grouped as asked), prepared as asked,
    and what the model does with their first batch.

    Returns
    -------
    DataCheck
        E.g. ``"540 examples, 10 classes; fits the model's input 8×8×1. Input: preprocess
        auto = none: ..."`` or ``"data examples have shape (5, 5, 1) but the model expects
        (8, 8, 1)"``, with the check's warnings after the text.
    """
    if not model_ref or not data_ref:
        return DataCheck("", True)
    try:
        # The model's input shape, from the cache or a job process: no model is loaded here.
        model_description(model_ref, data_dir)
    except Exception:
        return DataCheck("", True)  # the model's own message says what is wrong with it
    store = Store(data_dir)
    warnings: list[str] = []
    try:
        # The data is read in a job process (untrusted, possibly large); the answer is
        # cached by content, so a change of another control answers at once.
        job = get_job("check-data")
        values = {"model": model_ref, "data": data_ref, "groups": groups}
        values.update({k: v for k, v in (("preprocess", preprocess), ("resize", resize)) if v})
        request = job.validate(values)
        answer = run(job, request, data_dir, timeout=DESCRIBE_TIMEOUT_S).view
        text, ok = str(answer["text"]), bool(answer["ok"])
        warnings = [str(w) for w in answer.get("warnings", [])]
    except Exception as exc:
        text, ok = readable_error(exc), False
    if not ok:
        text = hide_stored_ref(text[:1].upper() + text[1:], data_ref, store.display_name(data_ref))
    if warnings:
        text += " Warning: " + " ".join(warnings)
    return DataCheck(text, ok, bool(warnings))


# ------------------------------------------------------------------------------- the view


@dataclass
class Views:
    """Everything the main area shows for one state of the page."""

    maps: go.Figure
    dendrogram: go.Figure
    scatter: go.Figure
    selected_map: go.Figure
    metrics: html.Table | html.P
    notes: list = ()
    config: dict = field(default_factory=lambda: maps_layout.graph_config(False))


def placeholder_text(status: Any) -> str:
    """What the empty map panel says, given the status line: a run going, failed or
    cancelled is said there too, rather than "No maps yet"."""
    text = status if isinstance(status, str) else ""
    if text.startswith("Running"):
        return "Computing the maps… (progress under the Run button)"
    if "Run failed" in text:
        return "No maps: the run failed (the message is under the Run button)."
    if text.startswith("Cancelled"):
        return "No maps: the run was cancelled."
    return maps_layout.NO_RESULT


def build_views(
    data_dir: str | Path,
    result_data: dict | None,
    group: str | None,
    neuron: int | None,
    status: Any = None,
    page: Any = 0,
) -> Views:
    """The four figures and the metrics table; placeholders when there is no result.

    The map grid shows page ``page`` of the maps (``view_pages.MAPS_PAGE`` of them).
    """
    result = result_from_store(data_dir, result_data)
    if result is None:
        gone = "The stored result is gone: press Run again."
        return _placeholders(placeholder_text(status) if not result_data else gone)
    notes = result.notes(scatter=True)  # the page has the scatter the note points at
    if group not in result.order.names:
        if group is not None:  # a link's group= (or an earlier selection) these maps lack
            notes.insert(
                0,
                (
                    "warning",
                    f"No group {short(group)!r} in these maps (groups: "
                    f"{', '.join(result.order.names)}); showing {result.order.names[0]!r}.",
                ),
            )
        group = result.order.names[0]
    try:
        return Views(
            maps=figures.maps_figure(result, group, neuron, page=page),
            dendrogram=figures.dendrogram_figure(result, group, page),
            scatter=figures.scatter_figure(result, group, neuron),
            selected_map=figures.selected_map_figure(result, group, neuron),
            metrics=maps_layout.metrics_table(figures.metrics_rows(result)),
            notes=maps_layout.notes_block(notes),
            config=maps_layout.graph_config(True),
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


def select_group(
    click_data: dict | None, data_dir: str | Path, result_data: dict | None, page: Any = 0
):
    """The group name a click on the map grid (showing page ``page``) selects, or None."""
    result = result_from_store(data_dir, result_data)
    if result is None:
        return None
    return figures.clicked_group(click_data, result.order.names, page)


@dataclass
class Pages:
    """The pager's choices, the page to show, and its style (hidden for a single page)."""

    options: Any
    value: Any
    style: Any


def pages_view(
    data_dir: str | Path,
    result_data: dict | None,
    group: str | None,
    current: Any,
    new_result: bool,
) -> Pages:
    """Which page of maps to show: a new result opens on the selected group's page (else the
    first); a group selected elsewhere (a link, the regions panel) turns to its page; the
    page a user chose stays otherwise. ``no_update`` where nothing changes, so the maps are
    not drawn twice."""
    result = result_from_store(data_dir, result_data)
    if result is None:
        return Pages([], 0, {"display": "none"})
    names = result.order.names
    first, end = page_bounds(len(names), current)
    wanted = first // MAPS_PAGE
    if group in names and not first <= names.index(group) < end:
        wanted = names.index(group) // MAPS_PAGE
    elif new_result and group not in names:
        wanted = 0
    value = no_update if wanted == current else wanted
    if not new_result:
        return Pages(no_update, value, no_update)
    hidden = {"display": "none"} if n_pages(len(names)) == 1 else {}
    return Pages(maps_layout.page_options(names), value, hidden)


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


def source_changed(model: Any, data: Any, search: str | None) -> bool:
    """Whether the model or data shown differ from those the address bar's link names: a
    change by the user (a link being opened sets the controls to its own values)."""
    query = dict(parse_qsl((search or "").lstrip("?"), keep_blank_values=True))
    return model != query.get("model", DEFAULTS["model"]) or data != query.get(
        "data", DEFAULTS["data"]
    )


#: What the data message says while its check runs (a job process: seconds for a large model).
CHECKING_DATA = "Checking the data against the model…"


def upload_note(shown: Any) -> str:
    """The "Stored <name>." an upload put in the data message (without what followed it),
    or ""."""
    text = shown.get("props", {}).get("children") if isinstance(shown, dict) else shown
    if not isinstance(text, str) or not text.startswith("Stored "):
        return ""
    return text.split(" " + CHECKING_DATA)[0]


def register(app: Dash, data_dir: Path) -> None:
    """Register the Maps tab's callbacks: layers, data check, the job, figures, clicks."""
    register_job(app, JOB, data_dir)

    @app.callback(
        Output(ID.SELECTED_GROUP, "data", allow_duplicate=True),
        Output(ID.MARKED_NEURON, "data", allow_duplicate=True),
        Output(ID.URL_WARNINGS, "data", allow_duplicate=True),
        Input(ID.MODEL_SELECT, "value"),
        Input(ID.DATA_SELECT, "value"),
        State(ID.URL, "search"),
        prevent_initial_call=True,
    )
    def on_source(model: Any, data: Any, search: str | None):
        # The selected group, the marked neuron and the link's warnings belong to the model and
        # data they were made with: another model's group "7" or neuron 12 means nothing.
        if not source_changed(model, data, search):
            raise PreventUpdate
        return None, None, []

    # At once, in the browser: the previous source's verdict must not stay while the new one
    # is checked ("fits the model's input 8×8×1" for a model that expects 64×64×1).
    # An upload's "Stored <name>." stays in front (the upload chose this data).
    app.clientside_callback(
        "function(m, d, p, r, shown) {"
        "  const ctx = window.dash_clientside.callback_context;"
        "  const text = shown && shown.props ? String(shown.props.children || '') : '';"
        f"  const byData = ctx.triggered.some(t => t.prop_id === '{ID.DATA_SELECT}.value');"
        "  const kept = byData && text.startsWith('Stored ') ? text + ' ' : '';"
        f"  return kept + {CHECKING_DATA!r};"
        "}",
        Output(ID.DATA_MESSAGE, "children", allow_duplicate=True),
        *[
            Input(cid, "value")
            for cid in (ID.MODEL_SELECT, ID.DATA_SELECT, ID.PREPROCESS_INPUT, ID.RESIZE_SELECT)
        ],  # fmt: skip
        State(ID.DATA_MESSAGE, "children"),
        prevent_initial_call=True,
    )

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
        Input(ID.TABS, "value"),
        Input(ID.PREPROCESS_INPUT, "value"),
        Input(ID.RESIZE_SELECT, "value"),
        State(ID.DATA_MESSAGE, "children"),
        prevent_initial_call=True,
    )
    def on_data_selected(
        model_ref: str | None,
        data_ref: str | None,
        groups: str | None,
        tab: str | None,
        preprocess: str | None,
        resize: str | None,
        shown: Any,
    ):
        if tab == "compare":
            raise PreventUpdate  # the Compare tab checks the data against its models A and B
        if tab not in (None, "maps"):
            return None  # this model is not what the open tab uses
        check = check_data(model_ref, data_ref, groups, data_dir, preprocess, resize)
        text = check.text
        if ctx.triggered_id == ID.DATA_SELECT:  # an upload's "Stored <name>." stays in front
            stored = upload_note(shown)
            text = f"{stored} {text}" if stored and text else stored or text
        return message(text, check.ok, warning=check.ok and check.warning)

    graphs = (ID.MAPS_GRAPH, ID.DENDROGRAM_GRAPH, ID.SCATTER_GRAPH, ID.SELECTED_MAP_GRAPH)

    @app.callback(
        *[Output(graph, "figure") for graph in graphs],
        Output(ID.METRICS_TABLE, "children"),
        Output(ID.MAPS_NOTES, "children"),
        *[Output(graph, "config") for graph in (ID.SCATTER_GRAPH, ID.SELECTED_MAP_GRAPH)],
        *[Input(cid, "data") for cid in (ID.RESULT_STORE, ID.SELECTED_GROUP, ID.MARKED_NEURON)],
        Input(ID.STATUS, "children"),
        Input(ID.MAPS_PAGE, "value"),
    )
    def on_views(
        result_data: dict | None, group: str | None, neuron: int | None, status: Any, page: Any
    ):
        if ctx.triggered_id == ID.STATUS and result_data:
            raise PreventUpdate  # the maps shown stay; only an empty panel follows the status
        views = build_views(data_dir, result_data, group, neuron, status, page)
        return (
            views.maps,
            views.dendrogram,
            views.scatter,
            views.selected_map,
            views.metrics,
            list(views.notes),
            views.config,
            views.config,
        )

    @app.callback(
        Output(ID.MAPS_PAGE, "options"),
        Output(ID.MAPS_PAGE, "value"),
        Output(ID.MAPS_PAGER, "style"),
        Input(ID.RESULT_STORE, "data"),
        Input(ID.SELECTED_GROUP, "data"),
        State(ID.MAPS_PAGE, "value"),
    )
    def on_pages(result_data: dict | None, group: str | None, current: Any):
        new_result = ctx.triggered_id != ID.SELECTED_GROUP
        pages = pages_view(data_dir, result_data, group, current, new_result)
        return pages.options, pages.value, pages.style

    @app.callback(
        Output(ID.SELECTED_GROUP, "data", allow_duplicate=True),
        Input(ID.MAPS_GRAPH, "clickData"),
        State(ID.RESULT_STORE, "data"),
        State(ID.MAPS_PAGE, "value"),
        prevent_initial_call=True,
    )
    def on_map_clicked(click: dict | None, result_data: Any, page: Any):
        picked = select_group(click, data_dir, result_data, page)
        if picked is None:
            raise PreventUpdate
        return picked

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
    *[_link(name, cid) for name, cid in INPUTS[3:] if name != "selection"],
    _link("selection", ID.SELECTION_SELECT, known="selection"),
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


TAB = Tab(TabPane("maps", "Maps", maps_layout.build), register, LINKS, INPUTS, ViewRequest)
