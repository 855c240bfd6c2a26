"""Maps of every saved state of a training run on one layout (Krug et al. 2023, section 6.3).

One layout, computed from the last saved state, is applied to every state, so the maps show the
representation forming batch by batch. Each state's NAP is cached under the content of its
checkpoint (not the series'), so a series with one more state computes one NAP, and another
layout method none. After a run the job publishes what the dashboard reads: a small overview
and one frame (maps and values) per state, so a slider step reads one small entry.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..io.checkpoints import Checkpoint
from ..io.demo import DEMO_CHECKPOINTS, demo_names
from ..jobs.base import Job, digest, register
from ..params import Reference, param
from ..profiles.interpolate import DEFAULT_RESOLUTION, colour_limit
from ..profiles.nap import NAP
from ..progress import report
from .naps import compute_nap
from .placing import aligned_values, draw, place
from .topomap import MapParams, model_ref

__all__ = [
    "TrainingJob",
    "TrainingRequest",
    "TrainingResult",
    "frame_key",
    "overview_key",
    "relative_change",
]

#: Largest total size of the maps of a training result; a long series gets coarser maps
#: rather than gigabytes of arrays in the cache and the browser.
MAX_MAP_BYTES = 256 * 2**20

#: Bump when the published overview or frames change form.
PUBLISH_VERSION = "2"


@dataclass(frozen=True, kw_only=True)
class TrainingRequest(MapParams):
    """Everything that defines one training run's maps (and so one cache entry).

    Attributes
    ----------
    checkpoints : str
        :data:`~topomap_core.io.demo.DEMO_CHECKPOINTS`, an uploaded series' id, or (command
        line) the path of a ``.zip`` of ``.keras`` or ``.weights.h5`` files.
    base_model : str, optional
        The model whose architecture a ``.weights.h5`` series fills. Unused for ``.keras``
        series and the demo (which brings its own).
    """

    checkpoints: str = param(
        Reference("checkpoints", lambda: demo_names("checkpoints")),
        DEMO_CHECKPOINTS,
        label="checkpoints",
        missing="Choose checkpoints",
        help="a .zip of .keras or .weights.h5 files (ordered by the number in their names), or "
        f"{DEMO_CHECKPOINTS} (digits-mlp trained one epoch, a state per batch)",
        cli_required=True,
    )
    base_model: str | None = model_ref(
        label="base model",
        default=None,
        optional=True,
        help="the architecture a .weights.h5 series fills: a .keras file, or "
        f"{' / '.join(demo_names('model'))}",
    )


@dataclass
class TrainingResult:
    """The maps of every state of a training run on one layout.

    Attributes
    ----------
    request : TrainingRequest
    checkpoints : list of Checkpoint
        In step order.
    group_names : list of str
        Dendrogram order of the last state's groups; every per-group axis follows it.
    layout : ndarray of shape (n_neurons, 2)
        From the last state's NAP (``request.method``, ``seed``, ``profile``).
    values : ndarray of shape (n_states, n_groups, n_neurons)
        NAP colour values per state; NaN for a group a state has no examples of.
    maps : ndarray of shape (n_states, n_groups, R, R), float32
        NaN outside the neurons' hull. ``R`` is 100, less for very long series
        (:data:`MAX_MAP_BYTES`).
    vmax : float
        One colour limit for all states, so colours compare across time.
    change : ndarray of shape (n_states,)
        ``change[i]``: RMS of the NAP values' change from state ``i - 1`` to ``i``, divided by
        the RMS of the last state's values; ``change[0]`` is NaN.
    accuracy : list of float or None
        Share of correctly predicted examples of the data per state (None without labels).
    from_cache : list of bool
        Whether each state's NAP came from the cache.
    timings : dict
        Seconds per stage.
    dropped_groups : list of str
        Groups of some state that the last state has no examples of (not shown).
    """

    request: TrainingRequest
    checkpoints: list[Checkpoint]
    group_names: list[str]
    layout: np.ndarray
    values: np.ndarray
    maps: np.ndarray
    vmax: float
    change: np.ndarray
    accuracy: list[float | None]
    from_cache: list[bool] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    dropped_groups: list[str] = field(default_factory=list)

    @property
    def n_states(self) -> int:
        return len(self.checkpoints)

    @property
    def steps(self) -> list[int]:
        return [c.step for c in self.checkpoints]

    def frame_title(self, i: int) -> str:
        """Title of state ``i``'s frame, e.g. ``"state 11: batch 12 of 79 - accuracy 85.2%"``.

        States are numbered from 0 everywhere (the slider, its box, the link's ``state``);
        the batch number is the checkpoint's own.
        """
        ckpt = self.checkpoints[i]
        if self.request.checkpoints == DEMO_CHECKPOINTS:
            title = f"state {i}: batch {ckpt.step} of {self.checkpoints[-1].step}"
        else:
            title = f"state {i}: {ckpt.name}"
        acc = self.accuracy[i] if i < len(self.accuracy) else None
        return title if acc is None else f"{title} - accuracy {100 * acc:.1f}%"

    def overview(self) -> dict[str, Any]:
        """What a viewer draws besides the maps: states, labels, groups, colour limit, curves.

        Plain JSON-able values (NaN as None); never the maps.
        """
        return {
            "n": self.n_states,
            "steps": [int(s) for s in self.steps],
            "labels": [self.frame_title(i) for i in range(self.n_states)],
            "names": list(self.group_names),
            "vmax": float(self.vmax),
            "change": _floats(self.change),
            "accuracy": _floats(self.accuracy),
            "resolution": int(self.maps.shape[-1]),
            "n_neurons": int(self.layout.shape[0]),
            "computed": int(sum(not c for c in self.from_cache)),
        }

    def summary(self) -> dict:
        """JSON-able description of the run (NaN written as null)."""
        return {
            "checkpoints": self.request.checkpoints,
            "base_model": self.request.base_model,
            "data": self.request.data,
            "layer": self.request.layer,
            "method": self.request.method,
            "seed": self.request.seed,
            "grouping": self.request.groups,
            "random_groups": self.request.random_groups,
            "per_group": self.request.per_group,
            "profile": self.request.profile,
            "metric": self.request.metric,
            "n_states": self.n_states,
            "n_neurons": int(self.layout.shape[0]),
            "groups": list(self.group_names),
            "dropped_groups": list(self.dropped_groups),
            "colour_limit": float(self.vmax),
            "map_resolution": int(self.maps.shape[-1]),
            "change_measure": "rms(values[i] - values[i-1]) / rms(values[last])",
            "states": [
                {
                    "state": i,
                    "step": c.step,
                    "name": c.name,
                    "digest": c.digest,
                    "change": _round(self.change[i]),
                    "accuracy": _round(self.accuracy[i]),
                }
                for i, c in enumerate(self.checkpoints)
            ],
            "naps_computed": int(sum(not c for c in self.from_cache)),
            "naps_cached": int(sum(self.from_cache)),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _floats(values: Any) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        f = None if v is None else float(v)
        out.append(None if f is None or f != f else f)  # NaN -> None (JSON null)
    return out


def _round(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)


@contextlib.contextmanager
def _quiet_retracing():
    # A NAP per state builds a new extractor each time, and TensorFlow warns about the
    # retracing; the warning is expected here and would flood the command line's stderr.
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def accuracy(model, dataset, batch_size: int = 256) -> float | None:
    """Share of correctly predicted labelled examples; None without labels.

    The model is called eagerly: wrapping it for ``predict_on_batch`` would trace a new
    graph for every state, which costs more than the prediction itself here.
    """
    from ..profiles.groups import predicted_labels

    if dataset.y is None or dataset.n_examples == 0:
        return None
    parts = []
    for start in range(0, dataset.n_examples, batch_size):
        batch = np.asarray(dataset.x[start : start + batch_size], dtype=np.float32)
        out = model(batch, training=False)
        if isinstance(out, list | tuple):
            out = out[0]
        if isinstance(out, dict):
            return None  # several named outputs: which one predicts the label is unknown
        parts.append(np.asarray(out))
    pred = predicted_labels(np.concatenate(parts))
    return float(np.mean(pred == dataset.y))


def map_resolution(n_maps: int) -> int:
    """Map side that keeps ``n_maps`` float32 maps under :data:`MAX_MAP_BYTES` (16 to 100)."""
    side = int(math.sqrt(MAX_MAP_BYTES / (4 * max(n_maps, 1))))
    return max(16, min(DEFAULT_RESOLUTION, side))


def relative_change(values: np.ndarray) -> np.ndarray:
    """Change of the NAP values from each state to the next, relative to the last state.

    ``change[i] = rms(values[i] - values[i-1]) / rms(values[-1])``, over the groups
    present in both states; ``change[0]`` is NaN. The denominator makes the curve unitless,
    so layers and runs compare; it is 1 when the last NAP is all zero.
    """
    n = values.shape[0]
    change = np.full(n, np.nan)
    with np.errstate(invalid="ignore"):
        scale = float(np.sqrt(np.nanmean(values[-1] ** 2))) if np.isfinite(values[-1]).any() else 0
    scale = scale if scale > 0 else 1.0
    for i in range(1, n):
        diff = values[i] - values[i - 1]
        if np.isfinite(diff).any():
            change[i] = float(np.sqrt(np.nanmean(diff**2))) / scale
    return change


def state_key(request: TrainingRequest, ckpt: Checkpoint, base_digest, data_id: str) -> dict:
    """Key parts of one state's NAP: everything that decides it. The layout parameters
    (method, profile, metric) do not, so changing them reuses every state's NAP."""
    return {
        "kind": "training-nap",
        "v": TrainingJob.version,
        "checkpoint": ckpt.digest,
        "checkpoint_kind": ckpt.kind,
        "base": base_digest,
        "data": data_id,
        "layer": request.layer,
        **request.grouping(),
    }


def frame_key(key: str, state: int) -> str:
    """Cache key of state ``state``'s frame (maps and values) of training result ``key``."""
    return digest({"kind": "training-frame", "v": PUBLISH_VERSION, "key": key, "state": state})


def overview_key(key: str) -> str:
    """Cache key of the overview (:meth:`TrainingResult.overview`) of training result ``key``."""
    return digest({"kind": "training-overview", "v": PUBLISH_VERSION, "key": key})


@register
class TrainingJob(Job):
    """The Training tab's job and the ``training`` command."""

    name = "training"
    request_type = TrainingRequest
    inputs = {"checkpoints": "checkpoints", "base_model": "model", "data": "data"}
    version = "3"  # 3: frame titles name the 0-based state
    command = "training"
    summary = "maps of every saved state of a training run on one layout"

    def compute(self, request, sources, cache, progress):
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        with sources.open_series(progress=progress) as series, _quiet_retracing():
            timings["open"] = time.perf_counter() - t_start
            naps, acc, from_cache = self._naps(request, sources, cache, series, progress)
            timings["naps"] = time.perf_counter() - t_start - timings["open"]
            checkpoints = list(series.checkpoints)
        widths = {nap.n_neurons for nap in naps}
        if len(widths) > 1:
            raise CheckpointError(
                f"layer {request.layer!r} changes width across the series ({sorted(widths)} "
                "neurons); all states need the same architecture"
            )
        last = naps[-1]
        # Paper 6.3: the layout of the fully trained model, kept fixed for every state.
        placed = place(
            last.profile(request.profile),
            last.group_vectors(),
            last.group_names,
            request,
            progress=progress,
            timings=timings,
        )
        t0 = time.perf_counter()
        names = placed.order.names
        values = np.stack([aligned_values(nap, names) for nap in naps])
        n = len(naps)
        resolution = map_resolution(n * len(names))
        maps = np.empty((n, len(names), resolution, resolution), dtype=np.float32)
        for i in range(n):
            maps[i] = draw(placed.layout, values[i], resolution)[0]
            report(progress, "maps", i + 1, n)
        vmax = colour_limit(values)  # one limit for all states, so colours compare in time
        dropped = sorted({g for nap in naps for g in nap.group_names} - set(names))
        timings["maps"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        return TrainingResult(
            request=request,
            checkpoints=checkpoints,
            group_names=names,
            layout=placed.layout,
            values=values,
            maps=maps,
            vmax=vmax,
            change=relative_change(values),
            accuracy=acc,
            from_cache=from_cache,
            timings=timings,
            dropped_groups=dropped,
        )

    @staticmethod
    def _naps(request, sources, cache, series, progress) -> tuple[list[NAP], list, list[bool]]:
        """Every state's NAP and accuracy, each from the cache or computed (and cached)."""
        data_id = sources.id("data")
        naps: list[NAP] = []
        accuracies: list[float | None] = []
        from_cache: list[bool] = []
        dataset = None
        n = len(series)
        for i, ckpt in enumerate(series.checkpoints):
            report(progress, "NAPs", i, n)
            key = digest(state_key(request, ckpt, series.base_digest, data_id))
            hit = cache.get(key)
            if hit is None:
                model = series.load(i)
                if dataset is None:
                    from ..io.models import input_spec

                    dataset = sources.load_data(input_spec(model))
                hit = (
                    compute_nap(model, dataset, request.layer, request),
                    accuracy(model, dataset),
                )
                cache.set(key, hit)
                from_cache.append(False)
            else:
                from_cache.append(True)
            naps.append(hit[0])
            accuracies.append(hit[1])
        report(progress, "NAPs", n, n)
        return naps, accuracies, from_cache

    # -- what the dashboard reads ------------------------------------------------------------
    def publish(self, result, key, cache):
        for i in range(result.n_states):
            cache.set(frame_key(key, i), {"maps": result.maps[i], "values": result.values[i]})
        cache.set(overview_key(key), result.overview())  # last: an overview means every frame

    def is_published(self, key, cache):
        overview = cache.get(overview_key(key))
        return overview is not None and all(
            frame_key(key, i) in cache for i in range(overview["n"])
        )

    def view(self, key, cache):
        """The overview of stored result ``key`` when it and every frame are stored."""
        return cache.get(overview_key(key)) if self.is_published(key, cache) else None

    # -- the command line --------------------------------------------------------------------
    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--fps", type=float, default=8, help="animation frames per second (default 8)"
        )
        parser.add_argument(
            "--size", type=int, default=2, help="map enlargement in the frames (1-8)"
        )
        parser.add_argument("--out", required=True, help="output directory")

    def request_from_arguments(self, args):
        from .animation import check_fps, check_size

        check_fps(args.fps)
        check_size(args.size)
        if args.checkpoints == "demo":
            args.checkpoints = DEMO_CHECKPOINTS
        return super().request_from_arguments(args)

    def write_outputs(self, result, out_dir, args):
        from .animation import write_training_outputs

        return write_training_outputs(result, out_dir, fps=args.fps, size=args.size)

    def report(self, result):
        change = result.change[1:]
        if not len(change):
            return "one state"
        return (
            f"{result.layout.shape[0]} neurons, {len(result.group_names)} groups, "
            f"{result.n_states} states; NAP change {change[0]:.3g} first, {change[-1]:.3g} last; "
            f"{result.timings['total']:.1f} s"
        )
