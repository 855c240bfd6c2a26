"""The Training tab: a checkpoint series, its Run job, the maps over time and their exports.

Data, groups, layout method and seed come from the sidebar (shared by every tab); the tab
adds what only a training series has: the checkpoints (the built-in demo or an uploaded
``.zip``), the base model of a ``.weights.h5`` series, and the layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from dash import dcc, html

from topomap_core.analyses.training_maps import TrainingRequest
from topomap_core.params import defaults
from topomap_core.store import Store

from .controls import model_options, run_block, upload_zone
from .figures.maps import blank_figure
from .ids import JobIds


class TrainingIds(StrEnum):
    """Component ids of the Training tab."""

    CHECKPOINTS = "train-checkpoints"
    UPLOAD = "train-upload"
    MESSAGE = "train-message"
    BASE_FIELD = "train-base-field"
    BASE_MODEL = "train-base-model"
    LAYER = "train-layer"
    RUN = "train-run"
    CANCEL = "train-cancel"
    PROGRESS_BAR = "train-progress-bar"
    PROGRESS_TEXT = "train-progress-text"
    STATUS = "train-status"
    RESULT = "train-result"
    LINK = "train-link"
    SLIDER = "train-slider"
    STATE_INPUT = "train-state-input"
    PLAY = "train-play"
    SPEED = "train-speed"
    INTERVAL = "train-interval"
    STEP_LABEL = "train-step-label"
    MAPS_GRAPH = "train-maps-graph"
    CHANGE_GRAPH = "train-change-graph"
    EXPORT_GIF = "train-export-gif"
    EXPORT_MP4 = "train-export-mp4"
    EXPORT_CSV = "train-export-csv"
    DOWNLOAD = "train-download"


#: The Training tab's job.
JOB = JobIds(
    TrainingIds.RUN,
    TrainingIds.CANCEL,
    TrainingIds.PROGRESS_BAR,
    TrainingIds.PROGRESS_TEXT,
    TrainingIds.STATUS,
    TrainingIds.RESULT,
)

#: What the tab shows on a plain load: the demo series and its layer.
DEFAULTS = defaults(TrainingRequest)

DEMO_CHECKPOINT_LABELS = {
    "demo:digits-mlp-training": "Demo: digits MLP, one epoch, saved after every batch",
}

NO_TRAINING = "No training maps yet: choose checkpoints and a layer, then press Run."

#: Play speeds: label -> milliseconds between states.
SPEEDS: dict[str, int] = {"0.5×": 800, "1×": 400, "2×": 200, "4×": 100}
DEFAULT_SPEED = 400

#: (id, button text, tooltip) of the Training tab's exports.
TRAINING_EXPORTS: tuple[tuple[str, str, str], ...] = (
    (TrainingIds.EXPORT_GIF, "Animation GIF", "Every state's maps, one frame per state"),
    (TrainingIds.EXPORT_MP4, "Animation MP4", "The same animation as an H.264 video"),
    (TrainingIds.EXPORT_CSV, "Change CSV", "One row per state: batch, NAP change, accuracy"),
)

_GRAPH_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "displayModeBar": False,
}


def checkpoint_options(stored: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Dropdown options: the demo series, then uploaded series as "file name (short hash)"."""
    options = [{"label": label, "value": ref} for ref, label in DEMO_CHECKPOINT_LABELS.items()]
    for item in stored:
        name = item.get("name") or "unnamed"
        extra = []
        if item.get("n_checkpoints"):
            extra.append(f"{item['n_checkpoints']} states")
        if item.get("kind") == "weights":
            extra.append("weights")
        detail = f", {', '.join(extra)}" if extra else ""
        options.append({"label": f"{name} ({str(item['id'])[:8]}{detail})", "value": item["id"]})
    return options


def _field(label: str, control: Any, hint: str | None = None, **kwargs: Any) -> html.Div:
    parts: list[Any] = [html.Label(label, htmlFor=getattr(control, "id", None)), control]
    if hint:
        parts.append(html.Small(hint, className="hint"))
    return html.Div(parts, className="field", **kwargs)


