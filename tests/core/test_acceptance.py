"""The paper's applications as acceptance tests, on the embedded digits data.

Section 6.1: systematic annotation errors show up as a wrongly-classified group
whose map looks like another class's correctly-classified group.
Section 6.2: real groups are more distinct than random baseline groups.
"""

from __future__ import annotations

import numpy as np

from topomap_core.analyses.naps import compute_nap
from topomap_core.analyses.topomap import MapParams
from topomap_core.analyses.view import view_of
from topomap_core.io.data import load_data
from topomap_core.profiles.ordering import closest_group


def test_annotation_error_1_wrong_is_closest_to_0_correct(digits_mlp):
    data = load_data("demo:digits")
    zeros = np.flatnonzero(data.y == 0)
    rng = np.random.RandomState(0)
    relabelled = rng.choice(zeros, size=int(round(0.9 * zeros.size)), replace=False)
    data.y = data.y.copy()
    data.y[relabelled] = 1  # 90% of the test zeros now claim to be ones

    params = MapParams(groups="label+correctness", seed=0, method="UMAP_PSO")
    nap = compute_nap(digits_mlp, data, "dense", params)
    assert "1:wrong" in nap.group_names and "0:correct" in nap.group_names
    result = view_of(params, nap)
    order, maps = result.order, result.maps

    assert closest_group(order, "1:wrong") == "0:correct"
    # ... and the two sit next to each other in the dendrogram order.
    pos = {name: i for i, name in enumerate(order.names)}
    assert abs(pos["1:wrong"] - pos["0:correct"]) == 1
    assert maps.shape == (len(order.names), 100, 100)


def test_random_groups_are_less_distinct_than_classes(digits_mlp):
    data = load_data("demo:digits")
    nap = compute_nap(digits_mlp, data, "dense", MapParams(random_groups=4, seed=1))
    values = np.abs(nap.values)
    is_random = np.array([n.startswith("random-") for n in nap.group_names])
    assert is_random.sum() == 4
    # Random groups sit near the mean over groups: their NAPs are much weaker.
    assert values[is_random].mean() < 0.5 * values[~is_random].mean()
