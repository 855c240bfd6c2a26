"""Contract tests over every registered layout method, plus parameter validation."""

from __future__ import annotations

import numpy as np
import pytest

from topomap_core import Cancelled, available_methods, compute_layout, get_method
from topomap_core.distances import pairwise_distances
from topomap_core.placement import LAYOUT_METHODS
from topomap_core.placement.pso import global_force, global_force_table, weight_schedule


@pytest.fixture(scope="module")
def clustered_nap():
    """Three clusters of neurons with distinct profiles over 8 groups, plus a dead neuron."""
    rng = np.random.RandomState(0)
    centres = rng.normal(size=(3, 8))
    labels = np.repeat([0, 1, 2], 20)
    nap = (centres[labels] + 0.15 * rng.normal(size=(60, 8))).T
    nap[:, 0] = 0.0  # a ReLU that never fires: all-zero column must not break cosine distances
    return nap, labels


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_global_force_table_is_eq1_in_float32(metric, clustered_nap, monkeypatch):
    nap, _ = clustered_nap
    X = np.ascontiguousarray(nap.T)
    expected = global_force(pairwise_distances(X, metric))
    monkeypatch.setattr("topomap_core.distances.BLOCK_ENTRIES", 7 * 60)  # blocks of 7 rows
    table = global_force_table(X, metric)
    assert table.dtype == np.float32 and table.flags.c_contiguous
    np.testing.assert_allclose(table, expected, rtol=1e-6, atol=1e-6)


def test_registry_lists_the_papers_methods():
    expected = {
        "random",
        "baseline",
        "PSO",
        "graph",
        "SOM",
        "PCA",
        "TSNE",
        "UMAP",
        "graph_PSO",
        "SOM_PSO",
        "PCA_PSO",
        "TSNE_PSO",
        "UMAP_PSO",
    }
    assert set(available_methods()) == expected
    assert get_method("umap_pso").name == "UMAP_PSO"  # case-insensitive


@pytest.mark.parametrize("method", available_methods())
def test_layout_contract(method, clustered_nap):
    nap, _ = clustered_nap
    a = compute_layout(nap, method=method, random_state=3)
    assert a.shape == (60, 2)
    assert np.all(np.isfinite(a))
    assert a.min() == pytest.approx(0.0) and a.max() == pytest.approx(1.0)
    assert np.allclose(a.min(axis=0), 0.0) and np.allclose(a.max(axis=0), 1.0)
    b = compute_layout(nap, method=method, random_state=3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", [m for m in available_methods() if get_method(m).uses_profile])
def test_similar_neurons_are_neighbours(method, clustered_nap):
    """A neuron's nearest layout neighbours mostly share its cluster (random would give ~1/3)."""
    nap, labels = clustered_nap
    xy = compute_layout(nap, method=method, random_state=0)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :5]
    agreement = np.mean(labels[nn] == labels[:, None])
    assert agreement > 0.6, f"{method}: neighbour agreement {agreement:.2f}"


def test_different_seeds_give_different_pso_layouts(clustered_nap):
    nap, _ = clustered_nap
    assert not np.allclose(
        compute_layout(nap, "PSO", random_state=1), compute_layout(nap, "PSO", random_state=2)
    )


def test_progress_reports_and_can_cancel(clustered_nap):
    nap, _ = clustered_nap
    seen = []

    def record(stage, done, total):
        seen.append((stage, done, total))

    compute_layout(nap, "PCA_PSO", random_state=0, progress=record, n_steps=100)
    assert ("PCA", 1, 1) in seen and ("PSO", 100, 100) in seen
    pso_steps = [d for s, d, _ in seen if s == "PSO"]
    assert pso_steps == sorted(pso_steps)

    def stop_at_half(stage, done, total):
        return stage == "PSO" and done >= 50

    with pytest.raises(Cancelled, match="PSO cancelled at 50/100"):
        compute_layout(nap, "PSO", random_state=0, progress=stop_at_half, n_steps=100)


def test_weight_schedule_matches_paper():
    w = weight_schedule(1000)
    assert w[0] == pytest.approx((np.tanh(-3) + 1) / 2)
    assert w[-1] == pytest.approx((np.tanh(6) + 1) / 2)
    assert 300 < np.argmax(w > 0.5) < 340  # crosses 0.5 near step 333
    assert np.all(np.diff(w) > 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "umap-pso"}, r"method 'umap-pso' is not known; choose one of .*UMAP_PSO"),
        ({"method": "PSO", "n_steps": 0}, "n_steps must be a positive integer"),
        ({"method": "PCA", "n_steps": 10}, "not accepted by PCA"),
        ({"method": "PCA", "metric": "manhattan"}, "metric 'manhattan' is not known"),
    ],
)
def test_bad_parameters(kwargs, match, clustered_nap):
    nap, _ = clustered_nap
    with pytest.raises(ValueError, match=match):
        compute_layout(nap, **kwargs)


