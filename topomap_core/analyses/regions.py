"""Explained regions of one group's map: each region's neurons and the input examples that
activate it most (the regions panel of the Maps tab, and the ``regions`` command).

The map is the Maps tab's view of the same request (same NAP from the cache, same seeded
layout); regions are found by :func:`~topomap_core.profiles.regions.find_regions`. Ranking the
examples needs the layer's activations, so it runs in a job process: each example's score for
a region is its mean activation over the region's neurons (a convolution's feature maps
averaged over space first), over at most :data:`MAX_EXAMPLES` examples of the data.

For convolutional layers each region also gets its optimised input: the input that maximises
the region's neurons' summed mean activation, by activation maximisation from seeded noise
(:mod:`.feature_vis`, the Topographic tab's code), all regions in one batch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import TopomapError
from ..jobs.base import Job, memo, register
from ..params import Interval, Name, param
from ..profiles.nap import NAP
from ..profiles.regions import DEFAULT_THRESHOLD, find_regions
from ..profiles.render import render_regions
from .naps import compute_nap
from .placing import draw, place
from .topomap import MapParams, model_ref, nap_key

__all__ = [
    "MAX_EXAMPLES",
    "RegionsJob",
    "RegionsRequest",
    "RegionsResult",
    "region_optimised_input",
    "top_examples",
]

#: Examples scored per request (the first ones of the data).
MAX_EXAMPLES = 5000
#: Most top examples per region a request may ask for.
MAX_TOP = 32
#: Most activation-maximisation steps a request may ask for.
MAX_OPTIMISE_STEPS = 1000


@dataclass(frozen=True, kw_only=True)
class RegionsRequest(MapParams):
    """A map view's request, the group whose map is explained, and the region threshold."""

    model: str = model_ref(default="demo:digits-mlp", cli_required=True)
    group: str = param(
        Name(),
        "0",
        label="group",
        missing="Choose a group",
        help="the group whose map is explained (e.g. 3, or 3:wrong)",
    )
    threshold: float = param(
        Interval(float, 0.01, 0.99),
        round(DEFAULT_THRESHOLD, 4),
        label="region threshold",
        help="a region is where |NAP| > threshold x the colour limit (the paper's component "
        "metric: 0.098)",
    )
    top: int = param(
        Interval(int, 1, MAX_TOP), 8, label="examples per region", help="top examples shown"
    )
    optimise_steps: int = param(
        Interval(int, 0, MAX_OPTIMISE_STEPS),
        64,
        label="optimisation steps",
        help="activation-maximisation steps of each region's optimised input (convolutional "
        "layers; 0: none)",
    )


@dataclass
class RegionsResult:
    """One group's map, its regions and each region's top examples.

    Attributes
    ----------
    request : RegionsRequest
    layout : ndarray of shape (n_neurons, 2)
    map : ndarray of shape (R, R)
        The group's map (NaN outside the hull), on the colour limit ``vmax``.
    vmax : float
    labels : ndarray of shape (R, R), int
        0 outside the regions, else the region's index.
    regions : list of dict
        :meth:`~topomap_core.profiles.regions.Region.to_dict` of each.
    examples : list of list of int
        Per region, the indices (in the data) of its top examples, best first.
    scores : list of list of float
        Their mean activation over the region's neurons.
    images : ndarray of shape (n_regions, top, *input_shape), float32
        The top examples' inputs (padded with zeros where a region has fewer).
    example_labels : list of list of str
        Their label names ("" without labels).
    optimised : list
        Per region, its optimised input (an array of the model's input shape) or None (a layer
        without spatial axes, or ``optimise_steps=0``); see :func:`region_optimised_input`.
    optimised_activation : list
        Per region, ``(on the starting noise, on the optimised input)``: the region's summed
        mean activation (None where there is no optimised input).
    """

    request: RegionsRequest
    layout: np.ndarray
    map: np.ndarray
    vmax: float
    labels: np.ndarray
    regions: list[dict]
    examples: list[list[int]]
    scores: list[list[float]]
    images: np.ndarray
    example_labels: list[list[str]]
    optimised: list = field(default_factory=list)
    optimised_activation: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "group": self.request.group,
            "layer": self.request.layer,
            "threshold": self.request.threshold,
            "colour_limit": self.vmax,
            "regions": [
                {
                    **region,
                    "top_examples": ex,
                    "scores": sc,
                    "labels": lab,
                    "optimised_activation": act,
                }
                for region, ex, sc, lab, act in zip(
                    self.regions,
                    self.examples,
                    self.scores,
                    self.example_labels,
                    self.optimised_activation or [None] * len(self.regions),
                    strict=True,
                )
            ],
        }


def top_examples(
    activations: np.ndarray, neurons: list[int], top: int
) -> tuple[list[int], list[float]]:
    """The ``top`` rows of ``activations`` (n_examples, n_neurons) with the largest mean over
    ``neurons``, best first, and those means."""
    if not neurons:
        return [], []
    score = activations[:, neurons].mean(axis=1)
    order = np.argsort(-score, kind="stable")[:top]
    return [int(i) for i in order], [float(score[i]) for i in order]


