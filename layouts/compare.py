"""The Compare tab: two models (or two states of the training series) on one shared layout.

Data, groups, layout method and seed are the sidebar's, as on every tab.
"""

from __future__ import annotations

from dash import dcc, html

from callbacks.state import TAB_DEFAULTS
from layouts.controls import model_options
from layouts.figures import empty_figure
from layouts.ids import ID
from layouts.training import run_block

NO_COMPARISON = "No comparison yet: choose what to compare, then press Compare."

COMPARE_MODE_LABELS = {
    "states": "Two states of the training series (the Training tab's checkpoints and layer)",
    "models": "Two models",
}


def _field(label: str, control, hint: str | None = None) -> html.Div:
    parts = [html.Label(label, htmlFor=getattr(control, "id", None)), control]
    if hint:
        parts.append(html.Small(hint, className="hint"))
    return html.Div(parts, className="field")


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
                    _field(
                        "Model A",
                        dcc.Dropdown(
                            id=ID.COMPARE_MODEL_A,
                            options=models,
                            value=TAB_DEFAULTS["model_a"],
                            clearable=False,
                        ),
                    ),
                    _field("Layer of A", _layer(ID.COMPARE_LAYER_A, TAB_DEFAULTS["layer_a"])),
                    _field(
                        "Model B",
                        dcc.Dropdown(
                            id=ID.COMPARE_MODEL_B,
                            options=models,
                            value=TAB_DEFAULTS["model_b"],
                            clearable=False,
                        ),
                    ),
                    _field("Layer of B", _layer(ID.COMPARE_LAYER_B, TAB_DEFAULTS["layer_b"])),
                ],
                className="tab-fields tab-fields-4",
            ),
            dcc.Upload(
                id=ID.COMPARE_UPLOAD,
                children=html.Div(
                    [
                        html.Strong("Drop a model here"),
                        html.Span(" or click to add a .keras / .h5 file as model B"),
                    ]
                ),
                accept=".keras,.h5,.hdf5",
                multiple=False,
                className="upload",
                className_active="upload upload-active",
            ),
        ],
        id=ID.COMPARE_MODELS_FIELDS,
        style={"display": "none"} if TAB_DEFAULTS["compare"] != "models" else {},
    )
    state_fields = html.Div(
        html.Div(
            [
                _field(
                    "State A",
                    dcc.Input(id=ID.COMPARE_STATE_A, type="number", min=0, step=1, debounce=True),
                    "Index in the series; empty: the first.",
                ),
                _field(
                    "State B",
                    dcc.Input(id=ID.COMPARE_STATE_B, type="number", min=0, step=1, debounce=True),
                    "Empty: the last.",
                ),
            ],
            className="tab-fields",
        ),
        id=ID.COMPARE_STATES_FIELDS,
        style={"display": "none"} if TAB_DEFAULTS["compare"] != "states" else {},
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
                id=ID.COMPARE_MODE,
                options=[{"label": v, "value": k} for k, v in COMPARE_MODE_LABELS.items()],
                value=TAB_DEFAULTS["compare"],
                className="radio",
            ),
            model_fields,
            state_fields,
            html.Div(id=ID.COMPARE_MESSAGE, className="message", role="status"),
            run_block(
                ID.COMPARE_RUN,
                ID.COMPARE_CANCEL,
                ID.COMPARE_PROGRESS_BAR,
                ID.COMPARE_PROGRESS_TEXT,
                ID.COMPARE_STATUS,
                "Compare",
            ),
        ],
        className="card tab-setup",
    )


def build(models: list[dict[str, str]] | None = None) -> html.Div:
    """The Compare tab's content."""
    return html.Div(
        [
            dcc.Store(id=ID.COMPARE_RESULT, data=None),
            # The layers a link asks for, until the models' layer lists load.
            dcc.Store(id=ID.COMPARE_LINK, data=None),
            setup(models or model_options([])),
            html.Section(
                dcc.Graph(
                    id=ID.COMPARE_GRAPH,
                    figure=empty_figure(NO_COMPARISON, height=420),
                    config={"displaylogo": False, "responsive": True, "displayModeBar": False},
                ),
                className="card compare-view",
            ),
        ],
        className="tab-pane",
    )