@pytest.mark.parametrize(
    "nap, match",
    [
        (np.zeros(5), "2-D array"),
        (np.zeros((4, 2)), "at least 3 neurons"),
        (np.array([[1.0, np.nan, 2.0], [0.0, 1.0, 1.0]]), "NaN or infinite"),
    ],
)
def test_bad_nap(nap, match):
    with pytest.raises(ValueError, match=match):
        compute_layout(nap, "PCA")


def test_tiny_layers_work_for_every_method():
    nap = np.random.RandomState(1).normal(size=(3, 5))
    for name in LAYOUT_METHODS:
        xy = compute_layout(nap, name, random_state=0)
        assert xy.shape == (5, 2) and np.all(np.isfinite(xy))


def test_hybrid_spreads_neurons_more_evenly_than_its_base(clustered_nap):
    """The local-force PSO equalises density (paper 3.2.5): fewer crowded pairs after it."""
    nap, _ = clustered_nap

    def crowded(xy):
        d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
        return np.sum(d[np.triu_indices(len(xy), 1)] < 0.02)

    assert crowded(compute_layout(nap, "UMAP_PSO", random_state=0)) < crowded(
        compute_layout(nap, "UMAP", random_state=0)
    )


def test_solvers_are_validated_and_grid_matches_exact(clustered_nap):
    nap, labels = clustered_nap
    with pytest.raises(ValueError, match="solver 'fast' is not known; choose one of auto"):
        compute_layout(nap, "UMAP_PSO", solver="fast")
    with pytest.raises(ValueError, match="only applies to the hybrids"):
        compute_layout(nap, "PSO", solver="grid")
    exact = compute_layout(nap, "PCA_PSO", random_state=0, solver="exact")
    grid = compute_layout(nap, "PCA_PSO", random_state=0, solver="grid")
    # Particle-mesh forces are within ~1% of the exact sums: the layouts nearly coincide.
    assert np.median(np.linalg.norm(exact - grid, axis=1)) < 0.02


def test_pso_survives_its_collapse_to_a_point():
    """The plain PSO's global force first shrinks the swarm to ~1e-16 across; the local force
    then regrows it from those tiny differences. Casting absolute positions to float32 erased
    them and cost the layout its structure (neighbour agreement ~0.3 instead of ~0.8)."""
    rng = np.random.RandomState(0)
    centres = rng.normal(size=(6, 10))
    labels = np.repeat(np.arange(6), 50)
    nap = (centres[labels] + 0.3 * rng.normal(size=(300, 10))).T
    xy = compute_layout(nap, "PSO", random_state=0)
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    agreement = np.mean(labels[np.argsort(d, axis=1)[:, :5]] == labels[:, None])
    assert agreement > 0.7


@pytest.mark.parametrize("n_neurons, n_features", [(7, 3), (150, 12)])
def test_compiled_som_is_minisoms_algorithm(n_neurons, n_features):
    """The compiled SOM puts every neuron in the cell MiniSom itself picks (same seed)."""
    from minisom import MiniSom

    from topomap_core.placement._base import LayoutProblem
    from topomap_core.placement.som import initial_weights, som_layout

    X = np.random.RandomState(5).normal(size=(n_neurons, n_features))
    X[0] = 0.0
    side = int(np.floor(np.sqrt(n_neurons) + 1))
    seed = np.random.RandomState(9).randint(np.iinfo(np.int32).max)  # what problem.seed() draws

    som = MiniSom(side, side, n_features, sigma=1.0, learning_rate=0.5, random_seed=seed)
    som.random_weights_init(X)
    np.testing.assert_array_equal(
        initial_weights(X, side, seed), som.get_weights().reshape(-1, n_features)
    )
    total = 10 * n_neurons
    rng = np.random.RandomState(9)
    rng.randint(np.iinfo(np.int32).max)  # the seed, drawn first
    order = np.arange(total) % n_neurons
    rng.shuffle(order)  # then the training order, as som_layout does
    for t, idx in enumerate(order):
        som.update(X[idx], som.winner(X[idx]), t, total)
    expected = np.array([som.winner(x) for x in X], dtype=float)

    coords = som_layout(LayoutProblem(X, "cosine", np.random.RandomState(9), None))
    # Shared cells are spread on a circle of radius 0.2 around them: rounding gives the cell.
    np.testing.assert_array_equal(np.round(coords), expected)


@pytest.fixture(scope="module")
def dead_nap():
    """30 neurons over 6 groups: four dead (all-zero columns) and two identical twins."""
    nap = np.random.RandomState(0).normal(size=(6, 30))
    nap[:, :4] = 0.0
    nap[:, 4] = nap[:, 5]
    return nap


@pytest.mark.parametrize("method", available_methods())
def test_coincident_neurons_are_separated_and_the_seed_flag_is_true(method, dead_nap):
    """Issue 12 items 29 and 30: after every method no two neurons share a position (dead
    neurons and twins land on one point before the separation), and a method flagged
    ``deterministic`` gives the same layout for two seeds while the others do not."""
    a = compute_layout(dead_nap, method, random_state=0)
    b = compute_layout(dead_nap, method, random_state=1)
    assert len(np.unique(a, axis=0)) == len(a)
    assert np.all((a >= 0) & (a <= 1))
    assert get_method(method).deterministic == np.array_equal(a, b)


