"""profiles.ordering and distances: distances, dendrogram order of groups, dendrogram lines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import dendrogram
from scipy.spatial.distance import cdist, pdist, squareform

from topomap_core.distances import cosine_distances, distance_blocks, pairwise_distances
from topomap_core.profiles.ordering import (
    GroupOrder,
    closest_group,
    dendrogram_segments,
    order_groups,
)


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, list[str]]:
    """Six groups in two tight clusters (a*, b*) pointing in different directions."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8), rng.normal(size=8)
    rows = [a + 0.05 * rng.normal(size=8) for _ in range(3)]
    rows += [b + 0.05 * rng.normal(size=8) for _ in range(3)]
    names = ["a0", "a1", "a2", "b0", "b1", "b2"]
    perm = [3, 0, 4, 1, 5, 2]  # interleave so the order has something to do
    return np.array(rows)[perm], [names[i] for i in perm]


def test_cosine_matches_scipy_for_nonzero_rows():
    X = np.random.default_rng(1).normal(size=(7, 5))
    np.testing.assert_allclose(cosine_distances(X), squareform(pdist(X, "cosine")), atol=1e-12)


def test_cosine_zero_rows_are_distance_one_not_nan():
    X = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    D = cosine_distances(X)
    assert np.all(np.isfinite(D))
    np.testing.assert_array_equal(np.diag(D), 0.0)
    np.testing.assert_array_equal(D[1, [0, 2, 3]], 1.0)
    np.testing.assert_array_equal(D[[0, 2, 3], 1], 1.0)
    assert D[0, 2] == pytest.approx(1.0)  # orthogonal


def test_cosine_properties():
    X = np.random.default_rng(2).normal(size=(20, 3))
    X[5] = -X[4]  # opposite: distance 2
    X[6] = 3 * X[4]  # parallel: distance 0
    D = cosine_distances(X)
    np.testing.assert_array_equal(D, D.T)
    assert D.min() >= 0 and D.max() <= 2
    assert D[4, 5] == pytest.approx(2.0)
    assert D[4, 6] == pytest.approx(0.0, abs=1e-12)


def test_euclidean_matches_cdist():
    X = np.random.default_rng(3).normal(size=(6, 4))
    np.testing.assert_allclose(pairwise_distances(X, "euclidean"), cdist(X, X))
    np.testing.assert_array_equal(pairwise_distances(X), cosine_distances(X))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("block_rows", [1, 7, None])
def test_distance_blocks_are_the_rows_of_the_matrix(metric, block_rows):
    X = np.random.default_rng(4).normal(size=(23, 5))
    X[[3, 11]] = 0.0  # dead neurons: distance 1 (cosine) in every block
    blocks = list(distance_blocks(X, metric, block_rows=block_rows))
    assert [start for start, _ in blocks] == list(range(0, 23, block_rows or 23))
    np.testing.assert_allclose(
        np.vstack([b for _, b in blocks]), pairwise_distances(X, metric), atol=1e-12
    )
    with pytest.raises(ValueError, match="'cityblock' is not known"):
        next(distance_blocks(X, "cityblock"))


def test_bad_metric_and_input_raise():
    with pytest.raises(ValueError, match="'manhattan' is not known; choose one of cosine, euc"):
        pairwise_distances(np.ones((2, 2)), "manhattan")
    with pytest.raises(ValueError, match="2-D"):
        pairwise_distances(np.ones(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        pairwise_distances(np.array([[1.0, np.nan]]))


def test_order_groups_puts_clusters_together(clustered):
    vectors, names = clustered
    result = order_groups(vectors, names)
    assert isinstance(result, GroupOrder)
    assert sorted(result.order) == list(range(6))
    assert result.names == [names[i] for i in result.order]
    # Each cluster is a contiguous run of the order.
    letters = "".join(n[0] for n in result.names)
    assert letters in ("aaabbb", "bbbaaa")
    D = pairwise_distances(vectors)
    np.testing.assert_allclose(result.distance, D[np.ix_(result.order, result.order)])
    assert result.linkage is not None and result.linkage.shape == (5, 4)


def test_order_groups_is_deterministic(clustered):
    vectors, names = clustered
    assert order_groups(vectors, names).order == order_groups(vectors, names).order


def test_order_groups_small_cases():
    one = order_groups(np.ones((1, 3)), ["only"])
    assert one.order == [0] and one.names == ["only"] and one.linkage is None
    assert one.distance.shape == (1, 1)
    two = order_groups(np.array([[1.0, 0.0], [0.0, 1.0]]), ["x", "y"], metric="euclidean")
    assert sorted(two.order) == [0, 1] and two.linkage.shape == (1, 4)


def test_order_groups_bad_input():
    with pytest.raises(ValueError, match="names has 1 entries but vectors has 2 rows"):
        order_groups(np.ones((2, 3)), ["a"])
    with pytest.raises(ValueError, match=r"unique; repeated: \['a'\]"):
        order_groups(np.eye(3), ["a", "a", "b"])
    with pytest.raises(ValueError, match="metric"):
        order_groups(np.eye(3), ["a", "b", "c"], metric="cityblock")


def test_dendrogram_segments_match_scipy(clustered):
    vectors, names = clustered
    result = order_groups(vectors, names)
    xs, ys = dendrogram_segments(result.linkage, result.order)
    assert len(xs) == len(ys) == 5
    ref = dendrogram(result.linkage, no_plot=True)
    assert [int(i) for i in ref["leaves"]] == result.order
    # scipy puts leaf k at x = 5 + 10 k; ours at x = k.
    ours = sorted(tuple(np.round(x + y, 9)) for x, y in zip(xs, ys, strict=True))
    theirs = sorted(
        tuple(np.round([(v - 5) / 10 for v in x] + list(y), 9))
        for x, y in zip(ref["icoord"], ref["dcoord"], strict=True)
    )
    assert ours == theirs
    # The top merge spans the whole order at the largest height.
    top = int(np.argmax([max(y) for y in ys]))
    assert min(xs[top]) >= 0 and max(xs[top]) <= 5


def test_dendrogram_segments_edge_cases(clustered):
    assert dendrogram_segments(None) == ([], [])
    vectors, names = clustered
    result = order_groups(vectors, names)
    assert dendrogram_segments(result.linkage) == dendrogram_segments(result.linkage, result.order)
    with pytest.raises(ValueError, match="permutation of 0..5"):
        dendrogram_segments(result.linkage, [0, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        dendrogram_segments(np.zeros((3, 3)))


def test_closest_group(clustered):
    vectors, names = clustered
    result = order_groups(vectors, names)
    for name in names:
        assert closest_group(result, name)[0] == name[0]
        assert closest_group(result, name) != name
    with pytest.raises(ValueError, match="'zz' is not known"):
        closest_group(result, "zz")
    with pytest.raises(ValueError, match="only group"):
        closest_group(order_groups(np.ones((1, 2)), ["solo"]), "solo")
