"""Input preparation: feed a model its inputs the way it was trained on them.

A model trained on photos expects them prepared as in training: ``x / 255``, ``x / 127.5 - 1``,
ImageNet's ``caffe`` or ``torch`` normalisation, or raw 0-255 pixels when its own first layer
rescales them. Fed anything else it still gives activations, and the maps of those look as
clean as any, but they show a network pushed outside its operating range (one real CNN fed raw
faces predicted one class for 191 of 200 of them). So the preparation is declared: one request
field, ``preprocess``, shared by every analysis and part of every cache key
(:data:`~topomap_core.analyses.topomap.MapParams`), and an explicit ``resize`` for arrays whose
images have another size than the model's input.

Everything here is NumPy on an :class:`InputSpec`, the backend-neutral description of a
model's input (a Keras model's comes from :func:`topomap_core.io.models.input_spec`).

Presets (``keras.applications``' modes where they share a name):

=============  ==============================================================================
``auto``       ``none`` for arrays (``.npz``, the demo); for image folders (``.zip``, decoded
               as 0-255), ``unit``, or ``none`` when the model's first layer rescales itself
``none``       the values as they are
``unit``       ``x / 255``: [0, 1]
``symmetric``  ``x / 127.5 - 1``: [-1, 1]
``tf``         the same as ``symmetric`` (``keras.applications`` mode ``"tf"``)
``caffe``      RGB to BGR, minus the ImageNet channel means (103.939, 116.779, 123.68)
``torch``      ``x / 255``, minus the ImageNet means (0.485, 0.456, 0.406), over their
               standard deviations (0.229, 0.224, 0.225)
``S:O``        ``x * S + O``, two numbers (``1/255:0``, ``0.0078125:-1``)
=============  ==============================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import DataError
from ..params import Constraint, ParamError, short

__all__ = [
    "PRESETS",
    "RESIZE_MODES",
    "InputSpec",
    "Preparation",
    "Preprocess",
    "prepare_dataset",
    "resize_images",
    "resolve",
]

#: The named preparations, each with what it does (the help text and the data check say it).
PRESETS: dict[str, str] = {
    "auto": "none for arrays; x/255 for image folders unless the model rescales itself",
    "none": "the values as given",
    "unit": "x/255",
    "symmetric": "x/127.5 - 1",
    "tf": "x/127.5 - 1",
    "caffe": "RGB to BGR minus the ImageNet means",
    "torch": "x/255 minus the ImageNet means, over their standard deviations",
}

#: How arrays of another image size are brought to the model's input: not at all (a misfit is
#: refused, naming this option), or bilinear resampling (and the model's channel count).
RESIZE_MODES = ("none", "bilinear")

_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], np.float32)

# A number, or a fraction of two (``1/127.5``).
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_LINEAR = re.compile(rf"^\s*({_NUMBER}(?:\s*/\s*{_NUMBER})?)\s*:\s*({_NUMBER})\s*$")


def _number(text: str) -> float:
    top, _, bottom = text.partition("/")
    value = float(top) / float(bottom) if bottom else float(top)
    if not np.isfinite(value):
        raise ZeroDivisionError
    return value


def linear_of(text: str) -> tuple[float, float] | None:
    """``(scale, offset)`` of a ``"S:O"`` preparation, else None."""
    match = _LINEAR.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    return _number(match.group(1)), _number(match.group(2))


class Preprocess(Constraint):
    """A preparation: a name of :data:`PRESETS` or ``"S:O"`` (scale and offset), canonical."""

    def clean(self, raw: Any, paths: bool = False) -> Any:
        if isinstance(raw, str):
            text = raw.strip().lower()
            if text in PRESETS:
                return text
            try:
                linear = linear_of(text)
            except (ValueError, ZeroDivisionError):
                linear = None
            if linear is not None:
                scale, offset = linear
                if scale == 0:
                    raise ParamError(f"{short(raw)!r} (a scale of 0 makes every input equal)")
                return f"{scale:.9g}:{offset:.9g}"
        raise ParamError(
            f"{short(raw)!r} (use one of {', '.join(PRESETS)}, or scale:offset such as "
            "1/255:0 for x * scale + offset)"
        )

    def describe(self) -> str:
        return f"{', '.join(PRESETS)} or scale:offset"


@dataclass(frozen=True)
class InputSpec:
    """What a model takes as input, as a backend describes it.

    Attributes
    ----------
    shape : tuple
        Without the batch axis; ``None`` for a size that may vary.
    layout : {"channels_last", "channels_first", "features"}
        Where an image's channels are (``features``: not an image).
    scaling : str or None
        The model's own first preparation layer, if any (``"Rescaling(x * 0.00392 + 0)"``):
        such a model expects raw values.
    """

    shape: tuple
    layout: str = "channels_last"
    scaling: str | None = None

    @property
    def is_image(self) -> bool:
        """An image input: (h, w) grey, or (h, w, c) / (c, h, w) with 1 or 3 channels."""
        if self.layout == "features" or len(self.shape) not in (2, 3):
            return False
        return len(self.shape) == 2 or self.channels in (1, 3)

    @property
    def channels(self) -> int | None:
        """Channel count of an image input (1 for (h, w)), else None."""
        if len(self.shape) == 2:
            return 1
        if len(self.shape) != 3:
            return None
        value = self.shape[0] if self.layout == "channels_first" else self.shape[-1]
        return None if value is None else int(value)

    @property
    def size(self) -> tuple:
        """``(height, width)`` of an image input (entries may be None)."""
        if len(self.shape) == 2:
            return tuple(self.shape)
        return tuple(self.shape[1:] if self.layout == "channels_first" else self.shape[:2])

    def to_dict(self) -> dict:
        return {
            "shape": [None if s is None else int(s) for s in self.shape],
            "layout": self.layout,
            "scaling": self.scaling,
        }

    @classmethod
    def of(cls, value: Any) -> InputSpec:
        """An InputSpec from itself, its :meth:`to_dict`, or a bare shape (channels last)."""
        if isinstance(value, InputSpec):
            return value
        if isinstance(value, dict):
            return cls(tuple(value["shape"]), value.get("layout", "channels_last"),
                       value.get("scaling"))  # fmt: skip
        shape = tuple(value)
        return cls(shape, "channels_last" if len(shape) in (2, 3) else "features")


@dataclass(frozen=True)
class Preparation:
    """A resolved preparation: what is applied, and why (``auto``).

    Attributes
    ----------
    requested : str
        What was asked for (``"auto"``, ``"unit"``, ``"0.5:-1"``).
    preset : str
        What is applied: a preset other than ``auto``, or ``"linear"`` for ``S:O``.
    scale, offset : float
        ``x * scale + offset`` of the linear ones.
    reason : str
        For ``auto``: why it means ``preset`` here.
    """

    requested: str
    preset: str
    scale: float = 1.0
    offset: float = 0.0
    reason: str = ""

    @property
    def applied(self) -> str:
        """What is applied, in words: ``"x/255"``, ``"x * 0.5 + -1"``, ``"none"``."""
        if self.preset == "linear":
            return f"x * {self.scale:.6g} + {self.offset:.6g}"
        return "none" if self.preset == "none" else PRESETS[self.preset]

    def text(self) -> str:
        """``"preprocess auto = unit (x/255): image folders are read as 0-255"``,
        ``"preprocess none"``, ``"preprocess 0.5:-1 (x * 0.5 + -1)"``."""
        what = "" if self.preset == "none" else f" ({self.applied})"
        if self.requested == "auto":
            why = f": {self.reason}" if self.reason else ""
            return f"preprocess auto = {self.preset}{what}{why}"
        return f"preprocess {self.requested}{what}"

    def expected_range(self) -> tuple[float, float] | None:
        """The value range this preparation gives 0-255 pixels (None: no expectation)."""
        if self.preset in ("unit",):
            return 0.0, 1.0
        if self.preset in ("symmetric", "tf"):
            return -1.0, 1.0
        if self.preset == "caffe":
            return float(-_CAFFE_MEAN_BGR.max()), float(255 - _CAFFE_MEAN_BGR.min())
        if self.preset == "torch":
            return float(((0 - _TORCH_MEAN) / _TORCH_STD).min()), float(
                ((1 - _TORCH_MEAN) / _TORCH_STD).max()
            )
        return None

    def apply(self, x: np.ndarray, spec: InputSpec) -> np.ndarray:
        """``x`` prepared (float32; in place where the array allows it).

        Raises
        ------
        DataError
            ``caffe`` / ``torch`` on data without 3 colour channels.
        """
        x = np.asarray(x, dtype=np.float32)
        if self.preset == "none":
            return x
        if self.preset in ("unit", "symmetric", "tf", "linear"):
            scale, offset = {
                "unit": (1 / 255, 0.0),
                "symmetric": (1 / 127.5, -1.0),
                "tf": (1 / 127.5, -1.0),
                "linear": (self.scale, self.offset),
            }[self.preset]
            if not x.flags.writeable:
                x = x.copy()
            x *= np.float32(scale)
            x += np.float32(offset)
            return x
        axis = 1 if spec.layout == "channels_first" else x.ndim - 1
        if x.ndim < 3 or x.shape[axis] != 3:
            got = x.shape[axis] if x.ndim >= 3 else 1
            raise DataError(
                f"preprocess {self.preset} is for colour images (3 channels, RGB); these data "
                f"have {got} channel{'s' if got != 1 else ''} per example (use unit, "
                "symmetric or scale:offset)"
            )
        shape = [1] * x.ndim
        shape[axis] = 3
        if self.preset == "caffe":
            x = np.flip(x, axis=axis) - _CAFFE_MEAN_BGR.reshape(shape)
        else:  # torch
            x = (x / np.float32(255) - _TORCH_MEAN.reshape(shape)) / _TORCH_STD.reshape(shape)
        return np.ascontiguousarray(x, dtype=np.float32)


def resolve(requested: str, source: str, spec: InputSpec) -> Preparation:
    """The preparation ``requested`` means for data from ``source`` and this model's input.

    Parameters
    ----------
    requested : str
        A clean :class:`Preprocess` value.
    source : {"array", "images", "demo"}
        Where the data came from: given arrays (``.npz``), image files decoded as 0-255
        (``.zip``), or the bundled demo digits (already in [0, 1], as the demo models expect).
    spec : InputSpec
    """
    linear = linear_of(requested)
    if linear is not None:
        return Preparation(requested, "linear", *linear)
    if requested != "auto":
        return Preparation(requested, requested)
    if source == "images":
        if spec.scaling:
            reason = f"image folders are read as 0-255, and the model rescales: {spec.scaling}"
            return Preparation("auto", "none", reason=reason)
        return Preparation("auto", "unit", reason="image folders are read as 0-255")
    what = "the demo digits are in [0, 1]" if source == "demo" else "arrays are used as given"
    return Preparation("auto", "none", reason=what)


# --------------------------------------------------------------------------------------------
# Resizing
# --------------------------------------------------------------------------------------------


def _as_nhwc(x: np.ndarray, layout: str) -> np.ndarray:
    """Images of ``x`` as (n, h, w, c): a (n, h, w) array gains a channel axis."""
    if x.ndim == 3:
        return x[..., np.newaxis]
    if x.ndim == 4 and layout == "channels_first" and x.shape[1] in (1, 3):
        return np.moveaxis(x, 1, -1)
    if x.ndim == 4:
        return x
    raise DataError(f"data examples have shape {x.shape[1:]}: not images, cannot be resized")


def resize_images(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Images resized (bilinear) to the model's input size, with its channel count.

    Grey becomes RGB by repeating the channel, RGB becomes grey by its luminance (ITU-R 601),
    and the result has the model's layout, e.g. (28, 28) data for a (64, 64, 1) model become
    (64, 64, 1).

    Raises
    ------
    DataError
        The model does not take images, or the data are not images.
    """
    from PIL import Image

    if not spec.is_image:
        raise DataError(
            f"resize bilinear is for image inputs; the model expects {tuple(spec.shape)}"
        )
    h, w = spec.size
    channels = spec.channels
    images = _as_nhwc(np.asarray(x, dtype=np.float32), spec.layout)
    n, src_h, src_w, src_c = images.shape
    if src_c not in (1, 3):
        raise DataError(f"data images have {src_c} channels; resize handles 1 (grey) or 3 (RGB)")
    h = src_h if h is None else int(h)
    w = src_w if w is None else int(w)
    if src_c == 3 and channels == 1:
        images = images @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
        src_c = 1
    out = np.empty((n, h, w, src_c), np.float32)
    if (src_h, src_w) == (h, w):
        out[:] = images
    else:
        for i in range(n):
            for c in range(src_c):
                img = Image.fromarray(np.ascontiguousarray(images[i, :, :, c]), mode="F")
                out[i, :, :, c] = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR))
    if src_c == 1 and channels == 3:
        out = np.repeat(out, 3, axis=-1)
    if len(spec.shape) == 2:
        return out[..., 0]
    if spec.layout == "channels_first":
        return np.ascontiguousarray(np.moveaxis(out, -1, 1))
    return out


