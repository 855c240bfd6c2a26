"""The steps every map view shares after its NAP: layout -> group order, and values -> maps.

:func:`place` lays the neurons out from a prepared profile (paper 3.2) and orders the groups by
a dendrogram; :func:`draw` takes the values to their colour limit and interpolated maps (paper
3.3). Each analysis prepares a profile (one model's, the last training state's, two models'
stacked) and hands it over, as openTSNE's optimiser takes prepared affinities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import TopomapError
from ..placement import compute_layout
from ..profiles.interpolate import DEFAULT_RESOLUTION, colour_limit, interpolate_maps
from ..profiles.nap import NAP
from ..profiles.ordering import GroupOrder, order_groups
from ..progress import ProgressCallback, report
from .topomap import GRID_METHOD, MapParams

__all__ = ["Placement", "aligned_values", "draw", "layout_profile", "place"]


@dataclass
class Placement:
    """Where the neurons sit and in which order the groups are shown."""

    layout: np.ndarray
    order: GroupOrder


def place(
    profile: np.ndarray,
    group_vectors: np.ndarray,
    group_names: list[str],
    params: MapParams,
    *,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
    layout: np.ndarray | None = None,
) -> Placement:
    """Lay the neurons out from a prepared profile and order the groups by a dendrogram.

    Parameters
    ----------
    profile : ndarray of shape (n_features, n_neurons)
        What the layout is computed from (a NAP's :meth:`~topomap_core.profiles.nap.NAP.profile`,
        or several stacked).
    group_vectors : ndarray of shape (n_groups, n_dims)
        What the group order is computed from.
    group_names : list of str
    params : MapParams
        ``method``, ``seed``, ``metric`` and ``layout_input``.
    layout : ndarray of shape (n_neurons, 2), optional
        A layout known already (``grid``: :func:`grid_layout_of`); no layout is computed.
    """
    timings = {} if timings is None else timings
    # Each step says when it starts: a step without reports of its own (a PCA, the
    # dendrogram) must not leave the previous stage's text on screen.
    report(progress, f"layout ({params.method})", 0, 0)
    t0 = time.perf_counter()
    if layout is None and params.method == GRID_METHOD:
        raise TopomapError(
            "layout method grid is offered for one model's layer (the Maps and Topographic "
            "views); choose another method here"
        )
    if layout is None:
        profile = layout_profile(profile, params)
        layout = compute_layout(
            profile,
            params.method,
            random_state=params.seed,
            progress=progress,
            metric=params.metric,
        )
    timings["layout"] = time.perf_counter() - t0
    report(progress, "ordering the groups", 0, 0)
    order = order_groups(group_vectors, group_names, metric=params.metric)
    return Placement(layout, order)


def layout_profile(profile: np.ndarray, params: MapParams) -> np.ndarray:
    """What the layout method is given: ``profile`` itself (``layout_input="nap"``), or the
    N x N matrix of distances between its columns (``"distances"``; symmetric, so column i is
    neuron i's row of distances to all others).

    Parameters
    ----------
    profile : ndarray of shape (n_features, n_neurons)
    params : MapParams

    Returns
    -------
    ndarray of shape (n_features, n_neurons) or (n_neurons, n_neurons)
    """
    if params.layout_input == "nap":
        return profile
    from ..distances import pairwise_distances

    return pairwise_distances(np.ascontiguousarray(np.asarray(profile).T), metric=params.metric)


def aligned_values(nap: NAP, names: list[str]) -> np.ndarray:
    """``nap.values`` in the order of ``names``; NaN rows for groups this NAP lacks."""
    index = {name: i for i, name in enumerate(nap.group_names)}
    values = nap.values
    out = np.full((len(names), nap.n_neurons), np.nan)
    for row, name in enumerate(names):
        if name in index:
            out[row] = values[index[name]]
    return out


def draw(
    layout: np.ndarray,
    values: np.ndarray,
    resolution: int = DEFAULT_RESOLUTION,
    dtype: type = np.float32,
) -> tuple[np.ndarray, float]:
    """The maps of ``values`` on ``layout`` and their shared colour limit.

    Parameters
    ----------
    layout : ndarray of shape (n_neurons, 2)
    values : ndarray of shape (..., n_groups, n_neurons)
        Any leading axes (states of a training run); a row holding NaN (a group missing from
        that state) gives an all-NaN map.
    resolution : int
    dtype : numpy dtype, default=float32
        Of the maps (many states' maps are kept in float32).

    Returns
    -------
    maps : ndarray of shape (..., n_groups, resolution, resolution)
        NaN outside the neurons' hull.
    vmax : float
        ``max |value|`` over everything drawn (:func:`colour_limit`).
    """
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(-1, values.shape[-1])
    maps: np.ndarray = np.full((flat.shape[0], resolution, resolution), np.nan, dtype=dtype)
    present = np.all(np.isfinite(flat), axis=1)
    if present.any():
        maps[present] = interpolate_maps(layout, flat[present], resolution=resolution)
    return maps.reshape(*values.shape[:-1], resolution, resolution), colour_limit(values)
