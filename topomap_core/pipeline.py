"""End-to-end computation of topographic activation maps (paper Figure 1).

``model + data + layer + grouping -> NAP -> layout -> maps -> metrics``, with
every stage timed and reporting progress. The CLI and the dashboard both call
:func:`compute_nap_for` and :func:`build_maps`; :func:`run_map` chains them.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .placement import ProgressCallback, compute_layout
from .profiles.groups import DEFAULT_PER_GROUP, make_groups
from .profiles.interpolate import DEFAULT_RESOLUTION, colour_limit, interpolate_maps
from .profiles.metrics import quality_metrics
from .profiles.nap import NAP, NapAccumulator
from .profiles.ordering import GroupOrder, order_groups

if TYPE_CHECKING:
    from .training import CompareResult, TrainingResult


@dataclass
class MapRequest:
    """Everything that defines one view (and so one cache entry)."""

    model: str
    data: str
    layer: str
    groups: str = "label"
    random_groups: int = 0
    per_group: int = DEFAULT_PER_GROUP
    method: str = "UMAP_PSO"
    seed: int = 0
    profile: str = "paper"
    metric: str = "cosine"


@dataclass
class MapResult:
    """A computed view: NAP, layout, dendrogram order, maps and their quality.

    ``maps`` and every per-group list are in dendrogram order (``order.names``).
    """

    request: MapRequest
    nap: NAP
    layout: np.ndarray
    order: GroupOrder
    maps: np.ndarray
    vmax: float
    metrics: dict
    timings: dict = field(default_factory=dict)

    @property
    def values(self) -> np.ndarray:
        """Colour values in dendrogram order, shape (n_groups, n_neurons)."""
        return self.nap.values[self.order.order]

    def summary(self) -> dict:
        sizes = dict(zip(self.nap.group_names, self.nap.group_sizes, strict=True))
        return {
            "model": self.request.model,
            "data": self.request.data,
            "layer": self.request.layer,
            "method": self.request.method,
            "seed": self.request.seed,
            "grouping": self.request.groups,
            "random_groups": self.request.random_groups,
            "per_group": self.request.per_group,
            "profile": self.request.profile,
            "n_neurons": int(self.nap.n_neurons),
            "groups": self.order.names,
            "group_sizes": [sizes[n] for n in self.order.names],
            "empty_groups": self.nap.dropped_groups,
            "group_distance": np.round(self.order.distance, 6).tolist(),
            "colour_limit": self.vmax,
            "metrics": self.metrics,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def compute_nap_for(
    model,
    dataset,
    layer: str,
    groups: str = "label",
    *,
    random_groups: int = 0,
    per_group: int = DEFAULT_PER_GROUP,
    seed: int | None = 0,
    batch_size: int = 256,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
) -> NAP:
    """Group the examples and compute the layer's NAP, streaming over batches.

    Parameters
    ----------
    model : keras.Model
    dataset : topomap_core.io.data.Dataset
    layer : str
        Layer name or nested path (``"backbone/conv2"``).
    groups : {"label", "label+correctness", "column"}
    random_groups, per_group, seed
        See :func:`topomap_core.profiles.groups.make_groups`.
    progress : callable, optional
        Called with stages ``"predictions"`` and ``"activations"``.
    timings : dict, optional
        Filled with the seconds spent per stage.
    """
    from .io.data import check_fits
    from .io.models import get_layer, input_shape, iter_activations, predict

    timings = {} if timings is None else timings
    get_layer(model, layer)  # fail on an unknown layer before any work
    check_fits(dataset, input_shape(model))
    t0 = time.perf_counter()
    predictions = None
    if groups == "label+correctness":
        predictions = predict(model, dataset.x, batch_size=batch_size, progress=progress)
        timings["predictions"] = time.perf_counter() - t0
    grouping = make_groups(
        groups,
        labels=dataset.y,
        predictions=predictions,
        column=dataset.groups,
        label_names=dataset.label_names,
        n_examples=dataset.n_examples,
        random_groups=random_groups,
        per_group=per_group,
        random_state=seed,
    )
    t1 = time.perf_counter()
    examples = grouping.examples()
    membership = grouping.membership(examples)
    acc = NapAccumulator(grouping.names)
    for start, acts, _ in iter_activations(
        model,
        layer,
        dataset.x,
        batch_size=batch_size,
        progress=progress,
        indices=examples,
        with_predictions=False,
    ):
        acc.add(acts, membership[start : start + len(acts)])
    nap = acc.result()
    nap.dropped_groups = grouping.empty + nap.dropped_groups
    timings["activations"] = time.perf_counter() - t1
    return nap


def build_maps(
    nap: NAP,
    layout: np.ndarray,
    *,
    metric: str = "cosine",
    resolution: int = DEFAULT_RESOLUTION,
    timings: dict | None = None,
) -> tuple[GroupOrder, np.ndarray, float, dict]:
    """Order the groups, interpolate their maps and measure the maps' quality.

    Returns
    -------
    order : GroupOrder
    maps : ndarray of shape (n_groups, resolution, resolution)
        In dendrogram order, NaN outside the neurons' hull.
    vmax : float
        The shared colour limit.
    metrics : dict
        The four quality metrics of paper 4.2.
    """
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    order = order_groups(nap.group_vectors(), nap.group_names, metric=metric)
    values = nap.values[order.order]
    vmax = colour_limit(values)
    maps = interpolate_maps(layout, values, resolution=resolution)
    timings["maps"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    metrics = quality_metrics(maps, vmax)
    timings["metrics"] = time.perf_counter() - t1
    return order, maps, vmax, metrics


def compute_view(
    request: MapRequest,
    nap: NAP,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
) -> MapResult:
    """Lay out a computed NAP and build the maps for ``request`` (method, seed, profile)."""
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    layout = compute_layout(
        nap.profile(request.profile),
        request.method,
        random_state=request.seed,
        progress=progress,
        metric=request.metric,
    )
    timings["layout"] = time.perf_counter() - t0
    order, maps, vmax, metrics = build_maps(nap, layout, metric=request.metric, timings=timings)
    return MapResult(request, nap, layout, order, maps, vmax, metrics, timings)


def load_inputs(model_source, data_source, timings: dict | None = None):
    """Load a model and data that fits it, timing both.

    Parameters
    ----------
    model_source, data_source : str or Path
        Specs as accepted by :func:`topomap_core.io.models.load_model` and
        :func:`topomap_core.io.data.load_data`.
    """
    from .io.data import load_data
    from .io.models import input_shape, load_model

    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    model = load_model(model_source)
    timings["load_model"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dataset = load_data(data_source, input_shape=input_shape(model))
    timings["load_data"] = time.perf_counter() - t0
    return model, dataset


def nap_for_request(
    request: MapRequest,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
    *,
    model_source=None,
    data_source=None,
) -> NAP:
    """Load the request's model and data (or the given sources) and compute its NAP."""
    model, dataset = load_inputs(
        model_source or request.model, data_source or request.data, timings
    )
    return compute_nap_for(
        model,
        dataset,
        request.layer,
        request.groups,
        random_groups=request.random_groups,
        per_group=request.per_group,
        seed=request.seed,
        progress=progress,
        timings=timings,
    )


