"""The Topographic tab's view of a grid layer (Krug & Stober, Figure 1B) and `topographic`.

For a layer trained with the topographic regularizer: per group its NAP (or GradNAP, the
paper's choice: ``nap="grad"``) averaged over positions and placed on the layer's grid ("on
grid", not interpolated), smoothed by non-strided 3 x 3 average pooling, the most responsive
3 x 3 region of the smoothed map, and for one group's region the optimised inputs
(activation maximisation) of each of its filters alone and of the region jointly.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import TopomapError
from ..jobs.base import Job, memo, register
from ..params import Interval, Name, param
from ..profiles.grid_maps import on_grid, responsive_region, smooth
from ..profiles.interpolate import colour_limit
from .naps import compute_nap
from .topomap import MapParams, model_ref, nap_key

__all__ = ["TopographicJob", "TopographicRequest", "TopographicResult"]

MAX_STEPS = 1000


@dataclass(frozen=True, kw_only=True)
class TopographicRequest(MapParams):
    """A grid layer's maps; ``method`` is unused (the layout is the layer's grid)."""

    model: str = model_ref(default="demo:digits-cnn-topographic", cli_required=True)
    layer: str = param(
        Name(),
        "conv2",
        label="layer",
        missing="Choose a layer",
        help="a layer trained with the topographic regularizer",
        cli_required=True,
    )
    fv_group: str | None = param(
        Name(),
        None,
        optional=True,
        label="group to visualise",
        help="the group whose region's filters are visualised (default: the first)",
    )
    fv_steps: int = param(
        Interval(int, 0, MAX_STEPS),
        64,
        label="visualisation steps",
        help="gradient ascent steps of the feature visualisation (0: none)",
    )


@dataclass
class TopographicResult:
    """Grid maps, smoothed maps and regions per group; one group's optimised inputs."""

    request: TopographicRequest
    group_names: list[str]
    rows: int
    cols: int
    values: np.ndarray  # (n_groups, n_units)
    grid_maps: np.ndarray  # (n_groups, rows, cols)
    smoothed: np.ndarray  # (n_groups, rows, cols)
    regions: list[dict]
    vmax: float
    fv_group: str
    fv_units: list[int]
    fv_images: np.ndarray  # (len(fv_units) + 1, *input_shape): each filter, then jointly
    fv_gain: np.ndarray  # objective after / before, per image
    timings: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything numeric, for the ``.npz`` export."""
        return {
            "group_names": np.array(self.group_names),
            "values": self.values,
            "grid_maps": self.grid_maps,
            "smoothed": self.smoothed,
            "regions": np.array([[r["row"], r["col"], r["size"]] for r in self.regions]),
            "fv_units": np.array(self.fv_units),
            "fv_images": self.fv_images,
            "fv_start": self.fv_start,
            "fv_final": self.fv_final,
        }

    fv_start: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fv_final: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def npz_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays: dict = self.arrays()  # names -> arrays (numpy's stub reads ** as its flags)
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    def summary(self) -> dict:
        return {
            "model": self.request.model,
            "layer": self.request.layer,
            "grid": f"{self.rows}x{self.cols}",
            "nap": self.request.nap,
            "groups": self.group_names,
            "regions": dict(zip(self.group_names, self.regions, strict=True)),
            "fv_group": self.fv_group,
            "fv_units": self.fv_units,
            "fv_gain": np.round(self.fv_gain, 3).tolist(),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def feature_images(images: np.ndarray) -> np.ndarray:
    """Optimised inputs as 2-D grey images in [0, 1]: (n, height, width).

    An image input's channels are averaged; a 2-D input is shown as it is (a spectrogram);
    a 1-D input as one row.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = x.mean(axis=-1)
    elif x.ndim == 2:
        x = x[:, None, :]
    elif x.ndim != 3:
        x = x.reshape(len(x), 1, -1)
    low = x.min(axis=(1, 2), keepdims=True)
    span = x.max(axis=(1, 2), keepdims=True) - low
    return np.divide(x - low, span, out=np.zeros_like(x), where=span > 0)


