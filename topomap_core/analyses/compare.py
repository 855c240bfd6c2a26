"""Two models (or two states of one training) on one shared layout, and B - A (paper 6.3).

Both layers must have the same number of neurons, and neurons are matched by index, so the
comparison is meaningful for states of one network (checkpoints, fine-tuning), not for two
independently trained networks. Each model's NAP is the one a map view of it uses (same cache
entry), so comparing after viewing computes no NAP.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LayerNotFoundError, TopomapError
from ..jobs.base import Job, digest, register
from ..params import Name, param
from ..profiles.interpolate import colour_limit
from .naps import compute_nap
from .placing import aligned_values, draw, place
from .topomap import MapParams, model_ref, nap_key
from .view import layout_csv

__all__ = ["CompareJob", "CompareRequest", "CompareResult", "Comparison", "shared_profile"]


@dataclass(frozen=True, kw_only=True)
class CompareRequest(MapParams):
    """Model A's ``layer`` and model B's ``layer_b`` (default: the same name) on one layout."""

    model_a: str = model_ref(label="model A", default="demo:digits-mlp", cli_required=True)
    model_b: str = model_ref(label="model B", default="demo:digits-mlp", cli_required=True)
    layer_b: str | None = param(
        Name(),
        None,
        label="layer of model B",
        optional=True,
        help="model B's layer, if named differently (same width)",
    )


@dataclass
class CompareResult:
    """Maps of two models on one layout, and their difference.

    Attributes
    ----------
    request : CompareRequest
    group_names : list of str
        Dendrogram order of model A's groups; every per-group axis follows it.
    layout : ndarray of shape (n_neurons, 2)
        Computed from both models' profiles (see :func:`shared_profile`).
    values_a, values_b : ndarray of shape (n_groups, n_neurons)
        NAP colour values; NaN rows for a group a model has no examples of.
    maps_a, maps_b : ndarray of shape (n_groups, R, R), float32
        On the shared colour limit ``vmax``.
    diff_maps : ndarray of shape (n_groups, R, R), float32
        Map of ``values_b - values_a``, on the symmetric limit ``diff_vmax``.
    vmax, diff_vmax : float
    group_rms_diff : list of float or None
        RMS of ``values_b - values_a`` per group.
    dropped_groups : list of str
        Groups only model B has examples of (not shown).
    timings : dict
    """

    request: CompareRequest
    group_names: list[str]
    layout: np.ndarray
    values_a: np.ndarray
    values_b: np.ndarray
    maps_a: np.ndarray
    maps_b: np.ndarray
    diff_maps: np.ndarray
    vmax: float
    diff_vmax: float
    group_rms_diff: list = field(default_factory=list)
    dropped_groups: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-able description of the comparison."""
        return {
            **{k: v for k, v in asdict(self.request).items()},
            "layer_b": self.request.layer_b or self.request.layer,
            "n_neurons": int(self.layout.shape[0]),
            "groups": list(self.group_names),
            "dropped_groups": list(self.dropped_groups),
            "colour_limit": float(self.vmax),
            "difference_colour_limit": float(self.diff_vmax),
            "layout_from": "both models' profiles, each scaled to unit RMS, concatenated",
            "group_rms_difference": dict(zip(self.group_names, self.group_rms_diff, strict=True)),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def shared_profile(profile_a: np.ndarray, profile_b: np.ndarray) -> np.ndarray:
    """The layout input of a comparison: both profiles stacked per neuron.

    Each profile is divided by its RMS first, so a model with larger activations does not
    dominate the neurons' distances; the layout then reflects both models equally.

    Parameters
    ----------
    profile_a, profile_b : ndarray of shape (n_features_a, n_neurons), (n_features_b, n_neurons)

    Returns
    -------
    ndarray of shape (n_features_a + n_features_b, n_neurons)
    """
    parts = []
    for p in (profile_a, profile_b):
        p = np.asarray(p, dtype=np.float64)
        rms = float(np.sqrt(np.mean(p**2)))
        parts.append(p / rms if rms > 0 else p)
    return np.concatenate(parts, axis=0)


def _width(model, layer: str, side: str) -> int:
    """Neurons of ``layer`` of model ``side``; an unknown layer is named with its model."""
    from ..io.models import get_layer, list_layers

    try:
        return get_layer(model, layer).neurons
    except LayerNotFoundError:
        valid = ", ".join(info.name for info in list_layers(model))
        raise LayerNotFoundError(
            f"layer {layer!r} not found in model {side}; valid: {valid}"
        ) from None


def check_widths(layer_a: str, layer_b: str, width_a: int, width_b: int) -> None:
    """Refuse two layers of different widths, naming both."""
    if width_a != width_b:
        raise TopomapError(
            f"layer {layer_a!r} of model A has {width_a} neurons but layer {layer_b!r} of "
            f"model B has {width_b}; a shared layout needs the same width"
        )


@register
class CompareJob(Job):
    """The Compare tab's job (two models) and the ``compare`` command."""

    name = "compare"
    request_type = CompareRequest
    inputs = {"model_a": "model", "model_b": "model", "data": "data"}
    version = "2"
    command = "compare"
    summary = "two models' maps on one shared layout, and B - A"

    def compute(self, request, sources, cache, progress):
        from ..io.data import check_fits
        from ..io.models import input_spec

        layer_b = request.layer_b or request.layer
        sides = (("model_a", request.layer), ("model_b", layer_b))
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        data_id = sources.id("data")
        if sources.id("model_a") == sources.id("model_b") and layer_b == request.layer:
            raise TopomapError(
                f"A and B are the same layer ({request.layer}) of the same model, so B - A is "
                "zero everywhere: choose (or upload) another model B, or another layer"
            )
        keys = [digest(nap_key(sources.id(f), data_id, layer, request)) for f, layer in sides]
        naps = [cache.get(key) for key in keys]
        # A NAP not cached needs its model; its width is checked before any NAP is computed.
        models = [
            None if nap is not None else sources.load_model(f)
            for nap, (f, _) in zip(naps, sides, strict=True)
        ]
        widths = [
            nap.n_neurons if nap is not None else _width(model, layer, side)
            for nap, model, (_, layer), side in zip(naps, models, sides, "AB", strict=True)
        ]
        check_widths(request.layer, layer_b, *widths)
        timings["load_models"] = time.perf_counter() - t_start
        dataset = None
        for i, (model, (_, layer)) in enumerate(zip(models, sides, strict=True)):
            if naps[i] is not None:
                continue
            if dataset is None:
                dataset = sources.load_data(input_spec(model))
            check_fits(dataset, input_spec(model))
            naps[i] = compute_nap(
                model, dataset, layer, request, progress=progress, timings=timings
            )
            cache.set(keys[i], naps[i])
        nap_a, nap_b = naps
        placed = place(
            shared_profile(nap_a.profile(request.profile), nap_b.profile(request.profile)),
            nap_a.group_vectors(),
            nap_a.group_names,
            request,
            progress=progress,
            timings=timings,
        )
        t0 = time.perf_counter()
        names = placed.order.names
        values_a = aligned_values(nap_a, names)
        values_b = aligned_values(nap_b, names)
        diff = values_b - values_a
        maps, vmax = draw(placed.layout, np.stack([values_a, values_b]))
        diff_maps, diff_vmax = draw(placed.layout, diff)  # symmetric: max |B - A|
        rms = [
            float(np.sqrt(np.mean(row**2))) if np.all(np.isfinite(row)) else None for row in diff
        ]
        timings["maps"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        return CompareResult(
            request=request,
            group_names=names,
            layout=placed.layout,
            values_a=values_a,
            values_b=values_b,
            maps_a=maps[0],
            maps_b=maps[1],
            diff_maps=diff_maps,
            vmax=vmax,
            diff_vmax=diff_vmax,
            group_rms_diff=rms,
            dropped_groups=sorted(set(nap_b.group_names) - set(names)),
            timings=timings,
        )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        return write_compare_outputs(result, out_dir)

    def report(self, result):
        rms = [r for r in result.group_rms_diff if r is not None]
        return (
            f"{result.layout.shape[0]} neurons, {len(result.group_names)} groups; largest "
            f"|B - A| {result.diff_vmax:.3g}, mean group RMS difference "
            f"{(sum(rms) / len(rms)) if rms else float('nan'):.3g}; {result.timings['total']:.1f} s"
        )


def write_compare_outputs(result: CompareResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``maps_a.png``, ``maps_b.png``, ``diff.png``, ``layout.csv`` and ``summary.json``.

    Returns
    -------
    dict
        File role -> path written.
    """
    from ..profiles.render import save_map_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    req = result.request
    layer_b = req.layer_b or req.layer
    paths = {
        "maps_a": out / "maps_a.png",
        "maps_b": out / "maps_b.png",
        "diff": out / "diff.png",
        "layout": out / "layout.csv",
        "summary": out / "summary.json",
    }
    names = result.group_names
    save_map_grid(paths["maps_a"], result.maps_a, names, result.vmax, title=f"A: {req.layer}")
    save_map_grid(paths["maps_b"], result.maps_b, names, result.vmax, title=f"B: {layer_b}")
    save_map_grid(paths["diff"], result.diff_maps, names, result.diff_vmax, title="B - A")
    paths["layout"].write_text(layout_csv(result))
    paths["summary"].write_text(json.dumps(result.summary(), indent=2))
    return paths


def comparison_csv(names: list[str], values_a: np.ndarray, values_b: np.ndarray) -> str:
    """``group,neuron,a,b,b_minus_a`` rows: every group's NAP values of A and B (empty: a group
    a side has no examples of)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["group", "neuron", "a", "b", "b_minus_a"])
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)

    def cell(v: float) -> str:
        return f"{v:.6g}" if np.isfinite(v) else ""

    for g, name in enumerate(names):
        for i in range(a.shape[1]):
            writer.writerow([name, i, cell(a[g, i]), cell(b[g, i]), cell(b[g, i] - a[g, i])])
    return buf.getvalue()


