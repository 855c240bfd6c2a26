"""Groups of examples to compare (paper 3.1, 6.1 and 6.2).

A grouping is a list of named groups, each a sorted array of example indices.
Groups are sampled to at most ``per_group`` examples with a seeded generator
(200 in the paper). Random baseline groups (paper 6.2) are disjoint random
subsets of all examples: maps that differ more between real groups than
between random ones reveal what the layer encodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_random_state

from ..config import max_groups
from ..errors import TopomapError

GROUP_MODES = ("label", "label+correctness", "column")
DEFAULT_PER_GROUP = 200

#: Groups with fewer examples than this get a warning (``TOPOMAPS_MIN_GROUP_SIZE``).
DEFAULT_MIN_GROUP_SIZE = 20


def min_group_size() -> int:
    """Smallest group shown without a warning (``TOPOMAPS_MIN_GROUP_SIZE``, default 20)."""
    from ..config import int_setting

    return int_setting("TOPOMAPS_MIN_GROUP_SIZE", DEFAULT_MIN_GROUP_SIZE, 1)


@dataclass
class Grouping:
    """Named groups of example indices.

    Attributes
    ----------
    names : list of str
    members : list of ndarray of int
        Sorted example indices of each group (groups may overlap).
    empty : list of str
        Groups that had no examples and were left out (e.g. ``"3:wrong"``).
    """

    names: list[str]
    members: list[np.ndarray]
    empty: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> list[int]:
        return [int(m.size) for m in self.members]

    def examples(self) -> np.ndarray:
        """All distinct example indices in any group, sorted."""
        return np.unique(np.concatenate(self.members)) if self.members else np.array([], int)

    def membership(self, indices: np.ndarray) -> np.ndarray:
        """Bool matrix of shape (len(indices), n_groups): example i is in group g."""
        indices = np.asarray(indices)
        return np.stack([np.isin(indices, m) for m in self.members], axis=1)


def predicted_labels(predictions: np.ndarray) -> np.ndarray:
    """Class index per example from model outputs (argmax, or 0.5 threshold for one unit)."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 1 or predictions.shape[-1] == 1:
        return (predictions.reshape(len(predictions)) > 0.5).astype(np.int64)
    return predictions.reshape(len(predictions), -1).argmax(axis=1)


def _label_name(label_names, i) -> str:
    return label_names[i] if label_names is not None and 0 <= i < len(label_names) else str(i)


