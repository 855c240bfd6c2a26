"""Jobs on Celery + Redis, used when ``REDIS_URL`` is set: the Celery app and job heartbeats.

``celery_app`` is None without ``REDIS_URL``; the dashboard then keeps its embedded job
manager. With it, the dashboard hands its jobs to Dash's :class:`dash.CeleryManager`
(``callbacks.jobs.JobManager`` adds lost-job detection with :func:`job_lost`) and the Celery
worker runs them: ``celery -A app.celery_app worker`` imports ``app``, which registers the same
callbacks, and so the same Celery tasks, as the web server. A task still computes in a job
process of its own (:mod:`topomap_core.jobs.runner`), warm when a spare is ready: the worker
keeps spares like the web server does (:func:`topomap_core.jobs.spares.start_keeper`).

What lives where:

- Redis (broker and result backend): the job queue, each job's progress and its small return
  value (the view's key, never arrays), Celery's task states and the heartbeats below. All of
  it is short-lived: Redis needs no persistence.
- The data directory (``TOPOMAPS_DATA_DIR``, the ``/data`` volume shared by web and worker):
  uploaded models and data, and every computed view in the on-disk result cache.

Lost jobs: Dash's CeleryManager never notices a job whose worker died: the page would wait
forever (whole worker killed: the task stays PENDING) or silently stop (pool process killed).
:class:`JobManager` makes each job beat every :data:`HEARTBEAT_S` seconds in Redis; a job that
has started, has no result and has not beaten for :data:`HEARTBEAT_TTL_S` seconds (or that
Celery marked FAILURE, e.g. ``WorkerLostError``) is reported to the page as failed.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from celery import Celery, current_task

LOG = logging.getLogger(__name__)

#: The Redis URL of broker and result backend (``REDIS_URL``); None: no Celery.
REDIS_URL = os.environ.get("REDIS_URL") or None

#: A running job refreshes its heartbeat this often (seconds) ...
HEARTBEAT_S = 2.0
#: ... and is taken for dead when the heartbeat is older than this.
HEARTBEAT_TTL_S = 10
#: How long the "started" and "cancelled" marks of a job are kept (seconds).
MARK_TTL_S = 24 * 3600

#: What the page says (after "Run failed: ") when a job's worker died.
LOST_MESSAGE = (
    "the worker computing this view stopped before it finished (killed or restarted); "
    "press Run to try again"
)


def make_celery(url: str) -> Celery:
    """A Celery app with ``url`` as broker and result backend, tuned for long, heavy jobs."""
    app = Celery(__name__, broker=url, backend=url)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        # A job takes seconds to minutes: one at a time per pool process, none reserved.
        worker_prefetch_multiplier=1,
        # Acknowledged on start: a job whose worker dies is reported, never silently re-run
        # (it may be what killed the worker, e.g. out of memory).
        task_acks_late=False,
        # Dash deletes a job's result once the page has it; Celery's own task states go too.
        result_expires=3600,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
    )
    return app


#: The Celery app of this deployment, or None when ``REDIS_URL`` is not set.
celery_app: Celery | None = make_celery(REDIS_URL) if REDIS_URL else None


def _key(kind: str, job: str) -> str:
    return f"topomaps-job-{kind}-{job}"


class Heartbeat:
    """Marks job ``job`` as started, then keeps it alive in Redis from a daemon thread.

    The last beat is left to expire on its own (never deleted), so the job's result, written
    after the job function returns, always lands while the job still counts as alive.
    """

    def __init__(self, client: Any, job: str, interval: float = HEARTBEAT_S):
        self.client = client
        self.job = job
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="topomaps-heartbeat", daemon=True)

    def beat(self) -> None:
        self.client.set(_key("alive", self.job), os.getpid(), ex=HEARTBEAT_TTL_S)

    def start(self) -> None:
        self.client.set(_key("started", self.job), os.getpid(), ex=MARK_TTL_S)
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.beat()
        except Exception as exc:  # a Redis hiccup must not turn a finished job into a failure
            LOG.warning("last heartbeat of job %s failed: %s", self.job, exc)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception as exc:  # keep beating: Redis may come back
                LOG.warning("heartbeat of job %s failed: %s", self.job, exc)


def with_heartbeat(fn: Callable, celery: Celery) -> Callable:
    """``fn`` wrapped so that, run as a Celery task, it keeps a :class:`Heartbeat`."""

    @functools.wraps(fn)
    def job(*args: Any, **kwargs: Any) -> Any:
        task_id = getattr(getattr(current_task, "request", None), "id", None)
        if not task_id:  # called outside a Celery task (tests): nothing to watch
            return fn(*args, **kwargs)
        heartbeat = Heartbeat(celery.backend.client, task_id)
        heartbeat.start()
        LOG.info("job %s running in pid %d", task_id, os.getpid())
        try:
            return fn(*args, **kwargs)
        finally:
            heartbeat.stop()

    return job


def mark_cancelled(celery: Celery, job: str) -> None:
    """Record that the user cancelled ``job``, so it is never reported as lost."""
    celery.backend.client.set(_key("cancelled", job), 1, ex=MARK_TTL_S)


def job_lost(celery: Celery, job: str) -> bool:
    """True when ``job`` started but its worker died before it wrote a result."""
    client = celery.backend.client
    if client.exists(_key("cancelled", job)):
        return False
    state = celery.AsyncResult(job).state
    if state == "FAILURE":  # e.g. WorkerLostError: the pool process died
        return True
    if state in ("SUCCESS", "REVOKED"):
        return False
    return bool(client.exists(_key("started", job))) and not client.exists(_key("alive", job))
