"""Exceptions raised by :mod:`topomap_core`.

Every error caused by user input derives from :class:`TopomapError`, a
``ValueError``, so callers (the CLI, the dashboard) can show its message as one
readable line and keep going.
"""

from __future__ import annotations

import re


class TopomapError(ValueError):
    """A problem with the user's input (model, data, layer, parameters)."""


class ModelRefusedError(TopomapError):
    """The model file is refused for safety (Lambda layer, custom object, ...)."""


class ModelLoadError(TopomapError):
    """The model file cannot be read (missing, corrupt, unsupported format)."""


class DataError(TopomapError):
    """The data cannot be read or does not fit the model."""


class LayerNotFoundError(TopomapError):
    """The requested layer does not exist in the model."""


class CheckpointError(TopomapError):
    """A checkpoint series cannot be used (bad archive, names or kinds; weights that misfit)."""


class JobError(RuntimeError):
    """A job process failed for a reason other than the user's input (it crashed, or hit a
    bug); the message says what stopped it and where, in one line."""


class Cancelled(Exception):  # noqa: N818 - reads better at call sites than CancelledError
    """Raised when a progress callback asked a long computation to stop."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, shortened: never a traceback or a config."""
    raw = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # Keras colours its messages
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        lines = lines[1:]  # Keras's wrapper line says where, the next one says what
    text = lines[0] if lines else ""
    text = text or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
