"""What every tab's callbacks share: the app's data directory, readable messages, and the
layers of a model (from a job process, never loaded here)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, Patch, State, ctx, html
from dash.exceptions import PreventUpdate

from layouts.controls import layer_options
from layouts.ids import ID
from topomap_core.analyses.describe import default_layer as model_default_layer
from topomap_core.config import data_dir as default_data_dir
from topomap_core.errors import JobError, TopomapError, one_line
from topomap_core.io.demo import DEMO_CHECKPOINTS
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.runner import run
from topomap_core.params import HASH_RE
from topomap_core.store import Store

#: Key of the data directory in the Flask config of the app (set by ``app.create_app``).
DATA_DIR_KEY = "TOPOMAPS_DATA_DIR"

#: Seconds a description job may take (TensorFlow start-up plus loading the model).
DESCRIBE_TIMEOUT_S = 180.0


def app_data_dir(app: Dash) -> Path:
    """The data directory this app stores models, data, results and jobs in."""
    configured = app.server.config.get(DATA_DIR_KEY)
    return Path(configured) if configured else default_data_dir()


def readable_error(exc: BaseException) -> str:
    """A message for the page: a TopomapError's or a failed job's own text (which says what
    stopped it), else what kind of failure it was."""
    if isinstance(exc, (TopomapError, JobError)):
        text = one_line(exc)
        return text[0].upper() + text[1:]
    return f"Something went wrong ({type(exc).__name__}: {one_line(exc)})"


def message(text: str | None, ok: bool = True, warning: bool = False) -> html.Span | None:
    """A one-line message under a control, styled as information, a warning or a problem."""
    if not text:
        return None
    return html.Span(text, className="msg-warning" if warning else "msg-ok" if ok else "msg-error")


def hide_stored_ref(text: str, ref: str, name: str) -> str:
    """Replace a stored file's hash name (``<ref>.keras``) in a message by ``name``."""
    if not isinstance(ref, str) or not HASH_RE.match(ref):
        return text
    return re.sub(ref + r"(\.[A-Za-z0-9]+)?", lambda _: name, text)


# --------------------------------------------------------------------------------------------
# Descriptions: layers and input shapes, from job processes
# --------------------------------------------------------------------------------------------


def _describe(job_name: str, values: dict[str, Any], data_dir: str | Path) -> dict[str, Any]:
    job = get_job(job_name)
    request = job.validate(values)  # a bad reference never reaches a job process
    return run(job, request, data_dir, timeout=DESCRIBE_TIMEOUT_S).view


def model_description(ref: str, data_dir: str | Path) -> dict[str, Any]:
    """Layers and input shape of model ``ref``: from the cache, else from a job process.

    Returns
    -------
    dict
        ``{"layers": [LayerInfo.to_dict(), ...], "input_shape": [int or None, ...]}``.

    Raises
    ------
    TopomapError
        A bad reference or a model that cannot be loaded (the message says why).
    RuntimeError
        The job process crashed or timed out.
    """
    return _describe("describe", {"model": ref}, data_dir)


def series_description(
    checkpoints: str, base_model: str | None, data_dir: str | Path, kind: str | None = None
) -> dict[str, Any]:
    """Layers and input shape of a checkpoint series, from a job process (never this one).

    A ``.weights.h5`` series (``kind == "weights"``) has its base model's layers; the demo
    series is ``digits-mlp`` trained for an epoch, so it has the demo model's layers; a series
    of ``.keras`` files is described by its last state.

    Raises
    ------
    TopomapError
        A bad reference, a weights series without a base model, or a series that cannot
        be loaded.
    RuntimeError
        The job process crashed or timed out.
    """
    if checkpoints == DEMO_CHECKPOINTS:
        return model_description("demo:digits-mlp", data_dir)
    if kind == "weights":
        if not base_model:
            raise TopomapError(
                "These checkpoints are .weights.h5 files: choose the base model they belong to"
            )
        return model_description(base_model, data_dir)
    return _describe("describe-series", {"checkpoints": checkpoints}, data_dir)


def default_layer(layers: list[dict[str, Any]], current: str | None = None) -> str | None:
    """The layer to select: ``current`` if the model has it, else the model's default
    (:func:`topomap_core.analyses.describe.default_layer`: the Dense/Conv layer nearest the
    output with at least 16 neurons)."""
    names = [layer["name"] for layer in layers]
    if current in names:
        return current
    return model_default_layer(layers)[0]


def default_layer_hint(layers: list[dict[str, Any]], value: str | None) -> str:
    """`` "Showing conv2d_6 (128 neurons): the Dense/Conv layer nearest the output with at
    least 16 neurons."`` when ``value`` is the model's default, else ""."""
    name, why = model_default_layer(layers)
    if name is None or name != value:
        return ""
    n = next(layer["neurons"] for layer in layers if layer["name"] == name)
    return f" Showing {name} ({n} neurons): {why}."


@dataclass
class LayerChoice:
    """What a layer dropdown shows for a model, and the message under the model."""

    options: list[dict[str, Any]] = field(default_factory=list)
    value: str | None = None
    message: str = ""
    ok: bool = True
    warning: bool = False  # shown, but not as success (e.g. the link's layer is not there)


