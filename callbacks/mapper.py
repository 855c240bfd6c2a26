"""The Mapper tab: the graph job, colouring, search, selected nodes, and "Use as group".

The result never travels to the browser: the result store holds the request and key, and each
callback reads the MapperResult from the cache (pictures of examples included: no model and no
data file is opened here). "Use as group" stores the selected nodes' examples as a selection
(:meth:`topomap_core.store.Store.add_selection`) and opens the Maps tab with it as the custom
group; the Maps tab's selected group is highlighted in the graph. Plain functions below,
wrapped by :func:`register`.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from layouts import mapper as layout
from layouts.controls import model_options, selection_options
from layouts.figures import mapper as figures
from layouts.figures.maps import empty_figure
from layouts.ids import ID
from layouts.mapper import MapperIds as M
from layouts.page import TabPane
from topomap_core.analyses.mapper import MapperRequest, MapperResult, empty_message
from topomap_core.errors import TopomapError
from topomap_core.jobs.registry import get_job
from topomap_core.shape.mapper import class_counts
from topomap_core.store import Store

from .common import list_layers, message, readable_error, register_layer_list
from .jobs import JobTab, register_job, stored_result, timed
from .maps import DATA_INPUTS
from .maps import result_from_store as maps_result
from .url import Link, Tab, field_link

#: The controls of a request: the sidebar's data and seed, then the tab's own.
INPUTS: tuple[tuple[str, str], ...] = (
    *DATA_INPUTS,
    ("seed", ID.SEED_INPUT),
    ("model", M.MODEL),
    ("layer", M.LAYER),
    ("compare_layer", M.COMPARE_LAYER),
    ("lens", M.LENS),
    ("lens_dims", M.LENS_DIMS),
    ("intervals", M.INTERVALS),
    ("overlap", M.OVERLAP),
    ("min_samples", M.MIN_SAMPLES),
    ("eps", M.EPS),
    ("pooling", M.POOLING),
    ("max_examples", M.MAX_EXAMPLES),
)

#: Examples shown for a selection (pictures or rows).
SHOWN_EXAMPLES = 40


# --------------------------------------------------------------------------------- the job


def mapper_request(values: dict[str, Any]) -> tuple[Any, MapperRequest]:
    """The mapper job and the request the controls describe (validated)."""
    job = get_job("mapper")
    return job, job.validate({name: values.get(name) for name, _ in INPUTS})


def mapper_data(outcome, request: MapperRequest, values: dict[str, Any]) -> dict[str, Any]:
    """What the result store holds: the request and its key, never the graph."""
    return {"request": asdict(request), "key": outcome.key}


def describe(result: MapperResult) -> str:
    """One line per graph: nodes, links, components, cycles, purity, noise (or why empty);
    then the input check's warnings (wrongly prepared input)."""
    lines = []
    for index, graph in enumerate(result.graphs):
        empty = empty_message(result, index)
        if empty:
            lines.append(empty + ".")
            continue
        top = graph.topology()
        purity = result.purity(graph)["majority"]
        shown = "" if np.isnan(purity) else f", mean purity {purity:.2f}"
        lines.append(
            f"{result.layers[index]}: {graph.n_nodes} nodes, {len(graph.links)} links, "
            f"{top['n_components']} components, {top['n_cycles']} cycles{shown}; eps "
            f"{graph.eps:.3g}, {graph.n_noise} of {graph.n_examples} examples in no node."
        )
    lines += [f"Warning: {text}" for text in result.warnings()]
    return "\n".join(lines)


def mapper_status(outcome, data: dict[str, Any]) -> str:
    head = f"{timed(outcome)}." if outcome.computed else "Loaded the stored graph."
    return head + "\n" + describe(outcome.view)


def mapper_shown(outcome, data: dict[str, Any]) -> str:
    return "Showing the stored graph for these settings.\n" + describe(outcome.view)


JOB = JobTab(
    layout.JOB, INPUTS, mapper_request, mapper_data, mapper_status, "mapper",
    starting="loading model and data…", shown=mapper_shown,
)  # fmt: skip


def result_from_store(data_dir: str | Path, data: dict | None) -> MapperResult | None:
    """The MapperResult a result-store entry points to (None: none, or gone)."""
    return stored_result("mapper", data_dir, data)


# ---------------------------------------------------------------------------- highlights


