"""What every map analysis declares: its parameters, and the key of a layer's NAP.

``MapParams`` declares once the fourteen parameters every map analysis takes (data and its
preparation, layer, the grouping and the layout), with the declarations other requests reuse
(:func:`model_ref`, :func:`preprocess_param`, :func:`resize_param`) and the ``grid`` method.
:func:`nap_key` names a layer's NAP in the cache (:mod:`.naps` computes it, paper 3.1), so a map
view, a comparison and anything else that needs the same NAP share one entry; :mod:`.placing`
has the layout and drawing steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..distances import METRICS
from ..errors import TopomapError
from ..io.demo import demo_names
from ..io.prepare import RESIZE_MODES, Preprocess
from ..params import Interval, Name, Options, Reference, param
from ..placement import available_methods, seed_note
from ..profiles.groups import DEFAULT_PER_GROUP, GROUP_MODES
from ..profiles.nap import GRADIENT_CLASSES, NAP_KINDS, PROFILES

__all__ = [
    "GRID_METHOD",
    "LAYOUT_INPUTS",
    "MapParams",
    "NAP_VERSION",
    "grid_layout_of",
    "map_methods",
    "model_ref",
    "nap_key",
    "preprocess_param",
    "resize_param",
]

#: Bump when a change makes cached NAPs stale.
NAP_VERSION = "4"  # 4: the data's preparation and the input check; 3: random groups as large

#: Largest accepted values (requests are untrusted input; the UI bounds nothing).
MAX_RANDOM_GROUPS = 100
MAX_PER_GROUP = 100_000
MAX_SEED = 2**32 - 1  # numpy's RandomState accepts seeds below 2**32


#: The layout of a layer trained with the topographic regularizer: its grid, read from the
#: model (not a placement method: it needs the model, not only a profile).
GRID_METHOD = "grid"


def map_methods() -> list[str]:
    """Every layout method a map may ask for: the placement registry's and ``grid``."""
    return [*available_methods(), GRID_METHOD]


def grid_layout_of(model, layer: str) -> np.ndarray:
    """The ``grid`` layout of ``layer``: its units at their grid cells (shape (n, 2)).

    Raises
    ------
    TopomapError
        The layer was not trained with the topographic regularizer.
    """
    from ..io.models import get_layer
    from ..regularizers.fit import layer_grid
    from ..regularizers.grid import grid_layout

    grid = layer_grid(model, layer)
    if grid is None:
        raise TopomapError(
            f"layout method grid applies only to a layer trained with the topographic "
            f"regularizer; layer {layer!r} has none (choose another method, e.g. UMAP_PSO)"
        )
    return grid_layout(get_layer(model, layer).neurons, grid.rows, grid.cols)


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


def preprocess_param() -> Any:
    """The declared ``preprocess`` field (:mod:`topomap_core.io.prepare`): one declaration for
    every request that feeds data to a model."""
    return param(
        Preprocess(),
        "auto",
        label="preprocess",
        help="how the data are prepared for the model: auto (arrays as given; image folders "
        "x/255, or raw 0-255 when the model starts with a Rescaling layer), none, unit "
        "(x/255), symmetric (x/127.5 - 1), tf, caffe, torch (ImageNet), or scale:offset "
        "(x * scale + offset, e.g. 1/255:0)",
        metavar="P",
        blank_default=True,
    )


def resize_param() -> Any:
    """The declared ``resize`` field: whether array images are brought to the model's input."""
    return param(
        Options(RESIZE_MODES, "resize"),
        "none",
        label="resize",
        help="bilinear: resize array images to the model's input size and channels (none: "
        "a misfit is refused)",
        blank_default=True,
    )


@dataclass(frozen=True, kw_only=True)
class MapParams:
    """The data, layer, grouping and layout of a map (shared by every map analysis).

    Attributes
    ----------
    data : str
        ``demo:digits``, an uploaded data file's id, or (command line) a file.
    preprocess : str
        The data's preparation for the model (:class:`~..io.prepare.Preprocess`).
    resize : {"none", "bilinear"}
        Whether array images are resized to the model's input.
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
    nap : {"mean", "grad"}
        A NAP of the activations (paper 3.1) or a GradNAP (gradient x activation).
    nap_class : {"true", "predicted"}
        GradNAP only: whose class score the gradient is of.
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
        f"folders, or {' / '.join(demo_names('data'))}",
        cli_required=True,
    )
    preprocess: str = preprocess_param()
    resize: str = resize_param()
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
        Options(map_methods, "method", ignore_case=True, list_in_message=False),
        "UMAP_PSO",
        label="layout method",
        help=f"layout method: {', '.join(map_methods())} (grid: a layer trained with the "
        "topographic regularizer)",
    )
    seed: int = param(
        Interval(int, 0, MAX_SEED),
        0,
        label="seed",
        help=f"random seed: the same seed gives the same groups and layout; {seed_note()}",
    )
    profile: str = param(
        Options(PROFILES, "profile"),
        "paper",
        label="profile",
        help="layout profile for convolutions: paper ((w*h*G) x N) or mean (G x N)",
    )
    metric: str = param(Options(METRICS, "metric"), "cosine", label="metric", cli=False)
    nap: str = param(
        Options(NAP_KINDS, "NAP"),
        "mean",
        label="NAP",
        help="what is averaged per group: mean (activations) or grad (gradient x activation)",
    )
    nap_class: str = param(
        Options(GRADIENT_CLASSES, "class"),
        "true",
        label="GradNAP class",
        help="with --nap grad: the gradient of the true or the predicted class's score",
    )
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

    def preparation(self) -> dict:
        """How the data are prepared (part of a NAP's key)."""
        return {"preprocess": self.preprocess, "resize": self.resize}

    def nap_kind(self) -> dict:
        """What a NAP averages (part of its key; empty for the plain NAP, so the keys of
        NAPs cached before GradNAP existed stay valid)."""
        return {} if self.nap == "mean" else {"nap": self.nap, "nap_class": self.nap_class}


def nap_key(
    model_id: str, data_id: str, layer: str, params: MapParams, selection: str | None = None
) -> dict:
    """The cache key parts of a NAP: everything it depends on, nothing it does not.

    The layout parameters (method, profile, metric) are not part of it, so changing them
    reuses the NAP. ``selection`` is the content id of a custom group's selection, if any.
    """
    extra = {} if selection is None else {"selection": selection}
    return {
        "kind": "nap",
        "v": NAP_VERSION,
        "model": model_id,
        "data": data_id,
        "layer": layer,
        **params.grouping(),
        **params.preparation(),
        **extra,
        **params.nap_kind(),
    }
