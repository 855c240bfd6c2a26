"""Neuron Activation Profiles (paper 3.1).

For each group of examples, the mean activation of the layer; then the
unweighted mean over groups is subtracted, so a NAP says how much more (red)
or less (blue) a neuron fires for a group than for the average group.

Means are accumulated batch by batch (:class:`NapAccumulator`), so memory is
``groups x layer size`` whatever the number of examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Layout profiles: the paper's ``(w*h*G) x N`` or the spatially averaged ``G x N``.
PROFILES = ("paper", "mean")

#: What a NAP averages per group: the activations, or gradient x activation (GradNAP).
NAP_KINDS = ("mean", "grad")

#: GradNAP: which class's score the gradient is of (the example's true or predicted class).
GRADIENT_CLASSES = ("true", "predicted")


@dataclass
class NAP:
    """A layer's Neuron Activation Profile.

    Attributes
    ----------
    group_names : list of str
        One per group with at least one example, in the order given.
    group_sizes : list of int
        Number of examples averaged for each group.
    normalized : ndarray of shape (n_groups, *spatial, n_neurons)
        Group mean minus the mean over groups. Neurons (units, or feature maps
        of a convolution) are the last axis; ``spatial`` is empty for dense layers.
    dropped_groups : list of str
        Groups that were asked for but had no examples; they are left out
        rather than averaged into NaN (a bug of the reference implementation).
    members : dict or None
        Group name -> its example indices (sorted), when the NAP was computed from a
        grouping (the Mapper view highlights the maps' selected group with them); None in
        NAPs cached before it was kept.
    activation_scale : float
        ``max |group mean|`` before the mean over groups was subtracted: what the NAP's
        spread is measured against to tell a layer that barely responds (NaN if unknown).
    input_check : dict or None
        What the model did with the data's first batch
        (:meth:`topomap_core.io.input_check.InputCheck.to_dict`), when the NAP was computed
        from a model and data.
    """

    group_names: list[str]
    group_sizes: list[int]
    normalized: np.ndarray
    dropped_groups: list[str] = field(default_factory=list)
    members: dict[str, np.ndarray] | None = None
    activation_scale: float = float("nan")
    input_check: dict | None = None

    @property
    def n_groups(self) -> int:
        return self.normalized.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.normalized.shape[-1]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.normalized.shape[1:-1])

    @property
    def values(self) -> np.ndarray:
        """Colours of the maps: ndarray of shape (n_groups, n_neurons).

        For convolutions the per-feature-map spatial mean (paper 3.3).
        """
        axes = tuple(range(1, self.normalized.ndim - 1))
        return self.normalized.mean(axis=axes) if axes else self.normalized

    @property
    def dead_neurons(self) -> np.ndarray:
        """Indices of the neurons whose NAP is exactly zero for every group (and position).

        Typically ReLUs that never fire; they carry no information, and before their
        separation (:func:`~topomap_core.placement._base.separate_coincident`) every layout
        put them on one point.
        """
        flat = self.normalized.reshape(-1, self.n_neurons)
        return np.flatnonzero(np.all(flat == 0, axis=0))

    def profile(self, kind: str = "paper") -> np.ndarray:
        """The matrix the layout is computed from, shape (n_features, n_neurons).

        Parameters
        ----------
        kind : {"paper", "mean"}
            ``"paper"``: every group's feature map flattened and stacked, the
            ``(w*h*G) x N`` profile of paper 3.1 (equal to ``G x N`` for dense
            layers). ``"mean"``: the spatially averaged ``G x N`` profile that the
            authors' first implementation laid out.
        """
        if kind not in PROFILES:
            raise ValueError(f"profile {kind!r} is not known; choose one of {', '.join(PROFILES)}")
        if kind == "mean":
            return self.values
        return self.normalized.reshape(-1, self.n_neurons)

    def group_vectors(self) -> np.ndarray:
        """One flattened NAP vector per group, shape (n_groups, prod(spatial) * n_neurons)."""
        return self.normalized.reshape(self.n_groups, -1)


class NapAccumulator:
    """Accumulate per-group activation sums batch by batch.

    Parameters
    ----------
    group_names : list of str
        The groups; an example may belong to several (e.g. a class and a
        random baseline group).
    """

    def __init__(self, group_names: list[str]):
        self.group_names = list(group_names)
        self._sums: np.ndarray | None = None
        self._counts = np.zeros(len(self.group_names), dtype=np.int64)

    def add(self, activations: np.ndarray, membership: np.ndarray) -> None:
        """Add one batch.

        Parameters
        ----------
        activations : ndarray of shape (batch, *layer_shape)
        membership : bool ndarray of shape (batch, n_groups)
            ``membership[i, g]`` is True when example i belongs to group g.
        """
        acts = np.asarray(activations)
        # One batch's sums are exact enough in float32; the running totals are float64.
        dtype = np.float32 if acts.dtype == np.float32 else np.float64
        member = np.asarray(membership, dtype=dtype)
        if member.shape != (acts.shape[0], len(self.group_names)):
            raise ValueError(
                f"membership must have shape ({acts.shape[0]}, {len(self.group_names)}), "
                f"got {member.shape}"
            )
        flat = acts.reshape(acts.shape[0], -1).astype(dtype, copy=False)
        # One matrix product adds every example to all of its groups.
        batch_sums = np.dot(member.T, flat)
        if self._sums is None:
            self._shape = acts.shape[1:]
            self._sums = np.zeros(batch_sums.shape, dtype=np.float64)
        self._sums += batch_sums
        self._counts += member.sum(axis=0).astype(np.int64)

    def result(self) -> NAP:
        """Group means minus their mean, dropping empty groups."""
        if self._sums is None:
            raise ValueError("no activations were added")
        keep = self._counts > 0
        if keep.sum() < 2:
            raise ValueError(
                "a NAP needs at least two groups with examples; "
                f"got {int(keep.sum())} ({', '.join(np.array(self.group_names)[keep]) or 'none'})"
            )
        means = self._sums[keep] / self._counts[keep, None]
        normalized = means - means.mean(axis=0, keepdims=True)
        return NAP(
            group_names=[n for n, k in zip(self.group_names, keep, strict=True) if k],
            group_sizes=[int(c) for c in self._counts[keep]],
            normalized=normalized.reshape((int(keep.sum()), *self._shape)),
            dropped_groups=[n for n, k in zip(self.group_names, keep, strict=True) if not k],
            activation_scale=float(np.max(np.abs(means))),
        )


def nap_from_activations(activations: np.ndarray, membership: np.ndarray, group_names) -> NAP:
    """Compute a NAP from activations already in memory (convenience for tests and notebooks).

    Parameters
    ----------
    activations : ndarray of shape (n_examples, *layer_shape)
    membership : bool ndarray of shape (n_examples, n_groups)
    group_names : list of str
    """
    acc = NapAccumulator(group_names)
    acc.add(activations, membership)
    return acc.result()