def make_groups(
    mode: str,
    *,
    labels: np.ndarray | None = None,
    predictions: np.ndarray | None = None,
    column: np.ndarray | None = None,
    label_names: list[str] | None = None,
    n_examples: int | None = None,
    random_groups: int = 0,
    per_group: int = DEFAULT_PER_GROUP,
    random_state: int | np.random.RandomState | None = None,
    extra: Sequence[tuple[str, np.ndarray]] = (),
) -> Grouping:
    """Build the groups to compare.

    Parameters
    ----------
    mode : {"label", "label+correctness", "column"}
        ``label``: one group per class. ``label+correctness``: each class split
        into ``"<label>:correct"`` and ``"<label>:wrong"`` by the model's
        predictions (paper 6.1). ``column``: the values of a user-supplied
        group array.
    labels : ndarray of int, shape (n_examples,)
    predictions : ndarray of shape (n_examples, n_outputs)
        Model outputs; needed for ``label+correctness``.
    column : ndarray of shape (n_examples,)
    label_names : list of str, optional
        Names of the class indices.
    n_examples : int, optional
        Number of examples (taken from the arrays given if omitted).
    random_groups : int, default=0
        Number K of random baseline groups ``random-1`` ... ``random-K`` to add: disjoint,
        each as large as the median real group (at most ``per_group``).
    per_group : int, default=200
        Examples sampled per group (all of them if a group is smaller).
    random_state : int, RandomState or None
    extra : sequence of (name, indices)
        Custom groups (a selection of examples, e.g. a node of the Mapper view) added after
        the others with exactly these examples: they are not sampled down to ``per_group``.

    Returns
    -------
    Grouping
    """
    if mode not in GROUP_MODES:
        raise TopomapError(
            f"group mode {mode!r} is not known; choose one of {', '.join(GROUP_MODES)}"
        )
    if not isinstance(per_group, int | np.integer) or per_group < 1:
        raise TopomapError(f"per_group must be a positive integer, got {per_group!r}")
    if not isinstance(random_groups, int | np.integer) or random_groups < 0:
        raise TopomapError(f"random_groups must be a non-negative integer, got {random_groups!r}")
    rng = check_random_state(random_state)

    if mode in ("label", "label+correctness"):
        if labels is None:
            raise TopomapError(f"group mode {mode!r} needs labels, but the data has no 'y'")
        labels = np.asarray(labels).astype(np.int64)
        keys = labels
        n = len(labels)
        classes = np.unique(labels)
        if mode == "label":
            groups = [(_label_name(label_names, c), labels == c) for c in classes]
        else:
            if predictions is None:
                raise TopomapError("group mode 'label+correctness' needs the model's predictions")
            pred = predicted_labels(predictions)
            if len(pred) != n:
                raise TopomapError(f"{len(pred)} predictions for {n} labels")
            correct = pred == labels
            groups = []
            for c in classes:
                name = _label_name(label_names, c)
                groups.append((f"{name}:correct", (keys == c) & correct))
                groups.append((f"{name}:wrong", (keys == c) & ~correct))
    else:
        if column is None:
            raise TopomapError(
                "group mode 'column' needs a 'groups' array in the data (.npz key 'groups')"
            )
        column = np.asarray(column).astype(str)
        n = len(column)
        groups = [(str(v), column == v) for v in np.unique(column)]
    if n_examples is not None and n != n_examples:
        raise TopomapError(f"grouping has {n} entries but the data has {n_examples} examples")
    limit = max_groups()
    if len(groups) + random_groups > limit:
        raise TopomapError(
            f"the grouping makes {len(groups) + random_groups} groups, more than the {limit} "
            "allowed (TOPOMAPS_MAX_GROUPS): ordering groups costs the cube of their number; "
            "group more coarsely"
        )

    names, members, empty = [], [], []
    for name, mask in groups:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            empty.append(name)
            continue
        if idx.size > per_group:
            idx = np.sort(rng.choice(idx, size=per_group, replace=False))
        names.append(name)
        members.append(idx)

    if random_groups:
        if random_groups > n:
            raise TopomapError(f"random_groups={random_groups} is more than the {n} examples")
        # The paper's baseline (6.2): random groups as large as the real ones (their median
        # size), so that a real group's map is not judged against averages of more examples.
        # Disjoint, like real classes; smaller only when K of them do not fit in the data.
        real = [m.size for m in members]
        size = int(np.median(real)) if real else n // random_groups
        size = max(1, min(size, per_group, n // random_groups))
        perm = rng.permutation(n)
        for k in range(random_groups):
            names.append(f"random-{k + 1}")
            members.append(np.sort(perm[k * size : (k + 1) * size]))
    for name, indices in extra:
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        if idx.size == 0:
            raise TopomapError(f"custom group {name!r} has no examples")
        if idx[0] < 0 or idx[-1] >= n:
            raise TopomapError(
                f"custom group {name!r} names example {int(idx[-1] if idx[-1] >= n else idx[0])}"
                f" but the data has {n} examples (0 to {n - 1})"
            )
        if name in names:
            raise TopomapError(f"custom group {name!r} has the name of another group; rename it")
        names.append(name)
        members.append(idx)
    if len(names) < 2:
        raise TopomapError(
            f"need at least two non-empty groups to compare, got {len(names)} ({', '.join(names)})"
        )
    return Grouping(names=names, members=members, empty=empty)
