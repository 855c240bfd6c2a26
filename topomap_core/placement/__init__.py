"""Registry of neuron layout methods and the public :func:`compute_layout`.

One dictionary maps every method name to its implementation; the CLI choices,
the dashboard dropdown and the contract tests all read it. Names are
case-insensitive. Hybrids (``UMAP_PSO`` ...) run their base method, scale it to
[0, 1] and spread it with the local-force-only PSO (paper 3.2.5).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from sklearn.utils import check_random_state

from ..distances import METRICS
from ..progress import ProgressCallback
from ._base import LayoutProblem, scale_unit, separate_coincident
from .methods import graph_layout, pca_layout, random_layout, som_layout, tsne_layout, umap_layout
from .pso import run_pso

__all__ = [
    "LAYOUT_METHODS",
    "LayoutMethod",
    "available_methods",
    "compute_layout",
    "deterministic_methods",
    "seed_note",
    "get_method",
    "ProgressCallback",
]

#: Fewest neurons a map can be drawn from (a triangle for the interpolation).
MIN_NEURONS = 3


@dataclass(frozen=True)
class LayoutMethod:
    """A named layout method.

    Attributes
    ----------
    name : str
        Canonical name, e.g. ``"UMAP_PSO"``.
    func : callable
        ``func(problem, **params) -> ndarray (n_neurons, 2)``, unscaled.
    summary : str
        One line for the UI and ``--help``.
    defaults : mapping
        The keyword parameters the method accepts, with their defaults.
    deterministic : bool
        True when the seed does not change the layout (a deterministic start, e.g. PCA's
        components or t-SNE's PCA initialisation, and no random step after it): the UI and
        ``--help`` say so, so that runs with other seeds are not mistaken for samples.
    uses_profile : bool
        False for the baselines that ignore the neurons' profiles (``random``, ``baseline``).
    """

    name: str
    func: Callable[..., np.ndarray]
    summary: str
    defaults: Mapping[str, object] = field(default_factory=dict)
    deterministic: bool = False
    uses_profile: bool = True


def _defaults(func: Callable) -> dict[str, object]:
    sig = inspect.signature(func)
    return {
        k: p.default for k, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _pso(problem: LayoutProblem, *, n_steps: int = 1000, solver: str = "exact") -> np.ndarray:
    init = problem.rng.uniform(size=(problem.n_neurons, 2))
    return run_pso(problem, init, use_global=True, n_steps=n_steps, solver=solver)


def _baseline(problem: LayoutProblem, *, n_steps: int = 1000, solver: str = "auto") -> np.ndarray:
    """The paper's Figure 4 baseline: the local force only, from a uniform random start.

    It ignores the profiles, so it shows what the spreading alone gives a map.
    """
    init = problem.rng.uniform(size=(problem.n_neurons, 2))
    return run_pso(problem, init, use_global=False, n_steps=n_steps, solver=solver)


def _hybrid(
    base: Callable,
    problem: LayoutProblem,
    *,
    n_steps: int = 1000,
    solver: str = "auto",
    **base_params,
):
    # Coincident neurons (dead ones) would stay coincident: the PSO's forces scale with distance.
    init = separate_coincident(scale_unit(base(problem, **base_params)))
    return run_pso(problem, init, use_global=False, n_steps=n_steps, solver=solver)


# name -> (function, summary, deterministic: the seed does not change its layout). The
# local-force PSO of a hybrid draws nothing at random, so a hybrid is as deterministic as its base.
_BASES: dict[str, tuple[Callable, str, bool]] = {
    "graph": (graph_layout, "co-activation graph, Fruchterman-Reingold (paper 3.2.2)", False),
    "SOM": (som_layout, "self-organising map cells (paper 3.2.1)", False),
    "PCA": (pca_layout, "first two principal components (paper 3.2.3)", True),
    "TSNE": (tsne_layout, "t-SNE, PCA-initialised (paper 3.2.3)", True),
    "UMAP": (umap_layout, "UMAP (paper 3.2.3)", False),
}


def _build_registry() -> dict[str, LayoutMethod]:
    reg = [
        LayoutMethod(
            "random", random_layout, "uniform random positions (baseline)", uses_profile=False
        ),
        LayoutMethod(
            "baseline",
            _baseline,
            "local-force PSO from a uniform random start (the paper's Figure 4 baseline)",
            _defaults(_baseline),
            uses_profile=False,
        ),
        LayoutMethod(
            "PSO",
            _pso,
            "force simulation from random start, global + local force (paper 3.2.4)",
            _defaults(_pso),
        ),
    ]
    for name, (func, summary, fixed) in _BASES.items():
        reg.append(LayoutMethod(name, func, summary, _defaults(func), fixed))
    for name, (func, summary, fixed) in _BASES.items():
        hybrid = partial(_hybrid, func)
        reg.append(
            LayoutMethod(
                f"{name}_PSO",
                hybrid,
                f"{summary.split(' (')[0]}, then spread by local-force PSO (paper 3.2.5)",
                {**_defaults(func), "n_steps": 1000, "solver": "auto"},
                fixed,
            )
        )
    return {m.name.lower(): m for m in reg}


#: Lower-case name -> method, in the paper's order.
LAYOUT_METHODS: dict[str, LayoutMethod] = _build_registry()


def available_methods() -> list[str]:
    """Canonical names of all registered layout methods."""
    return [m.name for m in LAYOUT_METHODS.values()]


def deterministic_methods() -> list[str]:
    """Canonical names of the methods whose layout is the same for every seed."""
    return [m.name for m in LAYOUT_METHODS.values() if m.deterministic]


def seed_note() -> str:
    """One sentence naming the methods the seed does not change (for ``--help`` and the UI)."""
    names = deterministic_methods()
    listed = f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]
    return f"{listed} give the same layout for every seed (the seed still samples the groups)"


def get_method(method: str | LayoutMethod) -> LayoutMethod:
    """Look a method up by name (case-insensitive), or pass an instance through.

    Raises
    ------
    ValueError
        If the name is not registered; the message lists the valid names.
    """
    if isinstance(method, LayoutMethod):
        return method
    if not isinstance(method, str) or method.lower() not in LAYOUT_METHODS:
        raise ValueError(
            f"method {method!r} is not known; choose one of {', '.join(available_methods())}"
        )
    return LAYOUT_METHODS[method.lower()]


def _check_nap(nap: np.ndarray) -> np.ndarray:
    nap = np.asarray(nap)
    if nap.ndim != 2:
        raise ValueError(
            f"nap must be a 2-D array of shape (n_features, n_neurons), got shape {nap.shape}"
        )
    if not np.issubdtype(nap.dtype, np.number):
        raise ValueError(f"nap must be numeric, got dtype {nap.dtype}")
    n_features, n_neurons = nap.shape
    if n_neurons < MIN_NEURONS:
        raise ValueError(
            f"a topographic map needs at least {MIN_NEURONS} neurons, the nap has {n_neurons}"
        )
    if n_features < 1:
        raise ValueError("nap has no features (rows); it needs at least one group")
    if not np.all(np.isfinite(nap)):
        raise ValueError(f"nap contains {int(np.sum(~np.isfinite(nap)))} NaN or infinite values")
    return nap.astype(np.float64, copy=False)


def compute_layout(
    nap: np.ndarray,
    method: str | LayoutMethod = "UMAP_PSO",
    random_state: int | np.random.RandomState | None = None,
    progress: ProgressCallback | None = None,
    *,
    metric: str = "cosine",
    **params: object,
) -> np.ndarray:
    """Lay the neurons out in 2-D so that similarly active neurons are neighbours.

    Parameters
    ----------
    nap : ndarray of shape (n_features, n_neurons)
        Neuron Activation Profile: one column per neuron (paper 3.1). For dense
        layers ``n_features`` is the number of groups; for convolutions it is
        ``w * h * groups``.
    method : str or LayoutMethod, default="UMAP_PSO"
        A name from :func:`available_methods` (case-insensitive).
    random_state : int, RandomState or None
        Seed for every random choice; the same seed gives the same layout.
    progress : callable, optional
        ``progress(stage, done, total)``, called as the work advances (e.g.
        ``("PSO", 400, 1000)``). Returning True stops the run by raising
        :class:`topomap_core.errors.Cancelled`.
    metric : {"cosine", "euclidean"}, default="cosine"
        Dissimilarity between neurons' NAP columns.
    **params
        Method parameters (e.g. ``n_steps=500`` for the PSO family); see
        ``get_method(name).defaults``.

    Returns
    -------
    ndarray of shape (n_neurons, 2)
        Coordinates scaled to [0, 1] in both dimensions (robust to outliers, see
        :func:`~topomap_core.placement._base.scale_unit`); neurons that shared a position
        (dead neurons) are moved apart (:func:`~topomap_core.placement._base.separate_coincident`).
    """
    spec = get_method(method)
    X = np.ascontiguousarray(_check_nap(nap).T)
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not known; choose one of {', '.join(METRICS)}")
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        valid = ", ".join(spec.defaults) or "none"
        raise ValueError(
            f"parameter(s) {', '.join(unknown)} not accepted by {spec.name}; valid: {valid}"
        )
    for key in ("n_steps", "epochs", "iterations", "n_neighbors"):
        value = params.get(key, 1)
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    problem = LayoutProblem(X, metric, check_random_state(random_state), progress)
    coords = spec.func(problem, **params)
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape != (X.shape[0], 2) or not np.all(np.isfinite(coords)):
        raise RuntimeError(f"{spec.name} produced an invalid layout of shape {coords.shape}")
    return scale_unit(separate_coincident(scale_unit(coords)), robust=False)