def list_layers(
    ref: str | None, current: str | None, data_dir: str | Path, default: str = "dense"
) -> LayerChoice:
    """Layer options of model ``ref``; a model that cannot be loaded gives a message.

    The layers come from the cache or a job process (:func:`model_description`): the web
    process never loads a model. ``default`` is the dropdown's initial value, which may
    silently give way to the model's own layers.
    """
    if not ref:
        return LayerChoice(message="Choose a model.", ok=False)
    store = Store(data_dir)
    try:
        description = model_description(ref, data_dir)
        layers = description["layers"]
    except Exception as exc:  # a corrupt model must give a message, never a crash
        name = store.display_name(ref) if isinstance(ref, str) else str(ref)[:80]
        text = hide_stored_ref(readable_error(exc), ref, name)
        return LayerChoice(message=f"{name} could not be loaded: {text}", ok=False)
    value = default_layer(layers, current)
    name = store.display_name(ref)
    text = f"{name}: {len(layers)} layers."
    missing = bool(current and value != current and current != default)
    if missing:
        text += f" Layer {current!r} is not in this model; showing {value!r}."
    elif value != current:
        text += default_layer_hint(layers, value)
    text += converted_text(description)
    return LayerChoice(layer_options(layers), value, text, warning=missing)


def converted_text(description: dict[str, Any]) -> str:
    """`` "Converted from Keras 2: dropped DepthwiseConv2D groups=1 in 13 layers."`` for a file
    that needed the Keras 2 rewrites (:mod:`topomap_core.io.legacy`), and the model's own input
    preparation (a first ``Rescaling`` layer), else ""."""
    done = description.get("converted") or []
    text = f" Converted from Keras 2: {'; '.join(done)}." if done else ""
    scaling = (description.get("input") or {}).get("scaling")
    if scaling:
        text += f" It prepares its input itself ({scaling}): give it raw values."
    return text


#: What a model's message says while its layers are read.
READING_LAYERS = "Reading the model's layers…"


def wanted_layer(triggered: Any, sources: Sequence[str], linked: Any, current: Any) -> Any:
    """The layer to keep when a layer list is rebuilt: the link's, else the one shown, except
    when another model was chosen (an upload, the dropdown): then its own default, since a
    Keras model's first Dense layer is also called ``dense`` and was kept, an odd choice."""
    if linked:
        return linked
    return None if triggered in sources else current


def register_layer_list(
    app: Dash,
    sources: Sequence[str],
    layer_id: str,
    link_id: str,
    link_key: str,
    choose: Callable[..., tuple[tuple[Any, ...], LayerChoice]],
    *,
    tab: str | None = None,
    message_id: str | None = None,
    extra_outputs: Sequence[Output] = (),
) -> None:
    """A layer dropdown that lists the layers of what ``sources`` (component ids) select.

    ``choose(*source_values, wanted) -> (extra values, LayerChoice)`` lists them (from the cache
    or a job process, never loaded here); ``wanted`` is the layer a link asked for, still
    waiting in ``link_id`` under ``link_key`` (a dropdown drops a value its options lack, and the
    options come only now), else the one shown. The link's value is used once. With ``tab``,
    nothing is listed until that tab is open.
    """
    tab_input = [Input(ID.TABS, "value")] if tab is not None else []

    @app.callback(
        *extra_outputs,
        Output(layer_id, "options"),
        Output(layer_id, "value", allow_duplicate=True),
        *([Output(message_id, "children")] if message_id else []),
        Output(link_id, "data", allow_duplicate=True),
        *[Input(cid, "value") for cid in sources],
        *tab_input,
        State(layer_id, "value"),
        State(link_id, "data"),
        prevent_initial_call=True,
    )
    def on_source(*args: Any):
        *values, current, link = args
        if tab is not None and values.pop() != tab:
            raise PreventUpdate  # the layer list waits until its tab is opened
        wanted = wanted_layer(ctx.triggered_id, sources, (link or {}).get(link_key), current)
        extra, choice = choose(*values, wanted)
        done = Patch()
        done[link_key] = None
        shown = [message(choice.message, choice.ok, choice.warning)] if message_id else []
        return *extra, choice.options, choice.value, *shown, done

    if message_id:
        # At once, in the browser: the old model's message must not stay while the new one is
        # described (a job process, seconds for a large model).
        app.clientside_callback(
            f"function() {{ return {READING_LAYERS!r}; }}",
            Output(message_id, "children", allow_duplicate=True),
            *[Input(cid, "value") for cid in sources],
            prevent_initial_call=True,
        )


def register_click(
    app: Dash,
    target: tuple[str, str],
    graph_id: str,
    result_id: str,
    pick: Callable[[dict | None, Any], Any],
) -> None:
    """A click on graph ``graph_id`` sets ``target`` (``(id, property)``) to
    ``pick(click_data, result_store_data)``; a click that picks nothing (None) changes nothing."""

    @app.callback(
        Output(*target, allow_duplicate=True),
        Input(graph_id, "clickData"),
        State(result_id, "data"),
        prevent_initial_call=True,
    )
    def on_click(click_data: dict | None, data: Any):
        picked = pick(click_data, data)
        if picked is None:
            raise PreventUpdate
        return picked
