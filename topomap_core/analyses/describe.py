"""What a model (or a checkpoint series) looks like: its layers and input shape.

The dashboard lists layers and checks data against the input shape from these descriptions;
loading the model happens in a job process like every other computation, and the answer is
cached by the model's content. A model that cannot be loaded is remembered for five minutes,
so selecting it again answers at once, yet a later try loads it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..jobs.base import Job, register
from ..params import Reference, param
from .topomap import model_ref

__all__ = ["DescribeJob", "DescribeRequest", "DescribeSeriesJob", "DescribeSeriesRequest"]


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
