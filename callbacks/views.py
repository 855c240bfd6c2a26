"""Figures of the current result, group selection and neuron marking.

The result itself never travels to the browser: RESULT_STORE holds its request and key, and
each callback reads the MapResult from the store's disk cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, html
from dash.exceptions import PreventUpdate

from callbacks.common import app_data_dir, readable_error, result_from_store
from layouts import figures
from layouts.ids import ID
from layouts.views import NO_RESULT, metrics_table


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
        text = NO_RESULT if not result_data else "The stored result is gone: press Run again."
        return _placeholders(text)
    if group not in result.order.names:
        group = result.order.names[0]
    try:
        return Views(
            maps=figures.maps_figure(result, group, neuron),
            dendrogram=figures.dendrogram_figure(result, group),
            scatter=figures.scatter_figure(result, group, neuron),
            selected_map=figures.selected_map_figure(result, group, neuron),
            metrics=metrics_table(figures.metrics_rows(result)),
        )
    except Exception as exc:  # a message in the page rather than a failed callback
        return _placeholders(f"Could not draw the maps: {readable_error(exc)}")


def _placeholders(text: str) -> Views:
    return Views(
        maps=figures.empty_figure(text, height=420),
        dendrogram=figures.empty_figure("", height=120),
        scatter=figures.empty_figure("", height=420),
        selected_map=figures.empty_figure("", height=420),
        metrics=metrics_table([]),
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


def register(app: Dash) -> None:
    """Register the figure, selection and marking callbacks on ``app``."""
    data_dir = app_data_dir(app)

    @app.callback(
        Output(ID.MAPS_GRAPH, "figure"),
        Output(ID.DENDROGRAM_GRAPH, "figure"),
        Output(ID.SCATTER_GRAPH, "figure"),
        Output(ID.SELECTED_MAP_GRAPH, "figure"),
        Output(ID.METRICS_TABLE, "children"),
        Input(ID.RESULT_STORE, "data"),
        Input(ID.SELECTED_GROUP, "data"),
        Input(ID.MARKED_NEURON, "data"),
    )
    def on_views(result_data: dict | None, group: str | None, neuron: int | None):
        views = build_views(data_dir, result_data, group, neuron)
        return views.maps, views.dendrogram, views.scatter, views.selected_map, views.metrics

    @app.callback(
        Output(ID.SELECTED_GROUP, "data", allow_duplicate=True),
        Input(ID.MAPS_GRAPH, "clickData"),
        State(ID.RESULT_STORE, "data"),
        prevent_initial_call=True,
    )
    def on_map_clicked(click_data: dict | None, result_data: dict | None) -> str:
        group = select_group(click_data, data_dir, result_data)
        if group is None:
            raise PreventUpdate
        return group

    @app.callback(
        Output(ID.MARKED_NEURON, "data"),
        Input(ID.SCATTER_GRAPH, "clickData"),
        Input(ID.SELECTED_MAP_GRAPH, "clickData"),
        State(ID.MARKED_NEURON, "data"),
        State(ID.RESULT_STORE, "data"),
        prevent_initial_call=True,
    )
    def on_neuron_clicked(
        scatter_click: dict | None, map_click: dict | None, current: int | None, result_data: Any
    ) -> int | None:
        click = map_click if ctx.triggered_id == ID.SELECTED_MAP_GRAPH else scatter_click
        return mark_neuron(click, current, data_dir, result_data)