@register
class TopographicJob(Job):
    """The Topographic tab's view job and the ``topographic`` command."""

    name = "topographic"
    request_type = TopographicRequest
    inputs = {"model": "model", "data": "data"}
    version = "2"  # 2: a filter silent on the first noise starts again from louder noise
    command = "topographic"
    summary = "maps of a grid layer on its grid, smoothed, its region and feature visualisation"

    def key_parts(self, request):
        parts = super().key_parts(request)
        parts.pop("method")  # the layout is the grid
        return parts

    def compute(self, request, sources, cache, progress):
        from ..regularizers.fit import layer_grid
        from .feature_vis import maximise_activations

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        model = sources.load_model()
        grid = layer_grid(model, request.layer)
        if grid is None:
            raise TopomapError(
                f"layer {request.layer!r} was not trained with the topographic regularizer, so "
                "it has no grid; train it (train-topographic) or pick demo:digits-cnn-topographic"
            )

        def nap():
            from ..io.models import input_spec

            dataset = sources.load_data(input_spec(model))
            return compute_nap(model, dataset, request.layer, request, progress=progress)

        key = nap_key(sources.id("model"), sources.id("data"), request.layer, request)
        profile, _ = memo(cache, key, nap)
        timings["nap"] = time.perf_counter() - t0
        values = profile.values
        n_units = values.shape[1]
        grid_maps = on_grid(values, grid.rows, grid.cols)
        smoothed = smooth(grid_maps)
        regions = [responsive_region(m, n_units) for m in smoothed]
        names = list(profile.group_names)
        fv_group = request.fv_group if request.fv_group is not None else names[0]
        if fv_group not in names:
            raise TopomapError(f"unknown group {fv_group!r}; valid: {', '.join(names)}")
        units = list(regions[names.index(fv_group)].units)
        t0 = time.perf_counter()
        vis = maximise_activations(
            model,
            request.layer,
            [[u] for u in units] + [units],
            steps=request.fv_steps,
            seed=request.seed,
            progress=progress,
        )
        timings["feature_vis"] = time.perf_counter() - t0
        gain = np.divide(
            vis.final, np.abs(vis.start), out=np.zeros_like(vis.final), where=vis.start != 0
        )
        return TopographicResult(
            request=request,
            group_names=names,
            rows=grid.rows,
            cols=grid.cols,
            values=values,
            grid_maps=grid_maps,
            smoothed=smoothed,
            regions=[r.to_dict() for r in regions],
            vmax=colour_limit(values),
            fv_group=fv_group,
            fv_units=units,
            fv_images=vis.images,
            fv_gain=gain,
            fv_start=vis.start,
            fv_final=vis.final,
            timings=timings,
        )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        return write_outputs(result, out_dir)

    def report(self, result):
        region = result.regions[result.group_names.index(result.fv_group)]
        return (
            f"{result.request.layer} on {result.rows}x{result.cols}, {len(result.group_names)} "
            f"groups; group {result.fv_group}: region at row {region['row']}, column "
            f"{region['col']} (filters {', '.join(map(str, result.fv_units))})"
        )


def write_outputs(result: TopographicResult, out_dir: str | Path) -> dict[str, Path]:
    """``grid.png``, ``smoothed.png``, ``features.png``, ``topographic.npz``, ``summary.json``."""
    from PIL import Image

    from ..profiles.render import save_map_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "grid": out / "grid.png",
        "smoothed": out / "smoothed.png",
        "features": out / "features.png",
        "arrays": out / "topographic.npz",
        "summary": out / "summary.json",
    }
    scale = max(1, 128 // max(result.rows, result.cols))
    title = f"{result.request.layer} on its {result.rows}x{result.cols} grid"
    save_map_grid(
        paths["grid"], result.grid_maps, result.group_names, result.vmax, scale, title=title
    )
    limit = colour_limit(result.smoothed[np.isfinite(result.smoothed)])
    save_map_grid(paths["smoothed"], result.smoothed, result.group_names, limit, scale,
                  title=f"{title}, smoothed")  # fmt: skip
    tiles = feature_images(result.fv_images)
    strip = np.concatenate([np.pad(t, 1, constant_values=1.0) for t in tiles], axis=1)
    image = Image.fromarray((strip * 255).astype(np.uint8), mode="L")
    image.resize((image.width * 16, image.height * 16), Image.Resampling.NEAREST).save(
        paths["features"]
    )
    paths["arrays"].write_bytes(result.npz_bytes())
    paths["summary"].write_text(json.dumps(result.summary(), indent=2))
    return paths
