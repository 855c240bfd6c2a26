"""Explained regions: the connected regions of strongly positive and strongly negative NAP on
one group's map, and the neurons inside each.

The threshold is the one of the paper's component metric (section 4.2,
:func:`~topomap_core.profiles.metrics.component_stats`): there a pixel of the ``bwr`` image
counts as coloured where its channel is below 230 of 255, which on the symmetric colour scale
is ``|value| > (1 - 230/255) * vmax``, about 10% of the colour limit. Regions are 8-connected,
and those under 10 px are dropped, as there. A neuron belongs to a region when its value passes
the threshold with the region's sign and the pixel under it (or, for a neuron on a region's
rim, a pixel next to it) is in that region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import TopomapError

__all__ = ["DEFAULT_THRESHOLD", "MIN_REGION_PX", "Region", "find_regions", "neuron_pixels"]

#: Fraction of the colour limit: the component metric's 230-of-255 channel threshold.
DEFAULT_THRESHOLD = 1.0 - 230.0 / 255.0
#: Regions smaller than this many pixels are not regions (the component metric's min_size).
MIN_REGION_PX = 10

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass
class Region:
    """One connected region of a map.

    Attributes
    ----------
    index : int
        1-based; the value of its pixels in the label image.
    sign : int
        +1: strongly positive (red), -1: strongly negative (blue).
    neurons : list of int
        The neurons inside, by index.
    size_px : int
    mean_value : float
        Mean map value over the region's pixels.
    centre : tuple of float
        ``(x, y)`` of its pixels' centroid in layout coordinates.
    """

    index: int
    sign: int
    neurons: list[int]
    size_px: int
    mean_value: float
    centre: tuple[float, float]

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "sign": self.sign,
            "neurons": list(self.neurons),
            "size_px": self.size_px,
            "mean_value": self.mean_value,
            "centre": list(self.centre),
        }


def neuron_pixels(layout: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the pixel under each neuron (row 0 is ``y = 1``, as in the maps)."""
    layout = np.asarray(layout, dtype=np.float64)
    cols = np.clip(np.rint(layout[:, 0] * (resolution - 1)), 0, resolution - 1).astype(int)
    rows = np.clip(np.rint((1.0 - layout[:, 1]) * (resolution - 1)), 0, resolution - 1)
    return rows.astype(int), cols


def find_regions(
    map2d: np.ndarray,
    layout: np.ndarray,
    values: np.ndarray,
    vmax: float,
    threshold: float = DEFAULT_THRESHOLD,
    min_size: int = MIN_REGION_PX,
) -> tuple[np.ndarray, list[Region]]:
    """The strongly positive and strongly negative regions of one group's map.

    Parameters
    ----------
    map2d : ndarray of shape (R, R)
        The group's interpolated map (NaN outside the hull).
    layout : ndarray of shape (n_neurons, 2)
        In [0, 1], as the map was drawn from.
    values : ndarray of shape (n_neurons,)
        The group's NAP values (the map's colours at the neurons).
    vmax : float
        The colour limit of the maps (> 0).
    threshold : float, default=DEFAULT_THRESHOLD
        In (0, 1): a pixel is strong where ``|value| > threshold * vmax``.
    min_size : int, default=MIN_REGION_PX

    Returns
    -------
    labels : ndarray of shape (R, R), int
        0 outside every region, else the region's ``index``.
    regions : list of Region
        Positive regions first, each sign by decreasing size.
    """
    map2d = np.asarray(map2d, dtype=np.float64)
    layout = np.asarray(layout, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if map2d.ndim != 2 or map2d.shape[0] != map2d.shape[1]:
        raise TopomapError(f"map must be a square 2-D array; got shape {map2d.shape}")
    if layout.ndim != 2 or layout.shape != (values.shape[0], 2) or values.ndim != 1:
        raise TopomapError(
            f"layout {layout.shape} and values {values.shape} must be (n, 2) and (n,)"
        )
    if not 0.0 < float(threshold) < 1.0:
        raise TopomapError(f"threshold must be between 0 and 1 (exclusive); got {threshold}")
    if not np.isfinite(vmax) or vmax <= 0:
        return np.zeros(map2d.shape, dtype=int), []  # a flat map has no regions
    resolution = map2d.shape[0]
    filled = np.nan_to_num(map2d, nan=0.0)
    limit = float(threshold) * float(vmax)
    labels = np.zeros(map2d.shape, dtype=int)
    rows, cols = neuron_pixels(layout, resolution)
    axis = np.linspace(0.0, 1.0, resolution)
    regions: list[Region] = []
    for sign in (1, -1):
        lab, n = ndimage.label(sign * filled > limit, structure=_EIGHT_CONNECTED)
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        strong = sign * values > limit
        found = []
        for k in np.argsort(-sizes[1:], kind="stable") + 1:
            if sizes[k] < min_size:
                continue
            mask = lab == k
            # A neuron on the rim may sit on a pixel just under the threshold: look next to it.
            grown = ndimage.binary_dilation(mask, structure=_EIGHT_CONNECTED)
            under = lab[rows, cols]
            inside = strong & grown[rows, cols] & ((under == 0) | (under == k))
            neurons = [int(i) for i in np.flatnonzero(inside)]
            r, c = np.nonzero(mask)
            found.append((mask, neurons, int(sizes[k]), float(filled[mask].mean()),
                          (float(axis[c].mean()), float(axis[::-1][r].mean()))))  # fmt: skip
        for mask, neurons, size, mean, centre in found:
            index = len(regions) + 1
            labels[mask] = index
            regions.append(Region(index, sign, neurons, size, mean, centre))
    return labels, regions