def _holding(result: MapperResult, index: int, examples: np.ndarray) -> set[int]:
    graph = result.graphs[index]
    return {i for i, m in enumerate(graph.members) if np.isin(m, examples).any()}


def search_nodes(result: MapperResult, index: int, text: str | None) -> tuple[set | None, str]:
    """Nodes holding the searched class (its name) or example (``#12``); None: no search."""
    text = (text or "").strip()
    if not text:
        return None, ""
    match = re.fullmatch(r"#\s*(\d{1,9})", text)
    if match:
        example = int(match.group(1))
        nodes = _holding(result, index, np.array([example]))
        where = f"{len(nodes)} node{'s' * (len(nodes) != 1)}" if nodes else "no node (noise?)"
        return nodes, f"Example #{example} is in {where}."
    if result.labels is not None:
        for value in result.classes():
            if result.label_name(value).lower() == text.lower():
                examples = np.flatnonzero(result.labels == value)
                nodes = _holding(result, index, examples)
                return nodes, f"Class {result.label_name(value)}: {len(nodes)} nodes hold it."
    names = ", ".join(result.label_name(c) for c in result.classes()[:12])
    return set(), f"No class {text!r} (classes: {names or 'none'}); an example is #12."


def group_nodes(
    result: MapperResult,
    index: int,
    data_dir: str | Path,
    maps_data: dict | None,
    group: str | None,
) -> tuple[set | None, str]:
    """Nodes holding the examples of the Maps tab's selected group (None: nothing to show)."""
    if not group:
        return None, ""
    maps = maps_result(data_dir, maps_data)
    if maps is None or group not in maps.nap.group_names:
        return None, ""
    members = (maps.nap.members or {}).get(group)
    if members is None:
        return None, "Run the maps again to highlight their selected group here."
    if maps.request.data != result.request.data:
        return None, f"The Maps tab's group {group!r} is of other data: not highlighted."
    nodes = _holding(result, index, np.asarray(members))
    return nodes, f"Maps group {group!r} ({len(members)} examples): {len(nodes)} nodes hold it."


def highlights(
    result: MapperResult,
    index: int,
    search: str | None,
    data_dir: str | Path,
    maps_data: dict | None,
    group: str | None,
) -> tuple[set | None, str]:
    """The search's nodes, else the Maps tab's group's; and what they are."""
    nodes, text = search_nodes(result, index, search)
    if nodes is not None:
        return nodes, text
    return group_nodes(result, index, data_dir, maps_data, group)


# ----------------------------------------------------------------------------- selection


def select(
    current: dict | None, key: str | None, graph: int, nodes: list[int], toggle: bool
) -> dict:
    """The selection after a click (``toggle``: add or drop one node) or a lasso (replace).

    A selection belongs to one result (``key``) and one graph; clicking in the other graph
    starts a new one.
    """
    same = isinstance(current, dict) and current.get("key") == key and current.get("graph") == graph
    chosen = list(current["nodes"]) if same else []
    if toggle:
        for node in nodes:
            chosen.remove(node) if node in chosen else chosen.append(node)
    else:
        chosen = list(nodes)
    return {"key": key, "graph": graph, "nodes": chosen}


def selection_of(result: MapperResult | None, data: dict | None, selected: dict | None):
    """``(graph index, node indices, examples)`` of a selection of this result, or None."""
    if result is None or not isinstance(selected, dict) or not isinstance(data, dict):
        return None
    if selected.get("key") != data.get("key") or not selected.get("nodes"):
        return None
    index = int(selected.get("graph", 0))
    if not 0 <= index < len(result.graphs):
        return None
    graph = result.graphs[index]
    nodes = [n for n in selected["nodes"] if isinstance(n, int) and 0 <= n < graph.n_nodes]
    if not nodes:
        return None
    return index, nodes, np.unique(np.concatenate([graph.members[n] for n in nodes]))


