"""One job runner for every tab: Run, Cancel, progress, and the stored result on change.

A tab describes its job once with a :class:`JobTab` (which component ids make the request, how
the request is built, what the result store holds, what the status says) and
:func:`register_job` gives it

- a Run button whose background callback answers from the cache at once, or computes in a job
  process (:func:`topomap_core.jobs.runner.run`: a warm spare when ready) with a progress bar
  and a working Cancel, on the embedded manager and on Celery alike;
- "Running..." as soon as Run is clicked, and "Cancelled." on Cancel;
- the stored result whenever the controls change (a reload, a shared link, another seed),
  without ever starting a job.

The job bodies :func:`run_job` and :func:`cached_job` are plain functions, tested directly.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import diskcache
from dash import CeleryManager, Dash, DiskcacheManager, Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from layouts.ids import ID, JobIds
from topomap_core.errors import Cancelled, TopomapError, one_line
from topomap_core.jobs import celery as celery_jobs
from topomap_core.jobs.base import Job
from topomap_core.jobs.registry import get_job
from topomap_core.jobs.results import cached, cached_view
from topomap_core.jobs.runner import Compute, Outcome, run
from topomap_core.progress import ProgressCallback, progress_text
from topomap_core.store import Store

from .common import readable_error

LOG = logging.getLogger(__name__)

JOBS_LOG = "jobs.log"
NOT_COMPUTED = "Not computed yet — press Run."
CANCELLED = "Cancelled."
SHOWING = "Showing the stored result for these settings."

#: ``set_progress((value, max, text))`` as Dash hands it to a background callback.
SetProgress = Callable[[tuple[int, int, str]], None]


@dataclass(frozen=True)
class JobTab:
    """How one tab runs its job (see :func:`register_job`).

    Attributes
    ----------
    ids : JobIds
        Its Run and Cancel buttons, progress bar and text, status line and result store.
    inputs : sequence of (name, component id)
        The controls (their ``value``) the request is made of, by name.
    request : callable
        ``request(values) -> (job, request)``; raises TopomapError naming a bad value.
    result_data : callable
        ``result_data(outcome, request, values) -> dict``: what the result store holds (never
        arrays); may raise TopomapError (e.g. a state outside the series).
    status : callable
        ``status(outcome, data) -> str``: the line after a run (``outcome.computed``: it was
        computed, else loaded) or for a stored result found on a change.
    tab : str, optional
        Look stored results up only while this tab is open.
    not_computed : str or callable
        The status when nothing is stored (or ``not_computed(values) -> str``).
    failed : str
        Prefix of a failure's status (``"Run failed"``).
    starting : str
        Progress text while the job process starts.
    keep_shown : bool
        Leave the result store alone when a change finds the result already shown (the
        Training tab keeps its slider where it is).
    shown : callable, optional
        ``shown(outcome, data) -> str``: the status for a stored result found on a change
        (default :data:`SHOWING`).
    """

    ids: JobIds
    inputs: Sequence[tuple[str, str]]
    request: Callable[[dict[str, Any]], tuple[Job, Any]]
    result_data: Callable[[Outcome, Any, dict[str, Any]], dict[str, Any]]
    status: Callable[[Outcome, dict[str, Any]], str]
    tab: str | None = None
    not_computed: str | Callable[[dict[str, Any]], str] = NOT_COMPUTED
    failed: str = "Run failed"
    starting: str = "loading model and data…"
    keep_shown: bool = False
    shown: Callable[[Outcome, dict[str, Any]], str] | None = None


def log_job(data_dir: str | Path, job: Job, key: str | None, request: Any) -> None:
    """Append ``<ISO time> <job>:<key> <method>`` to ``<data_dir>/jobs.log``."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    method = getattr(request, "method", "-")
    with open(Path(data_dir) / JOBS_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{stamp} {job.name}:{key or 'unbuilt-demo'} {method}\n")
    LOG.info("computing %s:%s (%s) in pid %d", job.name, (key or "")[:12], method, os.getpid())


def relay(set_progress: SetProgress) -> ProgressCallback:
    """A job's ``(stage, done, total)`` reports as progress-bar updates (already throttled
    where they are made, by :class:`topomap_core.progress.Throttle`)."""

    def progress(stage: str, done: int, total: int) -> None:
        set_progress((int(done), max(int(total), 1), progress_text(stage, done, total)))

    return progress


def run_job(
    spec: JobTab,
    values: Mapping[str, Any],
    data_dir: str | Path,
    set_progress: SetProgress | None = None,
    compute: Compute | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """The Run button's job: the stored result at once, else computed with progress.

    Returns
    -------
    data : dict or None
        What the result store holds; None when nothing can be shown.
    status : str
        One readable line; errors never raise.
    """
    report = set_progress or (lambda value: None)
    values = dict(values)
    try:
        job, request = spec.request(values)

        def starting(key: str | None) -> None:
            log_job(data_dir, job, key, request)
            report((0, 1, spec.starting))

        outcome = run(
            job,
            request,
            data_dir,
            relay(report),
            compute=compute,
            on_compute=starting,
            cancel=current_cancel(),
        )
        data = spec.result_data(outcome, request, values)
    except Cancelled:
        return None, CANCELLED
    except Exception as exc:  # the page shows one readable line; the server keeps serving
        return None, f"{spec.failed}: {readable_error(exc)}"
    report((1, 1, "done" if outcome.computed else "done (cached)"))
    return data, spec.status(outcome, data)


def cached_job(
    spec: JobTab,
    values: Mapping[str, Any],
    data_dir: str | Path,
    warnings: Sequence[str] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """The stored result for the controls, if any; never computes (and never logs a job).

    Returns
    -------
    data : dict or None
    status : str
        ``warnings`` (one per line) followed by what happened.
    """
    lines = list(warnings or [])
    data = None
    values = dict(values)
    try:
        job, request = spec.request(values)
        key, view = cached_view(job, request, Store(data_dir))
        if view is None:
            missing = spec.not_computed
            lines.append(missing(values) if callable(missing) else missing)
        else:
            outcome = Outcome(key, view, None)
            data = spec.result_data(outcome, request, values)
            lines.append(spec.shown(outcome, data) if spec.shown else SHOWING)
    except TopomapError as exc:
        lines.append(readable_error(exc) + ".")
    except Exception as exc:
        lines.append(f"Could not look for a stored result: {readable_error(exc)}")
    return data, "\n".join(lines)


def stored_result(job_name: str, data_dir: str | Path, data: dict | None) -> Any:
    """The cached result of job ``job_name`` that a tab's result-store entry
    (``{"request": ..., "key": ...}``) points to; None when there is none or it is gone."""
    if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
        return None
    try:
        job = get_job(job_name)
        return cached(job, job.validate(data["request"]), Store(data_dir))
    except (TypeError, ValueError, OSError):
        return None


def job_failed(exc: Exception) -> tuple[Any, str]:
    """``on_error`` of the background jobs: the outputs for a job that failed outside its body.

    That is a job whose process died (:class:`JobManager` reports it); Dash wraps the message
    in "An error occurred inside a background callback: ...".
    """
    text = one_line(exc).removeprefix("An error occurred inside a background callback:").strip()
    return no_update, f"Run failed: {text or type(exc).__name__}"


def register_job(app: Dash, spec: JobTab, data_dir: Path) -> None:
    """Give a tab its Run/Cancel background job and its stored-result-on-change callback."""
    ids = spec.ids
    names = [name for name, _ in spec.inputs]
    states = [State(cid, "value") for _, cid in spec.inputs]

    @app.callback(
        Output(ids.result, "data", allow_duplicate=True),
        Output(ids.status, "children", allow_duplicate=True),
        Input(ids.run, "n_clicks"),
        *states,
        background=True,
        running=[
            (Output(ids.run, "disabled"), True, False),
            (Output(ids.cancel, "disabled"), False, True),
        ],
        cancel=[Input(ids.cancel, "n_clicks")],
        progress=[Output(ids.bar, "value"), Output(ids.bar, "max"), Output(ids.text, "children")],
        progress_default=[0, 1, ""],
        interval=500,
        on_error=job_failed,
        prevent_initial_call=True,
    )
    def on_run(set_progress: SetProgress, n_clicks: int | None, *raw: Any):
        if not n_clicks:
            raise PreventUpdate
        values = dict(zip(names, raw, strict=True))
        data, status = run_job(spec, values, data_dir, set_progress)
        return (data if data is not None else no_update), status

    # Say at once, in the browser, that the click was taken (the job reports when done);
    # warnings about the link are shown until the first run. (The constant second input only
    # gives this callback its own duplicate-output id.)
    app.clientside_callback(
        """function(n) {
            const skip = window.dash_clientside.no_update;
            return n ? ['Running…', []] : [skip, skip];
        }""",
        Output(ids.status, "children", allow_duplicate=True),
        Output(ID.URL_WARNINGS, "data", allow_duplicate=True),
        Input(ids.run, "n_clicks"),
        Input(ids.run, "id"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.status, "children", allow_duplicate=True),
        Input(ids.cancel, "n_clicks"),
        prevent_initial_call=True,
    )
    def on_cancel(n_clicks: int | None) -> str:
        if not n_clicks:
            raise PreventUpdate
        return CANCELLED

    watched = [Input(cid, "value") for _, cid in spec.inputs]
    if spec.tab is not None:
        watched.append(Input(ID.TABS, "value"))
    # While a run is going (its button disabled) a change must not replace "Running..." with
    # "Not computed yet": the first page load fills the layer list in after an early click.
    states = [State(ids.run, "disabled"), State(ID.URL_WARNINGS, "data")]
    if spec.keep_shown:
        states.append(State(ids.result, "data"))

    @app.callback(
        Output(ids.result, "data"),
        Output(ids.status, "children"),
        *watched,
        *states,
        prevent_initial_call=True,
    )
    def on_controls_changed(*args: Any):
        raw, rest = list(args[: len(names)]), list(args[len(names) :])
        if spec.tab is not None and rest.pop(0) != spec.tab:
            raise PreventUpdate  # another tab's controls: nothing of this tab is read
        if rest.pop(0):
            raise PreventUpdate  # a run is going: it reports when it ends
        rest.pop(0)  # the link's warnings: shown once above the tabs (url.link_notice)
        data, status = cached_job(spec, dict(zip(names, raw, strict=True)), data_dir)
        if spec.keep_shown and same_result(data, rest.pop(0)):
            raise PreventUpdate  # e.g. back from another tab: keep what is shown as it is
        return data, status


def same_result(new: dict | None, shown: dict | None) -> bool:
    """Whether two result-store entries show the same stored result."""
    return (
        isinstance(new, dict)
        and isinstance(shown, dict)
        and new.get("key") == shown.get("key")
        and new.get("request") == shown.get("request")
    )


def timed(outcome: Outcome) -> str:
    """``"Done in 3.2 s"`` for a computed result, ``"Loaded the stored result"`` otherwise."""
    if outcome.computed:
        return f"Done in {outcome.seconds:.1f} s"
    return "Loaded the stored result"


# --------------------------------------------------------------------------------------------
# Managers: where the background callbacks run
# --------------------------------------------------------------------------------------------


class JobManager(CeleryManager):
    """:class:`dash.CeleryManager` that reports jobs whose worker died as failed.

    A lost job's result reads as Dash's ``background_callback_error``, so the callback's
    ``on_error`` handler tells the page ("Run failed: ...").
    """

    def make_job_fn(self, fn, progress, key=None):
        return super().make_job_fn(celery_jobs.with_heartbeat(fn, self.handle), progress, key)

    def terminate_job(self, job):
        if job is None:
            return
        # Cancelled (or finished, Dash terminates those too): never report it as lost.
        celery_jobs.mark_cancelled(self.handle, job)
        super().terminate_job(job)

    def job_lost(self, job: str) -> bool:
        """True when ``job`` started but its worker died before it wrote a result."""
        return celery_jobs.job_lost(self.handle, job)

    def get_result(self, key, job):
        result = super().get_result(key, job)
        if result is self.UNDEFINED and job and self.job_lost(job):
            LOG.warning("job %s lost: its worker stopped before it finished", job)
            self.clear_cache_entry(self._make_progress_key(key))
            return {"background_callback_error": {"msg": celery_jobs.LOST_MESSAGE, "tb": ""}}
        return result


#: A running job of :class:`ThreadManager` refreshes its heartbeat this often (seconds) ...
BEAT_S = 1.0
#: ... and counts as stopped when the last beat is older than this.
BEAT_TTL_S = 6.0

#: What the page says (after "Run failed: ") when the process running a job stopped.
LOST_MESSAGE = celery_jobs.LOST_MESSAGE

_CURRENT = threading.local()


def current_cancel() -> threading.Event | None:
    """The cancel event of the :class:`ThreadManager` job running in this thread, if any."""
    return getattr(_CURRENT, "cancel", None)


class ThreadManager(DiskcacheManager):
    """Dash's background jobs in threads of the web process, never in forked copies of it.

    Dash's :class:`~dash.DiskcacheManager` forks the web process for every job. A fork of a
    process with threads is unsafe (a lock held by another thread stays held in the child; a
    child's SQLite connections to the result cache read stale data after the fork, measured:
    a result a job process had just stored was not found), and the child inherits the
    listening socket, which keeps a restarted server from binding its port. A job's body only
    waits for its job process (:mod:`topomap_core.jobs.runner`), so a thread serves. Progress,
    results, heartbeats and cancel marks live in the shared diskcache, so any web process (a
    gunicorn worker) answers the page's polls.
    """

    def call_job_fn(self, key, job_fn, args, context):
        job = uuid.uuid4().hex
        cancel = threading.Event()
        self.handle.set(self._mark("alive", job), 1, expire=BEAT_TTL_S)

        def body() -> None:
            _CURRENT.cancel = cancel
            try:
                job_fn(key, self._make_progress_key(key), args, context)
            finally:
                _CURRENT.cancel = None
                self.handle.set(self._mark("done", job), 1, expire=3600)

        def beat() -> None:
            while worker.is_alive():
                self.handle.set(self._mark("alive", job), 1, expire=BEAT_TTL_S)
                if self.handle.get(self._mark("cancel", job)):
                    cancel.set()
                worker.join(BEAT_S)

        worker = threading.Thread(target=body, name=f"topomaps-job-{job[:8]}", daemon=True)
        worker.start()
        threading.Thread(target=beat, name=f"topomaps-beat-{job[:8]}", daemon=True).start()
        return job

    @staticmethod
    def _mark(kind: str, job: str) -> str:
        return f"topomaps-thread-job-{kind}-{job}"

    def terminate_job(self, job):
        if job:
            self.handle.set(self._mark("cancel", str(job)), 1, expire=3600)

    def terminate_unhealthy_job(self, job):
        return False

    def job_running(self, job):
        if not job:
            return False
        job = str(job)
        alive = self.handle.get(self._mark("alive", job)) is not None
        return alive and not self.handle.get(self._mark("done", job))

    def get_result(self, key, job):
        result = super().get_result(key, job)
        if result is self.UNDEFINED and job and not self.job_running(job):
            job = str(job)
            ended = self.handle.get(self._mark("cancel", job)) or self.handle.get(
                self._mark("done", job)
            )
            if not ended:
                # The web process running it stopped (restarted, killed) mid-job.
                self.clear_cache_entry(self._make_progress_key(key))
                return {"background_callback_error": {"msg": LOST_MESSAGE, "tb": ""}}
        return result


def background_manager(root: Path):
    """Celery (:class:`JobManager`) when ``REDIS_URL`` is set, else :class:`ThreadManager`
    with its queue in ``<root>/dash-jobs``."""
    if celery_jobs.celery_app is not None:
        return JobManager(celery_jobs.celery_app)
    return ThreadManager(diskcache.Cache(str(root / "dash-jobs")))
