"""Notes a map view shows above its maps: a layer that barely responds, small or dropped
groups, dead neurons (issue 12, items 23, 25 and 29)."""

from __future__ import annotations

import numpy as np

from ..profiles.groups import min_group_size
from ..profiles.nap import NAP

__all__ = ["FLAT_RELATIVE", "map_notes"]


#: A NAP whose spread is below this fraction of the activations' size is noise: float32
#: activations resolve about 1e-7 of their magnitude.
FLAT_RELATIVE = 1e-5


def map_notes(nap: NAP, layer: str, min_size: int | None = None) -> list[tuple[str, str]]:
    """What a reader of the maps must know: flat maps, small, empty and random groups, dead
    neurons.

    Parameters
    ----------
    nap : NAP
    layer : str
        Named in the messages.
    min_size : int, optional
        Groups below it are warned about (default :func:`~..profiles.groups.min_group_size`).

    Returns
    -------
    list of (level, text)
        ``level`` is ``"warning"`` (the maps may mislead) or ``"note"``.
    """
    min_size = min_group_size() if min_size is None else min_size
    notes: list[tuple[str, str]] = []
    spread = float(np.max(np.abs(nap.values))) if nap.values.size else 0.0
    scale = nap.activation_scale
    flat = spread == 0 or (spread < FLAT_RELATIVE * scale if np.isfinite(scale) else spread < 1e-9)
    if flat:
        notes.append(
            (
                "warning",
                f"Layer {layer} barely responds to the grouping: its maps span only "
                f"±{spread:.1e} (activations up to {scale:.2g}), so their pattern is "
                "numerical noise.",
            )
        )
    sizes = dict(zip(nap.group_names, nap.group_sizes, strict=True))
    small = [f"{name} (n={n})" for name, n in sizes.items() if n < min_size]
    if small:
        notes.append(
            (
                "warning",
                f"{len(small)} group{'s have' if len(small) != 1 else ' has'} fewer than "
                f"{min_size} examples, so {'their maps are' if len(small) != 1 else 'its map is'}"
                f" noisy: {', '.join(small)}.",
            )
        )
    if nap.dropped_groups:
        notes.append(
            (
                "warning",
                f"Left out, no examples: {', '.join(nap.dropped_groups)}.",
            )
        )
    dead = len(nap.dead_neurons)
    if dead:
        notes.append(
            (
                "note",
                f"{dead} of {nap.n_neurons} neurons are dead (zero for every group); they are "
                "spread around one spot and marked × in the scatter.",
            )
        )
    return notes
