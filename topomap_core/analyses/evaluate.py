"""Method evaluation (the paper's Figure 4): R seeded repeats of several layout methods on one
NAP, the five quality metrics of each map, and a ranking.

Every repeat ``r`` of a method lays the same NAP out with ``random_state = seed + r``, draws the
maps (:func:`~.topomap.draw`) and measures them (:func:`~topomap_core.profiles.metrics.
quality_metrics`, with the layout's coverage). Methods are ranked per metric by their mean
over the repeats (1 = best, in each metric's direction), then by the mean of those five ranks.
The NAP is the one every map view of the same model, data, layer and grouping uses (one cache
entry), so evaluating after viewing computes no NAP.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..jobs.base import Job, memo, register
from ..params import Constraint, Interval, Options, ParamError, param, short
from ..placement import available_methods, compute_layout, get_method
from ..profiles.metrics import HIGHER_IS_BETTER, METRICS, quality_metrics
from ..profiles.nap import NAP
from ..progress import ProgressCallback
from .naps import compute_nap
from .placing import draw, layout_profile
from .topomap import MAX_SEED, MapParams, model_ref, nap_key

__all__ = [
    "EvaluateJob",
    "EvaluateRequest",
    "EvaluateResult",
    "MethodList",
    "PAPER_METHODS",
    "evaluate_nap",
    "rank_methods",
    "write_evaluate_outputs",
]

#: The seven methods of the paper's Figure 4, its baseline first.
PAPER_METHODS = ("baseline", "PSO", "graph_PSO", "SOM_PSO", "PCA_PSO", "TSNE_PSO", "UMAP_PSO")
#: Most repeats one request may ask for (requests are untrusted input).
MAX_REPEATS = 1000


@dataclass(frozen=True)
class MethodList(Constraint):
    """Comma-separated layout method names (case-insensitive), at least one, none twice;
    the accepted value is the canonical spelling joined by commas."""

    def clean(self, raw, paths: bool = False):
        if not isinstance(raw, str) or not raw.strip():
            raise ParamError(f"{short(raw)!r} (name at least one layout method)")
        names = []
        for part in raw.replace(" ", ",").split(","):
            if not part:
                continue
            try:
                name = get_method(part).name
            except ValueError:
                raise ParamError(
                    f"unknown method {short(part)!r} (use {', '.join(available_methods())})"
                ) from None
            if name in names:
                raise ParamError(f"{short(raw)!r} (names {name} twice)")
            names.append(name)
        return ",".join(names)

    def describe(self) -> str:
        return "comma-separated names of " + ", ".join(available_methods())


@dataclass(frozen=True, kw_only=True)
class EvaluateRequest(MapParams):
    """One model's layer, the map parameters, and the methods to compare R times each.

    ``method`` (one layout method) is not used: ``methods`` lists them.
    """

    model: str = model_ref(default="demo:digits-mlp", cli_required=True)
    method: str = param(
        Options(available_methods, "method", ignore_case=True, list_in_message=False),
        "UMAP_PSO",
        label="layout method",
        cli=False,
    )
    methods: str = param(
        MethodList(),
        ",".join(PAPER_METHODS),
        label="methods",
        help=f"comma-separated layout methods to compare: {', '.join(available_methods())}",
        metavar="A,B",
    )
    repeats: int = param(
        Interval(int, 1, MAX_REPEATS),
        5,
        label="repeats",
        help="seeded repeats of each method (seeds seed, seed+1, ...)",
        metavar="R",
    )

    def method_names(self) -> list[str]:
        return self.methods.split(",")


@dataclass
class EvaluateResult:
    """Per method, repeat and metric: the quality of the maps, and the ranking.

    Attributes
    ----------
    request : EvaluateRequest
    methods : list of str
        In the requested order; ``values`` and ``seconds`` follow it.
    values : ndarray of shape (n_methods, repeats, n_metrics)
        ``metrics.METRICS`` in order.
    seconds : ndarray of shape (n_methods, repeats)
        Layout time of each repeat.
    ranking : list of dict
        Best first: ``method``, ``mean_rank`` and ``ranks`` (metric -> rank).
    n_neurons, n_groups : int
    timings : dict
    """

    request: EvaluateRequest
    methods: list[str]
    values: np.ndarray
    seconds: np.ndarray
    ranking: list[dict]
    n_neurons: int
    n_groups: int
    metric_names: tuple[str, ...] = METRICS
    timings: dict = field(default_factory=dict)

    def means(self) -> dict[str, dict[str, float]]:
        """Method -> metric -> mean over the repeats."""
        with np.errstate(all="ignore"):
            mean = np.nanmean(self.values, axis=1)
        return {
            m: dict(zip(self.metric_names, map(float, row), strict=True))
            for m, row in zip(self.methods, mean, strict=True)
        }

    def summary(self) -> dict:
        """JSON-able description: request, sizes, means and ranking."""
        return {
            **asdict(self.request),
            "n_neurons": self.n_neurons,
            "n_groups": self.n_groups,
            "metrics": list(self.metric_names),
            "higher_is_better": sorted(HIGHER_IS_BETTER),
            "means": self.means(),
            "mean_layout_seconds": {
                m: float(np.mean(s)) for m, s in zip(self.methods, self.seconds, strict=True)
            },
            "ranking": self.ranking,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }


def rank_methods(
    means: dict[str, dict[str, float]], metrics: tuple[str, ...] = METRICS
) -> list[dict]:
    """Rank methods per metric by their mean (1 = best; ties share the average rank; NaN is
    worst), then by the mean of their ranks over ``metrics``.

    Parameters
    ----------
    means : dict
        Method -> metric -> mean value.
    metrics : tuple of str

    Returns
    -------
    list of dict
        Best first (ties keep the given order): ``method``, ``mean_rank``, ``ranks``.
    """
    from scipy.stats import rankdata

    methods = list(means)
    ranks: dict[str, dict[str, float]] = {m: {} for m in methods}
    for metric in metrics:
        col = np.array([means[m][metric] for m in methods], dtype=np.float64)
        if metric not in HIGHER_IS_BETTER:
            col = -col  # rank so that larger is better
        col = np.where(np.isfinite(col), col, -np.inf)
        # rankdata ranks ascending; the best (largest) gets rank 1.
        for m, r in zip(methods, rankdata(-col, method="average"), strict=True):
            ranks[m][metric] = float(r)
    rows = [
        {"method": m, "mean_rank": float(np.mean(list(ranks[m].values()))), "ranks": ranks[m]}
        for m in methods
    ]
    return sorted(rows, key=lambda row: row["mean_rank"])


def evaluate_nap(
    nap: NAP, request: EvaluateRequest, progress: ProgressCallback | None = None, **layout_params
) -> EvaluateResult:
    """Run every method ``request.repeats`` times on ``nap`` and measure each map.

    Parameters
    ----------
    nap : NAP
    request : EvaluateRequest
    progress : callable, optional
        ``progress(stage, done, total)``; returning True cancels.
    **layout_params
        Passed to every method that accepts them (``n_steps=...`` in tests).
    """
    t_start = time.perf_counter()
    methods = request.method_names()
    profile = layout_profile(nap.profile(request.profile), request)
    values = np.empty((len(methods), request.repeats, len(METRICS)))
    seconds = np.empty((len(methods), request.repeats))
    total = len(methods) * request.repeats
    for i, method in enumerate(methods):
        accepted = {k: v for k, v in layout_params.items() if k in get_method(method).defaults}
        for r in range(request.repeats):
            stage = f"{method} {r + 1}/{request.repeats}"

            def inner(step: str, done: int, n: int, stage=stage):
                return progress(f"{stage}: {step}", done, n) if progress else None

            t0 = time.perf_counter()
            layout = compute_layout(
                profile,
                method,
                random_state=(request.seed + r) % (MAX_SEED + 1),
                progress=inner,
                metric=request.metric,
                **accepted,
            )
            seconds[i, r] = time.perf_counter() - t0
            maps, vmax = draw(layout, nap.values, dtype=np.float64)
            metrics = quality_metrics(maps, vmax, layout)
            values[i, r] = [metrics[name] for name in METRICS]
            if progress is not None and progress("evaluating", i * request.repeats + r + 1, total):
                from ..errors import Cancelled

                raise Cancelled(f"evaluation cancelled at {stage}")
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=1)
    means = {
        m: dict(zip(METRICS, map(float, row), strict=True))
        for m, row in zip(methods, mean, strict=True)
    }
    return EvaluateResult(
        request=request,
        methods=methods,
        values=values,
        seconds=seconds,
        ranking=rank_methods(means),
        n_neurons=int(nap.n_neurons),
        n_groups=int(nap.n_groups),
        timings={"evaluate": time.perf_counter() - t_start},
    )


@register
class EvaluateJob(Job):
    """The Evaluate tab's job and the ``evaluate`` command."""

    name = "evaluate"
    request_type = EvaluateRequest
    inputs = {"model": "model", "data": "data"}
    version = "1"
    command = "evaluate"
    summary = "compare layout methods over R seeded repeats (paper Figure 4), ranked"

    def key_parts(self, request):
        parts = super().key_parts(request)
        parts.pop("method", None)  # not used: ``methods`` lists them
        return parts

    def compute(self, request, sources, cache, progress):
        timings: dict[str, float] = {}

        def nap() -> NAP:
            from ..io.models import input_spec

            model = sources.load_model()
            dataset = sources.load_data(input_spec(model))
            return compute_nap(
                model, dataset, request.layer, request, progress=progress, timings=timings
            )

        key = nap_key(sources.id("model"), sources.id("data"), request.layer, request)
        profile, _ = memo(cache, key, nap)
        result = evaluate_nap(profile, request, progress)
        result.timings = {**timings, **result.timings}
        return result

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        return write_evaluate_outputs(result, out_dir)

    def report(self, result):
        order = ", ".join(f"{row['method']} ({row['mean_rank']:.2f})" for row in result.ranking)
        return (
            f"{result.n_neurons} neurons, {result.n_groups} groups, {result.request.repeats} "
            f"repeats; mean rank over {len(result.metric_names)} metrics: {order}"
        )


