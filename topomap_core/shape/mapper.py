"""Mapper graphs of activation vectors, built with KeplerMapper (TopoAct's library).

One point per example: its activation vector at a layer (a convolution's feature maps pooled
per channel, :func:`layer_vectors`). A lens maps the points to 1 or 2 dimensions
(:func:`lens_values`: the L2 norm as in TopoAct, PCA or UMAP), an overlapping cover of the lens
range splits them into intervals (:func:`fitted_cover`), DBSCAN clusters each interval's
points in the full activation space (eps from the knee of the sorted nearest-neighbour
distances when not given, :func:`knee_eps`), and every cluster is a node; nodes that share
examples are linked (:func:`mapper_graph`). Edge strength is the Jaccard index of the two
member sets (computed here, not by kmapper).

kmapper's own cover reaches past the data at both ends (its radius is computed from a range
inset by half an interval, kmapper PR #242): :func:`fitted_cover` gives it limits for which the
first interval starts at the smallest lens value and the last ends at the largest.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_random_state

from ..errors import TopomapError
from ..progress import ProgressCallback, report

__all__ = [
    "LENSES",
    "POOLINGS",
    "MapperGraph",
    "class_counts",
    "cover_intervals",
    "fitted_cover",
    "knee_eps",
    "layer_vectors",
    "lens_values",
    "mapper_graph",
    "mean_purity",
    "node_link",
]

#: Lenses: the L2 norm of the activation vector (TopoAct), PCA or UMAP to 1 or 2 dimensions.
LENSES = ("l2norm", "pca", "umap")

#: How a convolution's (h, w, c) activations become one vector per example: the mean over
#: positions (global average pooling, deterministic, the default) or the activations at one
#: random position per example (TopoAct's follow-up work, Activation-Atlas style).
POOLINGS = ("mean", "random")

#: Queries of the nearest-neighbour distances that eps is chosen from (a seeded sample).
EPS_QUERIES = 1000


def layer_vectors(acts: np.ndarray, pooling: str = "mean", random_state=None) -> np.ndarray:
    """One vector per example from a batch of a layer's activations.

    Parameters
    ----------
    acts : ndarray of shape (n, ..., n_channels)
        Channels last (as :func:`topomap_core.io.models.iter_activations` yields them).
    pooling : {"mean", "random"}
        For outputs with spatial axes: their mean, or one random position per example.
    random_state : int, RandomState or None

    Returns
    -------
    ndarray of shape (n, n_channels), float32
    """
    acts = np.asarray(acts, dtype=np.float32)
    if acts.ndim == 2:
        return acts
    if pooling not in POOLINGS:
        raise TopomapError(f"unknown pooling {pooling!r} (use one of {', '.join(POOLINGS)})")
    flat = acts.reshape(len(acts), -1, acts.shape[-1])
    if pooling == "mean":
        return flat.mean(axis=1)
    rng = check_random_state(random_state)
    where = rng.randint(0, flat.shape[1], size=len(flat))
    return flat[np.arange(len(flat)), where]


def lens_values(
    vectors: np.ndarray, lens: str = "l2norm", dims: int = 1, random_state: int = 0
) -> np.ndarray:
    """The lens of every point, min-max scaled to [0, 1] per dimension.

    Parameters
    ----------
    vectors : ndarray of shape (n, n_features)
    lens : {"l2norm", "pca", "umap"}
    dims : {1, 2}
        ``l2norm`` is one-dimensional.
    random_state : int

    Returns
    -------
    ndarray of shape (n, dims)
    """
    import kmapper
    from sklearn.preprocessing import MinMaxScaler

    if lens not in LENSES:
        raise TopomapError(f"unknown lens {lens!r} (use one of {', '.join(LENSES)})")
    if dims not in (1, 2):
        raise TopomapError(f"lens dimensions {dims} (must be 1 or 2)")
    if lens == "l2norm" and dims != 1:
        raise TopomapError("lens 'l2norm' is one-dimensional: use 1 dimension, or lens pca/umap")
    n, n_features = vectors.shape
    if lens != "l2norm" and n_features < dims:
        raise TopomapError(
            f"lens {lens!r} with {dims} dimensions needs at least {dims} features; the layer "
            f"has {n_features}"
        )
    if lens == "l2norm":
        projection = "l2norm"
    elif lens == "pca":
        from sklearn.decomposition import PCA

        projection = PCA(n_components=dims, random_state=random_state)
    else:
        if n < 4:
            raise TopomapError(f"lens 'umap' needs at least 4 examples, got {n}")
        from ..placement.methods import import_umap

        projection = import_umap().UMAP(
            n_components=dims, n_neighbors=min(15, n - 1), random_state=random_state
        )
    mapper = kmapper.KeplerMapper(verbose=0)
    values = mapper.fit_transform(vectors, projection=projection, scaler=MinMaxScaler())
    return np.asarray(values, dtype=np.float64).reshape(n, dims)


def fitted_cover(lens: np.ndarray, intervals: int, overlap: float):
    """A kmapper ``Cover`` whose intervals span exactly the lens range, per dimension.

    kmapper places ``intervals`` centres from ``lo + r/2n`` to ``hi - r/2n`` (``r = hi - lo``)
    with radius ``r / (2n(1 - p))``, so its end intervals reach ``r p / (2n(1 - p))`` past
    ``[lo, hi]``. Solving for the limits that make them end at the data's minimum and maximum
    gives ``r = D / (1 + p / (n(1 - p)))`` for a data range ``D``, with ``lo = min + r p /
    (2n(1 - p))``. The overlap of neighbouring intervals stays ``p`` of their length.
    """
    from kmapper import Cover

    lens = np.asarray(lens, dtype=np.float64)
    n, p = int(intervals), float(overlap)
    low, high = lens.min(axis=0), lens.max(axis=0)
    data_range = np.maximum(high - low, 1e-12)
    pad = 1e-9 * np.maximum(data_range, 1.0)  # float rounding must not leave an end out
    low, data_range = low - pad, data_range + 2 * pad
    inner = data_range / (1.0 + p / (n * (1.0 - p)))
    start = low + inner * p / (2 * n * (1.0 - p))
    limits = np.stack([start, start + inner], axis=1)
    cover = Cover(n_cubes=n, perc_overlap=p, limits=limits)
    with warnings.catch_warnings():
        # kmapper warns whenever limits are inside the data range, which these are by design
        # (only the interval centres are inside).
        warnings.simplefilter("ignore", UserWarning)
        cover.fit(np.c_[np.arange(len(lens)), lens])
    return cover


def cover_intervals(cover) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` of every cube of a fitted cover, each of shape (n_cubes, dims)."""
    centres = np.asarray(cover.centers_, dtype=np.float64)
    return centres - cover.radius_, centres + cover.radius_


