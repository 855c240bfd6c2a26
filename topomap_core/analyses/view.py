"""The map view of one layer of one model (paper Figure 1): NAP, layout, maps, quality.

``model + data + layer + grouping -> NAP -> layout -> maps -> metrics``, every stage timed and
reporting progress. The NAP is cached apart from the view (:func:`~.topomap.nap_key`), so
changing only the layout method reuses it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..jobs.base import Job, memo, register
from ..params import Reference, param
from ..profiles.metrics import quality_metrics
from ..profiles.nap import NAP
from ..profiles.ordering import GroupOrder
from ..profiles.separation import DEFAULT_DRAWS, ExamplePool, Separation, separation
from ..progress import ProgressCallback, report
from . import view_pages
from .naps import LazyInputs, compute_nap, nap_and_pool
from .notes import map_notes
from .placing import draw, place
from .topomap import GRID_METHOD, MapParams, grid_layout_of, model_ref, nap_key

__all__ = [
    "MapResult",
    "ViewJob",
    "ViewRequest",
    "layout_csv",
    "nap_csv",
    "run_map",
    "summary_json",
    "view_of",
    "write_outputs",
]


@dataclass(frozen=True, kw_only=True)
class ViewRequest(MapParams):
    """Everything that defines one view (and so one cache entry): a model and the map
    parameters (:class:`~.topomap.MapParams`)."""

    model: str = model_ref(default="demo:digits-mlp", cli_required=True)
    selection: str | None = param(
        Reference("selection", tuple),
        None,
        label="selection",
        optional=True,
        metavar="FILE",
        help='a custom group next to the others: a JSON file {"name": ..., "indices": '
        "[...]} of example indices (exactly these examples, not sampled)",
    )


@dataclass
class MapResult:
    """A computed view: NAP, layout, dendrogram order, maps and their quality.

    ``maps`` and every per-group list are in dendrogram order (``order.names``). ``maps`` is
    an ndarray of shape (n_groups, R, R), float32; in what a viewer reads
    (:meth:`ViewJob.view`) a :class:`~.view_pages.PagedMaps` that indexes alike and reads
    the maps a page at a time.
    """

    request: MapParams  # a ViewRequest, or the map parameters of another analysis' view
    nap: NAP
    layout: np.ndarray
    order: GroupOrder
    maps: np.ndarray
    vmax: float
    metrics: dict
    timings: dict = field(default_factory=dict)
    separation: Separation | None = None

    @property
    def sizes(self) -> list[int]:
        """Examples each map averages, in dendrogram order."""
        sizes = dict(zip(self.nap.group_names, self.nap.group_sizes, strict=True))
        return [int(sizes[name]) for name in self.order.names]

    @property
    def values(self) -> np.ndarray:
        """Colour values in dendrogram order, shape (n_groups, n_neurons)."""
        return self.nap.values[self.order.order]

    def notes(self, scatter: bool = False) -> list[tuple[str, str]]:
        """``(level, text)`` for wrongly prepared input, groups that separate no more than
        chance, flat maps, small or empty groups, dead neurons (:func:`~.notes.map_notes`;
        ``scatter``: the reader sees the dashboard's neuron scatter)."""
        return map_notes(self.nap, self.request.layer, separation=self.separation, scatter=scatter)

    def summary(self) -> dict:
        sizes = dict(zip(self.nap.group_names, self.nap.group_sizes, strict=True))
        return {
            "model": getattr(self.request, "model", None),
            "data": self.request.data,
            "layer": self.request.layer,
            "method": self.request.method,
            "seed": self.request.seed,
            "grouping": self.request.groups,
            "random_groups": self.request.random_groups,
            "per_group": self.request.per_group,
            "profile": self.request.profile,
            "preprocess": self.request.preprocess,
            "resize": self.request.resize,
            "input_check": self.nap.input_check,
            "separation": None if self.separation is None else self.separation.to_dict(),
            "n_neurons": int(self.nap.n_neurons),
            "groups": self.order.names,
            "group_sizes": [sizes[n] for n in self.order.names],
            "empty_groups": self.nap.dropped_groups,
            "dead_neurons": self.nap.dead_neurons.tolist(),
            "notes": [text for _, text in self.notes()],
            "group_distance": np.round(self.order.distance, 6).tolist(),
            "colour_limit": self.vmax,
            "metrics": self.metrics,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def view_of(
    request: MapParams,
    nap: NAP,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
    layout: np.ndarray | None = None,
    pool: ExamplePool | None = None,
) -> MapResult:
    """Lay out a computed NAP and build the maps for ``request`` (method, seed, profile);
    ``layout`` is the ``grid`` method's (:func:`~.topomap.grid_layout_of`); with the groups'
    ``pool``, the maps know their separation against random groups of the same sizes."""
    timings = {} if timings is None else timings
    placed = place(
        nap.profile(request.profile),
        nap.group_vectors(),
        nap.group_names,
        request,
        progress=progress,
        timings=timings,
        layout=layout,
    )
    report(progress, "drawing the maps", 0, 0)
    t0 = time.perf_counter()
    maps, vmax = draw(placed.layout, nap.values[placed.order.order], dtype=np.float64)
    timings["maps"] = time.perf_counter() - t0
    report(progress, "measuring the maps", 0, 0)
    t0 = time.perf_counter()
    metrics = quality_metrics(maps, vmax, placed.layout)
    timings["metrics"] = time.perf_counter() - t0
    apart = None if pool is None else separation(pool, DEFAULT_DRAWS, request.seed)
    # Measured in float64, kept in float32: half the stored result (80 of 88 MB for 1000
    # groups were maps), finer than any colour or hover shows.
    maps = maps.astype(np.float32)
    return MapResult(request, nap, placed.layout, placed.order, maps, vmax, metrics, timings, apart)


@register
class ViewJob(Job):
    """The Maps tab's job and the ``map`` command."""

    name = "view"
    request_type = ViewRequest
    inputs = {"model": "model", "data": "data", "selection": "selection"}
    version = "3"
    command = "map"
    summary = "compute topographic maps of one layer"

    def compute(self, request, sources, cache, progress):
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        inputs = LazyInputs(sources, timings)
        layout = None
        if request.method == GRID_METHOD:  # checked before any NAP is computed
            layout = grid_layout_of(inputs.model(), request.layer)
        pool = None
        if request.selection is None:
            # The groups' example pool comes from the same pass: their separation against
            # random groups of the same sizes says when the maps differ by chance alone.
            nap, pool = nap_and_pool(
                inputs, cache, request.layer, request, progress=progress, timings=timings
            )
        else:
            from ..io.sources import load_selection

            extra = [load_selection(sources.spec("selection"))]
            key = nap_key(
                sources.id("model"),
                sources.id("data"),
                request.layer,
                request,
                sources.id("selection"),
            )
            nap, _ = memo(
                cache,
                key,
                lambda: compute_nap(
                    inputs.model(),
                    inputs.dataset(),
                    request.layer,
                    request,
                    progress=progress,
                    timings=timings,
                    extra_groups=extra,
                ),
            )
        result = view_of(request, nap, progress, timings, layout, pool)
        timings["total"] = time.perf_counter() - t_start
        return result

    def publish(self, result, key, cache):
        view_pages.publish(result, key, cache)

    def is_published(self, key, cache):
        return view_pages.is_published(key, cache)

    def view(self, key, cache):
        """The light view of stored result ``key``, its maps read a page at a time
        (:mod:`.view_pages`): a viewer never holds every map of a 1000-group view. A result
        stored before views were published (or whose pages were evicted) is published first.
        """
        if not view_pages.is_published(key, cache):
            result = cache.get(key)
            if not isinstance(result, MapResult):
                return result  # None (not stored), or a remembered failure
            view_pages.publish(result, key, cache)
        return view_pages.published_view(key, cache)

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        return write_outputs(result, out_dir)

    def report(self, result):
        m = result.metrics
        return (
            f"{result.nap.n_neurons} neurons, {len(result.order.names)} groups; "
            f"blur AUC {m['mse_blur_auc']:.1f}, resize AUC {m['mse_resize_auc']:.1f}, "
            f"{m['n_components']:.1f} components of {m['mean_component_size']:.0f} px, "
            f"coverage CV {m.get('coverage_cv', float('nan')):.2f}; "
            f"{result.timings['total']:.1f} s"
            + "".join(f"\n{level}: {text}" for level, text in result.notes())
        )


def run_map(request: ViewRequest, progress: ProgressCallback | None = None) -> MapResult:
    """Compute the complete view for ``request`` without any cache (specs may be paths)."""
    return ViewJob().run(request, progress)


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def layout_csv(result) -> str:
    """``neuron,x,y`` rows of ``result.layout`` (a view's, a training run's, a comparison's)."""
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
    from ..profiles.render import save_map_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "maps": out / "maps.png",
        "layout": out / "layout.csv",
        "nap": out / "nap.csv",
        "summary": out / "summary.json",
    }
    title = f"{result.request.layer} - {result.request.method}"
    names, sizes = result.order.names, result.sizes
    save_map_grid(paths["maps"], result.maps, names, result.vmax, title=title, sizes=sizes)
    paths["layout"].write_text(layout_csv(result))
    paths["nap"].write_text(nap_csv(result))
    paths["summary"].write_text(summary_json(result))
    return paths
