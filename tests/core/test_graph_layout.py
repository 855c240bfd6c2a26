"""The co-activation graph layout built from blocks: the same graph and layout as the plain
construction (whole distance matrix, ``numpy.quantile``, networkx)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from topomap_core import Cancelled, compute_layout
from topomap_core.distances import distance_blocks
from topomap_core.placement import graph
from topomap_core.placement._base import LayoutProblem, scale_unit


def _nap_columns(n: int, seed: int = 0, dead: int = 4) -> np.ndarray:
    """(n, 6) neuron profiles in clusters, with ``dead`` all-zero neurons (isolated nodes)."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(size=(max(2, n // 20), 6))
    X = centres[rng.randint(len(centres), size=n)] + 0.3 * rng.normal(size=(n, 6))
    X[rng.choice(n, dead, replace=False)] = 0.0
    return X


def _matrix(X, metric):
    return np.vstack([block for _, block in distance_blocks(X, metric)])


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few rows, so that every pass crosses block borders."""
    monkeypatch.setattr("topomap_core.distances.BLOCK_ENTRIES", 7 * 97)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("q", [0.0, 0.01, 0.075, 0.5, 1.0])
def test_pair_quantile_is_numpys_quantile(metric, q, small_blocks):
    X = _nap_columns(97)
    D = _matrix(X, metric)
    expected = np.quantile(D[np.triu_indices(len(X), 1)], q)
    assert graph.pair_quantile(X, metric, q) == expected


def test_graph_is_the_papers_graph(small_blocks):
    """Edges below the 7.5% quantile, plus each smaller component's closest pair to the
    largest, as the plain construction on the whole matrix makes them."""
    X = _nap_columns(97, dead=5)
    D = _matrix(X, "cosine")
    n = len(X)
    iu = np.triu_indices(n, 1)
    threshold = np.quantile(D[iu], 0.075)
    plain = nx.Graph()
    plain.add_nodes_from(range(n))
    keep = D[iu] <= threshold
    plain.add_edges_from(zip(iu[0][keep].tolist(), iu[1][keep].tolist(), strict=True))
    components = sorted(nx.connected_components(plain), key=lambda c: (-len(c), min(c)))
    assert len(components) > 5  # the dead neurons are isolated: linking is exercised
    largest = np.array(sorted(components[0]))
    for comp in components[1:]:
        members = np.array(sorted(comp))
        sub = D[np.ix_(members, largest)]
        a, b = np.unravel_index(np.argmin(sub), sub.shape)
        plain.add_edge(int(members[a]), int(largest[b]))

    A = graph.co_activation_graph(X, "cosine", 0.075)
    assert (A != A.T).nnz == 0 and set(A.data.tolist()) == {1.0}
    expected = nx.to_scipy_sparse_array(plain, nodelist=range(n), dtype=np.float32)
    assert (A != expected).nnz == 0
    assert sparse.csgraph.connected_components(A)[0] == 1


def _networkx_energy(pos, A, k, gravity=1.0):
    """networkx 3.6's ``_cost_FR`` written out densely (one component)."""
    delta = pos[:, None, :] - pos[None, :, :]
    distance2 = np.maximum(np.sum(delta * delta, axis=2), 1e-10)
    distance = np.sqrt(distance2)
    Ad = A * distance
    grad = 2 * np.einsum("ij,ijk->ik", Ad / k - k**2 / distance2, delta)
    cost = np.sum(Ad * distance2) / (3 * k) - k**2 * np.sum(np.log(distance))
    delta0 = pos.mean(axis=0) - 0.5
    return cost + gravity * 0.5 * len(pos) * delta0 @ delta0, grad + gravity * delta0


@pytest.mark.parametrize("spread", [1.0, 1e22])
def test_compiled_energy_and_gradient_are_networkxs(spread):
    X = _nap_columns(70)
    A = graph.co_activation_graph(X, "cosine", 0.075)
    rng = np.random.RandomState(1)
    pos = rng.rand(70, 2)
    pos[3] = pos[4] + 1e-9  # nearly coincident: the distance floor
    pos[5] *= spread  # far away: products of d^2 leave the float range, logs are taken singly
    k = np.sqrt(1 / 70)
    grad = np.empty((70, 2))
    cost = graph._energy_and_gradient(
        np.ascontiguousarray(pos[:, 0]),
        np.ascontiguousarray(pos[:, 1]),
        A.indptr.astype(np.int64),
        A.indices.astype(np.int64),
        A.data.astype(np.float64),
        k,
        grad,
    )
    delta0 = pos.mean(axis=0) - 0.5
    expected_cost, expected_grad = _networkx_energy(pos, A.toarray(), k)
    assert cost + 0.5 * 70 * delta0 @ delta0 == pytest.approx(expected_cost, rel=1e-10)
    np.testing.assert_allclose(grad + delta0, expected_grad, rtol=1e-9, atol=1e-12)


def test_energy_layout_follows_networkxs_spring_layout():
    """From 500 nodes networkx uses its energy method; ours starts and stops the same way."""
    X = _nap_columns(600, dead=10)
    A = graph.co_activation_graph(X, "cosine", 0.075)
    plain = nx.from_scipy_sparse_array(A)
    pos = nx.spring_layout(plain, seed=11, iterations=50)
    expected = scale_unit(np.array([pos[i] for i in range(600)]))
    problem = LayoutProblem(X, "cosine", np.random.RandomState(0), None)
    ours = scale_unit(graph._energy_layout(A, 11, 50, problem))
    # The same optimisation from the same start; rounding differs, so not bit for bit.
    assert np.median(np.abs(ours - expected)) < 0.01
    assert np.percentile(np.abs(ours - expected), 95) < 0.05


def test_graph_layout_reports_and_cancels_during_the_optimisation():
    nap = _nap_columns(520).T
    seen = []
    xy = compute_layout(nap, "graph", random_state=0, progress=lambda *a: seen.append(a))
    assert xy.shape == (520, 2)
    steps = [done for stage, done, _ in seen if stage == "graph"]
    assert steps[0] == 0 and steps[-1] == 50 and len(steps) > 10 and steps == sorted(steps)
    with pytest.raises(Cancelled, match="graph cancelled at 5/50"):
        compute_layout(nap, "graph", random_state=0, progress=lambda s, d, t: d >= 5)
