"""What a model, a checkpoint series or a data file looks like, checked in a job process.

Descriptions (a model's layers and input shape), the check of an uploaded series, and the
check of data against a model: each is a light job, so the web process never parses a model
configuration nor reads a data file.

The dashboard lists layers and checks data against the input shape from these descriptions;
loading the model happens in a job process like every other computation, and the answer is
cached by the model's content. A model that cannot be loaded is remembered for five minutes,
so selecting it again answers at once, yet a later try loads it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..jobs.base import Job, register
from ..params import Reference, param
from .topomap import MapParams, model_ref, preprocess_param, resize_param

__all__ = [
    "MIN_DEFAULT_NEURONS",
    "CheckDataJob",
    "DescribeJob",
    "DescribeRequest",
    "DescribeSeriesJob",
    "DescribeSeriesRequest",
    "InspectCheckpointsJob",
    "default_layer",
]


def describe_model(model) -> dict[str, Any]:
    """``{"layers": [LayerInfo.to_dict(), ...], "input_shape": [int or None, ...], "input":
    InputSpec.to_dict(), "output_shape": [...], "converted": [str, ...]}``: ``converted``
    names the Keras 2 rewrites the file needed (:func:`topomap_core.io.models.conversions`)."""
    from ..io.activations import output_shape
    from ..io.models import conversions, input_spec, list_layers

    spec = input_spec(model)
    return {
        "layers": [info.to_dict() for info in list_layers(model)],
        "input_shape": spec.to_dict()["shape"],
        "input": spec.to_dict(),
        "output_shape": [None if s is None else int(s) for s in output_shape(model)],
        "converted": conversions(model),
    }


#: The default layer has at least this many neurons where the model has such a layer: a map of
#: a handful of neurons is a polygon of dots.
MIN_DEFAULT_NEURONS = 16


def default_layer(layers: list[dict[str, Any]]) -> tuple[str | None, str]:
    """The layer a new model's maps start with, and why (the hint under the model).

    The Dense or convolution layer nearest the output (the deepest hidden representation, not
    the output itself) with at least :data:`MIN_DEFAULT_NEURONS` neurons; when the model has
    none, the nearest one with at least 3 (the fewest a map can have); else any layer of 3.

    Parameters
    ----------
    layers : list of dict
        :meth:`~topomap_core.io.models.LayerInfo.to_dict` of each layer, in model order.

    Returns
    -------
    name : str or None
        None for a model without layers.
    why : str
        ``"the Dense/Conv layer nearest the output with at least 16 neurons"``.
    """
    if not layers:
        return None, ""
    hidden = layers[:-1] or layers
    dense_conv = [
        layer for layer in hidden if "Dense" in layer["class"] or "Conv" in layer["class"]
    ]
    for least, pool in (
        (MIN_DEFAULT_NEURONS, dense_conv),
        (3, dense_conv),
        (3, [layer for layer in hidden if layer["neurons"] >= 3]),
        (3, [layer for layer in layers if layer["neurons"] >= 3]),
    ):
        usable = [layer for layer in pool if layer["neurons"] >= least]
        if usable:
            chosen = usable[-1]
            kind = "Dense/Conv layer" if pool is dense_conv else "layer"
            why = f"the {kind} nearest the output with at least {least} neurons"
            if least < MIN_DEFAULT_NEURONS:
                why += f" (none has {MIN_DEFAULT_NEURONS})"
            return chosen["name"], why
    return layers[0]["name"], "no layer has the 3 neurons a map needs"


@dataclass(frozen=True, kw_only=True)
class DescribeRequest:
    """One model to describe."""

    model: str = model_ref(default="demo:digits-mlp", cli_required=True)


@register
class DescribeJob(Job):
    """A model's layers and input shape (``layers`` on the command line)."""

    name = "describe"
    request_type = DescribeRequest
    inputs = {"model": "model"}
    version = "3"
    remember_errors_s = 300
    light = True

    def compute(self, request, sources, cache, progress):
        return describe_model(sources.load_model())


def _series_names():
    from ..io.demo import demo_names

    return demo_names("checkpoints")


@dataclass(frozen=True, kw_only=True)
class DescribeSeriesRequest:
    """A checkpoint series (with the base model of a ``.weights.h5`` series)."""

    checkpoints: str = param(
        Reference("checkpoints", _series_names), "demo:digits-mlp-training", label="checkpoints"
    )
    base_model: str | None = model_ref(label="base model", default=None, optional=True)


@register
class DescribeSeriesJob(Job):
    """The layers of a checkpoint series' last state (its states share one architecture)."""

    name = "describe-series"
    request_type = DescribeSeriesRequest
    inputs = {"checkpoints": "checkpoints", "base_model": "model"}
    version = "3"
    remember_errors_s = 300
    light = True

    def compute(self, request, sources, cache, progress):
        with sources.open_series(progress=progress) as series:
            return describe_model(series.load(len(series) - 1))


