"""The Training tab: a checkpoint series, its job, the maps over time and their exports.

The maps of every state are computed by the training job in a job process; it also publishes
what this tab reads: a small overview (states, groups, colour limit, change curve) for the
result store, and one frame (maps and values) per state, so a slider step reads one small
entry and sends only that state's maps. Play/pause and the speed run in the browser.
"""

from __future__ import annotations

import base64
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, Patch, State, ctx, no_update
from dash.exceptions import PreventUpdate

from layouts import training as layout
from layouts.controls import model_options
from layouts.figures import training as tf
from layouts.figures.maps import empty_figure
from layouts.ids import ID
from layouts.page import TabPane
from layouts.training import TrainingIds as T
from topomap_core.analyses.animation import change_csv, render_frames, save_gif, save_mp4
from topomap_core.analyses.training_maps import TrainingRequest, TrainingResult, frame_key
from topomap_core.io.demo import DEMO_CHECKPOINTS
from topomap_core.jobs.base import digest
from topomap_core.jobs.registry import get_job
from topomap_core.params import coerce_int, short
from topomap_core.store import Store

from .common import (
    LayerChoice,
    default_layer,
    hide_stored_ref,
    readable_error,
    register_click,
    register_layer_list,
    series_description,
)
from .export import file_stem, stored_stem
from .jobs import JobTab, register_job, timed
from .maps import SHARED_INPUTS
from .uploads import register_upload, series_info, upload_checkpoints
from .url import Link, Tab, field_check

#: The tab's controls that make the request, after the sidebar's shared ones.
INPUTS = (
    *SHARED_INPUTS,
    ("checkpoints", T.CHECKPOINTS),
    ("base_model", T.BASE_MODEL),
    ("layer", T.LAYER),
)

GONE = "The stored result is gone: press Run again."


# --------------------------------------------------------------------------------- series


@dataclass
class SeriesChoice:
    """What the tab shows for a series: its layers, and whether it needs a base model."""

    layers: LayerChoice = field(default_factory=LayerChoice)
    needs_base: bool = False


def series_layers(
    checkpoints: str | None, base_model: str | None, current: str | None, data_dir: str | Path
) -> SeriesChoice:
    """The layer options of a series (from a job process or the cache, never loaded here)."""
    from layouts.controls import layer_options

    if not checkpoints:
        return SeriesChoice(LayerChoice(message="Choose checkpoints.", ok=False))
    store = Store(data_dir)
    info = series_info(store, checkpoints)
    kind = info.get("kind") if info else None
    needs_base = kind == "weights"
    name = store.display_name(checkpoints)
    try:
        layers = series_description(checkpoints, base_model, data_dir, kind)["layers"]
    except Exception as exc:  # a series that cannot be loaded gives a message, never a crash
        text = readable_error(exc)
        for ref in (checkpoints, base_model):
            if ref:
                text = hide_stored_ref(text, ref, store.display_name(ref))
        return SeriesChoice(LayerChoice(message=f"{name}: {text}", ok=False), needs_base)
    value = default_layer(layers, current)
    if checkpoints == DEMO_CHECKPOINTS:
        text = "The demo: digits MLP trained for one epoch, a state after every batch."
    else:
        n = info.get("n_checkpoints") if info else None
        text = (
            f"{name}: {n} states, {len(layers)} layers." if n else f"{name}: {len(layers)} layers."
        )
    missing = bool(current and value != current and current != layout.DEFAULTS["layer"])
    if missing:
        text += f" Layer {current!r} is not in this model; showing {value!r}."
    return SeriesChoice(
        LayerChoice(layer_options(layers), value, text, warning=missing), needs_base
    )


# ------------------------------------------------------------------------------------ job


def training_request(values: dict[str, Any]) -> tuple[Any, TrainingRequest]:
    """The training job and the request of the shared controls and the tab's series."""
    job = get_job("training")
    return job, job.validate({name: values.get(name) for name, _ in INPUTS})


def training_data(outcome, request: TrainingRequest, values: dict[str, Any]) -> dict[str, Any]:
    """What the result store holds: the overview, the request and the key; never maps."""
    return {**outcome.view, "request": asdict(request), "key": outcome.key}


def training_status(outcome, data: dict[str, Any]) -> str:
    n, groups, neurons = data["n"], len(data["names"]), data["n_neurons"]
    what = f"{n} states, {groups} groups, {neurons} neurons"
    if not outcome.computed:
        return f"Loaded the stored result: {what}."
    computed = data.get("computed", n)
    reused = f"; {n - computed} NAPs from the cache" if computed < n else ""
    return f"{timed(outcome)}: {what}{reused}."


