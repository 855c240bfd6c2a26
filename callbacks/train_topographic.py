"""The Train tab: the ``train_topographic`` job, and the trained model stored like an upload.

The job trains in a job process; its result (the ``.keras`` bytes and what training measured)
is cached like every result. Storing the trained model is a bounded file write
(:meth:`topomap_core.store.Store.add_model`), the same as an upload, so the model appears in
every model list and a link opens it in the Topographic tab.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from dash import Dash, Input, Output, html
from dash.exceptions import PreventUpdate

from layouts import train_topographic as layout
from layouts.controls import model_options
from layouts.ids import ID
from layouts.page import TabPane
from layouts.train_topographic import TrainIds as T
from topomap_core.analyses.train_topographic import TrainResult, TrainTopographicRequest
from topomap_core.jobs.registry import get_job
from topomap_core.store import Store

from .common import list_layers, register_layer_list
from .jobs import JobTab, register_job, stored_result, timed
from .maps import DATA_INPUTS
from .url import Link, Tab, field_link

#: The controls the request is made of: the tab's, and the sidebar's data and seed.
INPUTS: tuple[tuple[str, str], ...] = (
    ("model", T.MODEL),
    *DATA_INPUTS,
    ("layer", T.LAYER),
    ("grid", T.GRID),
    ("neighbourhood", T.NEIGHBOURHOOD),
    ("strength", T.STRENGTH),
    ("mode", T.MODE),
    ("epochs", T.EPOCHS),
    ("learning_rate", T.LEARNING_RATE),
    ("batch_size", T.BATCH_SIZE),
    ("seed", ID.SEED_INPUT),
)

TAB_VALUE = "train"


def train_request(values: dict[str, Any]) -> tuple[Any, TrainTopographicRequest]:
    """The training job and the request the controls describe (validated)."""
    job = get_job("train_topographic")
    raw = {name: values.get(name) for name, _ in INPUTS}
    if isinstance(raw["grid"], str):
        raw["grid"] = raw["grid"].strip() or "auto"
    return job, job.validate(raw)


def model_filename(store: Store, request: TrainTopographicRequest) -> str:
    """``<model>-topographic-<layers>.keras``: the stored model's name (a label, never a path;
    the store keeps files by content hash)."""
    stem = Path(store.display_name(request.model)).stem.removeprefix("demo:")
    layers = "+".join(request.layers())
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"{stem}-topographic-{layers}")[:100]
    return name + ".keras"


def train_data(
    outcome, request: TrainTopographicRequest, values: dict[str, Any], data_dir: str | Path
) -> dict:
    """Store the trained model in ``data_dir``'s store (once: by content) and say where it is;
    never the bytes."""
    store = Store(data_dir)
    result: TrainResult = outcome.view
    ref = store.add_model(result.model_bytes, model_filename(store, request))
    return {
        "request": asdict(request),
        "key": outcome.key,
        "model": ref,
        "name": store.display_name(ref),
        "layers": list(result.grids),
    }


def train_status(outcome, data: dict[str, Any]) -> str:
    result: TrainResult = outcome.view
    epochs = len(result.epoch_s)
    lead = timed(outcome) if outcome.computed else "Loaded the stored training"
    return (
        f"{lead}: {epochs} epoch{'s' if epochs != 1 else ''}, accuracy "
        f"{result.accuracy_before:.1%} → {result.accuracy_after:.1%} on {result.accuracy_on}; "
        f"stored as model {data['name']}."
    )


def job_tab(data_dir: str | Path) -> JobTab:
    """The tab's job for the store under ``data_dir`` (where the trained model is stored)."""
    return JobTab(
        layout.JOB, INPUTS, train_request, partial(train_data, data_dir=data_dir), train_status,
        TAB_VALUE, not_computed="Not trained with these settings yet: press Train.",
        failed="Training failed",
        starting="loading the model and data…",
    )  # fmt: skip


def result_from_store(data_dir: str | Path, data: dict | None) -> TrainResult | None:
    """The TrainResult a result-store entry points to (None: none, or no longer stored)."""
    return stored_result("train_topographic", data_dir, data)


def open_href(data: dict) -> str:
    """The link that opens the trained model's first regularized layer in the Topographic tab."""
    query = {"tab": "topographic", "topo_model": data["model"], "topo_layer": data["layers"][0]}
    return "?" + urlencode(query)


def report(data_dir: str | Path, data: dict | None) -> tuple[Any, str, bool]:
    """The result section (per layer and per epoch), the Topographic link and whether it hides."""
    result = result_from_store(data_dir, data)
    if result is None:
        return layout.NO_TRAINING, "", True
    layers = []
    for name, grid in result.grids.items():
        text = f"{name} on a {grid['grid']} grid ({grid['mode']}, strength {grid['strength']:g})"
        sim = result.similarity.get(name)
        if sim:
            text += (
                f": mean neighbour similarity {sim['before']:.3f} → {sim['after']:.3f}; the "
                f"same filters in shuffled positions {sim['after_shuffled']:.3f}"
            )
        layers.append(html.Li(text))
    content = html.Div(
        [
            html.P(
                f"Stored as model {data['name']}. Accuracy {result.accuracy_before:.1%} before, "
                f"{result.accuracy_after:.1%} after, on {result.accuracy_on}."
            ),
            html.Ul(layers),
            layout.epochs_table(result.loss, result.accuracy, result.epoch_s),
        ]
    )
    return content, open_href(data), False


def register(app: Dash, data_dir: Path) -> None:
    """Register the Train tab's callbacks on ``app``."""
    register_job(app, job_tab(data_dir), data_dir)

    @app.callback(
        Output(T.MODEL, "options"),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_tab(tab: str | None):
        if tab != TAB_VALUE:
            raise PreventUpdate
        return model_options(Store(data_dir).list_models())

    register_layer_list(
        app,
        [T.MODEL],
        T.LAYER,
        T.LINK,
        "topotrain_layer",
        lambda ref, wanted: ((), list_layers(ref, wanted, data_dir, default="conv2")),
        tab=TAB_VALUE,
        message_id=T.MESSAGE,
    )

    @app.callback(
        Output(T.REPORT, "children"),
        Output(T.OPEN, "href"),
        Output(T.OPEN, "hidden"),
        Input(layout.JOB.result, "data"),
        prevent_initial_call=True,
    )
    def on_result(data: dict | None):
        return report(data_dir, data)


def _link(key: str, field: str, component: str, label: str, **kwargs: Any) -> Link:
    return field_link(TrainTopographicRequest, key, field, component, label, **kwargs)


#: What a link carries while the tab is open.
LINKS: tuple[Link, ...] = (
    _link("topotrain_model", "model", T.MODEL, "training model", known="model"),
    _link("topotrain_layer", "layer", T.LAYER, "training layer", store=T.LINK),
    _link("grid", "grid", T.GRID, "grid"),
    _link("neighbourhood", "neighbourhood", T.NEIGHBOURHOOD, "neighbourhood"),
    _link("strength", "strength", T.STRENGTH, "strength"),
    _link("mode", "mode", T.MODE, "mode"),
    _link("epochs", "epochs", T.EPOCHS, "epochs"),
)

TAB = Tab(
    TabPane(TAB_VALUE, "Train", layout.build), register, LINKS, INPUTS, TrainTopographicRequest
)
