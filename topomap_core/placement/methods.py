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


#: The packages whose compiled (numba) functions :func:`import_umap` caches on disk.
_UMAP_PACKAGES = ("umap", "pynndescent")


def import_umap():
    """umap-learn, imported without TensorFlow and with its compiled code cached on disk.

    ``import umap`` imports ``umap.parametric_umap``, which imports TensorFlow when it is
    installed (4-6 s and several hundred MB, for a class we never use): a ``None`` entry in
    ``sys.modules`` makes that one import fail, which umap handles as "TensorFlow not
    installed". umap's and pynndescent's numba functions are compiled anew in every process
    (about 30 s for a first ``UMAP_PSO`` layout): caching is turned on for each of them before
    its first compilation, so a fresh process finds them in numba's cache (``NUMBA_CACHE_DIR``
    of job processes: the data directory's ``numba-cache``). Measured in docs/PERFORMANCE.md.
    """
    import sys

    if "umap" not in sys.modules:
        sys.modules.setdefault("umap.parametric_umap", None)  # type: ignore[assignment]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ParametricUMAP will be unavailable": as intended
        import umap
    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in _UMAP_PACKAGES:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, CPUDispatcher) and not value.overloads:
                if type(value._cache).__name__ == "NullCache":  # not cached by its author
                    value.enable_caching()
    return umap


def umap_layout(
    problem: LayoutProblem, *, n_neighbors: int = 15, min_dist: float = 0.1
) -> np.ndarray:
    """UMAP of the NAP columns with umap-learn defaults (paper 3.2.3).

    ``n_neighbors`` is capped at N - 1. Very small layers use a random
    initialisation because the spectral one needs more points than neighbours.
    """
    umap = import_umap()
    with warnings.catch_warnings():
        # umap warns that a fixed random_state disables parallelism: that is the point.
        warnings.simplefilter("ignore")
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
