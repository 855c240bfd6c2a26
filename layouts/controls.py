"""The sidebar: numbered sections 1 Model, 2 Data, 3 Groups, 4 Layout, then Run.

Also the option lists of the model, data and layer dropdowns, as pure functions of what the
store lists, so that the page and the callbacks build them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dash import dcc, html

from topomap_core.analyses.topomap import GRID_METHOD
from topomap_core.analyses.view import ViewRequest
from topomap_core.config import max_upload_bytes
from topomap_core.io.prepare import PRESETS
from topomap_core.params import bounds, defaults
from topomap_core.placement import LAYOUT_METHODS, seed_note

from .ids import ID, MAPS_JOB, JobIds

#: What the page shows on a plain load: the built-in demo.
DEFAULTS = defaults(ViewRequest)

DEMO_MODEL_LABELS = {
    "demo:digits-mlp": "Demo: digits MLP (dense layers)",
    "demo:digits-cnn": "Demo: digits CNN (convolutions)",
    "demo:digits-cnn-topographic": "Demo: digits CNN, topographic conv2 (16×8 grid)",
}
DEMO_DATA_LABELS = {"demo:digits": "Demo: 8×8 digits (540 test images)"}

GROUP_LABELS = {
    "label": "By class label",
    "label+correctness": "By label, split into correct / wrong predictions",
    "column": "By the file's own 'groups' column",
}


def _stored_label(item: Mapping[str, Any]) -> str:
    return f"{item.get('name') or 'unnamed'} ({str(item['id'])[:8]})"


def model_options(stored: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Dropdown options: the demo models, then stored uploads as "file name (short hash)"."""
    options = [{"label": label, "value": ref} for ref, label in DEMO_MODEL_LABELS.items()]
    options += [{"label": _stored_label(item), "value": item["id"]} for item in stored]
    return options