def test_separate_coincident_spreads_a_planted_pile_deterministically():
    from topomap_core.placement._base import separate_coincident

    xy = np.random.RandomState(2).uniform(size=(40, 2))
    xy[10:15] = xy[3]  # five more neurons on neuron 3's spot
    out = separate_coincident(xy)
    assert len(np.unique(out, axis=0)) == 40
    np.testing.assert_array_equal(out[3], xy[3])  # the first one stays
    moved = np.linalg.norm(out[10:15] - xy[3], axis=1)
    nearest = np.sort(np.linalg.norm(xy[:, None] - xy[None], axis=-1), axis=1)[:, 1]
    assert np.all(moved > 0) and np.all(moved < np.median(nearest[nearest > 0]))
    np.testing.assert_array_equal(out, separate_coincident(xy))
    same = np.random.RandomState(3).uniform(size=(10, 2))
    assert separate_coincident(same) is same or np.array_equal(separate_coincident(same), same)


def test_one_outlier_does_not_squeeze_the_other_neurons():
    """Issue 12 item 24: one neuron 1000x away (as t-SNE sometimes places one) squeezed the
    rest into a corner under min-max scaling; the robust scaling keeps them spread."""
    from topomap_core.placement._base import scale_unit

    xy = np.random.RandomState(4).uniform(size=(50, 2))
    xy[7] = [1000.0, -1000.0]
    out = scale_unit(xy)
    rest = np.delete(out, 7, axis=0)
    assert np.all(rest.max(axis=0) - rest.min(axis=0) > 0.8)
    assert out[7, 0] == 1.0 and out[7, 1] == 0.0  # still the extreme, on the edge
    plain = np.random.RandomState(5).uniform(size=(50, 2))  # no outlier: plain min-max
    span = plain.max(axis=0) - plain.min(axis=0)
    np.testing.assert_allclose(scale_unit(plain), (plain - plain.min(axis=0)) / span)


def test_an_outlier_neuron_does_not_squeeze_a_pca_layout():
    nap = np.random.RandomState(6).normal(size=(5, 40))
    nap[:, 0] *= 500.0  # one neuron far from all the others
    xy = compute_layout(nap, "PCA", random_state=0)
    rest = np.delete(xy, 0, axis=0)
    assert np.all(rest.max(axis=0) - rest.min(axis=0) > 0.6)


def test_deterministic_methods_are_derived_from_the_registry():
    from topomap_core.placement import deterministic_methods

    assert deterministic_methods() == [m.name for m in LAYOUT_METHODS.values() if m.deterministic]
    assert set(deterministic_methods()) == {"PCA", "TSNE", "PCA_PSO", "TSNE_PSO"}


def _local_force_loop(n_neurons: int, seed: int, n_steps: int) -> np.ndarray:
    """The paper's baseline written out from REFERENCE.md, in float64 numpy: uniform random
    start, local force only, each particle moves by the mean over j of (p_j - p_i) F_ij / 2."""
    pos = np.random.RandomState(seed).uniform(size=(n_neurons, 2))
    w_local = (np.tanh(np.linspace(-3.0, 6.0, n_steps)) + 1.0) / 2.0
    for w_l in w_local:
        diff = pos[None, :, :] - pos[:, None, :]  # [i, j] = p_j - p_i
        d = np.maximum(np.linalg.norm(diff, axis=-1), 0.01)
        force = w_l * (1.5 / (d + 1.0) ** 3 - 15.0 * np.exp(-d / 2.0)) / 2.0
        pos = pos + np.mean(diff * force[..., None], axis=1)
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    return (pos - lo) / (hi - lo)


def test_baseline_is_the_local_force_loop_from_a_random_start():
    nap = np.random.RandomState(0).normal(size=(4, 25))
    ours = compute_layout(nap, "baseline", random_state=7, n_steps=150, solver="exact")
    np.testing.assert_allclose(ours, _local_force_loop(25, 7, 150), atol=1e-4)
    # It ignores the profiles: another NAP, the same seed, the same layout.
    other = compute_layout(-3 * nap + 1, "baseline", random_state=7, n_steps=150)
    np.testing.assert_allclose(other, ours, atol=1e-6)


def test_a_layout_alone_imports_no_tensorflow(tmp_path):
    """Issue 21: ``import topomap_core; compute_layout(..., "UMAP_PSO")`` imported TensorFlow
    (umap's ParametricUMAP), 4-6 s and hundreds of MB for a layout."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, topomap_core\n"
        "xy = topomap_core.compute_layout(np.random.default_rng(0).normal(size=(6, 40)),"
        " 'UMAP_PSO', random_state=0, n_steps=20)\n"
        "assert xy.shape == (40, 2)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'dash', 'plotly') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr[-2000:]