def region_optimised_input(
    model,
    layer: str,
    regions: list[list[int]],
    *,
    steps: int = 64,
    seed: int = 0,
    progress=None,
) -> tuple[list[np.ndarray | None], list[tuple[float, float] | None]]:
    """Per region (its neurons), the input that maximises their summed mean activation, and
    that activation on the starting noise and on the optimised input; for convolutional layers.

    All regions are optimised in one batch (:func:`.feature_vis.maximise_activations`). A layer
    without spatial axes (Dense), ``steps=0`` or a region without neurons gives None.
    """
    from ..io.models import get_layer
    from .feature_vis import maximise_activations

    shape = get_layer(model, layer).output_shape
    wanted = [i for i, neurons in enumerate(regions) if neurons]
    none: list = [None] * len(regions)
    if steps <= 0 or len(shape) < 2 or not wanted:  # no spatial axis: a Dense layer
        return none, list(none)
    vis = maximise_activations(
        model, layer, [regions[i] for i in wanted], steps=steps, seed=seed, progress=progress
    )
    images, activation = list(none), list(none)
    for k, i in enumerate(wanted):
        images[i] = vis.images[k].astype(np.float32)
        activation[i] = (float(vis.start[k]), float(vis.final[k]))
    return images, activation


def _mean_activations(model, layer: str, x: np.ndarray, progress) -> np.ndarray:
    from ..io.activations import iter_activations

    parts = []
    for _, acts, _ in iter_activations(model, layer, x, progress=progress, with_predictions=False):
        axes = tuple(range(1, acts.ndim - 1))
        parts.append(acts.mean(axis=axes) if axes else acts)
    return np.concatenate(parts).astype(np.float64)


def region_title(result: RegionsResult) -> str:
    """``"group 3: 2 positive, 1 negative regions (threshold 0.098)"``: the picture's title."""
    signs = [r["sign"] for r in result.regions]
    return (
        f"group {result.request.group}: {signs.count(1)} positive, {signs.count(-1)} negative "
        f"regions (threshold {result.request.threshold:g})"
    )


@register
class RegionsJob(Job):
    """The regions panel's job and the ``regions`` command."""

    name = "regions"
    request_type = RegionsRequest
    inputs = {"model": "model", "data": "data"}
    version = "2"
    command = "regions"
    summary = "regions of one group's map, their neurons and top examples"

    def compute(self, request, sources, cache, progress):
        from ..io.models import input_spec

        t0 = time.perf_counter()
        model = sources.load_model()
        dataset = sources.load_data(input_spec(model))

        def nap() -> NAP:
            return compute_nap(model, dataset, request.layer, request, progress=progress)

        key = nap_key(sources.id("model"), sources.id("data"), request.layer, request)
        profile, _ = memo(cache, key, nap)
        if request.group not in profile.group_names:
            raise TopomapError(
                f"group {request.group!r} is not in this map; valid: "
                f"{', '.join(profile.group_names)}"
            )
        placed = place(
            profile.profile(request.profile),
            profile.group_vectors(),
            profile.group_names,
            request,
            progress=progress,
        )
        g = profile.group_names.index(request.group)
        maps, vmax = draw(placed.layout, profile.values, dtype=np.float64)
        labels, regions = find_regions(maps[g], placed.layout, profile.values[g], vmax,
                                       request.threshold)  # fmt: skip
        x = dataset.x[:MAX_EXAMPLES]
        acts = _mean_activations(model, request.layer, x, progress)
        optimised, activation = region_optimised_input(
            model,
            request.layer,
            [r.neurons for r in regions],
            steps=request.optimise_steps,
            seed=request.seed,
            progress=progress,
        )
        ranked = [top_examples(acts, r.neurons, request.top) for r in regions]
        images = np.zeros((len(regions), request.top, *x.shape[1:]), dtype=np.float32)
        names = []
        for i, (idx, _) in enumerate(ranked):
            images[i, : len(idx)] = x[idx]
            y = dataset.y
            names.append([dataset.label_name(y[j]) if y is not None else "" for j in idx])
        return RegionsResult(
            request=request,
            layout=placed.layout,
            map=maps[g],
            vmax=vmax,
            labels=labels,
            regions=[r.to_dict() for r in regions],
            examples=[idx for idx, _ in ranked],
            scores=[sc for _, sc in ranked],
            images=images,
            example_labels=names,
            optimised=optimised,
            optimised_activation=activation,
            timings={"total": time.perf_counter() - t0},
        )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "regions.json"
        path.write_text(json.dumps(result.summary(), indent=2))
        paths = {"regions": path, "picture": out / "regions.png"}
        picture = render_regions(
            result.map, result.vmax, result.labels, result.regions, region_title(result)
        )
        picture.save(paths["picture"], format="PNG")
        arrays = {f"region_{r['index']}": image
                  for r, image in zip(result.regions, result.optimised, strict=False)
                  if image is not None}  # fmt: skip
        if arrays:
            paths["optimised"] = out / "optimised_inputs.npz"
            np.savez_compressed(paths["optimised"], **arrays)
        return paths

    def report(self, result):
        signs = [r["sign"] for r in result.regions]
        return (
            f"group {result.request.group}: {signs.count(1)} positive and {signs.count(-1)} "
            f"negative regions; {result.timings['total']:.1f} s"
        )
