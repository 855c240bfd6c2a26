"""The bounded job queue: at most K job processes at once per data directory.

Every job process is started inside :func:`slot`, which holds one of K slot files locked
(``<data_dir>/queue/<pool>/slot-<i>.lock``) for the life of the process. Locks are
``flock`` locks on files of the shared data directory, so the limit holds across every
thread, web server process and Celery worker on the host, and a process that dies releases
its slot with its descriptors. A caller that finds every slot taken waits with a ticket (a
locked file named by its arrival time) and is told how many live tickets are ahead of it;
when :func:`topomap_core.config.max_queue` tickets already wait, a new job is refused.

Two pools: ``"full"`` for computations (:func:`topomap_core.config.max_jobs` slots) and
``"light"`` for descriptions and checks (:func:`topomap_core.config.max_light_jobs`), so a
long computation never holds up the layer list.

:func:`key_lock` makes one computation per result key at a time, across processes too: the
same run started from two browsers computes once, and the second finds the stored result.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from .. import config
from ..errors import Cancelled, TopomapError

__all__ = ["QueueFullError", "key_lock", "slot"]

#: Seconds between two looks at the slots while waiting.
POLL_S = 0.2


class QueueFullError(TopomapError):
    """Too many jobs are waiting already."""


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on ``path``, or None if it is held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _waiting_ahead(folder: Path, mine: str) -> int:
    """Live tickets older than ``mine``; tickets of dead waiters are removed."""
    ahead = 0
    for ticket in sorted(folder.glob("*.ticket")):
        if ticket.name >= mine:
            break
        fd = _try_lock(ticket)
        if fd is None:
            ahead += 1  # its waiter holds it: alive
        else:  # nobody holds it: its waiter died without cleaning up
            ticket.unlink(missing_ok=True)
            _unlock(fd)
    return ahead


def _live_tickets(folder: Path) -> int:
    return _waiting_ahead(folder, "~")  # "~" sorts after every ticket name


@contextlib.contextmanager
def slot(
    data_dir: str | Path,
    pool: str = "full",
    *,
    on_wait: Callable[[int], bool | None] | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[int]:
    """Hold one of the pool's slots for the ``with`` block; wait in line for one if needed.

    Parameters
    ----------
    data_dir : path
        The data directory whose jobs share the limit.
    pool : {"full", "light"}
    on_wait : callable, optional
        ``on_wait(n_ahead)`` while waiting, each time the number changes; returning True
        cancels.
    cancel : threading.Event, optional
        Set: stop waiting.

    Yields
    ------
    int
        The slot's number.

    Raises
    ------
    QueueFullError
        :func:`topomap_core.config.max_queue` jobs wait already (the message names the
        setting).
    Cancelled
        ``on_wait`` or ``cancel`` asked to stop while waiting.
    """
    size = config.max_jobs() if pool == "full" else config.max_light_jobs()
    folder = Path(data_dir) / "queue" / pool
    folder.mkdir(parents=True, exist_ok=True)
    held = _take(folder, size)
    ticket_fd = None
    ticket = None
    try:
        if held is None:
            limit = config.max_queue()
            if _live_tickets(folder) >= limit:
                raise QueueFullError(
                    f"the job queue is full: {limit} jobs are waiting for one of {size} "
                    f"slots (TOPOMAPS_MAX_QUEUE, TOPOMAPS_MAX_JOBS); try again in a minute"
                )
            name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.ticket"
            ticket = folder / name
            ticket_fd = _try_lock(ticket)
            last = -1
            while held is None:
                ahead = _waiting_ahead(folder, name)
                if ahead != last:
                    last = ahead
                    if on_wait is not None and on_wait(ahead):
                        raise Cancelled("cancelled while queued")
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled while queued")
                # First come, first served: only the waiters at the front try the slots.
                if ahead < size:
                    held = _take(folder, size)
                if held is None:
                    time.sleep(POLL_S)
        yield held[0]
    finally:
        if ticket is not None:
            ticket.unlink(missing_ok=True)
        if ticket_fd is not None:
            _unlock(ticket_fd)
        if held is not None:
            _unlock(held[1])


def _take(folder: Path, size: int) -> tuple[int, int] | None:
    for i in range(size):
        fd = _try_lock(folder / f"slot-{i}.lock")
        if fd is not None:
            return i, fd
    return None


@contextlib.contextmanager
def key_lock(
    data_dir: str | Path,
    key: str,
    *,
    on_wait: Callable[[], bool | None] | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[None]:
    """Hold the lock of result ``key`` (one computation per key on this host at a time).

    ``on_wait()`` is called once if another thread or process holds it; returning True, or
    setting ``cancel``, stops the wait (:class:`~topomap_core.errors.Cancelled`).
    """
    folder = Path(data_dir) / "queue" / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key[:64]}.lock"
    fd = _try_lock(path)
    told = False
    while fd is None:
        if not told:
            told = True
            if on_wait is not None and on_wait():
                raise Cancelled("cancelled while waiting for the same computation")
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled while waiting for the same computation")
        time.sleep(POLL_S)
        fd = _try_lock(path)
    try:
        yield
    finally:
        # The file stays: unlinking it could let a waiter lock a file no one else sees.
        _unlock(fd)
