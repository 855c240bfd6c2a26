"""The shape of a layer's activations (TopoAct): the Mapper tab's job and the ``mapper`` command.

``model + data + layer -> one vector per example -> lens -> cover -> DBSCAN per interval ->
graph`` (:mod:`topomap_core.shape.mapper`), optionally for a second layer with the same
examples (the tab's cross-layer view). Each layer's graph is cached apart (:func:`graph_key`),
so changing only the second layer reuses the first one's graph.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

from ..errors import TopomapError
from ..io.demo import demo_names
from ..jobs.base import Job, memo, register
from ..params import Interval, Name, Options, Reference, param
from ..progress import ProgressCallback
from ..shape.mapper import (
    LENSES,
    POOLINGS,
    MapperGraph,
    layer_vectors,
    lens_values,
    mapper_graph,
    mean_purity,
    node_link,
)
from .topomap import MAX_SEED, model_ref, preprocess_param, resize_param

__all__ = [
    "MAX_EXAMPLES",
    "MapperJob",
    "MapperRequest",
    "MapperResult",
    "empty_message",
    "graph_json",
    "thumbnails",
]

#: Bump when a change makes cached graphs stale.
GRAPH_VERSION = "1"

#: Limits of the request (untrusted input).
MAX_EXAMPLES = 50_000
MAX_INTERVALS = 100
MAX_MIN_SAMPLES = 1000

#: Longest side of the example pictures kept with a result (for the node panel).
THUMB_SIDE = 24


@dataclass(frozen=True, kw_only=True)
class MapperRequest:
    """One Mapper graph (and optionally a second layer's): what defines a cached result.

    Attributes
    ----------
    model, data : str
        References (demo names or stored ids; paths on the command line).
    layer : str
    compare_layer : str or None
        A second layer of the same model mapped with the same examples and settings.
    lens : {"l2norm", "pca", "umap"}
    lens_dims : {1, 2}
    intervals : int
        Cover intervals per lens dimension.
    overlap : float
        Fraction of an interval shared with its neighbour.
    min_samples : int
        DBSCAN's ``min_samples``.
    eps : float or None
        DBSCAN's eps; None: the knee of the sorted k-NN distances.
    pooling : {"mean", "random"}
        A convolution's feature maps per example: global average pooling, or one random
        position.
    max_examples : int
        At most this many examples (a seeded sample of the data).
    seed : int
        ``random_state`` of the sample, the random pooling, the lens, eps and the drawing.
    """

    model: str = model_ref(default="demo:digits-cnn", cli_required=True)
    data: str = param(
        Reference("data", lambda: demo_names("data")),
        "demo:digits",
        label="data",
        missing="Choose data",
        help="data: an .npz, a .zip of class-named image folders, or demo:digits",
        cli_required=True,
    )
    preprocess: str = preprocess_param()
    resize: str = resize_param()
    layer: str = param(Name(), "conv2", label="layer", missing="Choose a layer", cli_required=True)
    compare_layer: str | None = param(Name(), None, label="second layer", optional=True, cli=False)
    lens: str = param(
        Options(LENSES, "lens"), "l2norm", label="lens", help=f"lens: {', '.join(LENSES)}"
    )
    lens_dims: int = param(
        Interval(int, 1, 2), 1, label="lens dimensions", help="lens dimensions (1 or 2)"
    )
    intervals: int = param(
        Interval(int, 2, MAX_INTERVALS), 10, label="intervals", help="cover intervals per lens "
        "dimension", metavar="N"
    )  # fmt: skip
    overlap: float = param(
        Interval(float, 0.05, 0.9), 0.5, label="overlap", help="overlap of neighbouring "
        "intervals (fraction of an interval)", metavar="F"
    )  # fmt: skip
    min_samples: int = param(
        Interval(int, 1, MAX_MIN_SAMPLES), 5, label="min samples", help="DBSCAN min_samples"
    )
    eps: float | None = param(
        Interval(float, 1e-9, 1e9), None, label="eps", optional=True,
        help="DBSCAN eps (default: from the knee of the sorted k-NN distances)",
    )  # fmt: skip
    pooling: str = param(
        Options(POOLINGS, "pooling"), "mean", label="pooling",
        help="convolutions: mean (global average pooling) or random (one position)",
    )  # fmt: skip
    max_examples: int = param(
        Interval(int, 10, MAX_EXAMPLES), 2000, label="examples", metavar="N",
        help="at most N examples (a seeded sample)",
    )  # fmt: skip
    seed: int = param(Interval(int, 0, MAX_SEED), 0, label="seed", help="random seed")

    def layers(self) -> list[str]:
        """The layer, then the second layer if any (and different)."""
        second = self.compare_layer
        return [self.layer] + ([second] if second and second != self.layer else [])


@dataclass
class MapperResult:
    """Graphs of one or two layers over the same examples, and what the view needs.

    Attributes
    ----------
    request : MapperRequest
    layers : list of str
    graphs : list of MapperGraph
    examples : ndarray of int
        The examples mapped (indices into the data as loaded).
    labels : ndarray of int or None
        Every example's label (all of the data).
    label_names : list of str or None
    predicted : ndarray of int or None
        Predicted class of every example (-1 where not mapped); None when the model's
        output is not a classification.
    thumbs : ndarray of uint8 or None
        Small pictures of ``examples`` (image data only), shape (n, h, w) or (n, h, w, 3).
    input_check : dict or None
        What the model did with the first batch (:func:`~.naps.input_check`).
    """

    request: MapperRequest
    layers: list[str]
    graphs: list[MapperGraph]
    examples: np.ndarray
    labels: np.ndarray | None
    label_names: list[str] | None
    predicted: np.ndarray | None
    thumbs: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    input_check: dict | None = None

    def warnings(self) -> list[str]:
        """The input check's warnings (wrongly prepared input, labels that do not match)."""
        return list((self.input_check or {}).get("warnings", []))

    def label_name(self, value: int) -> str:
        names = self.label_names
        return names[value] if names is not None and 0 <= value < len(names) else str(value)

    def classes(self) -> list[int]:
        """The data's class indices, sorted (the colour of class ``c`` is its position)."""
        return [] if self.labels is None else sorted(set(self.labels.tolist()))

    def majority(self, graph: MapperGraph) -> list[int]:
        """Each node's majority class index (0 without labels)."""
        if self.labels is None:
            return [0] * graph.n_nodes
        return [int(np.bincount(self.labels[m]).argmax()) for m in graph.members]

    def purity(self, graph: MapperGraph) -> dict[str, float]:
        if self.labels is None:
            return {"majority": float("nan"), "distinct": float("nan")}
        return mean_purity(graph, self.labels)

    def summary(self, index: int = 0) -> dict:
        """Settings and numbers of graph ``index`` (the graph's attributes in graph.json)."""
        graph = self.graphs[index]
        request = {k: v for k, v in asdict(self.request).items() if k != "compare_layer"}
        return {
            **request,
            "layer": self.layers[index],
            "eps_used": graph.eps,
            "n_examples": graph.n_examples,
            "n_noise": graph.n_noise,
            "n_nodes": graph.n_nodes,
            "n_links": int(len(graph.links)),
            **graph.topology(),
            # None, not NaN, without labels or nodes: graph.json stays strict JSON
            "purity": {k: None if v != v else v for k, v in self.purity(graph).items()},
            "input_check": self.input_check,
        }


def empty_message(result: MapperResult, index: int = 0) -> str | None:
    """Why graph ``index`` has no node (every example is DBSCAN noise), or None."""
    graph = result.graphs[index]
    if graph.n_nodes:
        return None
    return (
        f"Empty graph for layer {result.layers[index]!r}: all {graph.n_examples} examples are "
        f"noise for DBSCAN (eps {graph.eps:.4g}, min samples {result.request.min_samples}); "
        "raise eps or lower min samples"
    )


def graph_json(result: MapperResult, index: int = 0) -> dict:
    """Graph ``index`` in networkx's node-link form (see :func:`~..shape.mapper.node_link`)."""
    return node_link(result.graphs[index], result.labels, result.label_names, result.summary(index))


def thumbnails(x: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray | None:
    """Small uint8 pictures of image examples (n, h, w[, 3]); None for other data."""
    from PIL import Image

    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3)) or len(x) == 0:
        return None
    low, high = float(x.min()), float(x.max())
    scaled = ((x - low) / (high - low if high > low else 1.0) * 255).astype(np.uint8)
    h, w = scaled.shape[1:3]
    if max(h, w) <= side:
        return scaled
    size = (max(1, round(w * side / max(h, w))), max(1, round(h * side / max(h, w))))
    return np.stack([np.asarray(Image.fromarray(img).resize(size)) for img in scaled])


