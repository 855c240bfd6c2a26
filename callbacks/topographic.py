"""The Topographic tab: a grid layer's maps on its grid, its region, the optimised inputs.

The topographic job runs in a job process (the model loads only there); the result store
holds the request and key, and the figures read the result from the disk cache.
"""

from __future__ import annotations

import base64
import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx
from dash.exceptions import PreventUpdate

from layouts import topographic as layout
from layouts.controls import model_options
from layouts.figures.maps import empty_figure
from layouts.figures.topographic import features_figure, grid_figure
from layouts.ids import ID
from layouts.page import TabPane
from layouts.topographic import TopoIds as T
from topomap_core.analyses.topographic import TopographicRequest, TopographicResult
from topomap_core.jobs.registry import get_job
from topomap_core.store import Store

from .common import list_layers, readable_error, register_layer_list
from .export import stored_stem
from .jobs import JobTab, register_job, stored_result, timed
from .maps import SHARED_INPUTS
from .url import Link, Tab, field_link, request_inputs

#: The tab's controls, after the sidebar's shared ones.
INPUTS = request_inputs(
    TopographicRequest,
    (
        *SHARED_INPUTS,
        ("model", T.MODEL),
        ("layer", T.LAYER),
        ("fv_group", T.GROUP),
        ("fv_steps", T.STEPS),
    ),
    exclude=("method",),  # the layout is the layer's grid
)


def topographic_request(values: dict[str, Any]) -> tuple[Any, TopographicRequest]:
    """The topographic job and the request the controls describe (validated)."""
    job = get_job("topographic")
    raw = {name: values.get(name) for name, _ in INPUTS}
    raw["fv_group"] = raw["fv_group"] or None
    return job, job.validate(raw)


def topographic_data(outcome, request, values: dict[str, Any]) -> dict[str, Any]:
    """What the result store holds: the request and its key, never the arrays."""
    return {"request": asdict(request), "key": outcome.key}


def topographic_status(outcome, data: dict[str, Any]) -> str:
    result = outcome.view
    lead = timed(outcome) if outcome.computed else "Loaded the stored result"
    return (
        f"{lead}: {len(result.group_names)} groups on a {result.rows}×{result.cols} grid; "
        f"optimised inputs of group {result.fv_group}'s region."
    )


JOB = JobTab(
    layout.JOB, INPUTS, topographic_request, topographic_data, topographic_status,
    "topographic", starting="loading the model and data…",
)  # fmt: skip


def result_from_store(data_dir: str | Path, data: dict | None) -> TopographicResult | None:
    """The result a result-store entry points to (None: none, or no longer stored)."""
    return stored_result("topographic", data_dir, data)


def figures(data_dir: str | Path, data: dict | None) -> tuple[go.Figure, go.Figure, go.Figure, str]:
    """The grid, smoothed and feature figures and the region line of result-store ``data``."""
    result = result_from_store(data_dir, data)
    if result is None:
        empty = [empty_figure(layout.NO_RESULT, h) for h in (360, 360, 220)]
        return (*empty, "")
    try:
        region = result.regions[result.group_names.index(result.fv_group)]
        text = (
            f"Group {result.fv_group}: most responsive region at row {region['row']}, column "
            f"{region['col']}; its filters: {', '.join(map(str, result.fv_units))}."
        )
        return (
            grid_figure(result),
            grid_figure(result, smoothed=True),
            features_figure(result),
            text,
        )
    except Exception as exc:  # a message in the page rather than a failed callback
        failed = empty_figure(f"Could not draw the maps: {readable_error(exc)}", 360)
        return failed, failed, failed, ""


def export(kind: str, data_dir: str | Path, data: dict | None) -> dict[str, Any]:
    """``dcc.Download`` data: the smoothed maps as PNG, or every array as ``.npz``."""
    from topomap_core.profiles.interpolate import colour_limit
    from topomap_core.profiles.render import render_map_grid

    result = result_from_store(data_dir, data)
    if result is None:
        raise PreventUpdate
    key = str(data.get("key") or "")
    # The layout is the layer's own grid: no method in the name.
    stem = stored_stem(result, key, Store(data_dir), kind="topographic", method=False)
    if kind == "npz":
        content = result.npz_bytes()
        return {"content": base64.b64encode(content).decode("ascii"), "base64": True,
                "filename": stem + ".npz", "type": "application/octet-stream"}  # fmt: skip
    finite = result.smoothed[result.smoothed == result.smoothed]
    scale = max(1, 128 // max(result.rows, result.cols))
    image = render_map_grid(result.smoothed, result.group_names, colour_limit(finite), scale,
                            title=f"{result.request.layer}, smoothed")  # fmt: skip
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {"content": base64.b64encode(buf.getvalue()).decode("ascii"), "base64": True,
            "filename": stem + ".png", "type": "image/png"}  # fmt: skip


def register(app: Dash, data_dir: Path) -> None:
    """Register the Topographic tab's callbacks on ``app``."""
    register_job(app, JOB, data_dir)

    @app.callback(
        Output(T.MODEL, "options"),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_tab(tab: str | None):
        if tab != "topographic":
            raise PreventUpdate
        return model_options(Store(data_dir).list_models())

    register_layer_list(
        app,
        [T.MODEL],
        T.LAYER,
        T.LINK,
        "topo_layer",
        lambda ref, wanted: ((), list_layers(ref, wanted, data_dir, default="conv2")),
        tab="topographic",
        message_id=T.MESSAGE,
    )

    @app.callback(
        Output(T.GRID_GRAPH, "figure"),
        Output(T.SMOOTH_GRAPH, "figure"),
        Output(T.FEATURES_GRAPH, "figure"),
        Output(T.REGION, "children"),
        Input(T.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_result(data: dict | None):
        return figures(data_dir, data)

    @app.callback(
        Output(T.DOWNLOAD, "data"),
        Input(T.PNG_BUTTON, "n_clicks"),
        Input(T.NPZ_BUTTON, "n_clicks"),
        State(T.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_export(png: int | None, npz: int | None, data: dict | None):
        if not (png or npz):
            raise PreventUpdate
        return export("npz" if ctx.triggered_id == T.NPZ_BUTTON else "png", data_dir, data)


def _link(key: str, field: str, component: str, label: str, **kwargs: Any) -> Link:
    return field_link(TopographicRequest, key, field, component, label, **kwargs)


#: What a link carries while the tab is open.
LINKS: tuple[Link, ...] = (
    _link("topo_model", "model", T.MODEL, "model", known="model"),
    _link("topo_layer", "layer", T.LAYER, "layer", store=T.LINK),
    _link("fv_steps", "fv_steps", T.STEPS, "optimisation steps"),
)

TAB = Tab(
    TabPane("topographic", "Topographic", layout.build), register, LINKS, INPUTS,
    TopographicRequest,
)  # fmt: skip
