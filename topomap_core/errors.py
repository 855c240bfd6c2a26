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


#: Keras's marker before the actual cause of a failure, after a dump of the configuration.
_ENCOUNTERED = "Exception encountered:"


def _drop_dumps(text: str) -> str:
    """``config={...}`` (balanced braces) replaced by ``config={…}``: a configuration dump is
    never what the reader needs."""
    out, i = [], 0
    while True:
        start = text.find("config={", i)
        if start < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : start + len("config={")])
        depth, j = 1, start + len("config={")
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        out.append("…}")
        i = j


def one_line(exc: BaseException, limit: int = 400) -> str:
    """An exception's message as one line that keeps its cause: never a traceback or a
    configuration dump.

    Keras puts the cause last ("Error when deserializing class ... config={...}. Exception
    encountered: Unrecognized keyword arguments ..."), or on the line after a preamble that
    ends with a colon ("Example error message for object <Dense ...>:\n<the reason>"); both
    are kept, the dumps are dropped, and only then is the text shortened to ``limit``.
    """
    raw = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # Keras colours its messages
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        lines = lines[1:]  # Keras's wrapper line says where, the next one says what
    joined = " ".join(lines)
    if _ENCOUNTERED in joined:
        text = joined.rsplit(_ENCOUNTERED, 1)[1].strip()
    elif len(lines) > 1 and lines[0].endswith(":"):
        text = f"{lines[0]} {lines[1]}"
    else:
        text = lines[0] if lines else ""
    text = " ".join(_drop_dumps(text).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
