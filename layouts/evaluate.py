"""The Evaluate tab: several layout methods, R seeded repeats each, on the sidebar's layer.

The model, data, layer, grouping and seed are the sidebar's (the NAP is the Maps tab's); the
methods, repeats and layout input are this tab's.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from topomap_core.analyses.evaluate import EvaluateRequest
from topomap_core.analyses.topomap import LAYOUT_INPUTS
from topomap_core.params import bounds, defaults
from topomap_core.store import Store

from .controls import field, run_block
from .figures.maps import blank_figure
from .ids import JobIds


class EvaluateIds(StrEnum):
    """Component ids of the Evaluate tab."""

    METHODS = "evaluate-methods"
    REPEATS = "evaluate-repeats"
    LAYOUT_INPUT = "evaluate-layout-input"
    RUN = "evaluate-run"
    CANCEL = "evaluate-cancel"
    PROGRESS_BAR = "evaluate-progress-bar"
    PROGRESS_TEXT = "evaluate-progress-text"
    STATUS = "evaluate-status"
    RESULT = "evaluate-result"
    GRAPH = "evaluate-graph"
    RANKING = "evaluate-ranking"


#: The Evaluate tab's job.
JOB = JobIds(
    EvaluateIds.RUN,
    EvaluateIds.CANCEL,
    EvaluateIds.PROGRESS_BAR,
    EvaluateIds.PROGRESS_TEXT,
    EvaluateIds.STATUS,
    EvaluateIds.RESULT,
)

DEFAULTS = defaults(EvaluateRequest)
NO_EVALUATION = "No evaluation yet: choose the methods and repeats, then press Evaluate."

LAYOUT_INPUT_LABELS = {
    "nap": "NAP columns (ours)",
    "distances": "rows of the distance matrix (the paper's release)",
}


def ranking_table(rows: list[list[str]]) -> html.Table | html.P:
    """The ranking (header row first), or a hint when there is none."""
    if not rows:
        return html.P("The ranking appears after an evaluation.", className="muted")
    # Every column but the method's holds numbers: right-aligned, its header over it.
    kind = ["" if i == 1 else "num" for i in range(len(rows[0]))]
    head = html.Thead(
        html.Tr([html.Th(c, className=k) for c, k in zip(rows[0], kind, strict=True)])
    )
    body = html.Tbody(
        [
            html.Tr([html.Td(c, className=k) for c, k in zip(row, kind, strict=True)])
            for row in rows[1:]
        ]
    )
    return html.Table([head, body], className="metrics ranking")


def build(store: Store | None = None) -> html.Div:
    """The Evaluate tab's content."""
    low, high = bounds(EvaluateRequest, "repeats")
    setup = html.Section(
        [
            html.H2("Evaluate layout methods"),
            html.P(
                "Each method lays the sidebar's layer out R times (seeds seed, seed + 1, …); "
                "every map is measured by the paper's four quality metrics and a fifth, how "
                "evenly the neurons cover the map. Methods are ranked by their mean rank over "
                "the five (the paper's Figure 4). Deterministic methods give R equal values.",
                className="help",
            ),
            html.Div(
                [
                    field(
                        "Methods",
                        dcc.Input(
                            id=EvaluateIds.METHODS,
                            type="text",
                            value=DEFAULTS["methods"],
                            debounce=True,
                        ),
                        "Comma-separated, e.g. baseline,PCA_PSO,UMAP_PSO.",
                    ),
                    field(
                        "Repeats",
                        dcc.Input(
                            id=EvaluateIds.REPEATS,
                            type="number",
                            min=low,
                            max=high,
                            step=1,
                            value=DEFAULTS["repeats"],
                            debounce=True,
                        ),
                    ),
                    field(
                        "Layout input",
                        dcc.RadioItems(
                            id=EvaluateIds.LAYOUT_INPUT,
                            options=[
                                {"label": LAYOUT_INPUT_LABELS[k], "value": k} for k in LAYOUT_INPUTS
                            ],
                            value=DEFAULTS["layout_input"],
                            className="radio",
                        ),
                    ),
                ],
                className="tab-fields",
            ),
            run_block(JOB, "Evaluate"),
        ],
        className="card tab-setup",
    )
    return html.Div(
        [
            dcc.Store(id=EvaluateIds.RESULT, data=None),
            setup,
            html.Section(
                [
                    html.Div(ranking_table([]), id=EvaluateIds.RANKING),
                    dcc.Graph(
                        id=EvaluateIds.GRAPH,
                        figure=blank_figure(NO_EVALUATION, height=320),
                        config={"displaylogo": False, "responsive": True},
                    ),
                ],
                className="card evaluate-view",
            ),
        ],
        className="tab-pane",
    )
