"""Process-wide settings read from the environment."""

from __future__ import annotations

import os
import re
import secrets
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

#: Default location of the model store, demo models and result cache.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "cache"

#: Largest model or data file accepted, in megabytes (``MAX_UPLOAD_MB``).
DEFAULT_MAX_UPLOAD_MB = 200

#: Most checkpoints accepted in one training series (``MAX_CHECKPOINTS``); each costs a NAP
#: computation and a map per group.
DEFAULT_MAX_CHECKPOINTS = 1000

#: Seconds a computed result stays in Redis when ``REDIS_URL`` is set (``REDIS_RESULT_TTL``).
DEFAULT_REDIS_RESULT_TTL = 3600


def data_dir() -> Path:
    """Return the data directory (``TOPOMAPS_DATA_DIR``, default ``./cache``), created if needed."""
    path = Path(os.environ.get("TOPOMAPS_DATA_DIR") or DEFAULT_DATA_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def max_upload_bytes() -> int:
    """Return the size cap for model and data files, in bytes."""
    raw = os.environ.get("MAX_UPLOAD_MB", str(DEFAULT_MAX_UPLOAD_MB))
    try:
        mb = float(raw)
    except ValueError as exc:
        raise ValueError(f"MAX_UPLOAD_MB must be a number, got {raw!r}") from exc
    return int(mb * 1024 * 1024)


def redis_url() -> str | None:
    """Return ``REDIS_URL`` (the deployment's Redis: job queue and result cache), or None."""
    return os.environ.get("REDIS_URL", "").strip() or None


def int_setting(name: str, default: int, minimum: int) -> int:
    """The integer environment setting ``name`` (``default`` when unset), at least ``minimum``."""
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def max_checkpoints() -> int:
    """Return the cap on checkpoints per training series (``MAX_CHECKPOINTS``, default 1000)."""
    return int_setting("MAX_CHECKPOINTS", DEFAULT_MAX_CHECKPOINTS, 1)


def redis_result_ttl() -> int:
    """Return the seconds a result stays in Redis (``REDIS_RESULT_TTL``, default 3600; 0: off)."""
    return int_setting("REDIS_RESULT_TTL", DEFAULT_REDIS_RESULT_TTL, 0)


def shared_secret(path: Path) -> str:
    """The secret kept in ``path`` (mode 600), made there first if it does not exist.

    Creation is atomic (a hard link of a complete file): of several processes starting at
    once the first wins and all read its secret, so every process sharing the data directory
    has the same one.

    Raises
    ------
    OSError
        The file cannot be made or read.
    """
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter; call before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# absl's native log lines ("I0000 00:00:17... port.cc:153] oneDNN custom operations are on")
# and its notice that it has not been initialised yet.
_NATIVE_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] |WARNING: All log messages before absl)"
)


def import_keras() -> ModuleType:
    """Import Keras (TensorFlow backend) without TensorFlow's native start-up log on stderr.

    TensorFlow 2.21 writes some start-up lines (oneDNN on CPUs that have it) straight to file
    descriptor 2 before its logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them and
    they would break the CLI's one-line error messages. The import runs with descriptor 2
    pointed at a temporary file; every other line written meanwhile is passed on.
    """
    quiet_tensorflow()
    if "keras" in sys.modules:
        return sys.modules["keras"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _NATIVE_LOG_LINE.match(line))
            if kept:
                sys.stderr.write(kept)
    return keras


def check_size(size: int, name: str, what: str, error: type[Exception]) -> None:
    """Refuse an empty file or one over ``MAX_UPLOAD_MB``, naming it.

    Parameters
    ----------
    size : int
        Size in bytes.
    name : str
        File name to show.
    what : str
        ``"model"`` or ``"data"``.
    error : exception class
        Raised with the message.
    """
    if size == 0:
        raise error(f"{what} file '{name}' is empty (0 bytes)")
    limit = max_upload_bytes()
    if size > limit:
        raise error(
            f"{what} file '{name}' is {size / 2**20:.1f} MB, over the "
            f"{limit / 2**20:.3g} MB limit (MAX_UPLOAD_MB)"
        )
