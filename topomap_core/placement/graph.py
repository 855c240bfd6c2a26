"""Co-activation graph layout (paper 3.2.2), built without N x N arrays.

An edge joins every pair of neurons whose distance is within the 7.5% smallest of all pairs;
each smaller connected component is linked to the largest through its closest pair; the
connected graph is laid out with Fruchterman-Reingold as networkx's ``spring_layout`` does.

The first version built the whole distance matrix, its upper triangle, index arrays and a
networkx graph of every edge (2.2 GB and 190 s at 8192 neurons; 10 million edges at 16384).
Here the distances are computed a block of rows at a time (:func:`distance_blocks`): the
threshold is the exact ``numpy.quantile`` of the pairs' distances, found by counting them in
fine bins and sorting only the bins that hold it; edges are collected block by block into a
sparse matrix. ``spring_layout`` picks its energy-based Fruchterman-Reingold from 500 nodes
on (L-BFGS on an energy whose gradient is the FR forces); :func:`_energy_layout` runs that
same optimisation (scipy's L-BFGS-B, networkx's start, constants and stopping rule) with the
energy and its gradient compiled, one pass over the pairs and no N x 500 x 2 temporaries.
Smaller graphs still go to networkx itself.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from ..distances import distance_blocks
from ._base import LayoutProblem

#: ``spring_layout`` switches from its force method to the energy method at this size.
ENERGY_FROM = 500
#: Bins of the distance histogram used to find the quantile (exact whatever the number).
N_BINS = 1 << 16


def _upper(start: int, block: np.ndarray) -> np.ndarray:
    """The block's entries right of the diagonal (pairs i < j), in row-major order."""
    rows, n = block.shape
    return block[np.arange(n)[None, :] > (start + np.arange(rows))[:, None]]


def _bin(values: np.ndarray, scale: float) -> np.ndarray:
    return np.minimum((values * scale).astype(np.int64), N_BINS - 1)


def pair_quantile(X: np.ndarray, metric: str, q: float) -> float:
    """``numpy.quantile`` (linear method) of the distances of all pairs ``i < j``.

    Computed from blocks of rows in two passes (bin counts, then the bins holding the two
    order statistics), so memory stays at one block whatever the number of pairs.
    """
    n = X.shape[0]
    m = n * (n - 1) // 2
    # The bins only need to span every distance: cosine ones lie in [0, 2]; Euclidean ones
    # are at most twice the largest distance to the centroid (triangle inequality).
    if metric == "cosine":
        vmax = 2.0
    else:
        vmax = 2.0 * float(np.linalg.norm(X - X.mean(axis=0), axis=1).max())
    scale = N_BINS / vmax if vmax > 0 else 0.0
    counts = np.zeros(N_BINS, dtype=np.int64)
    for start, block in distance_blocks(X, metric):
        counts += np.bincount(_bin(_upper(start, block), scale), minlength=N_BINS)
    # numpy's virtual index and interpolation weight for the linear method.
    virtual = (m - 1) * q
    lo = int(np.clip(np.floor(virtual), 0, m - 1))
    hi = min(lo + 1, m - 1)
    gamma = virtual - np.floor(virtual)
    cum = np.cumsum(counts)
    first_bin, last_bin = (int(np.searchsorted(cum, r, side="right")) for r in (lo, hi))
    below = int(cum[first_bin - 1]) if first_bin > 0 else 0
    kept = []
    for start, block in distance_blocks(X, metric):
        values = _upper(start, block)
        bins = _bin(values, scale)
        kept.append(values[(bins >= first_bin) & (bins <= last_bin)])
    candidates = np.sort(np.concatenate(kept))
    a, b = candidates[lo - below], candidates[hi - below]
    diff = b - a
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def _closest_pair(X: np.ndarray, metric: str, members: np.ndarray, target: np.ndarray):
    """The pair (member, target) at the smallest distance (first one in row-major order)."""
    best = (np.inf, 0, 0)
    sub = X[np.concatenate([members, target])]
    for start, block in distance_blocks(sub, metric, n_rows=len(members)):
        part = block[:, len(members) :]
        r, c = divmod(int(np.argmin(part)), part.shape[1])
        if part[r, c] < best[0]:
            best = (part[r, c], members[start + r], target[c])
    return int(best[1]), int(best[2])


