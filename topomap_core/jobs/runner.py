"""Running a job from a process that must stay light: the web server, a Dash or Celery job.

:func:`run` answers from the cache when it can and otherwise hands the job to a job process
(:func:`compute_in_worker`): a warm spare when one is ready (:mod:`topomap_core.jobs.spares`),
else a cold ``python -m topomap_core.jobs.worker``. Its progress lines are relayed to the
caller's callback; a callback that returns True (Cancel) ends the job process.

The limits live here, once for every job: a job process starts only in a free slot of the
bounded queue (:mod:`topomap_core.jobs.queue`; "Queued (n ahead)" meanwhile), runs under the
memory limit the worker sets itself and the wall-clock limit set here, and one result key is
computed by one job at a time on the host (a second caller waits, then reads it).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from ..config import job_memory_mb
from ..errors import Cancelled, JobError, TopomapError
from ..progress import ProgressCallback
from ..store import Store
from . import crashes, queue, spares
from .base import Job
from .results import cached_view
from .spares import job_env
from .worker import parse_line

__all__ = ["Outcome", "compute_in_worker", "run"]

#: ``compute(job_name, request, data_dir, progress)``: fills the cache for ``request``.
Compute = Callable[[str, Any, Path, ProgressCallback | None], Any]


class _Cold:
    """A cold job process on pipes (when no spare is ready)."""

    def __init__(self, data_dir: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "topomap_core.jobs.worker"],
            env=job_env(data_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            close_fds=True,
            preexec_fn=spares.die_with_parent(),
        )
        self.pid = self.proc.pid

    def send(self, text: str) -> IO[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(text)
        self.proc.stdin.close()
        return self.proc.stdout

    def status(self) -> str:
        code = self.proc.wait()
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class _Spare:
    """A claimed spare on its socket."""

    def __init__(self, conn, pid: int):
        self.conn, self.pid = conn, pid

    def send(self, text: str) -> IO[str]:
        self.conn.sendall(text.encode() + b"\n")
        return self.conn.makefile("r", encoding="utf-8")

    def status(self) -> str:
        return "the spare job process closed its connection"

    def close(self) -> None:
        import socket

        try:
            self.conn.shutdown(socket.SHUT_RDWR)  # the spare sees it and exits
        except OSError:
            pass
        self.conn.close()


def compute_in_worker(
    job_name: str,
    request: Any,
    data_dir: str | Path,
    progress: ProgressCallback | None = None,
    *,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Compute ``request`` of job ``job_name`` into the store's cache in a job process.

    ``cancel``: setting it ends the job process at once (it need not report first).

    Returns
    -------
    dict
        The job process's outcome: ``key`` (the result's cache key), ``pid`` (the process
        that computed it) and ``jobs_in_process`` (always 1: one job per process).

    Raises
    ------
    TopomapError
        The job's readable message for bad input.
    Cancelled
        ``progress`` asked to stop; the job process is gone.
    JobError
        Any other failure, in one line that says what stopped it: the process crashed (its
        signal, the library it was in, what it was computing, and the memory limit when its
        memory use was near it), or an internal error.
    """
    from .registry import get_job

    data_dir = Path(data_dir)
    light = get_job(job_name).light

    def queued(ahead: int) -> bool | None:
        stage = f"Queued ({ahead} ahead)" if ahead else "Queued (next)"
        return progress(stage, 0, 0) if progress is not None else None

    with queue.slot(data_dir, "light" if light else "full", on_wait=queued, cancel=cancel):
        return _compute(job_name, request, data_dir, light, progress, timeout, cancel)


