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

from ..jobs.base import Job, memo, register
from ..params import Reference, param
from .topomap import MapParams, model_ref

__all__ = [
    "CheckDataJob",
    "DescribeJob",
    "DescribeRequest",
    "DescribeSeriesJob",
    "DescribeSeriesRequest",
    "InspectCheckpointsJob",
]


def describe_model(model) -> dict[str, Any]:
    """``{"layers": [LayerInfo.to_dict(), ...], "input_shape": [int or None, ...]}``."""
    from ..io.models import input_shape, list_layers

    return {
        "layers": [info.to_dict() for info in list_layers(model)],
        "input_shape": [None if s is None else int(s) for s in input_shape(model)],
    }


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
    version = "2"
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
    version = "2"
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


@dataclass(frozen=True, kw_only=True)
class CheckDataRequest:
    """Data to check against a model's input and a grouping."""

    model: str = model_ref(default="demo:digits-mlp")
    data: str = MapParams.__dataclass_fields__["data"]
    groups: str = MapParams.__dataclass_fields__["groups"]


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
    light = True

    def compute(self, request, sources, cache, progress):
        from ..errors import DataError
        from ..io.data import check_fits
        from ..io.models import input_shape

        shape, _ = memo(
            cache,
            {"input_shape": sources.id("model")},
            lambda: [None if s is None else int(s) for s in input_shape(sources.load_model())],
        )
        shape = tuple(shape)
        try:
            dataset = sources.load_data(shape)
            check_fits(dataset, shape)
        except DataError as exc:
            return {"text": str(exc), "ok": False}
        return data_report(dataset, shape, request.groups)


def data_report(dataset, shape: tuple, groups: str) -> dict[str, Any]:
    """``{"text": "540 examples, 10 classes; fits the model's input 8×8×1.", "ok": True}``,
    or what keeps ``groups`` from working (``ok`` False)."""
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
