"""The Training tab's view: the state slider, play/pause, the maps and the change curve.

A new result (TRAIN_RESULT) builds the figures once (:func:`result_view`); a slider step
then sends only that state's maps and moves the markers on the curves (:func:`state_view`),
reading one frame from the disk cache: nothing is recomputed. Play/pause and the speed run
in the browser (a ``dcc.Interval`` that moves the slider).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, Patch, State, no_update
from dash.exceptions import PreventUpdate

from callbacks.common import app_data_dir
from callbacks.state import coerce_int
from callbacks.training import frame
from layouts import training_figures as tf
from layouts.figures import empty_figure
from layouts.ids import ID
from layouts.training import NO_TRAINING, TRAINING_EXPORTS

GONE = "The stored result is gone: press Run again."


def _marks(steps: list[int]) -> dict[int, str]:
    """About six slider marks, labelled with the batch number; always the first and last."""
    n = len(steps)
    if n == 0:
        return {}
    every = max(1, round(n / 6))
    picks = set(range(0, n, every)) | {n - 1}
    if n - 1 - max(picks - {n - 1}, default=0) < every / 2:
        picks.discard(max(picks - {n - 1}, default=n - 1))  # no two marks on top of each other
    picks.add(n - 1)
    return {i: str(steps[i]) for i in sorted(picks)}


@dataclass
class ResultView:
    """What a new result sets: the slider, the figures, the label and extra status."""

    max: int
    marks: dict[int, str]
    value: int
    disabled: bool
    maps: go.Figure
    change: go.Figure
    label: str
    warning: str | None = None


def _placeholder(text: str) -> ResultView:
    return ResultView(
        0, {}, 0, True, empty_figure(text, height=420), empty_figure("", height=230), ""
    )


def pick_state(data: dict, wanted: Any, current: Any = None) -> tuple[int, str | None]:
    """The state to show for a new result: the link's, else the one shown, else the last.

    Returns
    -------
    state : int
    warning : str or None
        When the link asked for a state beyond the series (the last one is shown).
    """
    n = int(data["n"])
    value = coerce_int(wanted)
    if value is not None:
        if 0 <= value < n:
            return value, None
        return n - 1, (
            f"Ignored state {value} in the link (this series has states 0 to {n - 1}); "
            f"showing the last state."
        )
    value = coerce_int(current)
    if value is not None and 0 <= value < n:
        return value, None
    return n - 1, None


def result_view(
    data_dir: str | Path, data: dict | None, wanted: Any = None, current: Any = None
) -> ResultView:
    """The slider settings and full figures for TRAIN_RESULT ``data``.

    ``wanted`` is the state a link asked for; ``current`` the slider's value, kept when it
    fits (a re-run of the same series keeps its place).
    """
    if not isinstance(data, dict) or not data.get("n"):
        return _placeholder(NO_TRAINING)
    state, warning = pick_state(data, wanted, current)
    z = frame(data_dir, data, state)
    if z is None:
        return _placeholder(GONE)
    label = data["labels"][state]
    return ResultView(
        max=int(data["n"]) - 1,
        marks=_marks(data["steps"]),
        value=state,
        disabled=int(data["n"]) < 2,
        maps=tf.state_maps_figure(data["names"], z, data["vmax"], data["resolution"], label),
        change=tf.change_figure(data["steps"], data["change"], data["accuracy"], state),
        label=label,
        warning=warning,
    )


def state_view(data_dir: str | Path, data: dict | None, state: Any) -> tuple[Patch, Patch, str]:
    """What one slider step sends: the state's maps, the curves' markers and the label.

    Raises
    ------
    PreventUpdate
        No result, a state outside it, or its frame is gone (the next Run restores it).
    """
    i = coerce_int(state)
    if not isinstance(data, dict) or not data.get("n") or i is None or not 0 <= i < data["n"]:
        raise PreventUpdate
    z = frame(data_dir, data, i)
    if z is None:
        raise PreventUpdate
    label = data["labels"][i]
    return (
        tf.maps_patch(z, label),
        tf.change_patch(data["steps"], data["change"], data["accuracy"], i),
        label,
    )


def register(app: Dash) -> None:
    """Register the slider, play/pause, curve-click and result callbacks on ``app``."""
    data_dir = app_data_dir(app)
    export_ids = [bid for bid, _, _ in TRAINING_EXPORTS]

    @app.callback(
        Output(ID.TRAIN_SLIDER, "max"),
        Output(ID.TRAIN_SLIDER, "marks"),
        Output(ID.TRAIN_SLIDER, "value"),
        Output(ID.TRAIN_SLIDER, "disabled"),
        Output(ID.TRAIN_PLAY, "disabled"),
        Output(ID.TRAIN_MAPS_GRAPH, "figure"),
        Output(ID.TRAIN_CHANGE_GRAPH, "figure"),
        Output(ID.TRAIN_STEP_LABEL, "children"),
        Output(ID.TRAIN_STATUS, "children", allow_duplicate=True),
        Output(ID.TRAIN_LINK, "data", allow_duplicate=True),
        *[Output(bid, "disabled") for bid in export_ids],
        Input(ID.TRAIN_RESULT, "data"),
        State(ID.TRAIN_LINK, "data"),
        State(ID.TRAIN_SLIDER, "value"),
        State(ID.TRAIN_SLIDER, "disabled"),
        State(ID.TRAIN_STATUS, "children"),
        prevent_initial_call=True,
    )
    def on_result(data: dict | None, link: dict | None, current: Any, idle: Any, status: Any):
        # The state shown stays when another result replaces one (a disabled slider shows none).
        kept = None if idle else current
        shown = result_view(data_dir, data, (link or {}).get("state"), kept)
        text = no_update
        if shown.warning:
            text = "\n".join(
                filter(None, [status if isinstance(status, str) else "", shown.warning])
            )
        done = Patch()
        if data:
            done["state"] = None  # the link's state is used once, with the first result
        no_result = not (isinstance(data, dict) and data.get("n"))
        return (
            shown.max,
            shown.marks,
            shown.value,
            shown.disabled,
            shown.disabled,
            shown.maps,
            shown.change,
            shown.label,
            text,
            done,
            *[no_result] * len(export_ids),
        )

    @app.callback(
        Output(ID.TRAIN_MAPS_GRAPH, "figure", allow_duplicate=True),
        Output(ID.TRAIN_CHANGE_GRAPH, "figure", allow_duplicate=True),
        Output(ID.TRAIN_STEP_LABEL, "children", allow_duplicate=True),
        Input(ID.TRAIN_SLIDER, "value"),
        State(ID.TRAIN_RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_state(state: Any, data: dict | None):
        return state_view(data_dir, data, state)

    @app.callback(
        Output(ID.TRAIN_SLIDER, "value", allow_duplicate=True),
        Input(ID.TRAIN_CHANGE_GRAPH, "clickData"),
        State(ID.TRAIN_RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_curve_clicked(click: dict | None, data: dict | None) -> int:
        n = int(data["n"]) if isinstance(data, dict) and data.get("n") else 0
        state = tf.clicked_state(click, n)
        if state is None:
            raise PreventUpdate
        return state

    # Play/pause, in the browser: the button starts the interval (from the first state when
    # at the end); every tick moves the slider one state; the last state pauses.
    app.clientside_callback(
        """function(n, disabled, value, max) {
            const skip = window.dash_clientside.no_update;
            if (!n) { return [skip, skip, skip]; }
            if (disabled) {
                const start = (value >= max) ? 0 : skip;
                return [false, '⏸ Pause', start];
            }
            return [true, '▶ Play', skip];
        }""",
        Output(ID.TRAIN_INTERVAL, "disabled"),
        Output(ID.TRAIN_PLAY, "children"),
        Output(ID.TRAIN_SLIDER, "value", allow_duplicate=True),
        Input(ID.TRAIN_PLAY, "n_clicks"),
        State(ID.TRAIN_INTERVAL, "disabled"),
        State(ID.TRAIN_SLIDER, "value"),
        State(ID.TRAIN_SLIDER, "max"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        """function(ticks, value, max) {
            const skip = window.dash_clientside.no_update;
            if (!ticks) { return [skip, skip, skip]; }
            const next = (value || 0) + 1;
            if (next >= max) { return [max, true, '▶ Play']; }
            return [next, skip, skip];
        }""",
        Output(ID.TRAIN_SLIDER, "value", allow_duplicate=True),
        Output(ID.TRAIN_INTERVAL, "disabled", allow_duplicate=True),
        Output(ID.TRAIN_PLAY, "children", allow_duplicate=True),
        Input(ID.TRAIN_INTERVAL, "n_intervals"),
        State(ID.TRAIN_SLIDER, "value"),
        State(ID.TRAIN_SLIDER, "max"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(ms) { return ms || 400; }",
        Output(ID.TRAIN_INTERVAL, "interval"),
        Input(ID.TRAIN_SPEED, "value"),
    )
