"""The topographic regularizer (Krug & Stober): neighbouring units on a grid made similar.

A layer's units sit on a ``rows x cols`` grid (:mod:`.grid`). For every unit, over its
``n x n`` neighbourhood (clipped at the border), the penalty adds ``1 - cos`` between each
member's vector and the centre's, weighted by the reciprocal grid distance (weights normalised
to sum to 1 per neighbourhood); the loss is ``strength`` times the sum over all neighbourhoods.
Minimising it makes neighbours *more* similar (docs/ALGORITHMS.md says why the paper's
"minimize cosine similarity" is read this way).

Two modes, one class:

- ``"weights"`` (the paper): as a ``kernel_regularizer``, a unit's vector is its column of a
  Dense kernel ``(in, units)`` or its filter of a convolution kernel ``(kh, kw, in, out)``;
- ``"activations"`` (the paper's future work): as an ``activity_regularizer``, a unit's vector
  is its activations over the batch (and positions). Keras divides an activity penalty by the
  batch size.

The weights are computed in NumPy (:mod:`.grid`), never a loop over units in the penalty. Up to
:data:`DENSE_MAX_UNITS` units the penalty is one product with the ``(n, n)`` neighbourhood
weight matrix (``sum W - sum(V * (V @ W))``); above it, where ``n**2`` grows too large, the grid
of unit-normalised vectors is shifted once per neighbourhood offset (8 for 3 x 3).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from .. import config
from . import MODES, PACKAGE
from .grid import (
    DEFAULT_NEIGHBOURHOOD,
    check_grid,
    check_neighbourhood,
    neighbour_pairs,
    offset_weights,
)

keras = config.import_keras()
ops = keras.ops

__all__ = ["DENSE_MAX_UNITS", "MODES", "TopographicRegularizer", "topographic_penalty"]

_EPSILON = 1e-12

#: Up to this many units the penalty is one matrix product (``n**2`` weights); above, shifts.
#: Measured (benchmarks/bench_topographic.py): penalty + gradient of a 3x3x128x128 kernel
#: 2.8 ms dense vs 12.3 ms shifted; at 2048 units 247 ms vs 208 ms.
DENSE_MAX_UNITS = 1024

PENALTY_METHODS = ("auto", "dense", "shift")


@lru_cache(maxsize=32)
def _weight_matrix(n_units: int, rows: int, cols: int, size: int) -> np.ndarray:
    """``W[member, centre]``: the neighbourhood weights as a dense ``(n, n)`` matrix."""
    centre, member, weight = neighbour_pairs(n_units, rows, cols, size)
    matrix = np.zeros((n_units, n_units), np.float32)
    matrix[member, centre] = weight
    matrix.setflags(write=False)
    return matrix


def topographic_penalty(
    vectors, rows: int, cols: int, size: int = DEFAULT_NEIGHBOURHOOD, method: str = "auto"
):
    """``sum over pairs of weight * (1 - cos(centre, member))`` as a backend tensor.

    ``"dense"``: with the unit-normalised vectors ``V`` (``(dim, n)``) and the weight matrix
    ``W`` (``W[j, i]`` the weight of member ``j`` of centre ``i``), the penalty is
    ``sum(W) - sum(V * (V @ W))``: one product and a few element-wise operations, forward and
    back (the per-step cost that matters on small models).

    ``"shift"``: the vectors are laid on the grid, ``(dim, rows, cols)``, zero-padded by
    ``size // 2``; for each of the ``size**2 - 1`` offsets the grid and its shifted copy give
    every centre's cosine to its member at that offset, weighted by
    :func:`.grid.offset_weights`. Memory and work linear in the units (no ``n**2`` matrix).

    Parameters
    ----------
    vectors : tensor of shape (..., n_units)
        One vector per unit on the last axis.
    rows, cols, size : int
        The grid and the neighbourhood side.
    method : {"auto", "dense", "shift"}
        ``"auto"``: dense up to :data:`DENSE_MAX_UNITS` units, else shift.
    """
    if method not in PENALTY_METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(PENALTY_METHODS)}")
    n_units = int(vectors.shape[-1])
    v = ops.reshape(ops.cast(vectors, "float32"), (-1, n_units))
    v = v / ops.sqrt(ops.sum(v * v, axis=0, keepdims=True) + _EPSILON)
    if method == "dense" or (method == "auto" and n_units <= DENSE_MAX_UNITS):
        weights = _weight_matrix(n_units, rows, cols, size)
        mixed = ops.matmul(v, ops.convert_to_tensor(weights))
        return float(weights.sum(dtype=np.float64)) - ops.sum(v * mixed)
    offsets = offset_weights(n_units, rows, cols, size)
    if rows * cols > n_units:  # empty cells: zero vectors, with weight 0
        v = ops.pad(v, [[0, 0], [0, rows * cols - n_units]])
    g = ops.reshape(v, (-1, rows, cols))
    half = size // 2
    padded = ops.pad(g, [[0, 0], [half, half], [half, half]])
    total = 0.0
    for dr, dc, weight in offsets:
        shifted = padded[:, half + dr : half + dr + rows, half + dc : half + dc + cols]
        cos = ops.sum(g * shifted, axis=0)
        total = total + ops.sum(ops.convert_to_tensor(weight.astype(np.float32)) * (1.0 - cos))
    return total


_Regularizer: Any = keras.regularizers.Regularizer  # a base a type checker cannot see


@keras.saving.register_keras_serializable(package=PACKAGE)
class TopographicRegularizer(_Regularizer):
    """Keras regularizer placing a layer's units on a grid and making neighbours similar.

    Parameters
    ----------
    rows, cols : int
        The grid; unit ``i`` sits at row ``i // cols``, column ``i % cols``.
    neighbourhood : int, default=3
        Odd side of the square neighbourhood.
    strength : float, default=0.01
        Factor of the summed penalty.
    mode : {"weights", "activations"}
        Informational: which argument of the layer it was given as (``kernel_regularizer``
        or ``activity_regularizer``); the penalty is the same function of its input.
    """

    def __init__(
        self,
        rows: int,
        cols: int,
        neighbourhood: int = DEFAULT_NEIGHBOURHOOD,
        strength: float = 0.01,
        mode: str = "weights",
    ):
        rows, cols, neighbourhood = int(rows), int(cols), int(neighbourhood)
        check_grid(rows, cols, 0)
        check_neighbourhood(neighbourhood)
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        strength = float(strength)
        if not (strength >= 0 and np.isfinite(strength)):
            raise ValueError(f"strength {strength!r} must be a finite number >= 0")
        self.rows, self.cols = rows, cols
        self.neighbourhood = neighbourhood
        self.strength = strength
        self.mode = mode

    def __call__(self, x):
        check_grid(self.rows, self.cols, int(x.shape[-1]))
        return self.strength * topographic_penalty(x, self.rows, self.cols, self.neighbourhood)

    def get_config(self) -> dict:
        return {
            "rows": self.rows,
            "cols": self.cols,
            "neighbourhood": self.neighbourhood,
            "strength": self.strength,
            "mode": self.mode,
        }