def node_panel(data_dir: str | Path, data: dict | None, selected: dict | None) -> list:
    """What the panel shows for the selected nodes: their class mix and examples."""
    result = result_from_store(data_dir, data)
    chosen = selection_of(result, data, selected)
    if chosen is None:
        return [html.P("No node selected.", className="muted")]
    index, nodes, examples = chosen
    graph = result.graphs[index]
    names = ", ".join(graph.node_ids[n] for n in nodes[:6]) + ("…" if len(nodes) > 6 else "")
    counts = class_counts(examples, result.labels, result.label_names)
    mix = ", ".join(f"{name}: {count}" for name, count in list(counts.items())[:10])
    shown = examples[:SHOWN_EXAMPLES]
    labels = [
        result.label_name(int(result.labels[i])) if result.labels is not None else "?"
        for i in shown
    ]
    pictures = figures.example_pictures(result, shown.tolist())
    items = []
    for example, label, src in zip(shown.tolist(), labels, pictures, strict=True):
        caption = html.Span(f"#{example}: {label}")
        parts = [html.Img(src=src, alt=f"example {example}"), caption] if src else [caption]
        items.append(html.Div(parts, className="mapper-example"))
    more = len(examples) - len(shown)
    return [
        html.P(
            f"{len(nodes)} node{'s' * (len(nodes) != 1)} of {result.layers[index]} ({names}): "
            f"{len(examples)} examples. Classes: {mix}.",
            id="mapper-selection-summary",
        ),
        html.Div(items, className="mapper-examples"),
        html.P(f"… and {more} more.", className="muted") if more > 0 else None,
    ]


def use_as_group(
    data_dir: str | Path, data: dict | None, selected: dict | None, name: str | None
) -> tuple[str, str]:
    """Store the selected nodes' examples as a selection: ``(selection id, name)``.

    Raises
    ------
    TopomapError
        No node selected, or a bad name.
    """
    result = result_from_store(data_dir, data)
    chosen = selection_of(result, data, selected)
    if chosen is None:
        raise TopomapError("Select one or more nodes first (click them in the graph)")
    index, nodes, examples = chosen
    graph = result.graphs[index]
    default = f"node {graph.node_ids[nodes[0]]}" if len(nodes) == 1 else f"{len(nodes)} nodes"
    name = (name or "").strip() or f"{default} ({result.layers[index]})"
    return Store(data_dir).add_selection(examples.tolist(), name), name


# ----------------------------------------------------------------------------- callbacks


def graph_figures(
    data_dir: str | Path,
    data: dict | None,
    colour: str | None,
    search: str | None,
    selected: dict | None,
    maps_data: dict | None,
    group: str | None,
) -> tuple[go.Figure, go.Figure, dict, str]:
    """Both graphs (the second hidden in the one-layer mode) and the highlight's text."""
    result = result_from_store(data_dir, data)
    if result is None:
        text = layout.NO_GRAPH if not data else "The stored graph is gone: press Run again."
        empty = empty_figure(text, 560)
        return empty, empty_figure("", 560), {"display": "none"}, ""
    chosen = selection_of(result, data, selected)
    out, texts = [], []
    for index in range(2):
        if index >= len(result.graphs):
            out.append(empty_figure("", 560))
            continue
        nodes, text = highlights(result, index, search, data_dir, maps_data, group)
        if text and (index == 0 or not texts or text != texts[-1]):
            texts.append(f"{result.layers[index]}: {text}" if len(result.graphs) > 1 else text)
        picked = chosen[1] if chosen is not None and chosen[0] == index else ()
        try:
            out.append(figures.graph_figure(result, index, colour or "class", nodes, picked))
        except Exception as exc:  # a message in the page rather than a failed callback
            out.append(empty_figure(f"Could not draw: {readable_error(exc)}", 560))
    style = {} if len(result.graphs) > 1 else {"display": "none"}
    return out[0], out[1], style, " ".join(texts)


