"""The main area: map grid with its dendrogram, the selected group's map and scatter, metrics."""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html

from topomap_core.analyses.view_pages import MAPS_PAGE, n_pages, page_bounds

from .figures.maps import blank_figure
from .ids import ID
from .regions import panel as regions_panel

NO_RESULT = "No maps yet: choose a model, data and layer, then press Run."

_GRAPH_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
}
_STATIC_CONFIG = {**_GRAPH_CONFIG, "displayModeBar": False}


def graph_config(active: bool) -> dict:
    """A panel's config: the toolbar (zoom, PNG) only when it shows a result."""
    return dict(_GRAPH_CONFIG if active else _STATIC_CONFIG)


def page_options(names: Sequence[str]) -> list[dict]:
    """The pager's choices: ``"Maps 37–72 of 1000 (g36 … g71)"``, one per page of
    :data:`~topomap_core.analyses.view_pages.MAPS_PAGE` maps (dendrogram order)."""
    options = []
    for page in range(n_pages(len(names))):
        first, end = page_bounds(len(names), page)
        label = f"Maps {first + 1}–{end} of {len(names)} ({names[first]} … {names[end - 1]})"
        options.append({"label": label, "value": page})
    return options


def pager() -> html.Div:
    """Which page of maps the grid shows; hidden while every map fits on one."""
    return html.Div(
        [
            html.Label("Page", htmlFor=ID.MAPS_PAGE),
            dcc.Dropdown(
                id=ID.MAPS_PAGE,
                options=[],
                value=0,
                clearable=False,
                searchable=False,
                className="maps-page",
            ),
            html.Small(
                f"{MAPS_PAGE} maps a page, in dendrogram order (shaded in the dendrogram).",
                className="hint",
            ),
        ],
        id=ID.MAPS_PAGER,
        className="maps-pager",
        style={"display": "none"},
    )


def metrics_table(rows: list[tuple[str, str, str]]) -> html.Table | html.P:
    """A compact table of (section, label, value) rows; sections become header rows."""
    if not rows:
        return html.P("Metrics appear after a run.", className="muted")
    body: list[html.Tr] = []
    section = None
    for sec, label, value in rows:
        if sec != section:
            body.append(html.Tr(html.Th(sec, colSpan=2, className="metrics-section")))
            section = sec
        body.append(html.Tr([html.Td(label), html.Td(value, className="num")]))
    return html.Table(html.Tbody(body), className="metrics")


def notes_block(notes: list[tuple[str, str]]) -> list[html.P]:
    """The result's notes, warnings in warning colour (flat maps, small groups ...)."""
    return [html.P(text, className=f"msg-{level}") for level, text in notes]


def _card(title: str, help_text: str, *children, class_name: str = "") -> html.Section:
    return html.Section(
        [html.H2(title), html.P(help_text, className="help"), *children],
        className=f"card {class_name}".strip(),
    )


def build(store=None) -> html.Main:
    """Views side by side: maps (with dendrogram) left; selected map, neurons, metrics right."""
    maps = _card(
        "Topographic maps",
        "One map per group, in dendrogram order: similar groups sit next to each other. "
        "Red = more active than average for that group, blue = less. Click a map to select it.",
        html.Div(id=ID.MAPS_NOTES, className="map-notes", role="status"),
        pager(),
        dcc.Loading(
            [
                dcc.Graph(
                    id=ID.DENDROGRAM_GRAPH,
                    figure=blank_figure("", height=120),
                    config=_STATIC_CONFIG,
                    className="graph-dendrogram",
                ),
                dcc.Graph(
                    id=ID.MAPS_GRAPH,
                    figure=blank_figure(NO_RESULT, height=420),
                    config=_STATIC_CONFIG,
                    className="graph-maps",
                ),
            ],
            type="circle",
            delay_show=400,
        ),
        class_name="card-maps",
    )
    selected = _card(
        "Selected group",
        "The selected map, large, with its neurons as dots. Click a neuron to mark it on "
        "every map (click again to unmark).",
        dcc.Graph(
            id=ID.SELECTED_MAP_GRAPH,
            figure=blank_figure("", height=420),
            config=graph_config(False),
        ),
    )
    scatter = _card(
        "Neuron layout",
        "Each dot is a neuron, placed by the layout method and coloured by the selected "
        "group's value. Hover to read it, click to mark it.",
        dcc.Graph(
            id=ID.SCATTER_GRAPH,
            figure=blank_figure("", height=420),
            config=graph_config(False),
        ),
    )
    metrics = _card(
        "Quality and timing",
        "Map quality as in the paper (section 4.2) and the time each step took.",
        html.Div(metrics_table([]), id=ID.METRICS_TABLE),
    )
    return html.Main(
        [
            maps,
            html.Div([selected, scatter, metrics], className="detail-column"),
            regions_panel(),
        ],
        className="views",
    )
