"""The Overview tab: the overview job (every Dense/Conv layer's maps, the separation curve).

The result store holds the request and key; the figures are drawn from the result in the disk
cache. The functions below are plain (tested directly); :func:`register` wraps them.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output
from dash.exceptions import PreventUpdate

from layouts import overview as layout
from layouts.figures.maps import empty_figure
from layouts.figures.separation import overview_figure, separation_figure
from layouts.ids import ID
from layouts.maps import notes_block
from layouts.overview import OverviewIds as O
from layouts.page import TabPane
from topomap_core.analyses.overview import OverviewRequest, OverviewResult, default_layers
from topomap_core.jobs.registry import get_job

from .common import model_description, readable_error
from .jobs import JobTab, register_job, stored_result, timed
from .maps import SHARED_INPUTS
from .url import Link, Tab, field_check

#: The controls the request is made of: the sidebar's model and shared ones, then the tab's.
INPUTS: tuple[tuple[str, str], ...] = (
    ("model", ID.MODEL_SELECT),
    *SHARED_INPUTS,
    ("layers", O.LAYERS),
    ("draws", O.DRAWS),
    ("scale", O.SCALE),
)


def overview_request(values: dict[str, Any]) -> tuple[Any, OverviewRequest]:
    """The overview job and the request the controls describe (validated)."""
    job = get_job("overview")
    return job, job.validate({name: values.get(name) for name, _ in INPUTS})


def overview_data(outcome, request: OverviewRequest, values: dict[str, Any]) -> dict[str, Any]:
    """What the result store holds: the request and its key, never the maps."""
    return {"request": asdict(request), "key": outcome.key}


def overview_status(outcome, data: dict[str, Any]) -> str:
    result = outcome.view
    counts = f"{len(result.layers)} layers, {len(result.group_names)} groups"
    if not outcome.computed:
        return f"Loaded the stored overview: {counts}."
    return f"{timed(outcome)}: {counts}."


JOB = JobTab(
    layout.JOB, INPUTS, overview_request, overview_data, overview_status, "overview",
    starting="loading model and data…",
)  # fmt: skip


def result_from_store(data_dir: str | Path, data: dict | None) -> OverviewResult | None:
    """The OverviewResult a result-store entry points to (None: none, or gone)."""
    return stored_result("overview", data_dir, data)


def overview_views(data_dir: str | Path, data: dict | None) -> tuple[go.Figure, go.Figure, list]:
    """The maps (one row per layer), the separation curve and the notes (the input check,
    Holm's correction); placeholders without a result."""
    result = result_from_store(data_dir, data)
    if result is None:
        text = layout.NO_OVERVIEW if not data else "The stored overview is gone: press Run."
        return empty_figure(text, height=420), empty_figure("", height=300), []
    try:
        rows = result.layers
        names = [row.name for row in rows]
        scores = [row.separation.score for row in rows]
        maps = overview_figure(
            names, result.group_names, [row.maps for row in rows], [row.vmax for row in rows],
            scores,
        )  # fmt: skip
        spreads = [row.separation.spread for row in rows]
        curve = separation_figure(
            names, scores, [low for low, _ in spreads], [high for _, high in spreads],
            significant=[bool(p <= 0.05) for p in result.p_holm()],
        )  # fmt: skip
        return maps, curve, notes_block(result.notes())
    except Exception as exc:  # a message in the page rather than a failed callback
        text = f"Could not draw the overview: {readable_error(exc)}"
        return empty_figure(text, height=420), empty_figure("", height=300), []


def layers_hint(model_ref: str | None, data_dir: str | Path) -> str:
    """Which layers an empty field shows (the model's Dense and Conv layers)."""
    if not model_ref:
        return ""
    try:
        layers = model_description(model_ref, data_dir)["layers"]
    except Exception as exc:
        return readable_error(exc)
    shown = default_layers(layers)
    if not shown:
        return "This model has no Dense or Conv layer: name the layers, comma-separated."
    return f"Empty: {', '.join(shown)}. Comma-separated names to choose."


def register(app: Dash, data_dir: Path) -> None:
    """Register the Overview tab's callbacks on ``app``."""
    register_job(app, JOB, data_dir)

    @app.callback(
        Output(O.LAYERS_HINT, "children"),
        Input(ID.MODEL_SELECT, "value"),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_model(model_ref: str | None, tab: str | None) -> str:
        if tab != "overview":
            raise PreventUpdate
        return layers_hint(model_ref, data_dir)

    @app.callback(
        Output(O.MAPS, "figure"),
        Output(O.CURVE, "figure"),
        Output(O.NOTES, "children"),
        Input(O.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_result(data: dict | None):
        return overview_views(data_dir, data)


def _layers_check(raw: Any) -> tuple[Any, str | None]:
    value, problem = field_check(OverviewRequest, "layers")(raw)
    return (",".join(value) if value else None), problem


#: What a link carries while the tab is open: the layers and the draws.
LINKS: tuple[Link, ...] = (
    Link("layers", _layers_check, None, O.LAYERS, label="layers"),
    Link("draws", field_check(OverviewRequest, "draws"), layout.DEFAULTS["draws"], O.DRAWS,
         label="random draws"),
    Link("scale", field_check(OverviewRequest, "scale"), layout.DEFAULTS["scale"], O.SCALE,
         label="colour scale"),
)  # fmt: skip

TAB = Tab(TabPane("overview", "Overview", layout.build), register, LINKS, INPUTS, OverviewRequest)