def register(app: Dash, data_dir: Path) -> None:
    """Register the Mapper tab's callbacks on ``app``."""
    register_job(app, JOB, data_dir)

    register_layer_list(
        app,
        [M.MODEL],
        M.LAYER,
        M.LINK,
        "mapper_layer",
        lambda ref, wanted: ((), list_layers(ref, wanted, data_dir, layout.DEFAULTS["layer"])),
        tab="mapper",
        message_id=M.MESSAGE,
    )

    def second_layer(ref, wanted):
        choice = list_layers(ref, wanted, data_dir, layout.DEFAULTS["layer"])
        names = {option["value"] for option in choice.options}
        choice.value = wanted if wanted in names else None
        return (), choice

    register_layer_list(
        app, [M.MODEL], M.COMPARE_LAYER, M.LINK, "mapper_layer_b", second_layer, tab="mapper"
    )

    @app.callback(
        Output(M.MODEL, "options"),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_tab(tab: str | None):
        if tab != "mapper":  # models uploaded on the Maps tab since the page loaded
            raise PreventUpdate
        return model_options(Store(data_dir).list_models())

    @app.callback(
        Output(M.GRAPH, "figure"),
        Output(M.GRAPH_B, "figure"),
        Output(M.GRAPH_B_BOX, "style"),
        Output(M.HIGHLIGHT_TEXT, "children"),
        Input(M.RESULT, "data"),
        Input(M.COLOUR, "value"),
        Input(M.SEARCH, "value"),
        Input(M.SELECTED, "data"),
        Input(ID.RESULT_STORE, "data"),
        Input(ID.SELECTED_GROUP, "data"),
    )
    def on_view(data, colour, search, selected, maps_data, group):
        return graph_figures(data_dir, data, colour, search, selected, maps_data, group)

    @app.callback(
        Output(M.SELECTED, "data"),
        Input(M.GRAPH, "clickData"),
        Input(M.GRAPH_B, "clickData"),
        Input(M.GRAPH, "selectedData"),
        Input(M.GRAPH_B, "selectedData"),
        Input(M.CLEAR, "n_clicks"),
        State(M.SELECTED, "data"),
        State(M.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_pick(click_a, click_b, lasso_a, lasso_b, clear, current, data):
        if ctx.triggered_id == M.CLEAR or not isinstance(data, dict):
            return None
        result = result_from_store(data_dir, data)
        if result is None:
            raise PreventUpdate
        trigger = ctx.triggered[0]["prop_id"] if ctx.triggered else ""
        graph = 1 if ctx.triggered_id == M.GRAPH_B else 0
        if graph >= len(result.graphs):
            raise PreventUpdate
        n_nodes = result.graphs[graph].n_nodes
        if trigger.endswith(".selectedData"):
            nodes = figures.lassoed_nodes(lasso_b if graph else lasso_a, n_nodes)
            if not nodes:
                raise PreventUpdate
            return select(current, data.get("key"), graph, nodes, toggle=False)
        node = figures.clicked_node(click_b if graph else click_a, n_nodes)
        if node is None:
            raise PreventUpdate
        return select(current, data.get("key"), graph, [node], toggle=True)

    @app.callback(
        Output(M.NODE_PANEL, "children"),
        Input(M.SELECTED, "data"),
        Input(M.RESULT, "data"),
    )
    def on_selected(selected, data):
        return node_panel(data_dir, data, selected)

    @app.callback(
        Output(ID.SELECTION_SELECT, "options"),
        Output(ID.SELECTION_SELECT, "value"),
        Output(ID.TABS, "value", allow_duplicate=True),
        Output(M.GROUP_MESSAGE, "children"),
        Input(M.USE_AS_GROUP, "n_clicks"),
        State(M.RESULT, "data"),
        State(M.SELECTED, "data"),
        State(M.GROUP_NAME, "value"),
        prevent_initial_call=True,
    )
    def on_use_as_group(n_clicks, data, selected, name):
        if not n_clicks:
            raise PreventUpdate
        try:
            selection, name = use_as_group(data_dir, data, selected, name)
        except TopomapError as exc:  # the controls stay as they are
            return no_update, no_update, no_update, message(readable_error(exc), False)
        options = selection_options(Store(data_dir).list_selections())
        text = f"Group {name!r} sent to the Maps tab: press Run there."
        return options, selection, "maps", message(text, True)


# ----------------------------------------------------------------------------------- link


def _link(key: str, name: str, component: str, **kwargs: Any) -> Link:
    return field_link(MapperRequest, key, name, component, **kwargs)


#: What a link carries while the tab is open (data and seed are the sidebar's, always there).
LINKS: tuple[Link, ...] = (
    _link("mapper_model", "model", M.MODEL, known="model", label="mapper model"),
    _link("mapper_layer", "layer", M.LAYER, store=M.LINK, label="mapper layer"),
    _link("mapper_layer_b", "compare_layer", M.COMPARE_LAYER, store=M.LINK),
    _link("lens", "lens", M.LENS),
    _link("lens_dims", "lens_dims", M.LENS_DIMS),
    _link("intervals", "intervals", M.INTERVALS),
    _link("overlap", "overlap", M.OVERLAP),
    _link("min_samples", "min_samples", M.MIN_SAMPLES),
    _link("eps", "eps", M.EPS),
    _link("pooling", "pooling", M.POOLING),
    _link("max_examples", "max_examples", M.MAX_EXAMPLES),
)

TAB = Tab(TabPane("mapper", "Mapper", layout.build), register, LINKS, INPUTS, MapperRequest)