def graph_key(model_id: str, data_id: str, layer: str, request: MapperRequest) -> dict:
    """Cache key parts of one layer's graph: every setting but the second layer."""
    settings = {k: v for k, v in asdict(request).items() if k not in ("model", "data")}
    settings.pop("compare_layer")
    return {
        "kind": "mapper-graph",
        "v": GRAPH_VERSION,
        "model": model_id,
        "data": data_id,
        **settings,
        "layer": layer,
    }


def _sample(n: int, cap: int, seed: int) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.sort(check_random_state(seed).choice(n, cap, replace=False))


def layer_graph(
    model, dataset, layer: str, request: MapperRequest, examples: np.ndarray, progress=None
) -> dict:
    """``{"graph": MapperGraph, "predicted": ndarray or None}`` of one layer."""
    from ..io.activations import iter_activations
    from ..io.models import get_layer
    from ..profiles.groups import predicted_labels

    get_layer(model, layer)  # an unknown layer fails before any work
    rng = check_random_state(request.seed)
    parts, preds = [], []
    for _, acts, out in iter_activations(
        model, layer, dataset.x, progress=progress, indices=examples, with_predictions=True
    ):
        parts.append(layer_vectors(acts, request.pooling, rng))
        preds.append(out)
    vectors = np.concatenate(parts)
    outputs: np.ndarray = np.concatenate([p for p in preds if p is not None])
    classify = outputs.ndim == 2 and outputs.shape[1] > 1
    predicted = predicted_labels(outputs) if classify else None
    lens = lens_values(vectors, request.lens, request.lens_dims, request.seed)
    graph = mapper_graph(
        vectors,
        lens,
        intervals=request.intervals,
        overlap=request.overlap,
        min_samples=request.min_samples,
        eps=request.eps,
        indices=examples,
        random_state=request.seed,
        progress=progress,
    )
    return {"graph": graph, "predicted": predicted}


