"""Groupings: labels, correctness, custom columns, random baseline groups."""

from __future__ import annotations

import numpy as np
import pytest

from topomap_core import TopomapError, make_groups


def test_label_groups_are_sampled_reproducibly():
    labels = np.repeat([0, 1, 2], [300, 50, 120])
    g1 = make_groups("label", labels=labels, per_group=100, random_state=0)
    g2 = make_groups("label", labels=labels, per_group=100, random_state=0)
    assert g1.names == ["0", "1", "2"] and g1.sizes == [100, 50, 100]
    for a, b, name in zip(g1.members, g2.members, g1.names, strict=True):
        np.testing.assert_array_equal(a, b)
        assert np.all(labels[a] == int(name))
    g3 = make_groups("label", labels=labels, per_group=100, random_state=1)
    assert not np.array_equal(g1.members[0], g3.members[0])


def test_label_correctness_uses_predictions_and_names():
    labels = np.array([0, 0, 0, 1, 1, 1])
    preds = np.eye(2)[[0, 0, 1, 1, 1, 1]]
    g = make_groups(
        "label+correctness", labels=labels, predictions=preds, label_names=["cat", "dog"]
    )
    assert g.names == ["cat:correct", "cat:wrong", "dog:correct"]
    assert g.empty == ["dog:wrong"]
    np.testing.assert_array_equal(g.members[1], [2])


def test_column_groups_and_random_baseline_groups_are_disjoint():
    column = np.array(["x", "y"] * 50)
    g = make_groups("column", column=column, random_groups=3, per_group=20, random_state=0)
    assert g.names == ["x", "y", "random-1", "random-2", "random-3"]
    randoms = g.members[2:]
    assert all(m.size == 20 for m in randoms)
    assert len(np.unique(np.concatenate(randoms))) == 60


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "classes", "labels": np.zeros(4)}, "group mode 'classes' is not known"),
        ({"mode": "label"}, "needs labels"),
        ({"mode": "column", "labels": np.zeros(4)}, "needs a 'groups' array"),
        ({"mode": "label+correctness", "labels": np.zeros(4)}, "needs the model's predictions"),
        ({"mode": "label", "labels": np.zeros(4)}, "at least two non-empty groups"),
        ({"mode": "label", "labels": np.arange(4), "per_group": 0}, "per_group must be"),
        ({"mode": "label", "labels": np.arange(4), "random_groups": 9}, "more than the 4"),
    ],
)
def test_bad_groupings(kwargs, match):
    mode = kwargs.pop("mode")
    with pytest.raises(TopomapError, match=match):
        make_groups(mode, **kwargs)


def test_random_baseline_groups_are_as_large_as_the_real_ones():
    """Issue 12 item 25 (the paper's baseline): ten classes of 10 examples and two random
    groups gave random groups of 50 (half the data each); now they have the classes' size."""
    labels = np.repeat(np.arange(10), 10)
    g = make_groups("label", labels=labels, random_groups=2, per_group=200, random_state=0)
    assert g.sizes[:10] == [10] * 10
    assert g.sizes[10:] == [10, 10]
    assert len(np.unique(np.concatenate(g.members[10:]))) == 20
