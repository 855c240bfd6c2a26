"""The Bias tab: the bias job (groups beside random groups, the discriminability score).

The result store holds the request and key; the score, its sentence and the figures are drawn
from the result in the disk cache. The functions below are plain (tested directly);
:func:`register` wraps them.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output

from layouts import bias as layout
from layouts.bias import BiasIds as B
from layouts.figures.maps import empty_figure
from layouts.figures.separation import bias_maps_figure, bias_score_figure
from layouts.page import TabPane
from topomap_core.analyses.bias import BiasRequest, BiasResult
from topomap_core.jobs.registry import get_job

from .common import readable_error
from .jobs import JobTab, register_job, stored_result, timed
from .maps import INPUTS as MAP_INPUTS
from .url import Link, Tab, field_check, request_inputs

#: The sidebar's controls (not its random groups: the view draws its own), then the tab's.
INPUTS: tuple[tuple[str, str], ...] = request_inputs(
    BiasRequest, (*MAP_INPUTS, ("draws", B.DRAWS)), exclude=("random_groups",)
)


def bias_request(values: dict[str, Any]) -> tuple[Any, BiasRequest]:
    """The bias job and the request the controls describe (validated)."""
    job = get_job("bias")
    return job, job.validate({name: values.get(name) for name, _ in INPUTS})


def bias_data(outcome, request: BiasRequest, values: dict[str, Any]) -> dict[str, Any]:
    """What the result store holds: the request and its key, never the maps."""
    return {"request": asdict(request), "key": outcome.key}


def bias_status(outcome, data: dict[str, Any]) -> str:
    result = outcome.view
    what = f"{len(result.group_names)} groups, {len(result.separation.random)} random draws"
    if not outcome.computed:
        return f"Loaded the stored result: {what}."
    return f"{timed(outcome)}: {what}."


JOB = JobTab(layout.JOB, INPUTS, bias_request, bias_data, bias_status, "bias")


def result_from_store(data_dir: str | Path, data: dict | None) -> BiasResult | None:
    """The BiasResult a result-store entry points to (None: none, or gone)."""
    return stored_result("bias", data_dir, data)


def score_text(result: BiasResult) -> str:
    """``"2.3× chance (5-95 %: 2.0× to 2.6×, 100 draws)"``."""
    sep = result.separation
    low, high = sep.spread
    return (
        f"{sep.score:.2f}× chance (5–95 % over the draws: {low:.2f}× to {high:.2f}×, "
        f"{len(sep.random)} random groupings)"
    )


def bias_views(data_dir: str | Path, data: dict | None) -> tuple[str, str, go.Figure, go.Figure]:
    """The score, its sentence, the score figure and the maps; placeholders without a result."""
    result = result_from_store(data_dir, data)
    if result is None:
        text = layout.NO_BIAS if not data else "The stored result is gone: press Run again."
        return "–", text, empty_figure("", height=260), empty_figure(text, height=420)
    try:
        sep = result.separation
        return (
            score_text(result),
            result.sentence,
            bias_score_figure(sep.score, sep.chance),
            bias_maps_figure(
                result.group_names,
                result.random_names,
                result.maps,
                result.random_maps,
                result.vmax,
            ),  # fmt: skip
        )
    except Exception as exc:  # a message in the page rather than a failed callback
        text = f"Could not draw the result: {readable_error(exc)}"
        return "–", text, empty_figure("", height=260), empty_figure(text, height=420)


def register(app: Dash, data_dir: Path) -> None:
    """Register the Bias tab's callbacks on ``app``."""
    register_job(app, JOB, data_dir)

    @app.callback(
        Output(B.SCORE, "children"),
        Output(B.SENTENCE, "children"),
        Output(B.SCORE_GRAPH, "figure"),
        Output(B.MAPS, "figure"),
        Input(B.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_result(data: dict | None):
        return bias_views(data_dir, data)


#: What a link carries while the tab is open: the draws (the rest is the sidebar's).
LINKS: tuple[Link, ...] = (
    Link("bias_draws", field_check(BiasRequest, "draws"), layout.DEFAULTS["draws"], B.DRAWS,
         label="random draws"),
)  # fmt: skip

TAB = Tab(TabPane("bias", "Bias", layout.build), register, LINKS, INPUTS, BiasRequest)