@register
class MapperJob(Job):
    """The Mapper tab's job and the ``mapper`` command."""

    name = "mapper"
    request_type = MapperRequest
    inputs = {"model": "model", "data": "data"}
    version = "2"
    command = "mapper"
    summary = "Mapper graph of a layer's activations (TopoAct)"

    def compute(self, request, sources, cache, progress):
        from ..io.models import input_spec

        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        model = sources.load_model()
        dataset = sources.load_data(input_spec(model))
        timings["load"] = time.perf_counter() - t_start
        if dataset.n_examples < 2:
            raise TopomapError(f"the data has {dataset.n_examples} example; Mapper needs 2+")
        examples = _sample(dataset.n_examples, request.max_examples, request.seed)
        from ..io.activations import batch_size_for
        from .naps import input_check

        check = input_check(model, dataset, examples[: batch_size_for(model, [], True)])
        graphs, predicted = [], None
        for layer in request.layers():
            t0 = time.perf_counter()
            key = graph_key(sources.id("model"), sources.id("data"), layer, request)
            value, _ = memo(
                cache,
                key,
                lambda layer=layer: layer_graph(model, dataset, layer, request, examples, progress),
            )
            graphs.append(value["graph"])
            if predicted is None and value["predicted"] is not None:
                predicted = np.full(dataset.n_examples, -1, dtype=np.int64)
                predicted[examples] = value["predicted"]
            timings[f"graph {layer}"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        return MapperResult(
            request=request,
            layers=request.layers(),
            graphs=graphs,
            examples=examples,
            labels=None if dataset.y is None else np.asarray(dataset.y, dtype=np.int64),
            label_names=dataset.label_names,
            predicted=predicted,
            thumbs=thumbnails(dataset.x[examples]),
            timings=timings,
            input_check=check,
        )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--out", required=True, help="output directory")

    def write_outputs(self, result, out_dir, args):
        return write_outputs(result, out_dir)

    def report(self, result):
        empty = empty_message(result)
        if empty:
            return empty
        graph = result.graphs[0]
        top = graph.topology()
        purity = result.purity(graph)["majority"]
        return (
            f"{graph.n_nodes} nodes, {len(graph.links)} links, {top['n_components']} "
            f"components, {top['n_cycles']} cycles; mean node purity {purity:.3f}; eps "
            f"{graph.eps:.4g}, {graph.n_noise}/{graph.n_examples} examples noise; "
            f"{result.timings['total']:.1f} s"
            + "".join(f"\nwarning: {text}" for text in result.warnings())
        )


def write_outputs(
    result: MapperResult, out_dir: str | Path, progress: ProgressCallback | None = None
) -> dict[str, Path]:
    """Write ``graph.json`` (node-link) and ``graph.png`` into ``out_dir``."""
    from ..shape.render import save_graph_png

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"graph": out / "graph.json", "picture": out / "graph.png"}
    paths["graph"].write_text(json.dumps(graph_json(result), indent=1))
    request = result.request
    title = (
        f"{result.layers[0]}: lens {request.lens}, {request.intervals} intervals, "
        f"overlap {request.overlap}"
    )
    save_graph_png(
        paths["picture"],
        result.graphs[0],
        _colour_index(result),
        title=title,
        empty_text=empty_message(result) or "",
        classes=[result.label_name(c) for c in result.classes()],
    )
    return paths


def _colour_index(result: MapperResult, index: int = 0) -> list[int]:
    classes = result.classes()
    position = {c: i for i, c in enumerate(classes)}
    return [position.get(c, 0) for c in result.majority(result.graphs[index])]