def co_activation_graph(X: np.ndarray, metric: str, edge_fraction: float) -> sparse.csr_array:
    """The connected co-activation graph of paper 3.2.2 as a symmetric 0/1 CSR matrix."""
    n = X.shape[0]
    threshold = pair_quantile(X, metric, edge_fraction)
    rows, cols = [], []
    for start, block in distance_blocks(X, metric):
        upper = np.arange(n)[None, :] > (start + np.arange(len(block)))[:, None]
        r, c = np.nonzero((block <= threshold) & upper)
        rows.append((r + start).astype(np.int32))
        cols.append(c.astype(np.int32))
    i, j = np.concatenate(rows), np.concatenate(cols)
    n_comp, labels = connected_components(
        sparse.coo_array((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False
    )
    if n_comp > 1:
        _, firsts, sizes = np.unique(labels, return_index=True, return_counts=True)
        # Largest first, ties by their smallest neuron (as sorting networkx's components).
        comps = np.lexsort((firsts, -sizes))
        members = np.split(np.argsort(labels, kind="stable"), np.cumsum(sizes)[:-1])
        largest = members[comps[0]]
        links = [_closest_pair(X, metric, members[c], largest) for c in comps[1:]]
        i = np.concatenate([i, np.array([a for a, _ in links], dtype=np.int32)])
        j = np.concatenate([j, np.array([b for _, b in links], dtype=np.int32)])
    ones = np.ones(2 * len(i), dtype=np.float32)
    return sparse.csr_array((ones, (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n))


#: Pairs whose squared distances are multiplied before one logarithm is taken.
_LOG_CHUNK = 32
#: A product outside this range (a far line-search trial) is summed as separate logarithms.
_PROD_MIN, _PROD_MAX = 1e-290, 1e290
# Fast maths without giving up inf/NaN semantics: the range check above must stay.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(parallel=True, fastmath=_FASTMATH, cache=True)
def _energy_and_gradient(px, py, indptr, indices, weights, k, grad):  # pragma: no cover
    """networkx's FR energy (``_energy_fruchterman_reingold._cost_FR``) without gravity.

    Repulsion ``-k^2 sum_ij log d_ij`` over all ordered pairs (self-pairs at the distance
    floor 1e-5, as there), attraction ``sum_(ij edge) A_ij d_ij^3 / (3k)``; ``grad`` gets
    ``2 sum_j (A_ij d_ij / k - k^2 / d_ij^2) (p_i - p_j)``. The logarithms of 32 squared
    distances at a time are taken as one logarithm of their product when that product is a
    normal float within [1e-290, 1e290] (else each on its own): 32 times fewer logarithms for
    the same sum up to rounding (a relative error of about 1e-14 per product).
    """
    n = px.shape[0]
    k2 = k * k
    costs = np.zeros(n)
    for i in numba.prange(n):
        xi = px[i]
        yi = py[i]
        gx = 0.0
        gy = 0.0
        d2s = np.empty(n)
        # Forces first, in one loop the compiler vectorises; logarithms after, on the kept d^2.
        for j in range(n):
            dx = xi - px[j]
            dy = yi - py[j]
            d2 = max(dx * dx + dy * dy, 1e-10)
            d2s[j] = d2
            f = k2 / d2
            gx -= f * dx
            gy -= f * dy
        logsum = 0.0
        for j0 in range(0, n, _LOG_CHUNK):
            j1 = min(j0 + _LOG_CHUNK, n)
            prod = 1.0
            for j in range(j0, j1):
                prod *= d2s[j]
            if _PROD_MIN < prod < _PROD_MAX:
                logsum += math.log(prod)
            else:
                for j in range(j0, j1):
                    logsum += math.log(d2s[j])
        cost = -k2 * 0.5 * logsum
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            a = weights[p]
            dx = xi - px[j]
            dy = yi - py[j]
            d2 = max(dx * dx + dy * dy, 1e-10)
            d = math.sqrt(d2)
            cost += a * d * d2 / (3.0 * k)
            f = a * d / k
            gx += f * dx
            gy += f * dy
        grad[i, 0] = 2.0 * gx
        grad[i, 1] = 2.0 * gy
        costs[i] = cost
    return costs.sum()


def _energy_layout(
    A: sparse.csr_array,
    seed: int,
    iterations: int,
    problem: LayoutProblem,
    threshold: float = 1e-4,
    gravity: float = 1.0,
) -> np.ndarray:
    """``spring_layout(G, seed=seed, iterations=iterations)`` of a connected graph, n >= 500.

    The start (``RandomState(seed).rand(n, 2)`` in float32), ``k = sqrt(1 / n)``, the
    gravity towards (0.5, 0.5) and ``minimize(..., method="L-BFGS-B", options={"maxiter":
    iterations, "gtol": threshold})`` are networkx's; only the final rescaling is left out
    (the layout is min-max scaled afterwards anyway).
    """
    from scipy.optimize import minimize

    n = A.shape[0]
    k = float(np.sqrt(1.0 / n))
    indptr = A.indptr.astype(np.int64)
    indices = A.indices.astype(np.int64)
    weights = A.data.astype(np.float64)
    start = np.asarray(np.random.RandomState(seed).rand(n, 2), dtype=np.float32)
    grad = np.empty((n, 2))

    def cost(x):
        pos = x.reshape((n, 2))
        # Contiguous x and y (not interleaved) let the pair loop vectorise.
        px, py = np.ascontiguousarray(pos[:, 0]), np.ascontiguousarray(pos[:, 1])
        value = _energy_and_gradient(px, py, indptr, indices, weights, k, grad)
        # Gravity of the (one) component's centroid towards (0.5, 0.5), as networkx.
        delta0 = pos.mean(axis=0) - 0.5
        return value + gravity * 0.5 * n * float(delta0 @ delta0), (grad + gravity * delta0).ravel()

    done = 0

    def step(_):
        nonlocal done
        done = min(done + 1, iterations)
        problem.report("graph", done, iterations)

    result = minimize(
        cost,
        start.ravel(),
        method="L-BFGS-B",
        jac=True,
        callback=step,
        options={"maxiter": iterations, "gtol": threshold},
    )
    return result.x.reshape((n, 2))


def graph_layout(
    problem: LayoutProblem, *, edge_fraction: float = 0.075, iterations: int = 50
) -> np.ndarray:
    """Co-activation graph layout (paper 3.2.2).

    An edge joins every pair whose distance is within the ``edge_fraction``
    most similar pairs; each smaller connected component is linked to the
    largest through its closest pair, and the connected graph is laid out with
    Fruchterman-Reingold (networkx ``spring_layout``'s algorithm, seeded).
    """
    n = problem.n_neurons
    problem.report("graph", 0, iterations)
    A = co_activation_graph(problem.X, problem.metric, edge_fraction)
    seed = problem.seed()
    if n >= ENERGY_FROM:
        xy = _energy_layout(A, seed, iterations, problem)
    else:
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        coo = sparse.triu(A, k=1).tocoo()
        graph.add_edges_from(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
        pos = nx.spring_layout(graph, seed=seed, iterations=iterations)
        xy = np.array([pos[i] for i in range(n)], dtype=np.float64)
    problem.report("graph", iterations, iterations)
    return xy