def _compute(job_name, request, data_dir: Path, light: bool, progress, timeout, cancel):
    payload = json.dumps({"job": job_name, "data_dir": str(data_dir), "request": asdict(request)})
    # A light job takes a light spare, a computation a full one (worth waiting for while it
    # warms: a cold process would do the same work, on the same cores).
    claimed = spares.claim(
        data_dir, 0 if light else spares.WAIT_FOR_WARMING_S, kind="light" if light else "full"
    )
    process = _Spare(*claimed) if claimed is not None else _Cold(data_dir)
    timer = None
    expired = threading.Event()
    if timeout is not None:

        def expire() -> None:
            expired.set()
            process.close()

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
    finished = threading.Event()
    if cancel is not None:

        def watch() -> None:
            while not finished.wait(0.2):
                if cancel.is_set():
                    process.close()
                    return

        threading.Thread(target=watch, name="topomaps-job-cancel", daemon=True).start()
    outcome: dict[str, Any] | None = None
    last_stage: str | None = None
    memory: dict | None = None
    try:
        for line in process.send(payload):
            message = parse_line(line)
            if message is None:
                continue
            if "progress" in message:
                stage, done, total = message["progress"]
                last_stage = str(stage)
                if progress is not None and progress(str(stage), int(done), int(total)):
                    raise Cancelled(f"{stage} cancelled at {done}/{total}")
            elif "memory" in message:
                memory = message["memory"] if isinstance(message["memory"], dict) else None
            else:
                outcome = message
        status = process.status()
    except (OSError, ValueError) as exc:
        status = f"connection lost ({exc})"
    finally:
        finished.set()
        if timer is not None:
            timer.cancel()
        process.close()
    note = crashes.read_note(process.pid)
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")
    if expired.is_set():
        raise TopomapError(f"the job took longer than {_time_limit_text(timeout)}")
    if outcome is None:
        layer = getattr(request, "layer", None)
        raise JobError(crashes.explain(status, note, last_stage, layer, memory, job_memory_mb()))
    if outcome.get("ok"):
        return outcome
    text = str(outcome.get("error") or "unknown error")
    if outcome.get("cancelled"):
        raise Cancelled(text)
    if outcome.get("topomap"):
        raise TopomapError(text)
    raise JobError(text)


def _time_limit_text(timeout: float) -> str:
    from ..config import job_timeout_s

    setting = " (TOPOMAPS_JOB_TIMEOUT_S)" if round(timeout) == job_timeout_s() else ""
    return f"its time limit of {timeout:.0f} s{setting}"


@dataclass
class Outcome:
    """What :func:`run` found or made: the result's key, its view, and how long it took."""

    key: str
    view: Any
    seconds: float | None  # None: it was stored already

    @property
    def computed(self) -> bool:
        return self.seconds is not None


def run(
    job: Job,
    request: Any,
    data_dir: str | Path,
    progress: ProgressCallback | None = None,
    *,
    compute: Compute | None = None,
    on_compute: Callable[[str | None], None] | None = None,
    timeout: float | None = None,
    cancel: threading.Event | None = None,
) -> Outcome:
    """The stored view of ``request`` at once, else computed in a job process.

    Parameters
    ----------
    job, request
        A registered job and its validated request.
    data_dir : path
    progress : callable, optional
        Receives the job process's reports; returning True cancels.
    compute : callable, optional
        Replaces :func:`compute_in_worker` (tests).
    on_compute : callable, optional
        Called with the key (None for an unbuilt demo) just before a computation starts.
    timeout : float, optional
        Seconds the job process may take (default
        :func:`topomap_core.config.job_timeout_s`).
    cancel : threading.Event, optional
        Set it to end the job process (Cancel).
    """
    from ..config import job_timeout_s

    store = Store(data_dir)
    key, view = cached_view(job, request, store)
    if view is not None:
        return Outcome(key, view, None)
    if timeout is None:
        timeout = job_timeout_s()

    def waiting() -> bool | None:
        # The same result is being computed by another caller (a second browser, a reload).
        if progress is not None:
            return progress("the same run is going elsewhere: waiting for its result", 0, 0)
        return None

    lock_name = key if key is not None else f"unbuilt-{job.name}"
    with queue.key_lock(data_dir, lock_name, on_wait=waiting, cancel=cancel):
        key, view = cached_view(job, request, store)
        if view is not None:
            return Outcome(key, view, None)
        if on_compute is not None:
            on_compute(key)
        t0 = time.perf_counter()
        if compute is None:
            compute_in_worker(
                job.name, request, Path(data_dir), progress, timeout=timeout, cancel=cancel
            )
        else:
            compute(job.name, request, Path(data_dir), progress)
        key, view = cached_view(job, request, store)
        if view is None:
            raise JobError("the result was computed but the result cache could not store it")
        return Outcome(key, view, time.perf_counter() - t0)