def results_csv(result: EvaluateResult) -> str:
    """One row per method and repeat: the seed, the five metrics and the layout seconds."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["method", "repeat", "seed", *result.metric_names, "layout_seconds"])
    for method, rows, secs in zip(result.methods, result.values, result.seconds, strict=True):
        for r, (row, s) in enumerate(zip(rows, secs, strict=True)):
            seed = (result.request.seed + r) % (MAX_SEED + 1)
            writer.writerow([method, r, seed, *(f"{v:.6g}" for v in row), f"{s:.4f}"])
    return buf.getvalue()


def ranking_csv(result: EvaluateResult) -> str:
    """One row per method, best first: mean rank, then the rank per metric."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["method", "mean_rank", *result.metric_names])
    for row in result.ranking:
        ranks = [f"{row['ranks'][m]:g}" for m in result.metric_names]
        writer.writerow([row["method"], f"{row['mean_rank']:.3f}", *ranks])
    return buf.getvalue()


def write_evaluate_outputs(result: EvaluateResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``evaluation.csv``, ``ranking.csv``, ``violins.png`` and ``summary.json``.

    Returns
    -------
    dict
        File role -> path written.
    """
    from ..profiles.violins import save_violins

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out / "evaluation.csv",
        "ranking": out / "ranking.csv",
        "violins": out / "violins.png",
        "summary": out / "summary.json",
    }
    paths["results"].write_text(results_csv(result))
    paths["ranking"].write_text(ranking_csv(result))
    req = result.request
    save_violins(
        paths["violins"],
        result.methods,
        result.values,
        result.metric_names,
        HIGHER_IS_BETTER,
        title=f"{req.layer}: {req.repeats} repeats, layout input {req.layout_input}",
    )
    paths["summary"].write_text(json.dumps(result.summary(), indent=2))
    return paths
