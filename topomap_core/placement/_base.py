"""Shared machinery of the layout methods: the problem object, scaling, progress."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ..distances import pairwise_distances
from ..progress import report  # the one definition (progress.py)

#: Tukey's "far out" fences ``Q1 - k IQR`` and ``Q3 + k IQR``: coordinates beyond are outliers.
OUTLIER_FENCE = 3.0

#: Width of the band beyond a fence that the neurons outside it are compressed into (a
#: fraction of the fenced span): they stay distinct and in order, but cannot squeeze the rest.
OUTLIER_BAND = 0.05


def _robust_axis(values: np.ndarray) -> np.ndarray:
    """One axis with its outliers pulled in next to the inliers (monotone: no two points meet)."""
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    if iqr <= 0:
        return values  # most neurons share one value: nothing to measure outliers against
    # The whiskers' ends: the most extreme values inside the fences.
    inside = values[(values >= q1 - OUTLIER_FENCE * iqr) & (values <= q3 + OUTLIER_FENCE * iqr)]
    lo, hi = inside.min(), inside.max()
    if hi <= lo:
        return values
    band = OUTLIER_BAND * (hi - lo)
    out = values.copy()
    above, below = values > hi, values < lo
    out[above] = hi + band * np.tanh((values[above] - hi) / band)
    out[below] = lo - band * np.tanh((lo - values[below]) / band)
    return out


def scale_unit(coords: np.ndarray, robust: bool = True) -> np.ndarray:
    """Scale each axis to [0, 1] independently, robust to outliers (paper 3.3, Figure 1C).

    Plain min-max scaling lets one outlier neuron (common with t-SNE) squeeze all others into
    a corner and stretch the interpolation into wedges. Coordinates beyond Tukey's far-out
    fences (``Q1 - 3 IQR``, ``Q3 + 3 IQR`` per axis) are first compressed monotonically into a
    thin band beyond the most extreme coordinate inside the fences (``tanh``,
    :data:`OUTLIER_BAND` of the inliers' span), then the axis is min-max scaled. A layout
    without such outliers is scaled exactly as min-max.

    An axis without extent (all neurons on one line) is put at 0.5 rather than
    dividing by zero. ``robust=False`` is plain min-max scaling.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if robust and len(coords) >= 4:  # quartiles of fewer points say nothing
        coords = np.column_stack([_robust_axis(coords[:, k]) for k in range(coords.shape[1])])
    lo = coords.min(axis=0)
    span = coords.max(axis=0) - lo
    out = np.full_like(coords, 0.5)
    ok = span > 0
    out[:, ok] = (coords[:, ok] - lo[ok]) / span[ok]
    return out


def separate_coincident(coords: np.ndarray, radius: float | None = None) -> np.ndarray:
    """Move neurons that share a position apart, on a small sunflower spiral around it.

    Dead neurons (all-zero NAP columns) and neurons with identical profiles land on exactly
    one point, and the PSO cannot separate them (its forces are proportional to distance).
    The k-th of m neurons at one position (in neuron order; the first stays) moves to radius
    ``r sqrt(k / m)`` at angle ``k`` times the golden angle, with ``r`` half the median distance
    from a distinct position to its nearest neighbour (0.05 if all coincide). The spiral is
    fixed, not drawn at random, so a method that ignores the seed still does.

    Parameters
    ----------
    coords : ndarray of shape (n_neurons, 2)
        Scaled to [0, 1].
    radius : float, optional
        ``r`` above, instead of the one derived from the spacing.

    Returns
    -------
    ndarray of shape (n_neurons, 2)
        A copy (``coords`` itself when no two neurons coincide).
    """
    coords = np.asarray(coords, dtype=np.float64)
    unique, inverse, counts = np.unique(coords, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if np.all(counts == 1):
        return coords
    if radius is None:
        radius = 0.05
        if len(unique) > 1:
            from scipy.spatial import cKDTree

            nearest, _ = cKDTree(unique).query(unique, k=2)
            radius = 0.5 * float(np.median(nearest[:, 1]))
    golden = np.pi * (3 - np.sqrt(5))
    out = coords.copy()
    for g in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse == g)
        m = len(members)
        k = np.arange(1, m)
        offsets = (
            radius
            * np.sqrt(k / m)[:, None]
            * np.column_stack([np.cos(k * golden), np.sin(k * golden)])
        )
        out[members[1:]] += offsets
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
