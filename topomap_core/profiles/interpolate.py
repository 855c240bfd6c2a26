"""Topographic map images: interpolation of NAP values over a layout and colouring (paper 3.3).

A *map* is a ``resolution x resolution`` float image per group: the group's NAP
value of every neuron placed at the neuron's layout coordinate, linearly
interpolated in between. Outside the convex hull of the neurons there is no
data, so those pixels are NaN; this is what makes the maps round rather than
square (paper 4.2, qualitative criteria).

Colours use the diverging ``bwr`` scale of the paper, blue ``-vmax``, white 0,
red ``+vmax``, with one ``vmax`` shared by all groups of a run so that equal
colours mean equal values across maps (paper 3.3). The scale is implemented
here in numpy so that the core never needs matplotlib.

Image convention: ``maps[g]`` is indexed ``[row, column]`` with row 0 at the
*top* (``y = 1``) and column 0 at ``x = 0``, so a map can be handed to any image
library as is.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import LinearNDInterpolator
from scipy.spatial import QhullError

from ..errors import TopomapError

__all__ = [
    "BWR_STOPS",
    "DEFAULT_RESOLUTION",
    "colour_limit",
    "interpolate_maps",
    "scatter_colours",
    "to_rgb",
    "to_rgba",
]

#: Side of a map in pixels; the paper interpolates on 100 x 100 px (section 3.3).
DEFAULT_RESOLUTION = 100

#: The ``bwr`` colour scale as (position, (r, g, b)) stops, positions in [0, 1] from
#: ``-vmax`` to ``+vmax``; front ends can build their own colour scale from it.
BWR_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (0, 0, 255)),
    (0.5, (255, 255, 255)),
    (1.0, (255, 0, 0)),
)

# Layout coordinates are min-max scaled to [0, 1] (paper 3.3); allow for rounding.
_UNIT_TOLERANCE = 1e-6


def _check_layout(layout: np.ndarray) -> np.ndarray:
    layout = np.asarray(layout, dtype=np.float64)
    if layout.ndim != 2 or layout.shape[1] != 2:
        raise TopomapError(
            f"layout must be an array of shape (n_neurons, 2); got shape {layout.shape}"
        )
    if layout.shape[0] < 3:
        raise TopomapError(
            f"layout needs at least 3 neurons to be interpolated; got {layout.shape[0]}"
        )
    if not np.all(np.isfinite(layout)):
        raise TopomapError("layout contains non-finite coordinates (NaN or inf)")
    lo, hi = layout.min(), layout.max()
    if lo < -_UNIT_TOLERANCE or hi > 1.0 + _UNIT_TOLERANCE:
        raise TopomapError(
            f"layout coordinates must lie in [0, 1] (min-max scale them first, paper 3.3); "
            f"got values in [{lo:.4g}, {hi:.4g}]"
        )
    # Delaunay needs a 2-D point cloud; say so plainly instead of surfacing a Qhull trace.
    centred = layout - layout.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    if singular[1] <= 1e-12 * max(singular[0], 1e-300):
        raise TopomapError(
            "layout is degenerate: all neurons lie on one line (or one point), "
            "so no 2-D map can be interpolated"
        )
    return layout


def _check_values(values: np.ndarray, n_neurons: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != n_neurons:
        raise TopomapError(
            f"values must have shape (n_groups, n_neurons) with n_neurons = {n_neurons} "
            f"as in layout; got shape {values.shape}"
        )
    if values.shape[0] < 1:
        raise TopomapError("values must contain at least one group (row); got 0")
    bad = ~np.all(np.isfinite(values), axis=1)
    if np.any(bad):
        rows = np.flatnonzero(bad).tolist()
        raise TopomapError(f"values contain NaN or inf in group row(s) {rows}")
    return values


def _check_vmax(vmax: float) -> float:
    try:
        vmax = float(vmax)
    except (TypeError, ValueError) as exc:
        raise TopomapError(f"vmax must be a positive finite number; got {vmax!r}") from exc
    if not np.isfinite(vmax) or vmax <= 0:
        raise TopomapError(f"vmax must be a positive finite number; got {vmax!r}")
    return vmax


def interpolate_maps(
    layout: np.ndarray, values: np.ndarray, resolution: int = DEFAULT_RESOLUTION
) -> np.ndarray:
    """Interpolate every group's NAP values over the layout (paper 3.3, Figure 1D).

    Parameters
    ----------
    layout : ndarray of shape (n_neurons, 2)
        Neuron coordinates ``(x, y)`` scaled to [0, 1]; at least 3 neurons, not all
        on one line.
    values : ndarray of shape (n_groups, n_neurons)
        One row per group: the value that colours each neuron (its NAP value; for
        convolutions the per-feature-map mean).
    resolution : int, default=100
        Side of each map in pixels. Pixel centres lie at ``linspace(0, 1, resolution)``.

    Returns
    -------
    maps : ndarray of shape (n_groups, resolution, resolution), float64
        Linearly interpolated values; NaN outside the convex hull of the layout.
        Row 0 is the top of the image (``y = 1``), column 0 is ``x = 0``.

    Raises
    ------
    TopomapError
        (a ``ValueError``) for shapes that do not match, non-finite input,
        coordinates outside [0, 1] or a degenerate (collinear) layout.
    """
    layout = _check_layout(layout)
    values = _check_values(values, layout.shape[0])
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise TopomapError(f"resolution must be an integer >= 2; got {resolution!r}")
    if resolution < 2:
        raise TopomapError(f"resolution must be an integer >= 2; got {resolution}")
    resolution = int(resolution)

    # One Delaunay triangulation serves all groups: the interpolator takes the
    # values as (n_neurons, n_groups) and returns every group at once.
    try:
        interpolator = LinearNDInterpolator(layout, values.T, fill_value=np.nan)
    except QhullError as exc:  # pragma: no cover - the SVD check catches the usual cases
        raise TopomapError(f"layout is degenerate: Delaunay triangulation failed ({exc})") from exc

    axis = np.linspace(0.0, 1.0, resolution)
    # Rows run from y = 1 (top) down to y = 0 so that the array reads as an image.
    gx, gy = np.meshgrid(axis, axis[::-1])
    flat = interpolator(np.column_stack([gx.ravel(), gy.ravel()]))  # (res * res, G)
    return np.ascontiguousarray(flat.T.reshape(values.shape[0], resolution, resolution))


def colour_limit(values: np.ndarray) -> float:
    """Shared symmetric colour limit: ``max |value|`` over all groups (paper 3.3).

    Parameters
    ----------
    values : array_like of any shape
        NAP values or maps of all groups of a run; NaN and inf are ignored
        (maps are NaN outside the hull).

    Returns
    -------
    vmax : float
        The largest finite absolute value, or 1.0 when there is none or it is 0
        (an all-zero run then renders white instead of dividing by zero).
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise TopomapError("colour_limit needs at least one value; got an empty array")
    finite = np.abs(arr[np.isfinite(arr)])
    if finite.size == 0:
        return 1.0
    vmax = float(finite.max())
    return vmax if vmax > 0 else 1.0


