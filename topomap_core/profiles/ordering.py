"""The dendrogram order of the groups' maps.

As in the authors' code (REFERENCE.md, "Maps"), the maps are shown in the leaf order of an
average-linkage clustering of the groups, with optimal leaf ordering, so that similar groups
sit next to each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from ..distances import check_matrix, pairwise_distances
from ..errors import TopomapError

__all__ = ["GroupOrder", "closest_group", "dendrogram_segments", "order_groups"]


@dataclass
class GroupOrder:
    """Dendrogram order of the groups, and what a front end needs to draw it.

    Attributes
    ----------
    order : list of int
        Leaf order: ``order[k]`` is the original index of the k-th group to show.
    names : list of str
        Group names in that order.
    distance : ndarray of shape (n_groups, n_groups)
        Group distances, rows and columns in that order.
    linkage : ndarray of shape (n_groups - 1, 4) or None
        scipy linkage matrix in *original* indices (for :func:`dendrogram_segments`);
        None when there are fewer than 2 groups.
    """

    order: list[int]
    names: list[str]
    distance: np.ndarray
    linkage: np.ndarray | None


def order_groups(vectors: np.ndarray, names: Sequence[str], metric: str = "cosine") -> GroupOrder:
    """Order the groups by average-linkage clustering of their profiles.

    Parameters
    ----------
    vectors : ndarray of shape (n_groups, n_features)
        One row per group, e.g. its NAP over all neurons.
    names : sequence of str of length n_groups
        Unique group names, in the row order of ``vectors``.
    metric : {"cosine", "euclidean"}, default="cosine"

    Returns
    -------
    GroupOrder
        Leaves of ``linkage(..., method="average", optimal_ordering=True)``.
    """
    vectors = check_matrix(vectors, "vectors")
    names = [str(n) for n in names]
    if len(names) != vectors.shape[0]:
        raise TopomapError(
            f"names has {len(names)} entries but vectors has {vectors.shape[0]} rows (groups)"
        )
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise TopomapError(f"group names must be unique; repeated: {dupes}")
    D = pairwise_distances(vectors, metric=metric)
    n = len(names)
    if n < 2:
        return GroupOrder(order=[0], names=names, distance=D, linkage=None)
    Z = linkage(squareform(D, checks=False), method="average", optimal_ordering=True)
    order = [int(i) for i in leaves_list(Z)]
    return GroupOrder(
        order=order,
        names=[names[i] for i in order],
        distance=D[np.ix_(order, order)],
        linkage=Z,
    )


def dendrogram_segments(
    linkage_matrix: np.ndarray | None, order: Sequence[int] | None = None
) -> tuple[list[list[float]], list[list[float]]]:
    """Line segments of the dendrogram, for drawing it beside the maps without scipy plotting.

    Each merge is one "U": four points, like ``scipy.cluster.hierarchy.dendrogram(
    no_plot=True)``'s ``icoord`` / ``dcoord``, except that leaf ``k`` of the order sits at
    ``x = k`` (scipy uses ``5 + 10 k``), so leaves line up with the k-th map.

    Parameters
    ----------
    linkage_matrix : ndarray of shape (n_groups - 1, 4) or None
        :attr:`GroupOrder.linkage`; None (fewer than 2 groups) gives no segments.
    order : sequence of int, optional
        Leaf order (:attr:`GroupOrder.order`); defaults to ``leaves_list(linkage_matrix)``.
        Any other permutation is drawn faithfully but its lines may cross.

    Returns
    -------
    xs, ys : list of list of float
        ``xs[i]`` and ``ys[i]`` are the 4 x and 4 y coordinates (height = merge distance)
        of the i-th merge, in linkage order.
    """
    if linkage_matrix is None:
        return [], []
    Z = np.asarray(linkage_matrix, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[1] != 4:
        raise TopomapError(f"linkage_matrix must have shape (n_groups - 1, 4); got {Z.shape}")
    n = Z.shape[0] + 1
    order_list = [int(i) for i in (leaves_list(Z) if order is None else order)]
    if sorted(order_list) != list(range(n)):
        raise TopomapError(
            f"order must be a permutation of 0..{n - 1} for a linkage of {n} groups; "
            f"got {order_list}"
        )
    # Node positions: leaves at their place in the order, clusters at their children's middle.
    x = np.empty(2 * n - 1)
    y = np.zeros(2 * n - 1)
    x[order_list] = np.arange(n, dtype=np.float64)
    xs: list[list[float]] = []
    ys: list[list[float]] = []
    for i, (a, b, height, _) in enumerate(Z):
        a, b = int(a), int(b)
        x[n + i] = (x[a] + x[b]) / 2.0
        y[n + i] = height
        xs.append([float(x[a]), float(x[a]), float(x[b]), float(x[b])])
        ys.append([float(y[a]), float(height), float(height), float(y[b])])
    return xs, ys


def closest_group(order: GroupOrder, name: str) -> str:
    """Name of the group nearest to ``name`` (smallest distance, ties: first in the order).

    Parameters
    ----------
    order : GroupOrder
    name : str
        One of ``order.names``.

    Returns
    -------
    str
    """
    if name not in order.names:
        raise TopomapError(f"group {name!r} is not known; choose one of {order.names}")
    if len(order.names) < 2:
        raise TopomapError(f"group {name!r} is the only group; there is no other to compare")
    k = order.names.index(name)
    row = np.array(order.distance[k], dtype=np.float64)
    row[k] = np.inf
    return order.names[int(np.argmin(row))]
