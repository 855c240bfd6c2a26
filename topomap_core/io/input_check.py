"""What the model does with the data: a check of the first batch, before any map is trusted.

Wrongly prepared input does not fail: a network fed raw 0-255 pixels where it expects [0, 1]
still gives activations, and their maps look as clean as any, while its predictions collapse
onto one class (191 of 200 on one real CNN). Labels that index other classes than the model's
outputs (a 2-class data set on a 7-output model, names sorted as ``cat`` = 0, ``dog`` = 1)
make ``label+correctness`` compare unrelated numbers. This module puts numbers on both, from
the data's value range and the model's predictions for the first batch, and words them as
notes that name the setting to change (``preprocess``).

Backend-neutral: NumPy arrays in, an :class:`InputCheck` out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import TopomapError

__all__ = [
    "COLLAPSE_SHARE",
    "InputCheck",
    "check_inputs",
    "class_count",
    "messages_of",
    "require_class_vector",
]

#: Predictions this concentrated on one class (while the labels are not) mean the model does
#: not see what it was trained on.
COLLAPSE_SHARE = 0.8
#: Fewest predictions the collapse check is made on.
MIN_CHECKED = 8


def class_count(output_shape: tuple) -> int | None:
    """Classes of a model whose output is a class vector: its width (2 for one sigmoid unit);
    None for any other output (an image, a sequence)."""
    shape = tuple(output_shape)
    if len(shape) != 1 or shape[0] is None:
        return None
    return max(int(shape[0]), 2)


def require_class_vector(output_shape: tuple, grouping: str) -> int:
    """The class count of a class-vector output, or a clear refusal for ``grouping``.

    Raises
    ------
    TopomapError
        The model's output is not one score per class.
    """
    n = class_count(output_shape)
    if n is None:
        raise TopomapError(
            f"grouping {grouping!r} compares labels with the model's predicted class, but this "
            f"model's output is not a class vector: it gives {tuple(output_shape)} per "
            "example; group by label or by the data's groups column instead"
        )
    return n


@dataclass
class InputCheck:
    """The data's range and the model's first predictions, with what they mean.

    Attributes
    ----------
    preparation : str
        How the data were prepared (:meth:`~topomap_core.io.prepare.Preparation.text`).
    model_scaling : str or None
        The model's own first preparation layer.
    input_range : list of float
        ``[min, max]`` of the prepared data.
    expected_range : list of float or None
        What the preparation gives 0-255 pixels.
    n_checked : int
        Predictions looked at (the first batch, or all when the grouping made them).
    n_outputs : int or None
        Classes of the model's output (None: not a class vector).
    top_class : int or None
        The most frequent predicted class, and ``top_share`` its share.
    top_share : float or None
    label_classes : list of int or None
        The distinct labels of the checked examples.
    outside_share : float or None
        Share of predictions that are none of the data's labels.
    warnings, notes : list of str
    """

    preparation: str
    model_scaling: str | None
    input_range: list[float]
    expected_range: list[float] | None
    n_checked: int
    n_outputs: int | None
    top_class: int | None = None
    top_share: float | None = None
    label_classes: list[int] | None = None
    outside_share: float | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def messages(self) -> list[tuple[str, str]]:
        """``(level, text)`` pairs, warnings first (as :func:`~..analyses.notes.map_notes`)."""
        return [("warning", w) for w in self.warnings] + [("note", n) for n in self.notes]

    def to_dict(self) -> dict:
        return asdict(self)


def messages_of(check: dict | None) -> list[tuple[str, str]]:
    """:meth:`InputCheck.messages` of a check stored as a dict (None: no check, no messages)."""
    if not check:
        return []
    return [("warning", w) for w in check.get("warnings", [])] + [
        ("note", n) for n in check.get("notes", [])
    ]


def _span(lo: float, hi: float) -> str:
    return f"[{lo:.3g}, {hi:.3g}]"


def _range_warning(lo: float, hi: float, preparation, spec) -> str | None:
    """Why the prepared data's range ``[lo, hi]`` is far from what the model expects, or None."""
    setting = "set preprocess (CLI --preprocess, in the dashboard 2 Data, Preprocess)"
    expected = preparation.expected_range()
    if expected is not None:
        e_lo, e_hi = expected
        width = e_hi - e_lo
        if lo < e_lo - 0.5 * width or hi > e_hi + 0.5 * width or hi - lo < 0.02 * width:
            raw = "" if hi - lo >= 0.02 * width else " (were they scaled already?)"
            return (
                f"The data range over {_span(lo, hi)} after {preparation.text()}, far from the "
                f"{_span(e_lo, e_hi)} it gives 0-255 pixels{raw}: the model may not see what it "
                f"was trained on; check the data, or {setting}."
            )
        return None
    if preparation.preset != "none":
        return None
    if spec.scaling and hi - lo <= 2.5 and max(abs(lo), abs(hi)) <= 1.5:
        return (
            f"The model prepares its input itself ({spec.scaling}), so it expects raw values "
            f"such as 0-255 pixels, but the data are already in {_span(lo, hi)}: it sees "
            f"them rescaled twice; give it raw data or {setting}."
        )
    if not spec.scaling and spec.is_image and hi > 20:
        return (
            f"The data range over {_span(lo, hi)}, raw pixel values, and the model does not "
            "rescale its input itself: most image models expect scaled input; "
            f"{setting}: unit (x/255), symmetric (x/127.5 - 1), caffe or torch (ImageNet)."
        )
    return None


