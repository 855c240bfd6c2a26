"""Notes a map view shows above its maps: input that looks wrongly prepared, groups no more
different than random ones, a layer that barely responds, small or dropped groups, dead
neurons (issue 12, items 23, 25 and 29; issue 19)."""

from __future__ import annotations

import numpy as np

from ..profiles.groups import min_group_size
from ..profiles.nap import NAP

__all__ = ["FLAT_RELATIVE", "LISTED_GROUPS", "map_notes"]


#: Most groups a note names (the count says how many there are).
LISTED_GROUPS = 10

#: A NAP whose spread is below this fraction of the activations' size is noise: float32
#: activations resolve about 1e-7 of their magnitude.
FLAT_RELATIVE = 1e-5


def _listed(names: list[str]) -> str:
    """The first :data:`LISTED_GROUPS` names, and how many more: a 1000-group view's whole
    list was a screenful of text above its maps."""
    text = ", ".join(names[:LISTED_GROUPS])
    return text + (f" and {len(names) - LISTED_GROUPS} more" if len(names) > LISTED_GROUPS else "")


def map_notes(
    nap: NAP, layer: str, min_size: int | None = None, separation=None, scatter: bool = False
) -> list[tuple[str, str]]:
    """What a reader of the maps must know: the input check's warnings, groups that separate
    no more than chance, flat maps, small, empty and random groups, dead neurons.

    Parameters
    ----------
    nap : NAP
    layer : str
        Named in the messages.
    min_size : int, optional
        Groups below it are warned about (default :func:`~..profiles.groups.min_group_size`).
    separation : topomap_core.profiles.separation.Separation, optional
        The groups' separation against random groups of the same sizes: at chance level, the
        maps' differences are called what they may be, noise.
    scatter : bool, default=False
        The reader sees the dashboard's neuron scatter, where dead neurons are crosses; the
        command line's and the exports' notes do not point at a scatter they lack.

    Returns
    -------
    list of (level, text)
        ``level`` is ``"warning"`` (the maps may mislead) or ``"note"``.
    """
    from ..io.input_check import messages_of
    from ..profiles.separation import describe

    min_size = min_group_size() if min_size is None else min_size
    notes: list[tuple[str, str]] = []
    check = messages_of(nap.input_check)
    notes += [note for note in check if note[0] == "warning"]
    if separation is not None and separation.p_value > 0.05:
        notes.append(
            (
                "warning",
                describe(separation, f"in layer {layer}")
                + " Their maps' differences may be noise: compare them with random groups "
                "(Random groups, or the Bias tab).",
            )
        )
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
                f" noisy: {_listed(small)}.",
            )
        )
    if nap.dropped_groups:
        notes.append(
            (
                "warning",
                f"Left out, no examples: {_listed(nap.dropped_groups)}.",
            )
        )
    dead = len(nap.dead_neurons)
    if dead:
        where = " and marked × in the scatter" if scatter else ""
        notes.append(
            (
                "note",
                f"{dead} of {nap.n_neurons} neurons are dead (zero for every group); they are "
                f"spread around one spot{where}.",
            )
        )
    notes += [note for note in check if note[0] != "warning"]
    return notes
