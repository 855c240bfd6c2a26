"""Do a layer's maps tell groups apart more than chance? The bias view (paper 6.2).

Groups from a column of the data (a sensitive attribute, say: the ``column`` grouping) or any
other grouping are shown beside as many random groups of the same sizes, on one layout and one
colour scale, so random maps show what chance alone draws. Random groupings drawn ``draws``
times give the baseline of a **discriminability score**: the mean distance between the real
groups' NAPs divided by that of the random groups (:mod:`topomap_core.profiles.separation`),
with its spread over the draws and one sentence that says what it means.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..jobs.base import Job, register
from ..params import Interval, param
from ..profiles.separation import Separation, describe, random_group_values, separation
from .naps import LazyInputs, nap_and_pool
from .overview import draws_param
from .placing import draw, place
from .topomap import MapParams, model_ref

__all__ = ["BiasJob", "BiasRequest", "BiasResult", "draws_csv", "write_bias_outputs"]

#: Random draws of the bias view when none are asked for (each costs a group mean, no model).
DEFAULT_BIAS_DRAWS = 100


@dataclass(frozen=True, kw_only=True)
class BiasRequest(MapParams):
    """A model's layer, a grouping (``column``: the data's ``groups`` array) and the draws.

    The view draws its own random groups, so the grouping's ``random_groups`` is always 0.
    """

    model: str = model_ref(default="demo:digits-mlp", cli_required=True)
    random_groups: int = param(
        Interval(int, 0, 0),
        0,
        label="random groups (the bias view draws its own)",
        cli=False,
    )
    draws: int = draws_param(DEFAULT_BIAS_DRAWS)


@dataclass
class BiasResult:
    """The real groups' maps beside one draw of random groups, and the score over all draws.

    Attributes
    ----------
    request : BiasRequest
    group_names : list of str
        Dendrogram order of the real groups.
    group_sizes : list of int
        In that order; ``random_names[k]`` has as many examples as ``group_names[k]``.
    random_names : list of str
    layout : ndarray of shape (n_neurons, 2)
        Laid out from the real groups' NAP.
    maps, random_maps : ndarray of shape (n_groups, R, R), float32
        On one colour limit ``vmax`` (random groups look pale when the layer tells the real
        ones apart).
    vmax : float
    separation : Separation
    """

    request: BiasRequest
    group_names: list[str]
    group_sizes: list[int]
    random_names: list[str]
    layout: np.ndarray
    maps: np.ndarray
    random_maps: np.ndarray
    vmax: float
    separation: Separation
    timings: dict = field(default_factory=dict)

    @property
    def sentence(self) -> str:
        """What the score means, in one sentence."""
        return describe(self.separation, f"in layer {self.request.layer!r}")

    def summary(self) -> dict:
        req = self.request
        return {
            "model": req.model,
            "data": req.data,
            "layer": req.layer,
            "grouping": req.groups,
            "per_group": req.per_group,
            "method": req.method,
            "seed": req.seed,
            "groups": self.group_names,
            "group_sizes": self.group_sizes,
            "random_groups": self.random_names,
            "colour_limit": self.vmax,
            **self.separation.to_dict(),
            "sentence": self.sentence,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


@register
class BiasJob(Job):
    """The Bias tab's job and the ``bias`` command."""

    name = "bias"
    request_type = BiasRequest
    inputs = {"model": "model", "data": "data"}
    version = "1"
    command = "bias"
    summary = "do a layer's groups differ more than random groups of the same sizes?"

    def compute(self, request, sources, cache, progress):
        timings: dict[str, float] = {}
        t_start = time.perf_counter()
        inputs = LazyInputs(sources, timings)
        nap, pool = nap_and_pool(
            inputs, cache, request.layer, request, progress=progress, timings=timings
        )
        t0 = time.perf_counter()
        result = separation(pool, request.draws, request.seed)
        timings["draws"] = time.perf_counter() - t0
        placed = place(
            nap.profile(request.profile),
            nap.group_vectors(),
            nap.group_names,
            request,
            progress=progress,
            timings=timings,
        )
        order = placed.order.order
        # The first of the draws (same seed), its k-th group as large as the k-th real one.
        shown = random_group_values(pool, 1, request.seed)[0][order]
        t0 = time.perf_counter()
        maps, vmax = draw(placed.layout, np.concatenate([nap.values[order], shown]))
        timings["maps"] = time.perf_counter() - t0
        n = len(order)
        timings["total"] = time.perf_counter() - t_start
        return BiasResult(
            request=request,
            group_names=placed.order.names,
            group_sizes=[pool.sizes[i] for i in order],
            random_names=[f"random-{k}" for k in range(1, n + 1)],
            layout=placed.layout,
            maps=maps[:n],
            random_maps=maps[n:],
            vmax=vmax,
            separation=result,
            timings=timings,
        )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        return write_bias_outputs(result, out_dir)

    def report(self, result):
        return f"{result.sentence} ({result.timings['total']:.1f} s)"


def draws_csv(result: BiasResult) -> str:
    """``draw,random_distance,score``: each random grouping's distance and the score against
    it (the real groups' distance divided by it)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["draw", "random_distance", "score"])
    sep = result.separation
    for i, d in enumerate(sep.random):
        writer.writerow([i, f"{d:.6g}", f"{sep.distance / d:.6g}" if d > 0 else "nan"])
    return buf.getvalue()


def write_bias_outputs(result: BiasResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``maps.png`` (real groups, then random ones), ``draws.csv`` and ``summary.json``.

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
        "draws": out / "draws.csv",
        "summary": out / "summary.json",
    }
    n = len(result.group_names)
    save_map_grid(
        paths["maps"],
        np.concatenate([result.maps, result.random_maps]),
        result.group_names + result.random_names,
        result.vmax,
        columns=n,
        title=f"{result.request.layer}: groups (top) and random groups (bottom), "
        f"{result.separation.score:.2f}x chance",
    )
    paths["draws"].write_text(draws_csv(result))
    paths["summary"].write_text(json.dumps(result.summary(), indent=2))
    return paths