JOB = JobTab(
    layout.JOB, INPUTS, training_request, training_data, training_status, "training",
    starting="loading checkpoints and data…", keep_shown=True,
)  # fmt: skip


def frame(data_dir: str | Path, data: dict | None, state: int) -> dict[str, Any] | None:
    """State ``state``'s frame (``maps``, ``values``) of the result-store ``data``, or None."""
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return None
    return Store(data_dir).cache.get(frame_key(data["key"], int(state)))


def training_result(data_dir: str | Path, data: dict | None) -> TrainingResult | None:
    """The whole TrainingResult a result-store entry points to (for exports), or None."""
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return None
    try:
        return Store(data_dir).cache.get(data["key"])
    except (TypeError, ValueError, OSError):
        return None


# ----------------------------------------------------------------------------------- view


def _marks(n: int) -> dict[int, str]:
    """About six slider marks, labelled with the state's number (0-based, as the State box
    and the link's ``state``; the batch is in the label); always the first and last."""
    if n == 0:
        return {}
    every = max(1, round(n / 6))
    picks = set(range(0, n, every)) | {n - 1}
    if n - 1 - max(picks - {n - 1}, default=0) < every / 2:
        picks.discard(max(picks - {n - 1}, default=n - 1))  # no two marks on top of each other
    picks.add(n - 1)
    return {i: str(i) for i in sorted(picks)}


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
    """The slider settings and full figures for result-store ``data``.

    ``wanted`` is the state a link asked for; ``current`` the slider's value, kept when it
    fits (a re-run of the same series keeps its place).
    """
    if not isinstance(data, dict) or not data.get("n"):
        return _placeholder(layout.NO_TRAINING)
    state, warning = pick_state(data, wanted, current)
    shown = frame(data_dir, data, state)
    if shown is None:
        return _placeholder(GONE)
    label = data["labels"][state]
    z = tf.encode_maps(shown["maps"])
    return ResultView(
        max=int(data["n"]) - 1,
        marks=_marks(int(data["n"])),
        value=state,
        disabled=int(data["n"]) < 2,
        maps=tf.state_maps_figure(data["names"], z, data["vmax"], data["resolution"]),
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
    shown = frame(data_dir, data, i)
    if shown is None:
        raise PreventUpdate
    label = data["labels"][i]
    return (
        tf.maps_patch(tf.encode_maps(shown["maps"])),
        tf.change_patch(data["steps"], data["change"], data["accuracy"], i),
        label,
    )


def sync_state(
    typed: bool, slider: Any, box: Any, top: Any, disabled: Any
) -> tuple[Any, Any, int, bool]:
    """Keep the slider and the state box on one number (0-based, as the link's ``state``).

    Parameters
    ----------
    typed : bool
        The box changed (Enter or leaving it): move the slider, which shows that state.
    slider, box : Any
        Their values (the box's as typed: may be None or out of range).
    top : Any
        The slider's maximum (the last state).
    disabled : Any
        The slider's: no result yet.

    Returns
    -------
    slider value, box value, box maximum, box disabled
    """
    last = coerce_int(top) or 0
    if not typed:
        return no_update, slider, last, bool(disabled)
    i = coerce_int(box)
    if i is None:
        return no_update, slider, last, bool(disabled)  # emptied: show the slider's again
    i = min(max(i, 0), last)
    return (i if i != coerce_int(slider) else no_update), i, last, bool(disabled)


def linked_state(slider: Any, pending: dict | None, result: dict | None) -> Any:
    """The state a link should carry: a link's state still waiting, else the slider's value
    when a training result is shown, else none."""
    waiting = (pending or {}).get("state")
    if waiting is not None:
        return waiting
    return slider if isinstance(result, dict) and result.get("n") else None


# -------------------------------------------------------------------------------- exports

#: Export button -> (file name suffix, MIME type).
FORMATS: dict[str, tuple[str, str]] = {
    T.EXPORT_GIF: (".gif", "image/gif"),
    T.EXPORT_MP4: (".mp4", "video/mp4"),
    T.EXPORT_CSV: ("_change.csv", "text/csv"),
}

#: Frames per second of the animations, and the enlargement of each map (100 px -> 200 px).
FPS = 8
FRAME_SIZE = 2

#: Bump when the exported files change form.
EXPORT_VERSION = "1"


def animation_bytes(result: TrainingResult, kind: str) -> bytes:
    """The GIF or MP4 (``kind``: ``"gif"``, ``"mp4"``) of every state, one frame per state."""
    frames = render_frames(result, FRAME_SIZE)
    with tempfile.TemporaryDirectory(prefix="topomaps-export-") as folder:
        path = Path(folder) / f"animation.{kind}"
        (save_gif if kind == "gif" else save_mp4)(frames, path, FPS)
        return path.read_bytes()


def export_file(
    kind: str, result: TrainingResult, store: Store | None = None, key: str = ""
) -> dict:
    """The ``dcc.Download`` data for export button ``kind``; animations are kept in the
    ``store``'s cache under the result's ``key``.

    The file is named as the Maps tab's exports (:func:`.export.file_stem`): series, data,
    layer, grouping, method and the key's first characters, so later runs do not overwrite
    earlier downloads.
    """
    if kind not in FORMATS:
        raise ValueError(f"unknown export {kind!r}; valid: {', '.join(FORMATS)}")
    suffix, mime = FORMATS[kind]
    if store is not None:
        stem = stored_stem(result, key, store, kind="training")
    else:
        stem = file_stem(result, key, kind="training")
    filename = stem + suffix
    if kind == T.EXPORT_CSV:
        return {"content": change_csv(result), "filename": filename, "type": mime, "base64": False}
    fmt = suffix.lstrip(".")
    cache_key = None
    if store is not None and key:
        parts = {"kind": "training-export", "v": EXPORT_VERSION, "key": key, "format": fmt}
        cache_key = digest({**parts, "fps": FPS, "size": FRAME_SIZE})
    content = store.cache.get(cache_key) if cache_key else None
    if content is None:
        content = animation_bytes(result, fmt)
        if cache_key:
            store.cache.set(cache_key, content)
    encoded = base64.b64encode(content).decode("ascii")
    return {"content": encoded, "filename": filename, "type": mime, "base64": True}


def download(kind: str | None, data_dir: str | Path, data: dict | None) -> dict[str, Any]:
    """Download data for a click, or PreventUpdate when there is nothing to export."""
    result = training_result(data_dir, data)
    if result is None or kind not in FORMATS:
        raise PreventUpdate
    return export_file(kind, result, Store(data_dir), str(data.get("key") or ""))


# ------------------------------------------------------------------------------ callbacks


def register(app: Dash, data_dir: Path) -> None:
    """Register the Training tab's callbacks: series, layers, the job, the view, exports."""
    register_job(app, JOB, data_dir)
    _register_series(app, data_dir)
    _register_view(app, data_dir)
    export_ids = [bid for bid, _, _ in layout.TRAINING_EXPORTS]

    @app.callback(
        Output(T.DOWNLOAD, "data"),
        *[Input(bid, "n_clicks") for bid in export_ids],
        State(T.RESULT, "data"),
        background=True,
        running=[(Output(bid, "disabled"), True, False) for bid in export_ids],
        prevent_initial_call=True,
    )
    def on_export(*args: Any) -> dict[str, Any]:
        *clicks, data = args
        if not any(clicks):
            raise PreventUpdate
        return download(ctx.triggered_id, data_dir, data)


def _register_series(app: Dash, data_dir: Path) -> None:
    register_upload(app, data_dir, upload_checkpoints, T.UPLOAD, T.CHECKPOINTS, T.MESSAGE)

    def choose(checkpoints, base, wanted):
        choice = series_layers(checkpoints, base, wanted, data_dir)
        return ({} if choice.needs_base else {"display": "none"},), choice.layers

    register_layer_list(
        app,
        [T.CHECKPOINTS, T.BASE_MODEL],
        T.LAYER,
        T.LINK,
        "train_layer",
        choose,
        tab="training",
        message_id=T.MESSAGE,
        extra_outputs=[Output(T.BASE_FIELD, "style")],
    )

    @app.callback(
        Output(T.BASE_MODEL, "options"),
        Output(T.CHECKPOINTS, "options", allow_duplicate=True),
        Input(ID.TABS, "value"),
        prevent_initial_call=True,
    )
    def on_tab(tab: str | None):
        # Models and series uploaded since the page loaded are listed too.
        if tab != "training":
            raise PreventUpdate
        store = Store(data_dir)
        return model_options(store.list_models()), layout.checkpoint_options(
            store.list_checkpoints()
        )


def _register_view(app: Dash, data_dir: Path) -> None:
    export_ids = [bid for bid, _, _ in layout.TRAINING_EXPORTS]

    @app.callback(
        *[Output(T.SLIDER, prop) for prop in ("max", "marks", "value", "disabled")],
        Output(T.PLAY, "disabled"),
        *[Output(graph, "figure") for graph in (T.MAPS_GRAPH, T.CHANGE_GRAPH)],
        Output(T.STEP_LABEL, "children"),
        Output(T.STATUS, "children", allow_duplicate=True),
        Output(T.LINK, "data", allow_duplicate=True),
        *[Output(bid, "disabled") for bid in export_ids],
        Input(T.RESULT, "data"),
        State(T.LINK, "data"),
        *[State(T.SLIDER, prop) for prop in ("value", "disabled")],
        State(T.STATUS, "children"),
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
        Output(T.MAPS_GRAPH, "figure", allow_duplicate=True),
        Output(T.CHANGE_GRAPH, "figure", allow_duplicate=True),
        Output(T.STEP_LABEL, "children", allow_duplicate=True),
        Input(T.SLIDER, "value"),
        State(T.RESULT, "data"),
        prevent_initial_call=True,
    )
    def on_state(state: Any, data: dict | None):
        return state_view(data_dir, data, state)

    def clicked(click: dict | None, data: dict | None) -> int | None:
        n = int(data["n"]) if isinstance(data, dict) and data.get("n") else 0
        return tf.clicked_state(click, n)

    register_click(app, (T.SLIDER, "value"), T.CHANGE_GRAPH, T.RESULT, clicked)

    @app.callback(
        Output(T.SLIDER, "value", allow_duplicate=True),
        Output(T.STATE_INPUT, "value"),
        Output(T.STATE_INPUT, "max"),
        Output(T.STATE_INPUT, "disabled"),
        Input(T.SLIDER, "value"),
        Input(T.STATE_INPUT, "value"),
        Input(T.SLIDER, "max"),
        Input(T.SLIDER, "disabled"),
        prevent_initial_call=True,
    )
    def on_state_box(slider: Any, box: Any, top: Any, disabled: Any):
        return sync_state(ctx.triggered_id == T.STATE_INPUT, slider, box, top, disabled)

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
        Output(T.INTERVAL, "disabled"),
        Output(T.PLAY, "children"),
        Output(T.SLIDER, "value", allow_duplicate=True),
        Input(T.PLAY, "n_clicks"),
        State(T.INTERVAL, "disabled"),
        State(T.SLIDER, "value"),
        State(T.SLIDER, "max"),
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
        Output(T.SLIDER, "value", allow_duplicate=True),
        Output(T.INTERVAL, "disabled", allow_duplicate=True),
        Output(T.PLAY, "children", allow_duplicate=True),
        Input(T.INTERVAL, "n_intervals"),
        State(T.SLIDER, "value"),
        State(T.SLIDER, "max"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        "function(ms) { return ms || 400; }",
        Output(T.INTERVAL, "interval"),
        Input(T.SPEED, "value"),
    )


# ----------------------------------------------------------------------------------- link


def _state_check(raw: Any) -> tuple[Any, str | None]:
    from topomap_core.config import max_checkpoints

    value = coerce_int(raw)
    if value is None:
        return None, f"state {short(raw)!r} (not a whole number)"
    top = max_checkpoints() - 1  # the series' own length is checked when its result shows
    if not 0 <= value <= top:
        return None, f"state {value} (must be between 0 and {top})"
    return value, None


#: The series' keys, shared with the Compare tab's "two states" mode.
SERIES_LINKS: tuple[Link, ...] = (
    Link(
        "checkpoints",
        field_check(TrainingRequest, "checkpoints"),
        layout.DEFAULTS["checkpoints"],
        T.CHECKPOINTS,
        known="checkpoints",
        label="checkpoints",
    ),
    Link(
        "base_model",
        field_check(TrainingRequest, "base_model"),
        None,
        T.BASE_MODEL,
        known="model",
        label="base model",
    ),
    Link(
        "train_layer",
        field_check(TrainingRequest, "layer", "training layer"),
        layout.DEFAULTS["layer"],
        T.LAYER,
        store=T.LINK,
        label="training layer",
    ),
)

#: What a link carries while the tab is open: the series and the state shown. While the
#: animation plays, the state is written when it pauses (not a history entry per frame).
LINKS: tuple[Link, ...] = (
    *SERIES_LINKS,
    Link(
        "state",
        _state_check,
        None,
        T.SLIDER,
        load=False,
        store=T.LINK,
        label="state",
        extra_inputs=((T.INTERVAL, "disabled"),),
        extra_states=((T.LINK, "data"), (T.RESULT, "data")),
        output=lambda slider, paused, pending, result: linked_state(slider, pending, result),
        hold=lambda trigger, slider, paused, pending, result: (
            paused is False and trigger == T.SLIDER
        ),
    ),
)

TAB = Tab(TabPane("training", "Training", layout.build), register, LINKS, INPUTS, TrainingRequest)