def knee_eps(
    vectors: np.ndarray, k: int = 2, random_state=None, max_queries: int = EPS_QUERIES
) -> float:
    """DBSCAN's eps from the data: the knee of the sorted k-nearest-neighbour distances.

    The distance of each point to its k-th nearest point (the point itself being the first:
    ``k=2`` is TopoAct's nearest-other-point distance), sorted; the knee is the point
    farthest below the chord from the first to the last value (Kneedle). The median is the
    fallback when there is no knee (a straight line, all distances equal). At most
    ``max_queries`` seeded points are queried, against all points.

    :func:`mapper_graph` passes ``k = min_samples``: DBSCAN's core points need
    ``min_samples`` points (themselves included) within eps, so the knee of that distance
    makes most points core, where TopoAct's 2-NN knee left a third of the digits as noise and
    broke a planted loop into dozens of pieces (docs/ALGORITHMS.md).
    """
    from sklearn.neighbors import NearestNeighbors

    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    k = max(2, min(int(k), n))
    if n < 2:
        raise TopomapError(f"need at least 2 examples to choose eps, got {n}")
    rng = check_random_state(random_state)
    queries = vectors if n <= max_queries else vectors[rng.choice(n, max_queries, replace=False)]
    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(vectors)
    distances = np.sort(index.kneighbors(queries, return_distance=True)[0][:, -1])
    positive = distances[distances > 0]
    if positive.size == 0:
        return 1e-6  # every point is duplicated: any positive eps joins the copies
    median = float(np.median(positive))
    span = distances[-1] - distances[0]
    if distances.size < 3 or span <= 0:
        return median
    x = np.linspace(0.0, 1.0, distances.size)
    y = (distances - distances[0]) / span
    gap = x - y  # the chord y = x minus the curve: largest at the knee of a convex curve
    knee = int(np.argmax(gap))
    value = float(distances[knee])
    return value if gap[knee] > 0.05 and value > 0 else median


