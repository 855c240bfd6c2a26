"""How far apart groups' NAPs are, against random groups of the same sizes (paper 6.2).

The paper shows random baseline groups beside the real ones, so that a viewer can tell a map
that differs from the others because the layer encodes the groups from one that differs by
chance. This module puts a number on it. The groups' **separation** is the mean Euclidean
distance between their NAP colour values (one vector of neurons per group; the spatial mean for
convolutions), and its **baseline** the same distance for random groups of the same sizes: the
same examples, their group labels shuffled (a permutation test), drawn ``draws`` times. Their
ratio, the **score**, is 1 when the layer tells the groups apart no better than chance.

Why Euclidean and not cosine: a NAP subtracts the mean over groups, so its G group vectors sum
to zero and their mean pairwise cosine similarity is pinned near ``-1/(G-1)`` whatever the
layer does (on the demo digits, 1.105 for the real groups and 1.105 for random ones, at every
layer). Euclidean distances are unchanged by that subtraction: they are the distances between
the groups' mean activations.

Everything here is plain NumPy on an :class:`ExamplePool` (each example's spatially averaged
activations and its group), which :class:`PoolCollector` fills batch by batch while the NAP is
computed, so the draws need no second pass through the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_random_state

from ..distances import pairwise_distances
from ..errors import TopomapError

__all__ = [
    "DEFAULT_DRAWS",
    "ExamplePool",
    "PoolCollector",
    "Separation",
    "describe",
    "draws_for",
    "group_means",
    "holm",
    "mean_group_distance",
    "random_distances",
    "random_group_values",
    "separation",
]

#: Random draws of the baseline when none are asked for.
DEFAULT_DRAWS = 50

#: The spread of a score: these percentiles of the score against each draw.
SPREAD_PERCENTILES = (5.0, 95.0)


@dataclass
class ExamplePool:
    """The examples of the real groups, as the separation needs them.

    Attributes
    ----------
    values : ndarray of shape (n_examples, n_neurons), float32
        Each example's activations (the spatial mean for convolutions).
    labels : ndarray of shape (n_examples,), int
        The index of each example's group in ``names``.
    names : list of str
        The real groups (never the random baseline groups a grouping may add).
    """

    values: np.ndarray
    labels: np.ndarray
    names: list[str]

    @property
    def sizes(self) -> list[int]:
        """Examples per group, in the order of ``names``."""
        return [int(n) for n in np.bincount(self.labels, minlength=len(self.names))]


class PoolCollector:
    """Collect an :class:`ExamplePool` from the batches a NAP is computed from.

    Parameters
    ----------
    n_random : int, default=0
        The grouping's last ``n_random`` groups are random baseline groups: left out.
    """

    def __init__(self, n_random: int = 0):
        self.n_random = int(n_random)
        self._values: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def add(self, activations: np.ndarray, membership: np.ndarray) -> None:
        """Add one batch.

        Parameters
        ----------
        activations : ndarray of shape (batch, *layer_shape)
            Neurons on the last axis.
        membership : bool ndarray of shape (batch, n_groups)
            The grouping's columns, real groups first.
        """
        acts = np.asarray(activations)
        member = np.asarray(membership, dtype=bool)
        real = member[:, : member.shape[1] - self.n_random]
        if np.any(real.sum(axis=1) > 1):
            raise TopomapError("the separation needs groups that share no examples")
        keep = real.any(axis=1)
        flat = acts[keep].reshape(int(keep.sum()), -1, acts.shape[-1])
        self._values.append(flat.mean(axis=1, dtype=np.float64).astype(np.float32))
        self._labels.append(real[keep].argmax(axis=1))

    def result(self, names: list[str]) -> ExamplePool:
        """The pool of every batch added; ``names`` are the grouping's groups (all of them)."""
        if not self._values:
            raise ValueError("no activations were added")
        return ExamplePool(
            values=np.concatenate(self._values),
            labels=np.concatenate(self._labels).astype(np.int64),
            names=list(names[: len(names) - self.n_random]),
        )


