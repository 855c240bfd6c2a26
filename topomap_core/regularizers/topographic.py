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

The pairs are computed once per unit count in NumPy (:func:`.grid.neighbour_pairs`); the
penalty is one gather of the unit-normalised vectors, not a loop over units.
"""

from __future__ import annotations

import numpy as np

from .. import config
from . import MODES, PACKAGE
from .grid import DEFAULT_NEIGHBOURHOOD, check_grid, check_neighbourhood, neighbour_pairs

keras = config.import_keras()
ops = keras.ops

__all__ = ["MODES", "TopographicRegularizer", "topographic_penalty"]

_EPSILON = 1e-12


def topographic_penalty(vectors, rows: int, cols: int, size: int = DEFAULT_NEIGHBOURHOOD):
    """``sum over pairs of weight * (1 - cos(centre, member))`` as a backend tensor.

    Parameters
    ----------
    vectors : tensor of shape (..., n_units)
        One vector per unit on the last axis.
    rows, cols, size : int
        The grid and the neighbourhood side.
    """
    n_units = int(vectors.shape[-1])
    centre, member, weight = neighbour_pairs(n_units, rows, cols, size)
    v = ops.reshape(ops.cast(vectors, "float32"), (-1, n_units))
    v = v / ops.sqrt(ops.sum(v * v, axis=0, keepdims=True) + _EPSILON)
    cos = ops.sum(ops.take(v, centre, axis=1) * ops.take(v, member, axis=1), axis=0)
    return ops.sum(ops.convert_to_tensor(weight.astype(np.float32)) * (1.0 - cos))


@keras.saving.register_keras_serializable(package=PACKAGE)
class TopographicRegularizer(keras.regularizers.Regularizer):
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