def _bwr(values: np.ndarray, vmax: float) -> np.ndarray:
    """Map values to ``bwr`` RGB in [0, 1], shape ``values.shape + (3,)``; NaN stays NaN."""
    t = (np.clip(values, -vmax, vmax) / vmax + 1.0) / 2.0  # 0 = blue, 0.5 = white, 1 = red
    rgb = np.empty(values.shape + (3,), dtype=np.float64)
    # Piecewise linear through the three stops of BWR_STOPS.
    rgb[..., 0] = np.minimum(1.0, 2.0 * t)
    rgb[..., 1] = 1.0 - np.abs(2.0 * t - 1.0)
    rgb[..., 2] = np.minimum(1.0, 2.0 - 2.0 * t)
    return rgb


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.rint(np.nan_to_num(rgb, nan=0.0) * 255.0).astype(np.uint8)


def to_rgba(maps: np.ndarray, vmax: float) -> np.ndarray:
    """Colour maps with ``bwr``; pixels without data become fully transparent.

    Parameters
    ----------
    maps : ndarray of any shape, e.g. (n_groups, H, W) or (H, W)
        Values; NaN marks "no data" (outside the hull).
    vmax : float
        Colour limit (> 0): values are clipped to ``[-vmax, vmax]``.

    Returns
    -------
    ndarray of shape ``maps.shape + (4,)``, uint8
        RGBA; alpha 255 where there is data, 0 (and RGB white) where ``maps`` is NaN.
    """
    vmax = _check_vmax(vmax)
    maps = np.asarray(maps, dtype=np.float64)
    missing = np.isnan(maps)
    rgba = np.empty(maps.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = _to_uint8(_bwr(maps, vmax))
    rgba[..., :3][missing] = 255  # white under the transparency, so careless compositing stays
    rgba[..., 3] = np.where(missing, 0, 255)
    return rgba


def to_rgb(maps: np.ndarray, vmax: float, background: int = 255) -> np.ndarray:
    """Colour maps with ``bwr`` on an opaque background (what the quality metrics see).

    Parameters
    ----------
    maps : ndarray of any shape, e.g. (n_groups, H, W)
        Values; NaN marks "no data" (outside the hull).
    vmax : float
        Colour limit (> 0).
    background : int, default=255
        Grey level in [0, 255] for pixels without data. White (the default) makes the
        area outside the hull count as background in the metrics (REFERENCE.md).

    Returns
    -------
    ndarray of shape ``maps.shape + (3,)``, uint8
    """
    vmax = _check_vmax(vmax)
    if isinstance(background, bool) or not isinstance(background, (int, np.integer)):
        raise TopomapError(f"background must be an integer in [0, 255]; got {background!r}")
    if not 0 <= background <= 255:
        raise TopomapError(f"background must be an integer in [0, 255]; got {background}")
    maps = np.asarray(maps, dtype=np.float64)
    rgb = _to_uint8(_bwr(maps, vmax))
    rgb[np.isnan(maps)] = background
    return rgb


def scatter_colours(values_row: np.ndarray, vmax: float) -> np.ndarray:
    """``bwr`` colours of individual neurons, e.g. for a scatter plot of the layout.

    Parameters
    ----------
    values_row : ndarray of shape (n_neurons,)
        One group's values.
    vmax : float
        Colour limit (> 0), normally the run's :func:`colour_limit`.

    Returns
    -------
    ndarray of shape (n_neurons, 3), uint8
        RGB; NaN values are white.
    """
    values_row = np.asarray(values_row, dtype=np.float64)
    if values_row.ndim != 1:
        raise TopomapError(
            f"values_row must be 1-D of shape (n_neurons,); got shape {values_row.shape}"
        )
    return to_rgb(values_row, vmax)
