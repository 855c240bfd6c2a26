"""The Evaluate tab: the evaluate job on the sidebar's layer, its violins and ranking.

The result store holds the request and key; the figure callback reads the (small) result from
the cache.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, html

from layouts import evaluate as layout
from layouts.evaluate import EvaluateIds as E
from layouts.figures.evaluate import ranking_rows, violins_figure
from layouts.figures.maps import empty_figure
from layouts.page import TabPane
from topomap_core.analyses.evaluate import EvaluateRequest
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.results import cached
from topomap_core.store import Store

from .common import readable_error
from .jobs import NOT_COMPUTED, JobTab, register_job, timed
from .maps import INPUTS as MAPS_INPUTS
from .url import Link, Tab, field_link, request_inputs

#: The sidebar's controls but the single method, then this tab's.
INPUTS: tuple[tuple[str, str], ...] = request_inputs(
    EvaluateRequest,
    (
        *MAPS_INPUTS,
        ("methods", E.METHODS),
        ("repeats", E.REPEATS),
        ("layout_input", E.LAYOUT_INPUT),
    ),
    exclude=("method",),
)


def evaluate_request(values: dict[str, Any]) -> tuple[Any, EvaluateRequest]:
    """The evaluate job and the request of the page's values (validated)."""
    job = get_job("evaluate")
    return job, job.validate({name: values.get(name) for name, _ in INPUTS})


def evaluate_data(outcome, request: EvaluateRequest, values: dict[str, Any]) -> dict[str, Any]:
    return {"request": asdict(request), "key": outcome.key}


def evaluate_status(outcome, data: dict[str, Any]) -> str:
    result = outcome.view
    best = result.ranking[0]["method"]
    text = (
        f"{len(result.methods)} methods × {result.request.repeats} repeats on "
        f"{result.n_neurons} neurons; best mean rank: {best}."
    )
    return f"{timed(outcome)}: {text}" if outcome.computed else f"Loaded the stored result: {text}"


JOB = JobTab(
    layout.JOB, INPUTS, evaluate_request, evaluate_data, evaluate_status, "evaluate",
    failed="Evaluation failed",
    # The tab's button says Evaluate, not Run.
    not_computed=NOT_COMPUTED.replace("press Run", "press Evaluate"),
)  # fmt: skip


def evaluation_view(data_dir: str | Path, data: dict | None) -> tuple[go.Figure, Any]:
    """The violins and the ranking table of result-store ``data``, or placeholders."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return empty_figure(layout.NO_EVALUATION, 320), layout.ranking_table([])
    try:
        job = get_job("evaluate")
        result = cached(job, job.validate(data["request"]), Store(data_dir))
        if result is None:
            text = "The stored evaluation is gone: press Evaluate again."
            return empty_figure(text, 320), layout.ranking_table([])
        return violins_figure(result), layout.ranking_table(ranking_rows(result))
    except Exception as exc:  # a message in the page rather than a failed callback
        text = f"Could not draw the evaluation: {readable_error(exc)}"
        return empty_figure(text, 320), html.P(text, className="muted")


def register(app: Dash, data_dir: Path) -> None:
    """Register the Evaluate tab's callbacks on ``app``."""
    register_job(app, JOB, data_dir)

    @app.callback(
        Output(E.GRAPH, "figure"),
        Output(E.RANKING, "children"),
        Input(E.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_result(data: dict | None):
        return evaluation_view(data_dir, data)


def _link(name: str, component: str) -> Link:
    return field_link(EvaluateRequest, name, name, component)


#: What a link carries while the tab is open (the sidebar's keys are the Maps tab's).
LINKS: tuple[Link, ...] = (
    _link("methods", E.METHODS),
    _link("repeats", E.REPEATS),
    _link("layout_input", E.LAYOUT_INPUT),
)

TAB = Tab(TabPane("evaluate", "Evaluate", layout.build), register, LINKS, INPUTS, EvaluateRequest)
