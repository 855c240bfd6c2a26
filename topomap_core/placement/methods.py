"""The similarity layouts of paper 3.2.1-3.2.3 and the random baseline.

Each function takes a :class:`LayoutProblem` plus its own keyword parameters
and returns unscaled coordinates of shape (n_neurons, 2).
"""

from __future__ import annotations

import warnings

import numpy as np

from ._base import LayoutProblem
from .graph import graph_layout
from .som import som_layout

__all__ = [
    "graph_layout",
    "pca_layout",
    "random_layout",
    "som_layout",
    "tsne_layout",
    "umap_layout",
]


def random_layout(problem: LayoutProblem) -> np.ndarray:
    """Uniform random positions in [0, 1]^2 (the paper's baseline)."""
    return problem.rng.uniform(size=(problem.n_neurons, 2))


def pca_layout(problem: LayoutProblem) -> np.ndarray:
    """First two principal components of the neurons' NAP columns (paper 3.2.3)."""
    from sklearn.decomposition import PCA

    X = problem.X
    k = min(2, X.shape[1], X.shape[0])
    coords = PCA(n_components=k, random_state=problem.seed()).fit_transform(X)
    if k < 2:  # a one-feature NAP has one component; the other axis stays flat
        coords = np.column_stack([coords, np.zeros((X.shape[0], 2 - k))])
    problem.report("PCA", 1, 1)
    return coords


def tsne_layout(problem: LayoutProblem, *, perplexity: float = 30.0) -> np.ndarray:
    """t-SNE of the NAP columns, PCA-initialised (paper 3.2.3).

    ``perplexity`` is lowered to ``(N - 1) / 3`` for small layers, since
    t-SNE needs it well below the number of neurons.
    """
    from sklearn.manifold import TSNE

    n = problem.n_neurons
    perplexity = min(perplexity, max(1.0, (n - 1) / 3))
    problem.report("TSNE", 0, 1)
    coords = TSNE(
        n_components=2,
        init="pca",
        learning_rate="auto",
        perplexity=perplexity,
        metric=problem.metric,
        random_state=problem.seed(),
    ).fit_transform(problem.X)
    problem.report("TSNE", 1, 1)
    return coords


def umap_layout(
    problem: LayoutProblem, *, n_neighbors: int = 15, min_dist: float = 0.1
) -> np.ndarray:
    """UMAP of the NAP columns with umap-learn defaults (paper 3.2.3).

    ``n_neighbors`` is capped at N - 1. Very small layers use a random
    initialisation because the spectral one needs more points than neighbours.
    """
    with warnings.catch_warnings():
        # umap warns that a fixed random_state disables parallelism: that is the point.
        warnings.simplefilter("ignore")
        import umap

        n = problem.n_neurons
        k = max(2, min(n_neighbors, n - 1))
        problem.report("UMAP", 0, 1)
        coords = umap.UMAP(
            n_components=2,
            n_neighbors=k,
            min_dist=min_dist,
            metric=problem.metric,
            init="spectral" if n > k + 2 else "random",
            random_state=problem.seed(),
        ).fit_transform(problem.X)
    problem.report("UMAP", 1, 1)
    return np.asarray(coords, dtype=np.float64)