def run_map(request: MapRequest, progress: ProgressCallback | None = None) -> MapResult:
    """Compute the complete view for ``request``, without any cache."""
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    nap = nap_for_request(request, progress, timings)
    result = compute_view(request, nap, progress, timings)
    timings["total"] = time.perf_counter() - t_start
    return result


def layout_csv(result: MapResult | TrainingResult | CompareResult) -> str:
    """``neuron,x,y`` rows of the layout.

    Only ``result.layout`` is read, so the training and comparison exports use it too.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["neuron", "x", "y"])
    for i, (x, y) in enumerate(result.layout):
        writer.writerow([i, f"{x:.6f}", f"{y:.6f}"])
    return buf.getvalue()


def nap_csv(result: MapResult) -> str:
    """One row per group in dendrogram order, one column per neuron (colour values)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["group", *range(result.nap.n_neurons)])
    for name, row in zip(result.order.names, result.values, strict=True):
        writer.writerow([name, *(f"{v:.6g}" for v in row)])
    return buf.getvalue()


def summary_json(result: MapResult) -> str:
    """The run's summary as indented JSON."""
    return json.dumps(result.summary(), indent=2)


def write_outputs(result: MapResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``maps.png``, ``layout.csv``, ``nap.csv`` and ``summary.json`` into ``out_dir``.

    Returns
    -------
    dict
        File role -> path written.
    """
    from .profiles.render import save_map_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "maps": out / "maps.png",
        "layout": out / "layout.csv",
        "nap": out / "nap.csv",
        "summary": out / "summary.json",
    }
    title = f"{result.request.layer} - {result.request.method}"
    save_map_grid(paths["maps"], result.maps, result.order.names, result.vmax, title=title)
    paths["layout"].write_text(layout_csv(result))
    paths["nap"].write_text(nap_csv(result))
    paths["summary"].write_text(summary_json(result))
    return paths
