"""The Topographic tab: a grid layer's maps on its grid (Krug & Stober, Figure 1B).

A layer trained with the topographic regularizer (``train-topographic``, or the demo
``demo:digits-cnn-topographic``) shows per group its values on the grid, the 3 x 3 smoothed
map with the most responsive region marked, and the optimised inputs of that region's
filters. Data, groups, NAP or GradNAP and the seed are the sidebar's.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from topomap_core.analyses.topographic import TopographicRequest
from topomap_core.params import bounds, defaults
from topomap_core.store import Store

from .controls import field, model_options, run_block
from .figures.maps import blank_figure
from .ids import JobIds


class TopoIds(StrEnum):
    """Component ids of the Topographic tab."""

    MODEL = "topo-model"
    LAYER = "topo-layer"
    GROUP = "topo-group"
    STEPS = "topo-steps"
    MESSAGE = "topo-message"
    RUN = "topo-run"
    CANCEL = "topo-cancel"
    PROGRESS_BAR = "topo-progress-bar"
    PROGRESS_TEXT = "topo-progress-text"
    STATUS = "topo-status"
    RESULT = "topo-result"
    LINK = "topo-link"
    GRID_GRAPH = "topo-grid-graph"
    SMOOTH_GRAPH = "topo-smooth-graph"
    FEATURES_GRAPH = "topo-features-graph"
    REGION = "topo-region"
    PNG_BUTTON = "topo-png-button"
    NPZ_BUTTON = "topo-npz-button"
    DOWNLOAD = "topo-download"


#: The Topographic tab's job.
JOB = JobIds(
    TopoIds.RUN,
    TopoIds.CANCEL,
    TopoIds.PROGRESS_BAR,
    TopoIds.PROGRESS_TEXT,
    TopoIds.STATUS,
    TopoIds.RESULT,
)

DEFAULTS = defaults(TopographicRequest)

NO_RESULT = "No maps yet: choose a grid layer, then press Run."


def _graph(graph_id: str, message: str, height: int) -> dcc.Graph:
    return dcc.Graph(
        id=graph_id,
        figure=blank_figure(message, height=height),
        config={"displaylogo": False, "responsive": True, "displayModeBar": False},
    )


def build(store: Store | None = None) -> html.Div:
    """The Topographic tab's content, listing the models of ``store``."""
    models = model_options(store.list_models() if store else [])
    setup = html.Section(
        [
            html.H2("Topographic"),
            html.P(
                "A layer trained with the topographic regularizer has its filters on a grid "
                "(try the demo CNN's topographic conv2, or train one in the Train tab or with "
                "`python -m topomap_core train-topographic`). Per group: the values on the "
                "grid, smoothed (3×3 average) with the most responsive 3×3 region marked, and "
                "inputs optimised to excite each filter of that region and the region jointly. "
                "Data, groups, NAP / GradNAP and seed are the sidebar's.",
                className="help",
            ),
            html.Div(
                [
                    field(
                        "Model",
                        dcc.Dropdown(
                            id=TopoIds.MODEL,
                            options=models,
                            value=DEFAULTS["model"],
                            clearable=False,
                        ),
                    ),
                    field(
                        "Grid layer",
                        dcc.Dropdown(
                            id=TopoIds.LAYER,
                            options=[{"label": DEFAULTS["layer"], "value": DEFAULTS["layer"]}],
                            value=DEFAULTS["layer"],
                            clearable=False,
                        ),
                    ),
                    field(
                        "Group to visualise",
                        dcc.Input(id=TopoIds.GROUP, type="text", debounce=True),
                        "Empty: the first group.",
                    ),
                    field(
                        "Optimisation steps",
                        dcc.Input(
                            id=TopoIds.STEPS,
                            type="number",
                            min=0,
                            max=bounds(TopographicRequest, "fv_steps")[1],
                            step=1,
                            value=DEFAULTS["fv_steps"],
                            debounce=True,
                        ),
                    ),
                ],
                className="tab-fields tab-fields-4",
            ),
            html.Div(id=TopoIds.MESSAGE, className="message", role="status"),
            run_block(JOB, "Run"),
        ],
        className="card tab-setup",
    )
    return html.Div(
        [
            dcc.Store(id=TopoIds.RESULT, data=None),
            dcc.Store(id=TopoIds.LINK, data=None),
            setup,
            html.Section(
                [
                    html.H3("On grid"),
                    _graph(TopoIds.GRID_GRAPH, NO_RESULT, 360),
                    html.H3("Smoothed, with the most responsive region"),
                    _graph(TopoIds.SMOOTH_GRAPH, NO_RESULT, 360),
                    html.P(id=TopoIds.REGION, className="help"),
                    html.H3("Optimised inputs"),
                    _graph(TopoIds.FEATURES_GRAPH, NO_RESULT, 220),
                    html.Div(
                        [
                            html.Button("Download PNG", id=TopoIds.PNG_BUTTON, className="btn"),
                            html.Button("Download .npz", id=TopoIds.NPZ_BUTTON, className="btn"),
                            dcc.Download(id=TopoIds.DOWNLOAD),
                        ],
                        className="export-row",
                    ),
                ],
                className="card topo-view",
            ),
        ],
        className="tab-pane",
    )
