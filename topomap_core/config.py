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


def total_memory_mb() -> int:
    """This machine's physical memory in MiB (4096 when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)
    except (ValueError, OSError, AttributeError):
        return 4096


def max_jobs() -> int:
    """Computations running at once per data directory (``TOPOMAPS_MAX_JOBS``).

    Default: one per core, at most one per 4 GiB of memory, at least one. The rest wait in
    the queue (see :mod:`topomap_core.jobs.queue`).
    """
    default = max(1, min(os.cpu_count() or 1, total_memory_mb() // 4096))
    return int_setting("TOPOMAPS_MAX_JOBS", default, 1)


def max_light_jobs() -> int:
    """Light jobs (descriptions, checks) running at once (``TOPOMAPS_MAX_LIGHT_JOBS``, 2)."""
    return int_setting("TOPOMAPS_MAX_LIGHT_JOBS", 2, 1)


def max_queue() -> int:
    """Jobs that may wait for a slot per pool (``TOPOMAPS_MAX_QUEUE``, default 50); one more
    is refused with a message."""
    return int_setting("TOPOMAPS_MAX_QUEUE", 50, 0)


def job_memory_mb() -> int:
    """The address-space limit of every job process in MiB (``TOPOMAPS_JOB_MEMORY_MB``).

    Default: three quarters of the machine's memory shared by the jobs that may run at once
    (6 GiB each on a 24 GiB machine with two cores), between 2 and 16 GiB. 0: no limit.
    """
    share = total_memory_mb() * 3 // 4 // (max_jobs() + max_light_jobs())
    value = int_setting("TOPOMAPS_JOB_MEMORY_MB", min(16384, max(2048, share)), 0)
    if 0 < value < 1024:
        raise ValueError(
            f"TOPOMAPS_JOB_MEMORY_MB must be 0 (no limit) or at least 1024, got {value}: "
            "TensorFlow alone needs about 1 GB"
        )
    return value


def memory_limit_text() -> str:
    """``"its memory limit of 6144 MB (TOPOMAPS_JOB_MEMORY_MB)"`` (for messages)."""
    return f"its memory limit of {job_memory_mb()} MB (TOPOMAPS_JOB_MEMORY_MB)"


def job_timeout_s() -> int:
    """Seconds a job process may run (``TOPOMAPS_JOB_TIMEOUT_S``, default 1800)."""
    return int_setting("TOPOMAPS_JOB_TIMEOUT_S", 1800, 1)


def max_config_bytes() -> int:
    """Largest model configuration read, in bytes (``TOPOMAPS_MAX_CONFIG_MB``, default 8)."""
    return int_setting("TOPOMAPS_MAX_CONFIG_MB", 8, 1) * 2**20


def max_groups() -> int:
    """Most groups one grouping may make (``TOPOMAPS_MAX_GROUPS``, default 1000): ordering
    the groups costs the cube of their number."""
    return int_setting("TOPOMAPS_MAX_GROUPS", 1000, 2)


def max_callback_bytes() -> int:
    """Largest body of a callback that is not an upload (``TOPOMAPS_MAX_CALLBACK_KB``,
    default 1024 KiB)."""
    return int_setting("TOPOMAPS_MAX_CALLBACK_KB", 1024, 16) * 1024


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
    """Silence TensorFlow's C++ start-up chatter and turn its oneDNN kernels off; call before
    TensorFlow is imported.

    oneDNN's backward pass of a strided 1x1 convolution with fewer than 16 input channels
    writes past its workspace (uxlfoundation/oneDNN#6035): on a mini-Xception's residual
    convolutions every gradient (feature visualisation, GradNAP, training) corrupted the heap
    and glibc aborted the job ("corrupted double-linked list"). TensorFlow's own kernels
    compute the same, as fast on the forward passes we time (docs/PERFORMANCE.md). Set
    ``TF_ENABLE_ONEDNN_OPTS=1`` to use oneDNN anyway.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


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