def render_comparison(
    names: list[str],
    maps_a: np.ndarray,
    maps_b: np.ndarray,
    diff_maps: np.ndarray,
    vmax: float,
    diff_vmax: float,
    titles: tuple[str, str, str] = ("A", "B", "B - A"),
):
    """A, B and B - A as three rows of maps (one column per group), in one PIL image.

    A and B share the colour limit ``vmax``; B - A has its own, ``diff_vmax``.
    """
    from PIL import Image

    from ..profiles.render import render_map_grid

    n = len(names)
    rows = [
        render_map_grid(maps, names, limit, columns=n, title=title)
        for maps, limit, title in zip(
            (maps_a, maps_b, diff_maps), (vmax, vmax, diff_vmax), titles, strict=True
        )
    ]
    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows)), "white")
    y = 0
    for row in rows:
        out.paste(row, (0, y))
        y += row.height
    return out


@dataclass
class Comparison:
    """What a view and the exports of a comparison are made of, from either source: the
    compare job's result (two models) or two states of a training run's published frames.

    Attributes
    ----------
    names : list of str
        Group order (every per-group axis follows it).
    maps_a, maps_b, diff_maps : ndarray of shape (n_groups, R, R)
    vmax, diff_vmax : float
        The maps' shared limit and the difference's.
    values_a, values_b : ndarray of shape (n_groups, n_neurons)
    """

    names: list[str]
    maps_a: np.ndarray
    maps_b: np.ndarray
    diff_maps: np.ndarray
    vmax: float
    diff_vmax: float
    values_a: np.ndarray
    values_b: np.ndarray

    @classmethod
    def of_result(cls, result: CompareResult) -> Comparison:
        """Two models' comparison, as the compare job computed it."""
        return cls(
            list(result.group_names), result.maps_a, result.maps_b, result.diff_maps,
            result.vmax, result.diff_vmax, result.values_a, result.values_b,
        )  # fmt: skip

    @classmethod
    def of_states(cls, a: dict, b: dict, names: list[str], vmax: float) -> Comparison:
        """Two states of one training run: frames ``{"maps", "values"}`` on one layout.

        Linear interpolation on one triangulation is linear in the values, so the map of
        B - A is the map of B minus the map of A: no layout or interpolation is redone.
        """
        diff = np.asarray(b["values"]) - np.asarray(a["values"])
        return cls(
            list(names), a["maps"], b["maps"], b["maps"] - a["maps"], vmax, colour_limit(diff),
            a["values"], b["values"],
        )  # fmt: skip
