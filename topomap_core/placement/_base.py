"""Shared machinery of the layout methods: the problem object, scaling, progress."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np

from ..distances import pairwise_distances
from ..errors import Cancelled

#: ``progress(stage, done, total)``; returning True asks the computation to stop.
ProgressCallback = Callable[[str, int, int], "bool | None"]


def report(progress: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    """Call ``progress`` and raise :class:`Cancelled` if it asks to stop."""
    if progress is not None and progress(stage, done, total):
        raise Cancelled(f"{stage} cancelled at {done}/{total}")


def scale_unit(coords: np.ndarray) -> np.ndarray:
    """Min-max scale each axis to [0, 1] independently (paper 3.3, Figure 1C).

    An axis without extent (all neurons on one line) is put at 0.5 rather than
    dividing by zero.
    """
    coords = np.asarray(coords, dtype=np.float64)
    lo = coords.min(axis=0)
    span = coords.max(axis=0) - lo
    out = np.full_like(coords, 0.5)
    ok = span > 0
    out[:, ok] = (coords[:, ok] - lo[ok]) / span[ok]
    return out


class LayoutProblem:
    """What a layout method gets: the neurons' profiles and the shared services.

    Parameters
    ----------
    X : ndarray of shape (n_neurons, n_features)
        One row per neuron: its NAP column (paper 3.1).
    metric : {"cosine", "euclidean"}
        Neuron dissimilarity used by the graph, PSO and the projections.
    rng : numpy.random.RandomState
        The resolved ``random_state``; every random draw comes from it.
    progress : callable or None
        See :data:`ProgressCallback`.
    """

    def __init__(self, X: np.ndarray, metric: str, rng: np.random.RandomState, progress):
        self.X = X
        self.metric = metric
        self.rng = rng
        self.progress = progress

    @property
    def n_neurons(self) -> int:
        return self.X.shape[0]

    @cached_property
    def distances(self) -> np.ndarray:
        """Pairwise neuron distances, ndarray of shape (n_neurons, n_neurons), computed once."""
        return pairwise_distances(self.X, metric=self.metric)

    def seed(self) -> int:
        """Draw an integer seed for libraries that take one (UMAP, networkx, MiniSom)."""
        return int(self.rng.randint(np.iinfo(np.int32).max))

    def report(self, stage: str, done: int, total: int) -> None:
        report(self.progress, stage, done, total)