def data_options(stored: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Dropdown options: the demo data, then stored data files."""
    options = [{"label": label, "value": ref} for ref, label in DEMO_DATA_LABELS.items()]
    options += [{"label": _stored_label(item), "value": item["id"]} for item in stored]
    return options


def selection_options(stored: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Dropdown options of the stored selections (custom groups): "name (n examples)"."""
    return [
        {"label": f"{item['name']} ({item['size']} examples)", "value": item["id"]}
        for item in stored
    ]


def _shape(shape: Iterable[Any]) -> str:
    return "×".join("?" if s is None else str(s) for s in shape)


def layer_label(layer: Mapping[str, Any]) -> str:
    """``"conv2 — Conv2D 2×2×128 (128 neurons)"``."""
    n = layer["neurons"]
    return (
        f"{layer['name']} — {layer['class']} {_shape(layer['output_shape'])} "
        f"({n} neuron{'s' if n != 1 else ''})"
    )


def layer_options(layers: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One option per layer; layers with fewer than 3 neurons cannot be mapped (disabled)."""
    return [
        {"label": layer_label(layer), "value": layer["name"], "disabled": layer["neurons"] < 3}
        for layer in layers
    ]


def method_options() -> list[dict[str, str]]:
    """Every registered layout method, with its one-line summary as the tooltip, and
    ``grid`` (the view checks that the layer has one)."""
    grid = {
        "label": GRID_METHOD,
        "value": GRID_METHOD,
        "title": "the grid of a layer trained with the topographic regularizer (Maps and "
        "Topographic tabs)",
    }
    return [
        *({"label": m.name, "value": m.name, "title": m.summary} for m in LAYOUT_METHODS.values()),
        grid,
    ]


def _section(
    number: str, title: str, help_text: str, *children: Any, section_id: str
) -> html.Section:
    return html.Section(
        [
            html.H2([html.Span(number, className="step"), title]),
            html.P(help_text, className="help"),
            *children,
        ],
        id=section_id,
        className="panel",
    )


def field(label: str, control: Any, hint: str | None = None) -> html.Div:
    """A labelled control (``label`` for its id) with an optional hint under it."""
    parts: list[Any] = [html.Label(label, htmlFor=getattr(control, "id", None)), control]
    if hint:
        parts.append(html.Small(hint, className="hint"))
    return html.Div(parts, className="field")


def select(cid: str, options: Mapping[str, str], value: str) -> dcc.Dropdown:
    """A dropdown of fixed choices (value -> label), not clearable, not searchable."""
    return dcc.Dropdown(
        id=cid,
        options=[{"label": label, "value": key} for key, label in options.items()],
        value=value,
        clearable=False,
        searchable=False,
    )


def number_input(cls: type, cid: str, name: str, step: float | str = 1, **kwargs: Any):
    """A number field for field ``name`` of request ``cls``: its bounds and default."""
    low, high = bounds(cls, name)
    return dcc.Input(
        id=cid,
        type="number",
        min=low,
        max=high,
        step=step,
        value=defaults(cls)[name],
        debounce=True,
        **kwargs,
    )


def preparation_fields() -> html.Div:
    """Preprocess (a preset, or scale:offset typed in) and Resize: how the data are prepared
    for the model (:mod:`topomap_core.io.prepare`), shared by every tab."""
    presets = html.Datalist(
        [html.Option(value=name, label=text) for name, text in PRESETS.items()],
        id=ID.PREPROCESS_PRESETS,
    )
    return html.Div(
        [
            _unit(
                ID.PREPROCESS_INPUT,
                field(
                    "Preprocess",
                    dcc.Input(
                        id=ID.PREPROCESS_INPUT,
                        type="text",
                        list=ID.PREPROCESS_PRESETS,
                        value=DEFAULTS["preprocess"],
                        debounce=True,
                        placeholder="auto",
                        spellCheck=False,
                    ),
                    "How the model expects its input: auto, none, unit (x/255), symmetric "
                    "(x/127.5 − 1), caffe, torch, tf, or scale:offset such as 1/255:0.",
                ),
                presets,
            ),
            _unit(
                ID.RESIZE_SELECT,
                field(
                    "Resize",
                    select(
                        ID.RESIZE_SELECT,
                        {
                            "none": "No (a misfit is refused)",
                            "bilinear": "Bilinear, to the model's input",
                        },
                        DEFAULTS["resize"],
                    ),
                    "Array images of another size or channel count than the model's input.",
                ),
            ),
        ],
        className="field-row preparation",
    )


def uploaded_id(upload_id: str) -> str:
    """Id of the ``dcc.Store`` in which the page puts the upload route's answer for the upload
    zone ``upload_id`` (the input of its callback, ``callbacks.uploads.register_upload``)."""
    return f"{upload_id}-done"


def upload_zone(
    upload_id: str, kind: str, message_id: str, prompt: Sequence[Any], accept: str
) -> html.Div:
    """A zone to drop a file on or click (``id`` ``upload_id``), and its answer's store.

    ``assets/uploads.js`` gives the zone its file input and sends a file's bytes as they are to
    the upload route for ``kind`` (``"model"``, ``"data"``, ``"checkpoints"``), streamed from
    disk, showing the progress in ``message_id``; a file over ``MAX_UPLOAD_MB`` is refused
    before anything is sent. ``dcc.Upload`` would read the whole file into the page as base64.
    """
    return html.Div(
        [
            html.Label(
                [*prompt, html.Span(className="upload-input")],
                id=upload_id,
                className="upload",
                **{
                    "data-kind": kind,
                    "data-target": uploaded_id(upload_id),
                    "data-message": message_id,
                    "data-max-bytes": str(max_upload_bytes()),
                    "data-accept": accept,
                },
            ),
            dcc.Store(id=uploaded_id(upload_id)),
        ]
    )


#: The sidebar's sections, each with the controls it holds (their ids), in page order. Which
#: of them a tab shows follows from the controls its request is made of (``callbacks.page``).
SIDEBAR_SECTIONS: dict[str, tuple[str, ...]] = {
    "sidebar-model": (ID.MODEL_SELECT, ID.LAYER_SELECT),
    "sidebar-data": (ID.DATA_SELECT, ID.PREPROCESS_INPUT, ID.RESIZE_SELECT),
    "sidebar-groups": (
        ID.GROUPS_SELECT,
        ID.RANDOM_GROUPS,
        ID.PER_GROUP,
        ID.SELECTION_SELECT,
        ID.NAP_SELECT,
        ID.NAP_CLASS_SELECT,
    ),
    "sidebar-layout": (ID.METHOD_SELECT, ID.SEED_INPUT),
}

#: Every control of the sidebar that may feed a request.
SIDEBAR_CONTROLS: tuple[str, ...] = tuple(c for cs in SIDEBAR_SECTIONS.values() for c in cs)


def unit_id(control: str) -> str:
    """The id of the block that holds a sidebar control with its label, upload and message."""
    return f"unit-{control}"


def _unit(control: str, *children: Any, class_name: str = "") -> html.Div:
    return html.Div(list(children), id=unit_id(control), className=class_name or None)


def _upload(upload_id: str, kind: str, message_id: str, text: str, accept: str) -> html.Div:
    prompt = [html.Strong("Drop a file here"), html.Span(f" or click to choose {text}")]
    return upload_zone(upload_id, kind, message_id, prompt, accept)


def build(
    models: list[dict[str, str]],
    data: list[dict[str, str]],
    selections: list[dict[str, str]] = (),  # type: ignore[assignment]
) -> html.Aside:
    """The sidebar with every control, holding the defaults of :data:`DEFAULTS`; each control
    in a block of its own (:func:`unit_id`) in one of :data:`SIDEBAR_SECTIONS`."""
    model = _section(
        "1",
        "Model",
        "A trained Keras model. Pick the demo or upload your own (.keras or .h5).",
        _unit(
            ID.MODEL_SELECT,
            _upload(
                ID.MODEL_UPLOAD,
                "model",
                ID.MODEL_MESSAGE,
                "a .keras / .h5 file",
                ".keras,.h5,.hdf5",
            ),
            field(
                "Model",
                dcc.Dropdown(
                    id=ID.MODEL_SELECT,
                    options=models,
                    value=DEFAULTS["model"],
                    clearable=False,
                    searchable=False,
                ),
            ),
            html.Div(id=ID.MODEL_MESSAGE, className="message", role="status"),
        ),
        _unit(
            ID.LAYER_SELECT,
            field(
                "Layer",
                dcc.Dropdown(
                    id=ID.LAYER_SELECT,
                    options=[{"label": DEFAULTS["layer"], "value": DEFAULTS["layer"]}],
                    value=DEFAULTS["layer"],
                    clearable=False,
                ),
                "Whose neurons are laid out and coloured.",
            ),
        ),
        section_id="sidebar-model",
    )
    data_section = _section(
        "2",
        "Data",
        "Examples to feed through the model: the demo digits, an .npz file (x, y, optional "
        "groups) or a .zip of one folder of images per class.",
        _unit(
            ID.DATA_SELECT,
            field(
                "Data",
                dcc.Dropdown(
                    id=ID.DATA_SELECT,
                    options=data,
                    value=DEFAULTS["data"],
                    clearable=False,
                    searchable=False,
                ),
            ),
            _upload(ID.DATA_UPLOAD, "data", ID.DATA_MESSAGE, "an .npz / .zip file", ".npz,.zip"),
            html.Div(id=ID.DATA_MESSAGE, className="message", role="status"),
        ),
        preparation_fields(),
        section_id="sidebar-data",
    )
    groups = _section(
        "3",
        "Groups",
        "Each group gets its own map: how the layer responds to that group compared with "
        "the average over all groups.",
        _unit(
            ID.GROUPS_SELECT,
            dcc.RadioItems(
                id=ID.GROUPS_SELECT,
                options=[{"label": label, "value": mode} for mode, label in GROUP_LABELS.items()],
                value=DEFAULTS["groups"],
                className="radio",
            ),
        ),
        html.Div(
            [
                _unit(
                    ID.RANDOM_GROUPS,
                    field(
                        "Random groups",
                        dcc.Input(
                            id=ID.RANDOM_GROUPS,
                            type="number",
                            min=0,
                            max=bounds(ViewRequest, "random_groups")[1],
                            step=1,
                            value=DEFAULTS["random_groups"],
                            debounce=True,
                        ),
                        "Baseline groups of random examples.",
                    ),
                ),
                _unit(
                    ID.PER_GROUP,
                    field(
                        "Examples per group",
                        dcc.Input(
                            id=ID.PER_GROUP,
                            type="number",
                            min=1,
                            max=bounds(ViewRequest, "per_group")[1],
                            step=1,
                            value=DEFAULTS["per_group"],
                            debounce=True,
                        ),
                        "The paper uses 200.",
                    ),
                ),
            ],
            className="field-row",
        ),
        _unit(
            ID.SELECTION_SELECT,
            field(
                "Custom group",
                dcc.Dropdown(
                    id=ID.SELECTION_SELECT,
                    options=list(selections),
                    value=None,
                    placeholder="None (from the Mapper tab's Use as group)",
                    clearable=True,
                ),
                "Exactly these examples, added next to the groups (Maps tab).",
            ),
        ),
        html.Div(
            [
                _unit(
                    ID.NAP_SELECT,
                    field(
                        "Averaged",
                        select(
                            ID.NAP_SELECT,
                            {
                                "mean": "Activations (NAP)",
                                "grad": "Gradient × activation (GradNAP)",
                            },
                            DEFAULTS["nap"],
                        ),
                    ),
                ),
                _unit(
                    ID.NAP_CLASS_SELECT,
                    field(
                        "GradNAP class",
                        select(
                            ID.NAP_CLASS_SELECT,
                            {"true": "True class", "predicted": "Predicted class"},
                            DEFAULTS["nap_class"],
                        ),
                    ),
                ),
            ],
            className="field-row",
        ),
        section_id="sidebar-groups",
    )
    layout = _section(
        "4",
        "Layout",
        "How neurons are placed: similar neurons end up close together. UMAP_PSO is the "
        "paper's recommendation.",
        _unit(
            ID.METHOD_SELECT,
            field(
                "Method",
                dcc.Dropdown(
                    id=ID.METHOD_SELECT,
                    options=method_options(),
                    value=DEFAULTS["method"],
                    clearable=False,
                ),
            ),
        ),
        _unit(
            ID.SEED_INPUT,
            field(
                "Seed",
                dcc.Input(
                    id=ID.SEED_INPUT,
                    type="number",
                    min=0,
                    max=bounds(ViewRequest, "seed")[1],
                    step=1,
                    value=DEFAULTS["seed"],
                    debounce=True,
                ),
                f"Same seed, same groups and layout. {seed_note()[0].upper()}{seed_note()[1:]}.",
            ),
        ),
        section_id="sidebar-layout",
    )
    run = run_block(MAPS_JOB, "Run", class_name="panel panel-run")
    # Which sections and controls a tab shows follows from its request (callbacks.page); the
    # Run panel belongs to the Maps tab (every other tab has its own Run).
    return html.Aside(
        [model, data_section, groups, layout, run], id=ID.SIDEBAR, className="sidebar"
    )


def run_block(ids: JobIds, label: str, class_name: str = "tab-run") -> html.Div:
    """Run and Cancel buttons, progress bar and status line of a tab's job."""
    return html.Div(
        [
            html.Div(
                [
                    html.Button(label, id=ids.run, className="btn btn-primary", n_clicks=0),
                    html.Button(
                        "Cancel", id=ids.cancel, className="btn", n_clicks=0, disabled=True
                    ),
                ],
                className="run-buttons",
            ),
            html.Progress(id=ids.bar, value="0", max="1", className="progress"),
            html.Div(id=ids.text, className="progress-text"),
            html.Div(id=ids.status, className="status", role="status", **{"aria-live": "polite"}),
        ],
        className=class_name,
    )
