"""topomap_core: topographic activation maps of neural network layers.

A pure numerical library (no web framework, no plotting): NAPs (paper 3.1),
neuron layouts (3.2), interpolated maps (3.3), group ordering and the quality
metrics of paper 4.2. Keras is imported lazily, only by the functions that
load models or extract activations (not yet at ``import topomap_core``: issue 21).

>>> import numpy as np
>>> from topomap_core import compute_layout
>>> nap = np.random.default_rng(0).normal(size=(10, 64))
>>> compute_layout(nap, method="PCA_PSO", random_state=0).shape
(64, 2)
"""

from .errors import (
    Cancelled,
    DataError,
    LayerNotFoundError,
    ModelLoadError,
    ModelRefusedError,
    TopomapError,
)
from .placement import LAYOUT_METHODS, LayoutMethod, available_methods, compute_layout, get_method
from .profiles.groups import GROUP_MODES, Grouping, make_groups
from .profiles.interpolate import colour_limit, interpolate_maps
from .profiles.metrics import quality_metrics
from .profiles.nap import NAP, NapAccumulator, nap_from_activations
from .profiles.ordering import GroupOrder, order_groups


def _version() -> str:
    """The installed distribution's version (one source: ``pyproject.toml``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("topomaps")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"


__version__ = _version()

__all__ = [
    "GROUP_MODES",
    "LAYOUT_METHODS",
    "NAP",
    "Cancelled",
    "DataError",
    "GroupOrder",
    "Grouping",
    "LayerNotFoundError",
    "LayoutMethod",
    "ModelLoadError",
    "ModelRefusedError",
    "NapAccumulator",
    "TopomapError",
    "available_methods",
    "colour_limit",
    "compute_layout",
    "get_method",
    "interpolate_maps",
    "make_groups",
    "nap_from_activations",
    "order_groups",
    "quality_metrics",
]
