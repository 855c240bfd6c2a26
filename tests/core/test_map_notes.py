"""What a reader of the maps must be told (issue 12 items 23, 25, 29): flat maps, small and
empty groups, dead neurons; :func:`topomap_core.analyses.notes.map_notes` on planted NAPs."""

from __future__ import annotations

import numpy as np

from topomap_core.analyses.notes import map_notes
from topomap_core.profiles.nap import nap_from_activations


def _nap(acts, sizes):
    groups = np.repeat(np.arange(len(sizes)), sizes)
    membership = groups[:, None] == np.arange(len(sizes))[None]
    return nap_from_activations(acts, membership, [f"g{k}" for k in range(len(sizes))])


def test_a_layer_that_barely_responds_is_said_to(monkeypatch):
    """Item 23: activations near 3.0 that differ by 1e-11 between groups were drawn as noise
    with no word; the note names the layer and the tiny range."""
    rng = np.random.RandomState(0)
    acts = 3.0 + 1e-11 * rng.normal(size=(60, 8))
    notes = map_notes(_nap(acts, [30, 30]), "dense_2", min_size=1)
    assert [level for level, _ in notes] == ["warning"]
    assert "dense_2 barely responds to the grouping" in notes[0][1]
    responsive = map_notes(_nap(rng.normal(size=(60, 8)), [30, 30]), "dense_2", min_size=1)
    assert responsive == []


def test_small_and_dropped_groups_and_dead_neurons_are_reported(monkeypatch):
    """Items 25 and 29: a group of one example, an empty group, three dead neurons."""
    rng = np.random.RandomState(1)
    acts = np.abs(rng.normal(size=(41, 6)))
    acts[:, [1, 3, 4]] = 0.0  # ReLUs that never fire
    groups = np.repeat([0, 1, 2], [40, 1, 0])
    membership = groups[:, None] == np.arange(3)[None]
    nap = nap_from_activations(acts, membership, ["big", "tiny", "none"])
    np.testing.assert_array_equal(nap.dead_neurons, [1, 3, 4])
    monkeypatch.setenv("TOPOMAPS_MIN_GROUP_SIZE", "5")
    notes = map_notes(nap, "dense")
    texts = " | ".join(text for _, text in notes)
    assert "fewer than 5 examples" in texts and "tiny (n=1)" in texts and "big" not in texts
    assert "Left out, no examples: none." in texts
    assert ("note", "3 of 6 neurons are dead") == (notes[-1][0], notes[-1][1][:23])


def test_the_dead_neuron_note_points_at_a_scatter_only_where_there_is_one():
    """Issue 20 item 17: the command line printed "marked × in the scatter" though it draws
    no scatter; the dashboard, which shows one, still says so."""
    acts = np.abs(np.random.RandomState(2).normal(size=(40, 5)))
    acts[:, 2] = 0.0
    nap = _nap(acts, [20, 20])
    (plain,) = map_notes(nap, "dense", min_size=1)
    assert plain == ("note", "1 of 5 neurons are dead (zero for every group); they are spread "
                     "around one spot.")  # fmt: skip
    (page,) = map_notes(nap, "dense", min_size=1, scatter=True)
    assert page[1].endswith("spread around one spot and marked × in the scatter.")


def test_a_note_names_a_few_of_many_small_groups_and_counts_the_rest():
    """Issue 20 item 9: a view of 1000 groups of two listed all 1000 above its maps."""
    acts = np.abs(np.random.RandomState(3).normal(size=(60, 4)))
    (note,) = map_notes(_nap(acts, [2] * 30), "dense", min_size=5)
    assert note[1].startswith("30 groups have fewer than 5 examples, so their maps are noisy:")
    assert note[1].endswith("g8 (n=2), g9 (n=2) and 20 more.") and "g10" not in note[1]
