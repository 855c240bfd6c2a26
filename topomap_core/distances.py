"""Dissimilarities between profiles: the one distance code path of the package.

:func:`pairwise_distances` is used between neurons (rows of the transposed NAP, paper 3.2)
by the layouts and between groups (rows of the NAP) by the dendrogram order;
:func:`distance_blocks` streams the rows of large matrices.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.spatial.distance import cdist

from .errors import TopomapError

__all__ = ["METRICS", "check_matrix", "cosine_distances", "distance_blocks", "pairwise_distances"]

#: Known dissimilarities; cosine is the paper's (section 3.2), Euclidean an option.
METRICS = ("cosine", "euclidean")


def check_matrix(X: np.ndarray, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise TopomapError(f"{name} must be 2-D of shape (n_samples, n_features); got {X.shape}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise TopomapError(f"{name} must have at least one row and one column; got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise TopomapError(f"{name} contains NaN or inf")
    return X


def cosine_distances(X: np.ndarray) -> np.ndarray:
    """Cosine distance ``1 - cos(angle)`` between all pairs of rows.

    Unlike ``scipy.spatial.distance.pdist(X, "cosine")``, an all-zero row (a dead
    neuron, or a group equal to the mean of all groups) gets distance 1 to every
    other row, "unrelated", and 0 to itself, instead of NaN that would poison a
    layout or a linkage.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, n_samples), float64
        Symmetric, zero diagonal, values in [0, 2].
    """
    X = check_matrix(X)
    ((_, D),) = distance_blocks(X, "cosine", block_rows=len(X))
    # Rounding can leave tiny asymmetries; the mean of two values in [0, 2] stays there.
    D += D.T
    D *= 0.5
    return D


def pairwise_distances(X: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Distances between all pairs of rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"`` uses :func:`cosine_distances` (zero rows at distance 1).

    Returns
    -------
    ndarray of shape (n_samples, n_samples), float64
        Symmetric with a zero diagonal.
    """
    if metric not in METRICS:
        raise TopomapError(f"metric {metric!r} is not known; choose one of {', '.join(METRICS)}")
    if metric == "cosine":
        return cosine_distances(X)
    X = check_matrix(X)
    D = cdist(X, X, metric="euclidean")
    np.fill_diagonal(D, 0.0)
    return D


#: Size of one block of :func:`distance_blocks`, in matrix entries (64 MB of float64).
BLOCK_ENTRIES = 8 * 2**20


def distance_blocks(
    X: np.ndarray,
    metric: str = "cosine",
    block_rows: int | None = None,
    n_rows: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """The rows of :func:`pairwise_distances` a block at a time, for matrices too big to hold.

    Wide layers need the distances only row by row (the PSO's global force, the graph's
    edges); the whole float64 matrix is 2 GiB at 16384 neurons. Values are those of
    :func:`pairwise_distances` up to the last bit: each block is computed on its own, so
    ``D[i, j]`` and ``D[j, i]`` may differ by rounding.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    metric : {"cosine", "euclidean"}, default="cosine"
    block_rows : int, optional
        Rows per block; default: as many as fit in :data:`BLOCK_ENTRIES` entries.
    n_rows : int, optional
        Only the first ``n_rows`` rows (their distances to every row); default all.

    Yields
    ------
    start : int
        Index of the block's first row.
    block : ndarray of shape (n_rows, n_samples), float64
        ``D[start:start + n_rows]``; zero rows at distance 1 (cosine), zero diagonal.
    """
    if metric not in METRICS:
        raise TopomapError(f"metric {metric!r} is not known; choose one of {', '.join(METRICS)}")
    X = check_matrix(X)
    n = X.shape[0]
    last = n if n_rows is None else min(n, n_rows)
    rows = block_rows or max(1, BLOCK_ENTRIES // max(n, 1))
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1)
        zero = norms == 0
        unit = X / np.where(zero, 1.0, norms)[:, None]
    for start in range(0, last, rows):
        stop = min(last, start + rows)
        if metric == "cosine":
            D = unit[start:stop] @ unit.T
            np.subtract(1.0, D, out=D)
            np.clip(D, 0.0, 2.0, out=D)
            if np.any(zero):
                D[zero[start:stop], :] = 1.0
                D[:, zero] = 1.0
        else:
            D = cdist(X[start:stop], X, metric="euclidean")
        D[np.arange(stop - start), np.arange(start, stop)] = 0.0
        yield start, D
