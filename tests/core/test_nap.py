"""NAP computation (paper 3.1): group means minus their mean, streamed over batches."""

from __future__ import annotations

import numpy as np
import pytest

from topomap_core.profiles.nap import NapAccumulator, nap_from_activations


def test_dense_nap_is_group_mean_minus_mean_over_groups():
    rng = np.random.RandomState(0)
    acts = rng.normal(size=(30, 5))
    membership = np.zeros((30, 3), bool)
    membership[:10, 0] = membership[10:25, 1] = membership[25:, 2] = True
    nap = nap_from_activations(acts, membership, ["a", "b", "c"])
    means = np.stack([acts[:10].mean(0), acts[10:25].mean(0), acts[25:].mean(0)])
    np.testing.assert_allclose(nap.values, means - means.mean(0))
    np.testing.assert_allclose(nap.profile(), nap.values)
    assert nap.group_sizes == [10, 15, 5]
    np.testing.assert_allclose(nap.values.sum(axis=0), 0.0, atol=1e-12)


def test_streaming_equals_all_at_once_and_groups_may_overlap():
    rng = np.random.RandomState(1)
    acts = rng.normal(size=(100, 4, 4, 6))
    membership = rng.rand(100, 4) < 0.4  # overlapping groups
    whole = nap_from_activations(acts, membership, list("abcd"))
    acc = NapAccumulator(list("abcd"))
    for start in range(0, 100, 7):
        acc.add(acts[start : start + 7], membership[start : start + 7])
    np.testing.assert_allclose(acc.result().normalized, whole.normalized)


def test_convolution_profiles():
    rng = np.random.RandomState(2)
    acts = rng.normal(size=(40, 3, 2, 5))  # (h, w, feature maps)
    membership = np.zeros((40, 4), bool)
    membership[np.arange(40), np.arange(40) % 4] = True
    nap = nap_from_activations(acts, membership, list("abcd"))
    assert nap.n_neurons == 5 and nap.spatial_shape == (3, 2)
    assert nap.profile("paper").shape == (3 * 2 * 4, 5)  # (w*h*G) x N
    assert nap.profile("mean").shape == (4, 5)
    np.testing.assert_allclose(nap.values, nap.normalized.mean(axis=(1, 2)))
    with pytest.raises(ValueError, match="profile 'full' is not known"):
        nap.profile("full")


def test_empty_group_is_dropped_not_nan():
    acts = np.arange(12, dtype=float).reshape(6, 2)
    membership = np.zeros((6, 3), bool)
    membership[:3, 0] = membership[3:, 2] = True
    nap = nap_from_activations(acts, membership, ["a", "empty", "c"])
    assert nap.group_names == ["a", "c"] and nap.dropped_groups == ["empty"]
    assert np.all(np.isfinite(nap.values))


def test_needs_two_groups_and_matching_membership():
    with pytest.raises(ValueError, match="at least two groups"):
        nap_from_activations(np.ones((3, 2)), np.ones((3, 1), bool), ["a"])
    with pytest.raises(ValueError, match="membership must have shape"):
        nap_from_activations(np.ones((3, 2)), np.ones((2, 2), bool), ["a", "b"])
