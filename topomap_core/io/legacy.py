"""Keras 2 model files in Keras 3: known, harmless configuration differences, rewritten.

Many published ``.h5`` models were saved by Keras 2.x, whose layer configurations carry
settings Keras 3 dropped: ``groups: 1`` on depthwise and separable convolutions (Keras 2 put
the base class's setting there; 1 is the only value those layers ever had), BatchNormalization's
``fused`` switch (an implementation choice) and its unset ``virtual_batch_size`` and
``adjustment``, its ``axis`` as a one-element list, recurrent layers' ``time_major: false``
(Keras 3's only layout). Keras 3 refuses the whole file for any of them. :data:`REWRITES` is
the table of what is rewritten, each a change that leaves the computation as it was; the
configuration is already read as data for the safety checks
(:mod:`topomap_core.io.model_safety`), so it is rewritten there, checked again, and Keras loads
a copy of the file that holds the rewritten configuration (the upload itself never changes).
Each applied rewrite is named in the model's description.

Anything else Keras cannot load is refused with the whole cause in one line
(:func:`keras_cause`): the class, the layer, and what Keras objected to, not the configuration
dump that precedes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import one_line
from .model_safety import config_objects

__all__ = ["REWRITES", "Rewrite", "convert", "keras_cause", "rewritten_copy"]


@dataclass(frozen=True)
class Rewrite:
    """One known difference: which layer classes, the test, the change, and its wording."""

    classes: tuple[str, ...]
    applies: Callable[[dict], bool]
    change: Callable[[dict], None]
    text: str  # "dropped {cls} groups=1", with {cls} the layer class


def _pop(key: str) -> Callable[[dict], None]:
    return lambda cfg: cfg.pop(key, None)


def _axis_to_int(cfg: dict) -> None:
    cfg["axis"] = int(cfg["axis"][0])


_CONVOLUTIONS_WITHOUT_GROUPS = (
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
)
_RECURRENT = ("LSTM", "GRU", "SimpleRNN")

#: The rewrites applied to a Keras 2 configuration, in order. Each must leave the layer's
#: computation unchanged; a value that would change it (``groups: 2``, ``fused`` aside,
#: ``time_major: true``) is left alone, and Keras's refusal then names it.
REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        _CONVOLUTIONS_WITHOUT_GROUPS,
        lambda cfg: cfg.get("groups") == 1,
        _pop("groups"),
        "dropped {cls} groups=1",
    ),
    Rewrite(
        ("BatchNormalization",),
        lambda cfg: "fused" in cfg,
        _pop("fused"),
        "dropped BatchNormalization fused (an implementation switch)",
    ),
    Rewrite(
        ("BatchNormalization",),
        lambda cfg: "virtual_batch_size" in cfg and cfg["virtual_batch_size"] is None,
        _pop("virtual_batch_size"),
        "dropped BatchNormalization virtual_batch_size=None",
    ),
    Rewrite(
        ("BatchNormalization",),
        lambda cfg: "adjustment" in cfg and cfg["adjustment"] is None,
        _pop("adjustment"),
        "dropped BatchNormalization adjustment=None",
    ),
    Rewrite(
        ("BatchNormalization",),
        lambda cfg: (
            isinstance(cfg.get("axis"), list)
            and len(cfg["axis"]) == 1
            and isinstance(cfg["axis"][0], int)
        ),
        _axis_to_int,
        "wrote BatchNormalization axis [k] as k",
    ),
    Rewrite(
        _RECURRENT,
        lambda cfg: cfg.get("time_major") is False,
        _pop("time_major"),
        "dropped {cls} time_major=False",
    ),
)


def _layers(node: Any) -> Iterator[dict]:
    """Every ``{"class_name", "config"}`` object of a parsed configuration, at any depth."""
    for item in config_objects(node):
        if isinstance(item.get("class_name"), str) and isinstance(item.get("config"), dict):
            yield item


def convert(model_config: Any) -> tuple[Any, list[str]]:
    """A Keras 2 configuration with :data:`REWRITES` applied, and what was done.

    Returns
    -------
    config : object
        A rewritten copy (the given one when nothing applies).
    done : list of str
        One line per kind of rewrite, with its count: ``"dropped DepthwiseConv2D groups=1 in
        13 layers"``.
    """
    rewritten = json.loads(json.dumps(model_config))
    counts: dict[tuple[int, str], int] = {}
    for node in _layers(rewritten):
        cls, cfg = node["class_name"], node["config"]
        for order, rule in enumerate(REWRITES):
            if cls in rule.classes and rule.applies(cfg):
                rule.change(cfg)
                key = (order, rule.text.format(cls=cls))
                counts[key] = counts.get(key, 0) + 1
    if not counts:
        return model_config, []
    done = [
        f"{text} in {n} layer{'s' if n != 1 else ''}" for (_, text), n in sorted(counts.items())
    ]
    return rewritten, done


@contextlib.contextmanager
def rewritten_copy(path: Path, model_config: Any) -> Iterator[Path]:
    """A temporary copy of the ``.h5`` file ``path`` holding ``model_config`` (removed after).

    The upload is content-addressed and never changes; Keras reads the copy.
    """
    import h5py

    fd, name = tempfile.mkstemp(suffix=".h5", prefix="topomaps-keras2-")
    os.close(fd)
    copy = Path(name)
    try:
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as h5:
            h5.attrs["model_config"] = json.dumps(model_config)
        yield copy
    finally:
        copy.unlink(missing_ok=True)


_DESERIALIZING = re.compile(r"Error when deserializing class '([^']+)' using config=")
_ENCOUNTERED = "Exception encountered:"
_LAYER_NAME = re.compile(r"'name': '([^']*)'")


def keras_cause(exc: BaseException, limit: int = 600) -> str:
    """What Keras objected to, in one line: the class, the layer and the cause, without the
    configuration dump Keras puts first (``"layer 'conv_dw_1' (DepthwiseConv2D): Unrecognized
    keyword arguments passed to DepthwiseConv2D: {'groups': 1}"``)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    where = ""
    found = _DESERIALIZING.search(text)
    if found:
        name = _LAYER_NAME.search(text, found.end())
        layer = f"layer '{name.group(1)}' " if name else ""
        where = f"{layer}({found.group(1)}): "
    if _ENCOUNTERED in text:
        cause = text.rsplit(_ENCOUNTERED, 1)[1]
    elif found:  # the configuration first, the cause on its last line
        cause = [line for line in text.splitlines() if line.strip()][-1]
    else:
        return one_line(exc, limit)
    line = where + " ".join(cause.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
