"""The Mapper tab (TopoAct): the shape of a layer's activations as a graph of example clusters.

Its own model, layer(s) and Mapper settings; data and seed are the sidebar's. The graph (and,
in the cross-layer mode, a second layer's next to it), the colouring, a search box, the
clicked nodes' examples and "Use as group", which sends them to the Maps tab.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from topomap_core.analyses.mapper import MapperRequest
from topomap_core.params import defaults
from topomap_core.shape.mapper import LENSES, POOLINGS
from topomap_core.store import Store

from .controls import field, model_options, number_input, run_block
from .figures.maps import blank_figure
from .ids import JobIds


class MapperIds(StrEnum):
    """Component ids of the Mapper tab."""

    MODEL = "mapper-model"
    LAYER = "mapper-layer"
    COMPARE_LAYER = "mapper-compare-layer"
    LENS = "mapper-lens"
    LENS_DIMS = "mapper-lens-dims"
    INTERVALS = "mapper-intervals"
    OVERLAP = "mapper-overlap"
    MIN_SAMPLES = "mapper-min-samples"
    EPS = "mapper-eps"
    POOLING = "mapper-pooling"
    MAX_EXAMPLES = "mapper-max-examples"
    MESSAGE = "mapper-message"
    RUN = "mapper-run"
    CANCEL = "mapper-cancel"
    PROGRESS_BAR = "mapper-progress-bar"
    PROGRESS_TEXT = "mapper-progress-text"
    STATUS = "mapper-status"
    RESULT = "mapper-result"
    LINK = "mapper-link"
    COLOUR = "mapper-colour"
    SEARCH = "mapper-search"
    HIGHLIGHT_TEXT = "mapper-highlight-text"
    GRAPH = "mapper-graph"
    GRAPH_B = "mapper-graph-b"
    GRAPH_B_BOX = "mapper-graph-b-box"
    SELECTED = "mapper-selected"
    CLEAR = "mapper-clear"
    NODE_PANEL = "mapper-node-panel"
    GROUP_NAME = "mapper-group-name"
    USE_AS_GROUP = "mapper-use-as-group"
    GROUP_MESSAGE = "mapper-group-message"


#: The Mapper tab's job.
JOB = JobIds(
    MapperIds.RUN,
    MapperIds.CANCEL,
    MapperIds.PROGRESS_BAR,
    MapperIds.PROGRESS_TEXT,
    MapperIds.STATUS,
    MapperIds.RESULT,
)

DEFAULTS = defaults(MapperRequest)

NO_GRAPH = "No graph yet: choose a model and layer, then press Run."

COLOUR_LABELS = {
    "class": "Majority class (paler: less pure)",
    "correctness": "Share of wrong predictions",
    "norm": "Mean L2 norm (TopoAct)",
}

LENS_LABELS = {"l2norm": "L2 norm (TopoAct)", "pca": "PCA", "umap": "UMAP"}
POOLING_LABELS = {
    "mean": "Mean over positions (global average pooling)",
    "random": "One random position per example",
}


def _number(cid: str, name: str, step: float | str = 1, **kwargs) -> dcc.Input:
    return number_input(MapperRequest, cid, name, step, **kwargs)


def _layer(cid: str, value: str | None, clearable: bool = False) -> dcc.Dropdown:
    options = [{"label": value, "value": value}] if value else []
    return dcc.Dropdown(id=cid, options=options, value=value, clearable=clearable)


def setup(models: list[dict[str, str]]) -> html.Section:
    """The model, layers and Mapper settings, and the Run block."""
    source = html.Div(
        [
            field(
                "Model",
                dcc.Dropdown(
                    id=MapperIds.MODEL, options=models, value=DEFAULTS["model"], clearable=False
                ),
            ),
            field("Layer", _layer(MapperIds.LAYER, DEFAULTS["layer"])),
            field(
                "Second layer",
                _layer(MapperIds.COMPARE_LAYER, None, clearable=True),
                "Cross-layer view: the same examples, side by side. Empty: one layer.",
            ),
            field(
                "Convolutions",
                dcc.Dropdown(
                    id=MapperIds.POOLING,
                    options=[{"label": POOLING_LABELS[p], "value": p} for p in POOLINGS],
                    value=DEFAULTS["pooling"],
                    clearable=False,
                ),
            ),
        ],
        className="tab-fields tab-fields-4",
    )
    settings = html.Div(
        [
            field(
                "Lens",
                dcc.Dropdown(
                    id=MapperIds.LENS,
                    options=[{"label": LENS_LABELS[lens], "value": lens} for lens in LENSES],
                    value=DEFAULTS["lens"],
                    clearable=False,
                ),
            ),
            field("Lens dimensions", _number(MapperIds.LENS_DIMS, "lens_dims")),
            field("Intervals", _number(MapperIds.INTERVALS, "intervals"), "Per dimension."),
            field("Overlap", _number(MapperIds.OVERLAP, "overlap", step=0.05)),
            field("Min samples", _number(MapperIds.MIN_SAMPLES, "min_samples"), "DBSCAN."),
            field(
                "eps",
                dcc.Input(
                    id=MapperIds.EPS, type="number", min=0, step="any", debounce=True, value=None
                ),
                "Empty: from the data (knee of the k-NN distances).",
            ),
            field("Examples", _number(MapperIds.MAX_EXAMPLES, "max_examples"), "At most."),
        ],
        className="tab-fields tab-fields-7",
    )
    return html.Section(
        [
            html.H2("Shape of the activations (Mapper)"),
            html.P(
                "Each example is a point: its activations at the layer. A lens (the vector's "
                "length, PCA or UMAP) is cut into overlapping intervals; the examples of each "
                "interval are clustered (DBSCAN) and every cluster becomes a node; nodes "
                "sharing examples are linked. Branches and loops show how the layer arranges "
                "the examples (TopoAct). Data and seed are the sidebar's.",
                className="help",
            ),
            source,
            settings,
            html.Div(id=MapperIds.MESSAGE, className="message", role="status"),
            run_block(JOB, "Run"),
        ],
        className="card tab-setup",
    )


def _graph(cid: str) -> dcc.Graph:
    return dcc.Graph(
        id=cid,
        figure=blank_figure(NO_GRAPH if cid == MapperIds.GRAPH else "", height=560),
        config={
            "displaylogo": False,
            "responsive": True,
            "modeBarButtonsToRemove": ["autoScale2d"],
        },
    )


def view() -> html.Section:
    """The graph(s), colouring and search, and the selected nodes' panel."""
    tools = html.Div(
        [
            field(
                "Colour",
                dcc.RadioItems(
                    id=MapperIds.COLOUR,
                    options=[{"label": v, "value": k} for k, v in COLOUR_LABELS.items()],
                    value="class",
                    className="radio",
                ),
            ),
            field(
                "Search",
                dcc.Input(
                    id=MapperIds.SEARCH,
                    type="text",
                    placeholder="a class (7) or an example (#12)",
                    debounce=True,
                ),
                "Highlights the nodes holding it. The Maps tab's selected group is "
                "highlighted too.",
            ),
            html.Div(id=MapperIds.HIGHLIGHT_TEXT, className="message", role="status"),
        ],
        className="tab-fields",
    )
    graphs = html.Div(
        [
            html.Div(_graph(MapperIds.GRAPH), className="mapper-graph"),
            html.Div(
                _graph(MapperIds.GRAPH_B),
                id=MapperIds.GRAPH_B_BOX,
                className="mapper-graph",
                style={"display": "none"},
            ),
        ],
        className="mapper-graphs",
    )
    panel = html.Div(
        [
            html.H2("Selected nodes"),
            html.P(
                "Click nodes to select them (click again to drop one), or draw a lasso; "
                "their examples show here.",
                className="help",
            ),
            html.Div(id=MapperIds.NODE_PANEL),
            html.Div(
                [
                    field(
                        "Group name",
                        dcc.Input(id=MapperIds.GROUP_NAME, type="text", placeholder="branch A"),
                    ),
                    html.Button("Use as group", id=MapperIds.USE_AS_GROUP, className="btn"),
                    html.Button("Clear selection", id=MapperIds.CLEAR, className="btn"),
                ],
                className="run-buttons",
            ),
            html.Div(id=MapperIds.GROUP_MESSAGE, className="message", role="status"),
        ],
        className="card mapper-panel",
    )
    return html.Section([tools, graphs, panel], className="card mapper-view")


def build(store: Store | None = None) -> html.Div:
    """The Mapper tab's content, listing the models of ``store``."""
    models = model_options(store.list_models() if store else [])
    return html.Div(
        [
            dcc.Store(id=MapperIds.RESULT, data=None),
            dcc.Store(id=MapperIds.LINK, data=None),
            dcc.Store(id=MapperIds.SELECTED, data=None),
            setup(models),
            view(),
        ],
        className="tab-pane",
    )