@dataclass
class MapperGraph:
    """One Mapper graph: its nodes (clusters), links and summary.

    Attributes
    ----------
    node_ids : list of str
        kmapper's ``cube{i}_cluster{j}``.
    members : list of ndarray of int
        Each node's examples, sorted, as indices into the data as loaded.
    links : ndarray of shape (n_links, 2), int
        Node index pairs ``(i, j)``, ``i < j``, sharing at least one example.
    shared : ndarray of shape (n_links,), int
        Examples each linked pair shares.
    jaccard : ndarray of shape (n_links,)
        ``shared / (|A| + |B| - shared)``.
    mean_norm : ndarray of shape (n_nodes,)
        Mean L2 norm of the node's activation vectors.
    eps : float
        DBSCAN's eps (given, or chosen from the data).
    n_examples, n_noise : int
        Points mapped, and points in no node.
    positions : ndarray of shape (n_nodes, 2)
        A drawing of the graph in [0, 1] (spring layout, seeded).
    """

    node_ids: list[str]
    members: list[np.ndarray]
    links: np.ndarray
    shared: np.ndarray
    jaccard: np.ndarray
    mean_norm: np.ndarray
    eps: float
    n_examples: int
    n_noise: int
    positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def sizes(self) -> np.ndarray:
        return np.array([m.size for m in self.members], dtype=np.int64)

    def to_networkx(self):
        """The graph as a networkx ``Graph`` (node attribute ``size``, edge ``jaccard``)."""
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from((i, {"size": int(m.size)}) for i, m in enumerate(self.members))
        graph.add_edges_from(
            (int(a), int(b), {"jaccard": float(j)})
            for (a, b), j in zip(self.links, self.jaccard, strict=True)
        )
        return graph

    def topology(self) -> dict[str, int]:
        """``n_components`` and ``n_cycles`` (independent cycles: links - nodes + components)."""
        import networkx as nx

        if self.n_nodes == 0:
            return {"n_components": 0, "n_cycles": 0}
        components = nx.number_connected_components(self.to_networkx())
        return {
            "n_components": int(components),
            "n_cycles": int(len(self.links) - self.n_nodes + components),
        }


class _ReportingDBSCAN:
    """DBSCAN that reports each cube it clusters (kmapper calls ``fit_predict`` once per
    non-empty cube), so a long mapping shows progress and can be cancelled."""

    def __init__(self, eps: float, min_samples: int, progress, total: int):
        from sklearn.cluster import DBSCAN

        # Brute force: neighbour trees do not prune in activation spaces of hundreds of
        # dimensions (no measured gain yet on a loaded machine, see PERFORMANCE).
        self.dbscan = DBSCAN(eps=eps, min_samples=min_samples, algorithm="brute")
        self.progress, self.total, self.done = progress, total, 0

    def get_params(self, deep: bool = True) -> dict:
        return self.dbscan.get_params(deep)  # kmapper reads min_samples from these

    def fit_predict(self, x):
        self.done += 1
        report(self.progress, "clustering", min(self.done, self.total), self.total)
        # kmapper hands float64 (it prepends an id column); activations are float32, and
        # float32 distances halve the time of the cubes' radius neighbours.
        return self.dbscan.fit_predict(np.asarray(x, dtype=np.float32))

    def __str__(self) -> str:
        return str(self.dbscan)


def mapper_graph(
    vectors: np.ndarray,
    lens: np.ndarray,
    *,
    intervals: int = 10,
    overlap: float = 0.5,
    min_samples: int = 5,
    eps: float | None = None,
    indices: np.ndarray | None = None,
    random_state: int = 0,
    progress: ProgressCallback | None = None,
) -> MapperGraph:
    """Build the Mapper graph of ``vectors`` seen through ``lens``.

    Parameters
    ----------
    vectors : ndarray of shape (n, n_features)
        What DBSCAN clusters in each interval.
    lens : ndarray of shape (n, dims)
    intervals : int
        Intervals per lens dimension.
    overlap : float in (0, 1)
        Fraction of an interval shared with its neighbour.
    min_samples : int
        DBSCAN's ``min_samples`` (cubes with fewer points are skipped).
    eps : float, optional
        DBSCAN's eps; None: :func:`knee_eps`.
    indices : ndarray of shape (n,), optional
        The examples' indices in the data as loaded (default ``0 .. n-1``).
    random_state : int
        Of eps's sample and of the drawing.
    progress : callable, optional
        Stages ``"eps"``, ``"clustering"`` (one report per cube) and ``"layout"``.
    """
    import kmapper

    vectors = np.asarray(vectors, dtype=np.float32)
    lens = np.asarray(lens, dtype=np.float64).reshape(len(vectors), -1)
    n = len(vectors)
    indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
    if n < 2:
        raise TopomapError(f"need at least 2 examples for a Mapper graph, got {n}")
    if eps is None:
        report(progress, "eps", 0, 1)
        eps = knee_eps(vectors, min_samples, random_state)
    cover = fitted_cover(lens, intervals, overlap)
    total = intervals ** lens.shape[1]
    clusterer = _ReportingDBSCAN(float(eps), int(min_samples), progress, total)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        raw = kmapper.KeplerMapper(verbose=0).map(lens, vectors, clusterer=clusterer, cover=cover)
    report(progress, "clustering", total, total)
    # Node order: by cube, then cluster, so ids and positions are reproducible.
    ids = sorted(raw["nodes"], key=_node_order)
    local = [np.unique(np.asarray(raw["nodes"][i], dtype=np.int64)) for i in ids]
    norms = np.linalg.norm(vectors, axis=1)
    mean_norm = np.array([norms[m].mean() for m in local]) if local else np.zeros(0)
    links, shared, jaccard = _links(local, n)
    covered = np.unique(np.concatenate(local)) if local else np.zeros(0, np.int64)
    graph = MapperGraph(
        node_ids=ids,
        members=[indices[m] for m in local],
        links=links,
        shared=shared,
        jaccard=jaccard,
        mean_norm=mean_norm,
        eps=float(eps),
        n_examples=n,
        n_noise=int(n - covered.size),
    )
    report(progress, "layout", 0, 1)
    graph.positions = _positions(graph, random_state)
    return graph