def check_inputs(
    x: np.ndarray,
    predictions: np.ndarray | None,
    labels: np.ndarray | None,
    preparation,
    spec,
    output_shape: tuple,
    label_name=str,
) -> InputCheck:
    """Check prepared data and the model's predictions for some of its examples.

    Parameters
    ----------
    x : ndarray of shape (n, *input_shape)
        The prepared data (its range is taken over all of it).
    predictions : ndarray of shape (m, *output_shape) or None
        The model's output for ``m`` examples (the first batch).
    labels : ndarray of shape (m,) or None
        Those examples' labels.
    preparation : topomap_core.io.prepare.Preparation
    spec : topomap_core.io.prepare.InputSpec
    output_shape : tuple
        The model's output shape per example.
    label_name : callable
        ``label_name(i)`` names class ``i`` in messages.
    """
    x = np.asarray(x)
    lo, hi = (float(np.min(x)), float(np.max(x))) if x.size else (0.0, 0.0)
    expected = preparation.expected_range()
    n_classes = class_count(output_shape)
    check = InputCheck(
        preparation=preparation.text(),
        model_scaling=spec.scaling,
        input_range=[lo, hi],
        expected_range=None if expected is None else [float(e) for e in expected],
        n_checked=0 if predictions is None else int(len(predictions)),
        n_outputs=n_classes,
    )
    scaling = f"; the model itself starts with {spec.scaling}" if spec.scaling else ""
    summary = f"Input: {preparation.text()}; values in {_span(lo, hi)}{scaling}"
    problem = _range_warning(lo, hi, preparation, spec)
    if problem:
        check.warnings.append(problem)
    if predictions is None or n_classes is None or not len(predictions):
        check.notes.append(summary + ".")
        return check
    from ..profiles.groups import predicted_labels

    predicted = predicted_labels(predictions)
    counts = np.bincount(predicted, minlength=n_classes)
    top = int(np.argmax(counts))
    check.top_class, check.top_share = top, float(counts[top] / len(predicted))
    label_share = None
    if labels is not None and len(labels) == len(predicted):
        y = np.asarray(labels).astype(np.int64)
        classes = np.unique(y)
        check.label_classes = [int(c) for c in classes]
        label_share = float(np.max(np.bincount(y - y.min())) / len(y)) if len(y) else None
        outside = ~np.isin(predicted, classes)
        check.outside_share = float(outside.mean())
        summary += (
            f"; {len(classes)} label{'s' if len(classes) != 1 else ''} in the data, "
            f"{n_classes} output classes in the model"
        )
        if int(classes.max()) >= n_classes:
            check.warnings.append(
                f"The labels go up to {int(classes.max())} but the model has only {n_classes} "
                f"output classes (0 to {n_classes - 1}): label+correctness compares labels with "
                "output indices, which cannot all match; check that the labels number the "
                "model's classes."
            )
        elif len(classes) < n_classes and check.outside_share >= 0.5:
            check.warnings.append(
                f"The labels cover {len(classes)} of the model's {n_classes} classes, and "
                f"{int(outside.sum())} of {len(predicted)} predictions are other classes: the "
                "labels may not number the model's classes (label+correctness compares them "
                "with output indices)."
            )
    if (
        len(predicted) >= MIN_CHECKED
        and check.top_share >= COLLAPSE_SHARE
        and (label_share is None or label_share < COLLAPSE_SHARE - 0.2)
    ):
        check.warnings.append(
            f"The model predicts {label_name(top)} for {int(counts[top])} of {len(predicted)} "
            f"examples checked although the labels vary: its input may not be prepared as it "
            f"was in training ({preparation.text()}); check preprocess."
            if label_share is not None
            else f"The model predicts {label_name(top)} for {int(counts[top])} of "
            f"{len(predicted)} examples checked: if the data hold several classes, its input "
            f"may not be prepared as in training ({preparation.text()}); check preprocess."
        )
    check.notes.append(summary + ".")
    return check