@dataclass(frozen=True, kw_only=True)
class InspectCheckpointsRequest:
    """An uploaded checkpoint series to check member by member."""

    checkpoints: str = param(
        Reference("checkpoints", _series_names), "demo:digits-mlp-training", label="checkpoints"
    )


@register
class InspectCheckpointsJob(Job):
    """What an uploaded series holds, checked: its kind, states and steps.

    Opening the series checks every member (kinds, names and numbers, the configuration of
    every ``.keras`` state read as data); a refused series raises, and the dashboard then
    removes the upload.
    """

    name = "inspect-checkpoints"
    request_type = InspectCheckpointsRequest
    inputs = {"checkpoints": "checkpoints"}
    remember_errors_s = 300
    light = True

    def compute(self, request, sources, cache, progress):
        from ..errors import CheckpointError
        from ..io.checkpoints import CheckpointSeries

        spec = sources.spec("checkpoints")
        if not isinstance(spec, Path):
            raise CheckpointError(f"{request.checkpoints} is a demo series, not an upload")
        # A weights series is checked without its base model here (none is known yet); its
        # weights are checked against the base model when they are loaded.
        with CheckpointSeries(spec, base_model=None, allow_missing_base=True) as series:
            steps = [c.step for c in series.checkpoints]
            return {
                "n_checkpoints": len(series),
                "kind": series.kind,
                "first_step": steps[0],
                "last_step": steps[-1],
            }


#: MapParams' own declarations, reused as they are (one declaration per field).
_MAP_FIELDS: Any = MapParams.__dataclass_fields__


@dataclass(frozen=True, kw_only=True)
class CheckDataRequest:
    """Data to check against a model's input and a grouping."""

    model: str = model_ref(default="demo:digits-mlp")
    data: str = _MAP_FIELDS["data"]
    groups: str = _MAP_FIELDS["groups"]
    preprocess: str = preprocess_param()
    resize: str = resize_param()


@register
class CheckDataJob(Job):
    """Whether data fits a model and can be grouped as asked: ``{"text": str, "ok": bool}``.

    Reading the data (an ``.npz``'s arrays, every image of a ``.zip``) is heavy and its input
    untrusted, so it happens here, in a job process under the job limits, and the answer is
    cached by content: changing another control asks again and gets it at once.
    """

    name = "check-data"
    request_type = CheckDataRequest
    inputs = {"model": "model", "data": "data"}
    version = "2"
    light = True

    def compute(self, request, sources, cache, progress):
        from ..errors import DataError
        from ..io.activations import batch_size_for, output_shape
        from ..io.data import check_fits
        from ..io.models import input_spec
        from .naps import input_check

        model = sources.load_model()
        spec = input_spec(model)
        try:
            dataset = sources.load_data(spec)
            check_fits(dataset, spec)
        except DataError as exc:
            return {"text": str(exc), "ok": False}
        report = data_report(dataset, spec.shape, request.groups, output_shape(model))
        if report["ok"]:
            rows = np.arange(min(dataset.n_examples, batch_size_for(model, [], True)))
            check = input_check(model, dataset, rows)
            report["check"] = check
            report["warnings"] = check["warnings"]
            report["text"] += " " + " ".join(check["notes"])
        return report


def data_report(
    dataset, shape: tuple, groups: str, output_shape: tuple | None = None
) -> dict[str, Any]:
    """``{"text": "540 examples, 10 classes; fits the model's input 8×8×1.", "ok": True}``,
    or what keeps ``groups`` from working (``ok`` False): no labels, no column, one label, or
    ``label+correctness`` of a model whose output (``output_shape``) is not a class vector."""
    from ..errors import TopomapError
    from ..io.input_check import require_class_vector

    parts = [f"{dataset.n_examples} examples"]
    classes = None
    if dataset.y is not None:
        classes = sorted(set(dataset.y.tolist()))
        parts.append(f"{len(classes)} class{'es' if len(classes) != 1 else ''}")
    shown = "×".join("?" if s is None else str(s) for s in shape)
    text = f"{', '.join(parts)}; fits the model's input {shown}."
    if groups in ("label", "label+correctness") and dataset.y is None:
        text += f" But it has no labels (y), so grouping {groups!r} cannot work."
        return {"text": text, "ok": False}
    if groups == "label+correctness" and output_shape is not None:
        try:
            require_class_vector(output_shape, groups)
        except TopomapError as exc:
            return {"text": f"{text} But {exc}.", "ok": False}
    if groups == "column" and dataset.groups is None:
        return {"text": text + " But it has no 'groups' column, so grouping 'column' cannot "
                "work.", "ok": False}  # fmt: skip
    if groups == "label" and classes is not None and len(classes) < 2:
        only = dataset.label_name(classes[0]) if classes else "none"
        text += (
            f" But all examples have the same label ({only}), so grouping 'label' gives "
            "a single group: add random groups or group another way."
        )
        return {"text": text, "ok": False}
    return {"text": text, "ok": True}