def group_means(values: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of ``values`` per label, minus the mean over groups (a NAP's colour values).

    Parameters
    ----------
    values : ndarray of shape (n_examples, n_neurons)
    labels : ndarray of shape (n_examples,), int in ``[0, n_groups)``
    n_groups : int

    Returns
    -------
    ndarray of shape (n_groups, n_neurons), float64
    """
    counts = np.bincount(labels, minlength=n_groups).astype(np.float64)
    if np.any(counts == 0):
        raise ValueError("every group needs at least one example")
    # Sums over sorted runs, not a one-hot product: no BLAS threads, which on a loaded machine
    # made the product 20x slower than this.
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts[:-1]).astype(np.int64)])
    sums = np.add.reduceat(np.asarray(values, dtype=np.float64)[order], starts, axis=0)
    means = sums / counts[:, None]
    return means - means.mean(axis=0, keepdims=True)


def mean_group_distance(values: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows (groups) of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n < 2:
        raise ValueError("a distance between groups needs at least two groups")
    return float(pairwise_distances(values, metric="euclidean")[np.triu_indices(n, 1)].mean())


def random_group_values(
    pool: ExamplePool, draws: int, random_state: int | np.random.RandomState | None = None
) -> np.ndarray:
    """NAP colour values of random groups with the real groups' sizes, ``draws`` times.

    Each draw shuffles the pool's labels (the same examples, the same group sizes, groups
    chosen at random) and takes the group means minus their mean.

    Returns
    -------
    ndarray of shape (draws, n_groups, n_neurons)
    """
    rng = check_random_state(random_state)
    n_groups = len(pool.names)
    values = np.asarray(pool.values, dtype=np.float64)  # converted once, not per draw
    return np.stack(
        [group_means(values, rng.permutation(pool.labels), n_groups) for _ in range(draws)]
    )


@dataclass
class Separation:
    """The real groups' separation, and that of random groups drawn ``len(random)`` times.

    Attributes
    ----------
    distance : float
        Mean distance between the real groups' NAPs.
    random : ndarray of shape (draws,)
        The same for each draw of random groups of the same sizes.
    sizes : list of int
        Examples per group (of the real groups; every draw has the same).
    """

    distance: float
    random: np.ndarray
    sizes: list[int] = field(default_factory=list)

    @property
    def baseline(self) -> float:
        """Mean distance of the random groups (what chance gives)."""
        return float(np.mean(self.random))

    @property
    def score(self) -> float:
        """``distance / baseline``: 1 is chance, 2 is twice as far apart as chance."""
        return self.distance / self.baseline if self.baseline > 0 else float("nan")

    @property
    def spread(self) -> tuple[float, float]:
        """The 5th and 95th percentile of ``distance / random[d]`` over the draws."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = self.distance / self.random
        low, high = np.percentile(ratios, SPREAD_PERCENTILES)
        return float(low), float(high)

    @property
    def chance(self) -> np.ndarray:
        """Each draw's distance relative to the baseline (scores chance gives; mean 1)."""
        return self.random / self.baseline if self.baseline > 0 else self.random * np.nan

    @property
    def p_value(self) -> float:
        """Share of draws at least as far apart as the real groups (permutation test, with
        the real grouping counted as one draw)."""
        return float((1 + np.sum(self.random >= self.distance)) / (1 + len(self.random)))

    def to_dict(self) -> dict:
        """JSON-able summary."""
        low, high = self.spread
        return {
            "score": round(self.score, 6),
            "score_low": round(low, 6),
            "score_high": round(high, 6),
            "distance": round(self.distance, 6),
            "random_distance": round(self.baseline, 6),
            "p_value": round(self.p_value, 6),
            "draws": int(len(self.random)),
            "group_sizes": list(self.sizes),
        }


def separation(
    pool: ExamplePool, draws: int = DEFAULT_DRAWS, random_state: int | None = None
) -> Separation:
    """The separation of the pool's groups and of ``draws`` random regroupings of it.

    Parameters
    ----------
    pool : ExamplePool
    draws : int, default=50
        Random groupings (at least 2).
    random_state : int, RandomState or None

    Returns
    -------
    Separation
    """
    if draws < 2:
        raise ValueError(f"draws must be at least 2, got {draws}")
    n_groups = len(pool.names)
    if n_groups < 2:
        raise TopomapError(
            f"the separation needs at least two groups, got {n_groups} ({', '.join(pool.names)})"
        )
    real = mean_group_distance(group_means(pool.values, pool.labels, n_groups))
    return Separation(
        distance=real,
        random=random_distances(pool, draws, random_state),
        sizes=pool.sizes,
    )


#: Bytes of group means :func:`random_distances` holds at once (draws are taken in chunks).
_CHUNK_BYTES = 64 * 2**20


def random_distances(
    pool: ExamplePool, draws: int, random_state: int | np.random.RandomState | None = None
) -> np.ndarray:
    """The mean group distance of ``draws`` random regroupings of the pool: the draws of
    :func:`random_group_values` (the same permutations, in the same order), computed many at a
    time as batched matrix products.

    An overview tests every layer, each with enough draws for Holm's correction (1079 for 54
    layers), so the draws must be cheap: a chunk of draws' group means is one product of
    their scaled one-hot memberships with the examples' values, and their distances come from
    the Gram matrices (``|a - b|^2 = |a|^2 + |b|^2 - 2 a.b``).

    Returns
    -------
    ndarray of shape (draws,)
    """
    rng = check_random_state(random_state)
    n_groups = len(pool.names)
    values = np.asarray(pool.values, dtype=np.float64)
    n, n_neurons = values.shape
    counts = np.bincount(pool.labels, minlength=n_groups).astype(np.float64)
    if np.any(counts == 0):
        raise ValueError("every group needs at least one example")
    perms = np.stack([rng.permutation(pool.labels) for _ in range(draws)])
    chunk = max(1, _CHUNK_BYTES // max(1, 8 * n_groups * max(n, n_neurons)))
    upper = np.triu_indices(n_groups, 1)
    out = np.empty(draws)
    for start in range(0, draws, chunk):
        labels = perms[start : start + chunk]
        d = len(labels)
        weights = np.zeros((d, n_groups, n))
        weights[np.arange(d)[:, None], labels, np.arange(n)[None, :]] = 1.0 / counts[labels]
        means = weights @ values  # (d, groups, neurons)
        means -= means.mean(axis=1, keepdims=True)
        square = np.einsum("dgn,dgn->dg", means, means)
        gram = means @ means.transpose(0, 2, 1)
        dist2 = square[:, :, None] + square[:, None, :] - 2.0 * gram
        dist = np.sqrt(np.maximum(dist2[:, upper[0], upper[1]], 0.0))
        out[start : start + d] = dist.mean(axis=1)
    return out


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of ``p_values`` for testing them all at once.

    Testing 54 layers at 5 % finds 2.7 of them "significant" by chance alone; a layer whose
    adjusted p-value is at most 0.05 stays significant with the family-wise error held at 5 %.
    The smallest p-value is multiplied by the number of tests m, the next by m - 1, and so on,
    each kept at least as large as the one before and at most 1.

    Parameters
    ----------
    p_values : sequence of float

    Returns
    -------
    ndarray of float, in the order given
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def draws_for(n_tests: int, level: float = 0.05) -> int:
    """Random draws a permutation test needs so that, run ``n_tests`` times, its smallest
    possible p-value (``1 / (draws + 1)``) still passes ``level`` after Holm's correction."""
    return int(np.ceil(n_tests / level)) - 1


def _times(value: float) -> str:
    return f"{value:.1f}×" if abs(value) >= 1.5 else f"{value:.2f}×"


def describe(result: Separation, where: str = "") -> str:
    """One sentence a non-expert can read: how much more than chance the groups separate.

    Parameters
    ----------
    result : Separation
    where : str, optional
        Where, e.g. ``"in layer 'dense'"``.
    """
    place = f" {where}" if where else ""
    low, high = result.spread
    draws = len(result.random)
    farther = int(np.sum(result.random >= result.distance))
    if result.p_value <= 0.05:
        return (
            f"The model separates these groups {_times(result.score)} more than chance{place} "
            f"({_times(low)} to {_times(high)} against {draws} random groupings of the same "
            "sizes)."
        )
    if farther == 0:
        # Farther apart than every draw, but too few draws for a 5 % test (fewer than 19).
        return (
            f"The model separates these groups {_times(result.score)} more than chance{place}, "
            f"farther apart than all {draws} random groupings of the same sizes (draw at "
            "least 19 for a 5 % test)."
        )
    return (
        f"The model separates these groups no more than chance{place}: "
        f"{_times(result.score)} the distance of random groups of the same sizes "
        f"({farther} of {draws} random groupings are farther apart)."
    )
