"""Maps on a topographic grid (Krug & Stober, Figure 1B): on grid, smoothed, the region.

A layer trained with the topographic regularizer has its units on a ``rows x cols`` grid
(unit ``i`` at row ``i // cols``, column ``i % cols``). Its per-group values are shown on that
grid as they are (not interpolated), smoothed by a non-strided 3 x 3 average pooling (the mean
over the cells of the window that hold a unit), and the most responsive 3 x 3 region is the
window around the smoothed map's maximum, moved inside the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter

__all__ = ["Region", "on_grid", "responsive_region", "smooth"]


def on_grid(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``values`` of shape (..., n_units) as (..., rows, cols); empty cells are NaN."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    if n > rows * cols:
        raise ValueError(f"{n} units do not fit a {rows}x{cols} grid")
    out = np.full((*values.shape[:-1], rows * cols), np.nan)
    out[..., :n] = values
    return out.reshape(*values.shape[:-1], rows, cols)


def smooth(maps: np.ndarray, size: int = 3) -> np.ndarray:
    """Non-strided ``size x size`` average pooling of (..., rows, cols) maps.

    Each cell becomes the mean of the window's cells that hold a value (the window is clipped
    at the border; empty cells are left out); an empty cell stays NaN.
    """
    maps = np.asarray(maps, dtype=np.float64)
    present = np.isfinite(maps)
    filled = np.where(present, maps, 0.0)
    window = (1,) * (maps.ndim - 2) + (size, size)
    sums = uniform_filter(filled, size=window, mode="constant", cval=0.0)
    counts = uniform_filter(present.astype(np.float64), size=window, mode="constant", cval=0.0)
    out = np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 1e-9)
    out[~present] = np.nan
    return out


@dataclass(frozen=True)
class Region:
    """A ``size x size`` window of the grid: its top-left cell and the units in it."""

    row: int
    col: int
    size: int
    units: tuple[int, ...]

    def to_dict(self) -> dict:
        return {"row": self.row, "col": self.col, "size": self.size, "units": list(self.units)}


def responsive_region(smoothed: np.ndarray, n_units: int, size: int = 3) -> Region:
    """The ``size x size`` window around the maximum of one smoothed (rows, cols) map.

    The window is centred on the maximum and shifted to lie inside the grid; its units are
    listed row by row (empty cells after the last unit are left out).
    """
    smoothed = np.asarray(smoothed, dtype=np.float64)
    rows, cols = smoothed.shape
    if not np.isfinite(smoothed).any():
        raise ValueError("the map has no values")
    peak = int(np.nanargmax(smoothed))
    r, c = divmod(peak, cols)
    half = size // 2
    r0 = min(max(r - half, 0), max(rows - size, 0))
    c0 = min(max(c - half, 0), max(cols - size, 0))
    units = tuple(
        int(i * cols + j)
        for i in range(r0, min(r0 + size, rows))
        for j in range(c0, min(c0 + size, cols))
        if i * cols + j < n_units
    )
    return Region(r0, c0, size, units)
