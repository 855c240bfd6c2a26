"""The Compare tab: two models (or two states of the training series) on one shared layout.

Data, groups, layout method and seed are the sidebar's, as on every tab.
"""

from __future__ import annotations

from enum import StrEnum

from dash import dcc, html

from topomap_core.analyses.compare import CompareRequest
from topomap_core.params import defaults
from topomap_core.store import Store

from .controls import field, model_options, run_block, upload_zone
from .figures.maps import blank_figure
from .ids import JobIds


class CompareIds(StrEnum):
    """Component ids of the Compare tab."""

    MODE = "compare-mode"
    MODELS_FIELDS = "compare-models-fields"
    STATES_FIELDS = "compare-states-fields"
    UPLOAD = "compare-upload"
    MODEL_A = "compare-model-a"
    LAYER_A = "compare-layer-a"
    MODEL_B = "compare-model-b"
    LAYER_B = "compare-layer-b"
    STATE_A = "compare-state-a"
    STATE_B = "compare-state-b"
    MESSAGE = "compare-message"
    RUN = "compare-run"
    CANCEL = "compare-cancel"
    PROGRESS_BAR = "compare-progress-bar"
    PROGRESS_TEXT = "compare-progress-text"
    STATUS = "compare-status"
    RESULT = "compare-result"
    LINK = "compare-link"
    GRAPH = "compare-graph"
    EXPORT_PNG = "compare-export-png"
    EXPORT_CSV = "compare-export-csv"
    DOWNLOAD = "compare-download"


#: The Compare tab's job.
JOB = JobIds(
    CompareIds.RUN,
    CompareIds.CANCEL,
    CompareIds.PROGRESS_BAR,
    CompareIds.PROGRESS_TEXT,
    CompareIds.STATUS,
    CompareIds.RESULT,
)

#: What the tab compares on a plain load (two states of the training series), and the
#: models and layers it offers first.
DEFAULT_MODE = "states"
DEFAULTS = defaults(CompareRequest)

NO_COMPARISON = "No comparison yet: choose what to compare, then press Compare."

#: Export buttons: (id, label, hint).
COMPARE_EXPORTS = (
    (CompareIds.EXPORT_PNG, "Maps PNG", "A, B and B − A, one row each"),
    (CompareIds.EXPORT_CSV, "Values CSV", "Per group and neuron: A, B and B − A"),
)

COMPARE_MODE_LABELS = {
    "states": "Two states of the training series (the Training tab's checkpoints and layer)",
    "models": "Two models",
}


def _layer(layer_id: str, value: str) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=layer_id, options=[{"label": value, "value": value}], value=value, clearable=False
    )


def setup(models: list[dict[str, str]]) -> html.Section:
    """What to compare, and the Run block."""
    model_fields = html.Div(
        [
            html.Div(
                [
                    field(
                        "Model A",
                        dcc.Dropdown(
                            id=CompareIds.MODEL_A,
                            options=models,
                            value=DEFAULTS["model_a"],
                            clearable=False,
                        ),
                    ),
                    field("Layer of A", _layer(CompareIds.LAYER_A, DEFAULTS["layer"])),
                    field(
                        "Model B",
                        dcc.Dropdown(
                            id=CompareIds.MODEL_B,
                            options=models,
                            value=DEFAULTS["model_b"],
                            clearable=False,
                        ),
                    ),
                    field("Layer of B", _layer(CompareIds.LAYER_B, DEFAULTS["layer"])),
                ],
                className="tab-fields tab-fields-4",
            ),
            upload_zone(
                CompareIds.UPLOAD,
                "model",
                CompareIds.MESSAGE,
                [
                    html.Strong("Drop a model here"),
                    html.Span(" or click to add a .keras / .h5 file as model B"),
                ],
                ".keras,.h5,.hdf5",
            ),
        ],
        id=CompareIds.MODELS_FIELDS,
        style={"display": "none"} if DEFAULT_MODE != "models" else {},
    )
    state_fields = html.Div(
        html.Div(
            [
                field(
                    "State A",
                    dcc.Input(id=CompareIds.STATE_A, type="number", min=0, step=1, debounce=True),
                    "Index in the series; empty: the first.",
                ),
                field(
                    "State B",
                    dcc.Input(id=CompareIds.STATE_B, type="number", min=0, step=1, debounce=True),
                    "Empty: the last.",
                ),
            ],
            className="tab-fields",
        ),
        id=CompareIds.STATES_FIELDS,
        style={"display": "none"} if DEFAULT_MODE != "states" else {},
    )
    return html.Section(
        [
            html.H2("Compare"),
            html.P(
                "Two states of one training, or two models whose layers have the same width "
                "(neurons are matched by index: states of one network, or a model and its "
                "fine-tuned version), on one shared layout and colour scale, with the "
                "difference B − A per group. Data, groups, layout method and seed are the "
                "sidebar's.",
                className="help",
            ),
            dcc.RadioItems(
                id=CompareIds.MODE,
                options=[{"label": v, "value": k} for k, v in COMPARE_MODE_LABELS.items()],
                value=DEFAULT_MODE,
                className="radio",
            ),
            model_fields,
            state_fields,
            html.Div(id=CompareIds.MESSAGE, className="message", role="status"),
            run_block(JOB, "Compare"),
        ],
        className="card tab-setup",
    )


def build(store: Store | None = None) -> html.Div:
    """The Compare tab's content, listing the models of ``store``."""
    models = model_options(store.list_models() if store else [])
    return html.Div(
        [
            dcc.Store(id=CompareIds.RESULT, data=None),
            # The layers a link asks for, until the models' layer lists load.
            dcc.Store(id=CompareIds.LINK, data=None),
            setup(models),
            html.Section(
                [
                    dcc.Graph(
                        id=CompareIds.GRAPH,
                        figure=blank_figure(NO_COMPARISON, height=420),
                        config={"displaylogo": False, "responsive": True, "displayModeBar": False},
                    ),
                    html.Div(
                        [
                            html.Button(
                                label,
                                id=bid,
                                className="btn btn-small",
                                title=hint,
                                n_clicks=0,
                                disabled=True,
                            )
                            for bid, label, hint in COMPARE_EXPORTS
                        ]
                        + [dcc.Download(id=CompareIds.DOWNLOAD)],
                        className="exports",
                    ),
                ],
                className="card compare-view",
            ),
        ],
        className="tab-pane",
    )
