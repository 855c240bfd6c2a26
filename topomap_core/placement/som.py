"""Self-organising map layout (paper 3.2.1), MiniSom's algorithm compiled.

The paper trains a MiniSom of side ``floor(sqrt(N) + 1)``, so the map has about as many cells
as the layer has neurons and one training update costs O(N): ``10 * N`` updates cost O(N^2),
a minute at 8192 neurons in MiniSom's NumPy code. :func:`som_layout` runs the same algorithm
(MiniSom 2.3's defaults: Gaussian neighbourhood on a rectangular grid, Euclidean activation,
asymptotic decay of learning rate and sigma, ``random_weights_init``, the same random draws
from the same seed) as one compiled loop. A cell whose neighbourhood weight underflows to 0
is skipped, which changes nothing (its update would add exactly 0): with sigma at most 1 an
update touches at most 77 x 77 cells, whatever the map's size.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._base import LayoutProblem


def initial_weights(X: np.ndarray, side: int, seed: int) -> np.ndarray:
    """MiniSom's ``random_weights_init``: each cell, in C order, takes a random neuron's profile.

    MiniSom first draws its own random weights from the same generator and then overwrites
    them; the draw is repeated so that the same seed picks the same neurons.

    Returns
    -------
    ndarray of shape (side * side, n_features)
    """
    rng = np.random.RandomState(seed)
    rng.rand(side, side, X.shape[1])  # MiniSom's initial weights, replaced below
    picks = np.array([rng.randint(len(X)) for _ in range(side * side)])
    return np.array(X[picks], dtype=np.float64)


@numba.njit(cache=True)
def _winner(W, x):  # pragma: no cover - compiled
    """Index of the cell nearest to ``x`` (Euclidean; the first one on a tie, as argmin)."""
    best = 0
    best_d = np.inf
    for c in range(W.shape[0]):
        s = 0.0
        for k in range(W.shape[1]):
            diff = x[k] - W[c, k]
            s += diff * diff
        d = math.sqrt(s)
        if d < best_d:
            best_d = d
            best = c
    return best


@numba.njit(cache=True)
def _train(W, X, order, t0, t1, total, side, sigma, learning_rate):  # pragma: no cover
    """Updates ``t0 .. t1 - 1`` of ``total``: ``W += eta * g(winner) * (x - W)``."""
    gx = np.empty(side)
    gy = np.empty(side)
    for t in range(t0, t1):
        x = X[order[t]]
        win = _winner(W, x)
        ci = win // side
        cj = win % side
        decay = 1.0 + t / (total / 2.0)  # MiniSom's asymptotic_decay
        eta = learning_rate / decay
        sig = sigma / decay
        d = 2.0 * sig * sig
        for i in range(side):
            gx[i] = math.exp(-((i - ci) ** 2) / d)
            gy[i] = math.exp(-((i - cj) ** 2) / d)
        for i in range(side):
            if gx[i] == 0.0:
                continue
            for j in range(side):
                g = gx[i] * gy[j] * eta
                if g == 0.0:
                    continue
                c = i * side + j
                for k in range(W.shape[1]):
                    W[c, k] += g * (x[k] - W[c, k])


@numba.njit(cache=True)
def _winners(W, X):  # pragma: no cover - compiled
    out = np.empty(X.shape[0], dtype=np.int64)
    for i in range(X.shape[0]):
        out[i] = _winner(W, X[i])
    return out


def som_layout(
    problem: LayoutProblem,
    *,
    epochs: int = 10,
    sigma: float = 1.0,
    learning_rate: float = 0.5,
    circle_radius: float = 0.2,
) -> np.ndarray:
    """Self-organising map layout (paper 3.2.1).

    A square SOM of side ``floor(sqrt(N) + 1)`` (at least 2) is trained on the neurons' NAP
    columns for ``epochs * N`` random-order updates; each neuron goes to its winning cell.
    Neurons sharing a cell are spread evenly on a circle of ``circle_radius`` around it, with
    a random phase.
    """
    X = np.ascontiguousarray(problem.X, dtype=np.float64)
    n = problem.n_neurons
    side = max(2, int(np.floor(np.sqrt(n) + 1)))
    W = initial_weights(X, side, problem.seed())
    total = epochs * n
    # The schedule of MiniSom.train(random_order=True), one epoch per call so that each
    # can report progress and be cancelled.
    order = np.arange(total) % n
    problem.rng.shuffle(order)
    for epoch in range(epochs):
        _train(W, X, order, epoch * n, (epoch + 1) * n, total, side, sigma, learning_rate)
        problem.report("SOM", epoch + 1, epochs)
    win = _winners(W, X)
    cells = np.column_stack([win // side, win % side]).astype(np.float64)
    coords = cells.copy()
    _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    for cell in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse == cell)
        angles = (
            problem.rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(members.size) / members.size
        )
        coords[members, 0] += circle_radius * np.cos(angles)
        coords[members, 1] += circle_radius * np.sin(angles)
    return coords
