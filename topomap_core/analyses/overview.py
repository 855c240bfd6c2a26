"""The whole network at a glance: every Dense and Conv layer's maps, and where groups separate.

One row per layer (each on its own layout and its own colour scale, since activations differ in
size from layer to layer), one column per group (one order for all rows), and the **separation
curve** along depth: per layer, how much farther apart the groups' NAPs are than those of
random groups of the same sizes (:mod:`topomap_core.profiles.separation`). The user sees in
which layer the groups come apart. Each layer's NAP is the one its Maps view uses (one cache
entry); its layout is cached apart as well, so a shorter (or longer) list of layers computes only
the layers it adds.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LayerNotFoundError, TopomapError
from ..jobs.base import Job, memo, register
from ..params import Interval, Name, NameList, Options, param
from ..placement import MIN_NEURONS
from ..profiles.ordering import order_groups
from ..profiles.separation import DEFAULT_DRAWS, Separation, draws_for, holm, separation
from ..progress import report
from .naps import LazyInputs, naps_and_pools
from .placing import aligned_values, draw, place
from .topomap import MapParams, model_ref, nap_key

__all__ = [
    "LayerOverview",
    "OverviewJob",
    "OverviewRequest",
    "OverviewResult",
    "default_layers",
    "draws_param",
    "separation_csv",
    "write_overview_outputs",
]

#: Side of the overview's maps in pixels: many small maps (layers x groups) travel at once.
OVERVIEW_RESOLUTION = 64

#: Most random draws of a separation.
MAX_DRAWS = 1000

#: Colour scales of the overview's rows: one per layer, or one for all.
SCALES = ("layer", "shared")

#: Bump when cached layouts of a layer (:func:`layout_key`) are stale.
LAYOUT_VERSION = "1"


def draws_param(default: int = DEFAULT_DRAWS):
    """The declared ``draws`` field: random groupings the baseline is drawn from."""
    return param(
        Interval(int, 2, MAX_DRAWS),
        default,
        label="random draws",
        help="random groupings of the same sizes the separation is compared with",
        metavar="D",
    )


@dataclass(frozen=True, kw_only=True)
class OverviewRequest(MapParams):
    """A model's layers (default: every Dense and Conv layer) and the map parameters.

    Attributes
    ----------
    layers : tuple of str or None
        The layers to show, in any order (shown in the model's order); None: every Dense and
        Conv layer with at least 3 neurons.
    draws : int
        Random groupings per layer for the separation's baseline: at least this many, and
        at least :func:`~..profiles.separation.draws_for` the number of layers (so that a
        layer can pass a 5 % test after Holm's correction).
    scale : {"layer", "shared"}
        Each layer's maps on its own colour limit, or all on the largest.
    """

    model: str = model_ref(default="demo:digits-mlp", cli_required=True)
    # One layer is the Maps view's; the overview takes ``layers`` (not part of its key).
    layer: str = param(Name(), "dense", label="layer", cli=False)
    layers: tuple[str, ...] | None = param(
        NameList(),
        None,
        label="layers",
        optional=True,
        help="comma-separated layers (default: every Dense and Conv layer)",
        metavar="L1,L2",
    )
    draws: int = draws_param()
    scale: str = param(
        Options(SCALES, "colour scale"),
        "layer",
        label="colour scale",
        help="layer: each layer's maps on its own colour scale (activations differ in size "
        "from layer to layer); shared: all layers on one scale",
        blank_default=True,
    )


@dataclass
class LayerOverview:
    """One row of the overview.

    Attributes
    ----------
    name, class_name : str
    n_neurons : int
    layout : ndarray of shape (n_neurons, 2)
    maps : ndarray of shape (n_groups, R, R), float32
        In the overview's group order, on this layer's colour limit ``vmax``.
    vmax : float
    separation : Separation
    """

    name: str
    class_name: str
    n_neurons: int
    layout: np.ndarray
    maps: np.ndarray
    vmax: float
    separation: Separation


@dataclass
class OverviewResult:
    """Every chosen layer's maps (one group order) and the separation curve."""

    request: OverviewRequest
    group_names: list[str]
    group_sizes: list[int]
    layers: list[LayerOverview]
    timings: dict = field(default_factory=dict)
    input_check: dict | None = None

    def p_holm(self) -> np.ndarray:
        """Each layer's p-value adjusted for testing every layer shown (Holm)."""
        return holm([layer.separation.p_value for layer in self.layers])

    def curve(self) -> list[dict]:
        """One row per layer, in depth order: the separation, its spread, its p-value and the
        p-value adjusted for the number of layers (``p_holm``)."""
        adjusted = self.p_holm() if self.layers else np.zeros(0)
        return [
            {
                "layer": layer.name,
                "class": layer.class_name,
                "neurons": layer.n_neurons,
                **layer.separation.to_dict(),
                "p_holm": round(float(p), 6),
            }
            for layer, p in zip(self.layers, adjusted, strict=True)
        ]

    def notes(self) -> list[tuple[str, str]]:
        """``(level, text)``: the input check's, and how many layers separate the groups more
        than chance once the number of layers tested is accounted for."""
        from ..io.input_check import messages_of

        notes = messages_of(self.input_check)
        if self.layers:
            adjusted = self.p_holm()
            raw = sum(layer.separation.p_value <= 0.05 for layer in self.layers)
            kept = int(np.sum(adjusted <= 0.05))
            m = len(self.layers)
            draws = len(self.layers[0].separation.random)
            notes.append(
                (
                    "note",
                    f"{kept} of {m} layer{'s' if m != 1 else ''} separate the groups more than "
                    f"chance (p ≤ 0.05 after Holm's correction for {m} layers; {raw} before "
                    f"it, {0.05 * m:.1f} expected by chance alone; {draws} random groupings "
                    "per layer).",
                )
            )
        return notes

    def summary(self) -> dict:
        req = self.request
        return {
            "model": req.model,
            "data": req.data,
            "layers": [layer.name for layer in self.layers],
            "method": req.method,
            "seed": req.seed,
            "grouping": req.groups,
            "random_groups": req.random_groups,
            "per_group": req.per_group,
            "profile": req.profile,
            "draws": req.draws,
            "groups": self.group_names,
            "group_sizes": self.group_sizes,
            "colour_scale": req.scale,
            "colour_limits": {layer.name: layer.vmax for layer in self.layers},
            "separation": self.curve(),
            "input_check": self.input_check,
            "notes": [text for _, text in self.notes()],
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def default_layers(layers: list[dict]) -> list[str]:
    """Every Dense and Conv layer that can be mapped (at least 3 neurons), in model order.

    Parameters
    ----------
    layers : list of dict
        :meth:`~topomap_core.io.models.LayerInfo.to_dict` of each layer.
    """
    return [
        layer["name"]
        for layer in layers
        if ("Dense" in layer["class"] or "Conv" in layer["class"])
        and layer["neurons"] >= MIN_NEURONS
    ]


def chosen_layers(request: OverviewRequest, layers: list[dict]) -> list[dict]:
    """The request's layers in model order (default: :func:`default_layers`).

    Raises
    ------
    LayerNotFoundError
        A layer the model lacks, or one with fewer than 3 neurons, named with the valid ones.
    """
    by_name = {layer["name"]: layer for layer in layers}
    wanted = request.layers or default_layers(layers)
    if not wanted:
        raise TopomapError(
            f"the model has no Dense or Conv layer with at least {MIN_NEURONS} neurons; "
            "name the layers to show"
        )
    mappable = [layer["name"] for layer in layers if layer["neurons"] >= MIN_NEURONS]
    for name in wanted:
        if name not in by_name:
            raise LayerNotFoundError(
                f"model has no layer {name!r}; valid layers: {', '.join(mappable)}"
            )
        if by_name[name]["neurons"] < MIN_NEURONS:
            raise LayerNotFoundError(
                f"layer {name!r} has {by_name[name]['neurons']} neurons, too few for a map "
                f"(at least {MIN_NEURONS}); valid layers: {', '.join(mappable)}"
            )
    order = {layer["name"]: i for i, layer in enumerate(layers)}
    return [by_name[name] for name in sorted(wanted, key=order.__getitem__)]


def layout_key(nap_parts: dict, params: MapParams) -> dict:
    """Cache key parts of a layer's layout: its NAP's, and the layout's own parameters."""
    return {
        **nap_parts,
        "kind": "layout",
        "v": LAYOUT_VERSION,
        "method": params.method,
        "profile": params.profile,
        "metric": params.metric,
    }


def shared_order(naps: list, names: list[str], metric: str) -> list[str]:
    """One group order for every layer: the dendrogram of all layers' NAP values side by side,
    each layer scaled to unit RMS so that no layer's activation size dominates."""
    parts = []
    for nap in naps:
        values = aligned_values(nap, names)
        rms = float(np.sqrt(np.mean(values**2)))
        parts.append(values / rms if rms > 0 else values)
    return order_groups(np.concatenate(parts, axis=1), names, metric=metric).names


def _layer_list(inputs: LazyInputs, cache) -> list[dict]:
    from ..io.models import list_layers

    parts = {"kind": "layer-list", "v": "1", "model": inputs.sources.id(inputs.field)}
    layers, _ = memo(cache, parts, lambda: [i.to_dict() for i in list_layers(inputs.model())])
    return layers


@register
class OverviewJob(Job):
    """The Overview tab's job and the ``overview`` command."""

    name = "overview"
    request_type = OverviewRequest
    inputs = {"model": "model", "data": "data"}
    version = "2"
    command = "overview"
    summary = "every Dense/Conv layer's maps and the groups' separation along depth"

    def key_parts(self, request):
        parts = super().key_parts(request)
        parts.pop("layer")
        return parts

    def compute(self, request, sources, cache, progress):
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        inputs = LazyInputs(sources, timings)
        chosen = chosen_layers(request, _layer_list(inputs, cache))
        names_ = [info["name"] for info in chosen]
        # Every layer missing from the cache comes from one forward pass.
        t0 = time.perf_counter()
        found = naps_and_pools(inputs, cache, names_, request, progress=progress)
        timings["naps"] = time.perf_counter() - t0
        naps, pools, layouts = [], [], []
        for i, info in enumerate(chosen):
            report(progress, "layouts", i, len(chosen))
            name = info["name"]
            nap, pool = found[name]
            nap_parts = nap_key(sources.id("model"), sources.id("data"), name, request)
            parts = layout_key(nap_parts, request)
            t0 = time.perf_counter()
            layout, _ = memo(
                cache,
                parts,
                lambda nap=nap: (
                    place(
                        nap.profile(request.profile),
                        nap.group_vectors(),
                        nap.group_names,
                        request,
                        progress=progress,
                    ).layout
                ),
            )
            timings["layouts"] = timings.get("layouts", 0.0) + time.perf_counter() - t0
            naps.append(nap)
            pools.append(pool)
            layouts.append(layout)
        report(progress, "layouts", len(chosen), len(chosen))
        t0 = time.perf_counter()
        names = shared_order(naps, naps[0].group_names, request.metric)
        drawn = [
            draw(layout, aligned_values(nap, names), OVERVIEW_RESOLUTION)
            for nap, layout in zip(naps, layouts, strict=True)
        ]
        shared = max(vmax for _, vmax in drawn) if request.scale == "shared" else None
        # Enough draws that a layer can pass a 5 % test after Holm's correction for all the
        # layers shown (a permutation p-value is at least 1 / (draws + 1)).
        draws = max(request.draws, draws_for(len(chosen)))
        rows = []
        for info, nap, pool, layout, (maps, vmax) in zip(
            chosen, naps, pools, layouts, drawn, strict=True
        ):
            rows.append(
                LayerOverview(
                    name=info["name"],
                    class_name=info["class"],
                    n_neurons=int(nap.n_neurons),
                    layout=layout,
                    maps=maps,
                    vmax=vmax if shared is None else shared,
                    separation=separation(pool, draws, request.seed),
                )
            )
        timings["maps"] = time.perf_counter() - t0
        sizes = dict(zip(naps[0].group_names, naps[0].group_sizes, strict=True))
        timings["total"] = time.perf_counter() - t_start
        return OverviewResult(
            request, names, [sizes[n] for n in names], rows, timings, naps[0].input_check
        )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        return write_overview_outputs(result, out_dir)

    def report(self, result):
        curve = ", ".join(f"{row['layer']} {row['score']:.2f}x" for row in result.curve())
        return (
            f"{len(result.layers)} layers, {len(result.group_names)} groups; separation "
            f"against chance: {curve}; {result.timings['total']:.1f} s"
            + "".join(f"\n{level}: {text}" for level, text in result.notes())
        )


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------

#: Columns of the separation curve's CSV.
CURVE_COLUMNS = (
    "layer", "class", "neurons", "score", "score_low", "score_high", "distance",
    "random_distance", "p_value", "p_holm", "draws",
)  # fmt: skip


def separation_csv(result: OverviewResult) -> str:
    """The separation curve: one row per layer, in depth order (:data:`CURVE_COLUMNS`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CURVE_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.curve())
    return buf.getvalue()


def overview_image(result: OverviewResult, scale: int = 2):
    """One row of maps per layer, each with its own colour bar, stacked into one image."""
    from PIL import Image

    from ..profiles.render import render_map_grid

    names = result.group_names
    rows = [
        render_map_grid(
            layer.maps,
            names,
            layer.vmax,
            scale=scale,
            columns=len(names),
            title=f"{layer.name} ({layer.class_name}, {layer.n_neurons} neurons): "
            f"separation {layer.separation.score:.2f}x chance",
        )
        for layer in result.layers
    ]
    width = max(row.width for row in rows)
    image = Image.new("RGB", (width, sum(row.height for row in rows)), (255, 255, 255))
    y = 0
    for row in rows:
        image.paste(row, (0, y))
        y += row.height
    return image


def write_overview_outputs(result: OverviewResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``overview.png``, ``separation.csv`` and ``summary.json`` into ``out_dir``.

    Returns
    -------
    dict
        File role -> path written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "maps": out / "overview.png",
        "curve": out / "separation.csv",
        "summary": out / "summary.json",
    }
    overview_image(result).save(paths["maps"], format="PNG")
    paths["curve"].write_text(separation_csv(result))
    paths["summary"].write_text(json.dumps(result.summary(), indent=2))
    return paths
