"""What every analysis shares: the map parameters, the NAP of a model, and the maps step.

``MapParams`` declares once the ten parameters every map analysis takes (data, layer, the
grouping and the layout). :func:`compute_nap` groups the examples and streams the layer's
activations into a NAP (paper 3.1); :func:`nap_key` names that NAP in the cache, so a map view,
a comparison and anything else that needs the same NAP share one entry. :func:`place` is the
layout -> dendrogram order step and :func:`draw` the colour limit -> interpolation step (paper
3.2-3.3): each analysis prepares a profile (one model's, the last training state's, two
models' stacked) and hands it over, as openTSNE's optimiser takes prepared affinities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..distances import METRICS
from ..io.demo import demo_names
from ..params import Interval, Name, Options, Reference, param
from ..placement import available_methods, compute_layout
from ..profiles.groups import DEFAULT_PER_GROUP, GROUP_MODES, make_groups
from ..profiles.interpolate import DEFAULT_RESOLUTION, colour_limit, interpolate_maps
from ..profiles.nap import NAP, PROFILES, NapAccumulator
from ..profiles.ordering import GroupOrder, order_groups
from ..progress import ProgressCallback, report

__all__ = [
    "LAYOUT_INPUTS",
    "MapParams",
    "NAP_VERSION",
    "compute_nap",
    "draw",
    "model_ref",
    "nap_key",
    "place",
]

#: Bump when a change makes cached NAPs stale.
NAP_VERSION = "2"

#: Largest accepted values (requests are untrusted input; the UI bounds nothing).
MAX_RANDOM_GROUPS = 100
MAX_PER_GROUP = 100_000
MAX_SEED = 2**32 - 1  # numpy's RandomState accepts seeds below 2**32


#: What a layout is computed from: the neurons' profile columns (ours), or each neuron's row of
#: the N x N distance matrix (the paper's release; REFERENCE.md, "Distances and layouts").
LAYOUT_INPUTS = ("nap", "distances")


def model_ref(label: str = "model", **kwargs):
    """A model reference field (a demo name or an uploaded model's id; a path on the CLI)."""
    return param(
        Reference("model", lambda: demo_names("model")),
        label=label,
        missing=f"Choose {'a ' if label == 'model' else ''}{label}",
        help=kwargs.pop(
            "help", f"{label}: a .keras / .h5 file, or {' / '.join(demo_names('model'))}"
        ),
        **kwargs,
    )


def _grouping_text(text: str) -> str:
    # A "+" typed into a URL arrives as a space.
    return text.replace(" ", "+")


@dataclass(frozen=True, kw_only=True)
class MapParams:
    """The data, layer, grouping and layout of a map (shared by every map analysis).

    Attributes
    ----------
    data : str
        ``demo:digits``, an uploaded data file's id, or (command line) a file.
    layer : str
        Layer name, nested as ``"backbone/conv2"``.
    groups : {"label", "label+correctness", "column"}
    random_groups : int
        Random baseline groups ``random-1`` ... ``random-K`` to add.
    per_group : int
        Examples sampled per group.
    method : str
        Layout method (case-insensitive on input, canonical after validation).
    seed : int
        ``random_state`` of the grouping and the layout.
    profile : {"paper", "mean"}
        What a convolution's layout is computed from.
    metric : {"cosine", "euclidean"}
        Distance between neurons and between groups.
    layout_input : {"nap", "distances"}
        What the layout method sees per neuron: its profile column, or its row of the N x N
        distance matrix (the paper's release). Part of a view's key, not of the NAP's.
    """

    data: str = param(
        Reference("data", lambda: demo_names("data")),
        "demo:digits",
        label="data",
        missing="Choose data",
        help="data: an .npz (x, y, optional groups, label_names), a .zip of class-named image "
        "folders, or demo:digits",
        cli_required=True,
    )
    layer: str = param(
        Name(),
        "dense",
        label="layer",
        missing="Choose a layer",
        help="layer name, e.g. dense or backbone/conv2",
        cli_required=True,
    )
    groups: str = param(
        Options(GROUP_MODES, "grouping", normalise=_grouping_text),
        "label",
        label="grouping",
        help=f"grouping, one of {', '.join(GROUP_MODES)}",
    )
    random_groups: int = param(
        Interval(int, 0, MAX_RANDOM_GROUPS),
        0,
        label="random groups",
        help="add K random baseline groups",
        metavar="K",
    )
    per_group: int = param(
        Interval(int, 1, MAX_PER_GROUP),
        DEFAULT_PER_GROUP,
        label="examples per group",
        help="examples sampled per group",
        metavar="N",
    )
    method: str = param(
        Options(available_methods, "method", ignore_case=True, list_in_message=False),
        "UMAP_PSO",
        label="layout method",
        help=f"layout method: {', '.join(available_methods())}",
    )
    seed: int = param(
        Interval(int, 0, MAX_SEED),
        0,
        label="seed",
        help="random seed: the same seed gives the same groups and layout",
    )
    profile: str = param(
        Options(PROFILES, "profile"),
        "paper",
        label="profile",
        help="layout profile for convolutions: paper ((w*h*G) x N) or mean (G x N)",
    )
    metric: str = param(Options(METRICS, "metric"), "cosine", label="metric", cli=False)
    layout_input: str = param(
        Options(LAYOUT_INPUTS, "layout input"),
        "nap",
        label="layout input",
        help="what the layout sees per neuron: nap (its profile column) or distances (its row "
        "of the N x N distance matrix, as the paper's release)",
    )

    def grouping(self) -> dict:
        """The fields that decide which examples form which group (part of a NAP's key)."""
        return {
            "groups": self.groups,
            "random_groups": self.random_groups,
            "per_group": self.per_group,
            "seed": self.seed,
        }


def nap_key(model_id: str, data_id: str, layer: str, params: MapParams) -> dict:
    """The cache key parts of a NAP: everything it depends on, nothing it does not.

    The layout parameters (method, profile, metric) are not part of it, so changing them
    reuses the NAP.
    """
    return {
        "kind": "nap",
        "v": NAP_VERSION,
        "model": model_id,
        "data": data_id,
        "layer": layer,
        **params.grouping(),
    }


def compute_nap(
    model,
    dataset,
    layer: str,
    params: MapParams,
    *,
    batch_size: int = 256,
    progress: ProgressCallback | None = None,
    timings: dict | None = None,
) -> NAP:
    """Group the examples and compute the layer's NAP, streaming over batches.

    Parameters
    ----------
    model : keras.Model
    dataset : topomap_core.io.data.Dataset
    layer : str
        Layer name or nested path (``"backbone/conv2"``).
    params : MapParams
        Its grouping fields (see :func:`topomap_core.profiles.groups.make_groups`).
    progress : callable, optional
        Called with stages ``"predictions"`` and ``"activations"``.
    timings : dict, optional
        Filled with the seconds spent per stage.
    """
    from ..io.data import check_fits
    from ..io.models import get_layer, input_shape, iter_activations, predict

    timings = {} if timings is None else timings
    get_layer(model, layer)  # fail on an unknown layer before any work
    check_fits(dataset, input_shape(model))
    t0 = time.perf_counter()
    predictions = None
    if params.groups == "label+correctness":
        predictions = predict(model, dataset.x, batch_size=batch_size, progress=progress)
        timings["predictions"] = time.perf_counter() - t0
    grouping = make_groups(
        params.groups,
        labels=dataset.y,
        predictions=predictions,
        column=dataset.groups,
        label_names=dataset.label_names,
        n_examples=dataset.n_examples,
        random_groups=params.random_groups,
        per_group=params.per_group,
        random_state=params.seed,
    )
    t1 = time.perf_counter()
    examples = grouping.examples()
    membership = grouping.membership(examples)
    acc = NapAccumulator(grouping.names)
    for start, acts, _ in iter_activations(
        model,
        layer,
        dataset.x,
        batch_size=batch_size,
        progress=progress,
        indices=examples,
        with_predictions=False,
    ):
        acc.add(acts, membership[start : start + len(acts)])
    nap = acc.result()
    nap.dropped_groups = grouping.empty + nap.dropped_groups
    timings["activations"] = time.perf_counter() - t1
    return nap


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
    """
    timings = {} if timings is None else timings
    # Each step says when it starts: a step without reports of its own (a PCA, the
    # dendrogram) must not leave the previous stage's text on screen.
    report(progress, f"layout ({params.method})", 0, 0)
    t0 = time.perf_counter()
    profile = layout_profile(profile, params)
    layout = compute_layout(
        profile, params.method, random_state=params.seed, progress=progress, metric=params.metric
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
    maps = np.full((flat.shape[0], resolution, resolution), np.nan, dtype=dtype)
    present = np.all(np.isfinite(flat), axis=1)
    if present.any():
        maps[present] = interpolate_maps(layout, flat[present], resolution=resolution)
    return maps.reshape(*values.shape[:-1], resolution, resolution), colour_limit(values)
