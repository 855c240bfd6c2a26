"""The Train tab: train a model with the topographic regularizer (the ``train-topographic`` job).

A model (a demo or an upload), the layer(s) to put on a grid and the regularizer's settings;
data and seed are the sidebar's. The trained model is stored like an upload and opens in the
Topographic tab.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from dash import dcc, html

from topomap_core.analyses.train_topographic import TrainTopographicRequest
from topomap_core.params import defaults
from topomap_core.regularizers import MODES
from topomap_core.store import Store

from .controls import field, model_options, number_input, run_block
from .ids import JobIds


class TrainIds(StrEnum):
    """Component ids of the Train tab."""

    MODEL = "topotrain-model"
    LAYER = "topotrain-layer"
    GRID = "topotrain-grid"
    NEIGHBOURHOOD = "topotrain-neighbourhood"
    STRENGTH = "topotrain-strength"
    MODE = "topotrain-mode"
    EPOCHS = "topotrain-epochs"
    LEARNING_RATE = "topotrain-learning-rate"
    BATCH_SIZE = "topotrain-batch-size"
    MESSAGE = "topotrain-message"
    LINK = "topotrain-link"
    REPORT = "topotrain-report"
    OPEN = "topotrain-open"


#: The Train tab's job.
JOB = JobIds.prefixed("topotrain")

DEFAULTS = defaults(TrainTopographicRequest)

NO_TRAINING = "Nothing trained yet: choose a model and a layer, then press Train."

#: What each mode means, for the radio items.
MODE_LABELS = {
    "weights": "weights (the paper: neighbouring filters get similar weights)",
    "activations": "activations (the paper's future work: similar responses over the batch)",
}


def _number(cid: str, field: str, step: float | str = 1, **kwargs) -> dcc.Input:
    return number_input(TrainTopographicRequest, cid, field, step, **kwargs)


def epochs_table(
    loss: Sequence[float], accuracy: Sequence[float], seconds: Sequence[float]
) -> html.Table:
    """One row per epoch: loss, train accuracy, seconds. Every column is a number, so its
    header is right-aligned over it (``num``), not centred above left-aligned cells."""
    columns = ("epoch", "loss", "train accuracy", "seconds")
    head = html.Tr([html.Th(name, className="num") for name in columns])
    rows = [
        html.Tr(
            [
                html.Td(str(i + 1), className="num"),
                html.Td(f"{value:.4f}", className="num"),
                html.Td(f"{share:.1%}", className="num"),
                html.Td(f"{s:.1f}", className="num"),
            ]
        )
        for i, (value, share, s) in enumerate(zip(loss, accuracy, seconds, strict=False))
    ]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="metrics")


def build(store: Store | None = None) -> html.Div:
    """The Train tab's content, listing the models of ``store``."""
    models = model_options(store.list_models() if store else [])
    setup = html.Section(
        [
            html.H2("Train a topographic model"),
            html.P(
                "Fine-tune a model with the topographic regularizer (Krug & Stober): the "
                "layer's filters are placed on a grid and neighbouring filters are made similar "
                "during training, so the layer's maps need no layout search (layout method "
                "grid). The trained model is stored with your uploads and opens in the "
                "Topographic tab. Data and seed are the sidebar's; the data needs integer "
                "labels (y). The same as `python -m topomap_core train-topographic`.",
                className="help",
            ),
            html.Div(
                [
                    field(
                        "Model",
                        dcc.Dropdown(
                            id=TrainIds.MODEL,
                            options=models,
                            value=DEFAULTS["model"],
                            clearable=False,
                        ),
                    ),
                    field(
                        "Layer",
                        dcc.Dropdown(
                            id=TrainIds.LAYER,
                            options=[{"label": DEFAULTS["layer"], "value": DEFAULTS["layer"]}],
                            value=DEFAULTS["layer"],
                            clearable=False,
                        ),
                    ),
                    field(
                        "Grid",
                        dcc.Input(
                            id=TrainIds.GRID,
                            type="text",
                            value=DEFAULTS["grid"],
                            debounce=True,
                            placeholder="auto or RxC",
                        ),
                        "auto: about square (16x8 for 128 filters), or rows x cols.",
                    ),
                    field(
                        "Neighbourhood",
                        _number(TrainIds.NEIGHBOURHOOD, "neighbourhood", 2),
                        "Odd side of the square around each filter (3: its 8 neighbours).",
                    ),
                    field(
                        "Strength",
                        _number(TrainIds.STRENGTH, "strength", "any"),
                        "Factor of the penalty (the demo: 0.01).",
                    ),
                    field("Epochs", _number(TrainIds.EPOCHS, "epochs", 1)),
                    field(
                        "Learning rate",
                        _number(TrainIds.LEARNING_RATE, "learning_rate", "any"),
                        "Adam's.",
                    ),
                    field("Batch size", _number(TrainIds.BATCH_SIZE, "batch_size", 1)),
                ],
                className="tab-fields tab-fields-4",
            ),
            html.Div(
                [
                    html.Label("Penalise", htmlFor=TrainIds.MODE),
                    dcc.RadioItems(
                        id=TrainIds.MODE,
                        options=[{"label": MODE_LABELS[m], "value": m} for m in MODES],
                        value=DEFAULTS["mode"],
                        className="radio",
                    ),
                ],
                className="field",
            ),
            html.Div(id=TrainIds.MESSAGE, className="message", role="status"),
            run_block(JOB, "Train"),
        ],
        className="card tab-setup",
    )
    return html.Div(
        [
            dcc.Store(id=JOB.result, data=None),
            dcc.Store(id=TrainIds.LINK, data=None),
            setup,
            html.Section(
                [
                    html.H2("Result"),
                    html.Div(NO_TRAINING, id=TrainIds.REPORT, className="help"),
                    html.A(
                        "Open the trained model in the Topographic tab",
                        id=TrainIds.OPEN,
                        href="",
                        className="btn",
                        hidden=True,
                    ),
                ],
                className="card",
            ),
        ],
        className="tab-pane",
    )