def _node_order(node_id: str) -> tuple[int, int]:
    cube, cluster = node_id.removeprefix("cube").split("_cluster")
    return int(cube), int(cluster)


def _links(members: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of nodes sharing examples, with the count and the Jaccard index."""
    from scipy import sparse

    if len(members) < 2:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64), np.zeros(0)
    rows = np.repeat(np.arange(len(members)), [m.size for m in members])
    incidence = sparse.csr_matrix(
        (np.ones(rows.size, np.int64), (rows, np.concatenate(members))), shape=(len(members), n)
    )
    overlap = sparse.triu(incidence @ incidence.T, k=1).tocoo()
    order = np.lexsort((overlap.col, overlap.row))
    a, b, shared = overlap.row[order], overlap.col[order], overlap.data[order].astype(np.int64)
    sizes = np.array([m.size for m in members])
    jaccard = shared / (sizes[a] + sizes[b] - shared)
    return np.stack([a, b], axis=1).astype(np.int64), shared, jaccard


def _positions(graph: MapperGraph, random_state: int) -> np.ndarray:
    """Node positions in [0, 1]^2: networkx's spring layout, weighted by Jaccard."""
    import networkx as nx

    if graph.n_nodes == 0:
        return np.zeros((0, 2))
    if graph.n_nodes == 1:
        return np.full((1, 2), 0.5)
    pos = nx.spring_layout(graph.to_networkx(), weight="jaccard", seed=random_state)
    xy = np.array([pos[i] for i in range(graph.n_nodes)], dtype=np.float64)
    low, high = xy.min(axis=0), xy.max(axis=0)
    return (xy - low) / np.where(high > low, high - low, 1.0)


def class_counts(members: np.ndarray, labels: np.ndarray | None, names) -> dict[str, int]:
    """Label name -> count among ``members`` (most common first); ``{"?": n}`` unlabelled."""
    if labels is None:
        return {"?": int(members.size)}
    values, counts = np.unique(labels[members], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {_name(names, values[i]): int(counts[i]) for i in order}


def _name(names, value) -> str:
    value = int(value)
    return names[value] if names is not None and 0 <= value < len(names) else str(value)


def mean_purity(graph: MapperGraph, labels: np.ndarray) -> dict[str, float]:
    """Mean over nodes of the majority class's share (``majority``), and of 1 / the number of
    distinct labels (``distinct``, the definition of TopoAct's follow-up); NaN without nodes."""
    if graph.n_nodes == 0:
        return {"majority": float("nan"), "distinct": float("nan")}
    majority, distinct = [], []
    for m in graph.members:
        _, counts = np.unique(labels[m], return_counts=True)
        majority.append(counts.max() / counts.sum())
        distinct.append(1.0 / counts.size)
    return {"majority": float(np.mean(majority)), "distinct": float(np.mean(distinct))}


def node_link(graph: MapperGraph, labels: np.ndarray | None, names, meta: dict) -> dict:
    """networkx's node-link form of the graph (``nodes``: ``id``, ``members``,
    ``class_counts``, ``size``, ``mean_norm``; ``links``: ``source``, ``target``, ``shared``,
    ``jaccard``), with ``meta`` as the graph's attributes."""
    import networkx as nx

    nxg = nx.Graph(**meta)
    for node_id, m, norm in zip(graph.node_ids, graph.members, graph.mean_norm, strict=True):
        nxg.add_node(
            node_id,
            members=m.tolist(),
            class_counts=class_counts(m, labels, names),
            size=int(m.size),
            mean_norm=round(float(norm), 6),
        )
    for (a, b), shared, jac in zip(graph.links, graph.shared, graph.jaccard, strict=True):
        nxg.add_edge(
            graph.node_ids[a], graph.node_ids[b], shared=int(shared), jaccard=round(float(jac), 6)
        )
    return nx.node_link_data(nxg, edges="links")