# --------------------------------------------------------------------------------------------
# The whole step
# --------------------------------------------------------------------------------------------


@dataclass
class Prepared:
    """What :func:`prepare_dataset` did: the preparation, and whether it resized."""

    preparation: Preparation
    resized_from: tuple | None = None
    notes: list[str] = field(default_factory=list)


def prepare_dataset(dataset, spec: InputSpec, preprocess: str = "auto", resize: str = "none"):
    """The data set as the model takes it: resized (``resize="bilinear"``), then prepared.

    Parameters
    ----------
    dataset : topomap_core.io.data.Dataset
        Its ``source`` says what ``auto`` means.
    spec : InputSpec
    preprocess : str
        A clean :class:`Preprocess` value.
    resize : {"none", "bilinear"}

    Returns
    -------
    Dataset
        A copy whose ``x`` is prepared and whose ``prepared`` (:class:`Prepared`) says how.
    """
    if resize not in RESIZE_MODES:
        raise DataError(f"unknown resize {resize!r} (use one of {', '.join(RESIZE_MODES)})")
    x = dataset.x
    resized_from = None
    if resize == "bilinear" and tuple(x.shape[1:]) != tuple(spec.shape):
        resized_from = tuple(x.shape[1:])
        x = resize_images(x, spec)
    preparation = resolve(preprocess, dataset.source, spec)
    x = preparation.apply(x, spec)
    return replace(dataset, x=x, prepared=Prepared(preparation, resized_from))