def setup(checkpoints: list[dict[str, str]], models: list[dict[str, str]]) -> html.Section:
    """The series, its base model and layer, and the Run block."""
    return html.Section(
        [
            html.H2("Training process"),
            html.P(
                "One layout, computed from the last state, applied to every saved state of "
                "the training: watch the maps form batch by batch (paper section 6.3). Data, "
                "groups, layout method and seed are the sidebar's.",
                className="help",
            ),
            html.Div(
                [
                    _field(
                        "Checkpoints",
                        dcc.Dropdown(
                            id=TrainingIds.CHECKPOINTS,
                            options=checkpoints,
                            value=DEFAULTS["checkpoints"],
                            clearable=False,
                            searchable=False,
                        ),
                        "Ordered by the number in each file's name.",
                    ),
                    _field(
                        "Base model",
                        dcc.Dropdown(
                            id=TrainingIds.BASE_MODEL,
                            options=models,
                            value=None,
                            placeholder="The model these weights belong to",
                        ),
                        "For a .zip of .weights.h5 files: the architecture they fit.",
                        id=TrainingIds.BASE_FIELD,
                        style={"display": "none"},
                    ),
                    _field(
                        "Layer",
                        dcc.Dropdown(
                            id=TrainingIds.LAYER,
                            options=[
                                {
                                    "label": DEFAULTS["layer"],
                                    "value": DEFAULTS["layer"],
                                }
                            ],
                            value=DEFAULTS["layer"],
                            clearable=False,
                        ),
                    ),
                ],
                className="tab-fields",
            ),
            upload_zone(
                TrainingIds.UPLOAD,
                "checkpoints",
                TrainingIds.MESSAGE,
                [
                    html.Strong("Drop a .zip here"),
                    html.Span(
                        " or click to choose one: .keras files, or .weights.h5 files "
                        "of the base model"
                    ),
                ],
                ".zip",
            ),
            html.Div(id=TrainingIds.MESSAGE, className="message", role="status"),
            run_block(JOB, "Run"),
        ],
        className="card tab-setup",
    )


def player() -> html.Div:
    """Play/pause, speed, the state slider and the state's label."""
    return html.Div(
        [
            html.Button(
                "▶ Play", id=TrainingIds.PLAY, className="btn btn-small", n_clicks=0, disabled=True
            ),
            dcc.Dropdown(
                id=TrainingIds.SPEED,
                options=[{"label": k, "value": v} for k, v in SPEEDS.items()],
                value=DEFAULT_SPEED,
                clearable=False,
                searchable=False,
                className="speed",
            ),
            html.Div(
                dcc.Slider(
                    id=TrainingIds.SLIDER,
                    min=0,
                    max=0,
                    step=1,
                    value=0,
                    marks=None,
                    disabled=True,
                    # Dash's own number box beside the slider was a second, unlabelled state
                    # input: the labelled State box below is the one.
                    allow_direct_input=False,
                ),
                className="slider",
            ),
            # The state's number, 0-based like the link's ``state`` and the slider's marks:
            # Enter (or leaving the box) shows that state.
            html.Label(
                [
                    "State ",
                    dcc.Input(
                        id=TrainingIds.STATE_INPUT,
                        type="number",
                        min=0,
                        max=0,
                        step=1,
                        value=0,
                        debounce=True,
                        disabled=True,
                        className="state-input",
                    ),
                ],
                className="state-box",
            ),
            html.Span(id=TrainingIds.STEP_LABEL, className="step-label"),
            dcc.Interval(id=TrainingIds.INTERVAL, interval=DEFAULT_SPEED, disabled=True),
        ],
        className="player",
    )


def view() -> html.Section:
    """The maps of the current state, the change curve and the exports."""
    exports = html.Div(
        [html.Span("Export", className="share-label")]
        + [
            html.Button(text, id=bid, title=tip, className="btn btn-small", disabled=True)
            for bid, text, tip in TRAINING_EXPORTS
        ]
        + [dcc.Download(id=TrainingIds.DOWNLOAD)],
        className="exports",
    )
    return html.Section(
        [
            player(),
            html.Div(
                [
                    dcc.Graph(
                        id=TrainingIds.MAPS_GRAPH,
                        figure=blank_figure(NO_TRAINING, height=420),
                        config=_GRAPH_CONFIG,
                        className="graph-maps",
                    ),
                    html.Div(
                        [
                            html.H2("How much the maps change"),
                            html.P(
                                "How much the NAP values moved since the state before (RMS "
                                "of the change, relative to the last state's values): "
                                "largest early in training (paper 6.3). Below, the accuracy "
                                "on the data. Click a point to show that state.",
                                className="help",
                            ),
                            dcc.Graph(
                                id=TrainingIds.CHANGE_GRAPH,
                                figure=blank_figure("", height=230),
                                config=_GRAPH_CONFIG,
                            ),
                        ],
                        className="training-side",
                    ),
                ],
                className="training-grid",
            ),
            exports,
        ],
        className="card training-view",
    )


def build(store: Store | None = None) -> html.Div:
    """The Training tab's content, listing the series and models of ``store``."""
    checkpoints = checkpoint_options(store.list_checkpoints() if store else [])
    models = model_options(store.list_models() if store else [])
    return html.Div(
        [
            dcc.Store(id=TrainingIds.RESULT, data=None),
            # The layer and state a link asks for, until the series' layers and result load.
            dcc.Store(id=TrainingIds.LINK, data=None),
            setup(checkpoints, models),
            view(),
        ],
        className="tab-pane",
    )
