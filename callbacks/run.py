"""Running a view: the background job with progress and cancel, and cached views on load.

The job body :func:`run_job` and the cache check :func:`cached_result` are plain functions;
:func:`register` wraps them. The background callback runs in a process Dash forks from the
server (or, with ``REDIS_URL``, in a Celery worker's pool process); the heavy computation
itself runs in a fresh worker process (see :mod:`callbacks.worker` for why), whose progress
lines are relayed to the progress bar. That process dies with the job's process (Linux
``PR_SET_PDEATHSIG``), so a cancelled or killed job never leaves it computing.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dash import Dash, Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from callbacks import worker
from callbacks.common import (
    CONTROL_IDS,
    app_data_dir,
    controls_dict,
    job_failed,  # noqa: F401  (re-exported: the name tests and callers know)
    job_options,
    readable_error,
)
from callbacks.state import build_request
from layouts.ids import ID
from topomap_core.errors import Cancelled, TopomapError
from topomap_core.pipeline import MapRequest
from topomap_core.store import Store

LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
JOBS_LOG = "jobs.log"
NOT_COMPUTED = "Not computed yet — press Run."
CANCELLED = "Cancelled."

#: ``set_progress((value, max, text))`` as Dash hands it to a background callback.
SetProgress = Callable[[tuple[int, int, str]], None]
#: ``compute(request, data_dir, progress) -> None``: fills the store's cache for ``request``.
Compute = Callable[[MapRequest, Path, Callable[[str, int, int], None]], None]


def progress_text(stage: str, done: int, total: int) -> str:
    """``"activations: batch 3/12"``, ``"PSO: step 400/1000"``, ``"UMAP: 1/1"``.

    The Training tab's stages: ``"training the demo: batch 3/79"``, ``"NAPs: state 3/79"``,
    ``"maps: state 3/79"``.
    """
    if stage in ("activations", "predictions"):
        return f"{stage}: batch {done}/{total}"
    if stage == "training demo":
        return f"training the demo: batch {done}/{total}"
    if stage in ("NAPs", "maps"):
        return f"{stage}: state {done}/{total}"
    if stage.upper().endswith("PSO"):
        return f"{stage}: step {done}/{total}"
    return f"{stage}: {done}/{total}"


class ProgressRelay:
    """Turn ``(stage, done, total)`` reports into at most ~4 progress-bar updates a second.

    A new stage is always shown at once (so a long silent step never shows a stale stage);
    further reports of the same stage are dropped until ``min_interval`` has passed.
    """

    def __init__(
        self,
        set_progress: SetProgress,
        min_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.set_progress = set_progress
        self.min_interval = min_interval
        self.clock = clock
        self._stage: str | None = None
        self._last = float("-inf")

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        if stage == self._stage and now - self._last < self.min_interval:
            return
        self._stage, self._last = stage, now
        self.set_progress((int(done), max(int(total), 1), progress_text(stage, done, total)))


def log_job(data_dir: str | Path, key: str, method: str) -> None:
    """Append ``<ISO time> <view key> <method>`` to ``<data_dir>/jobs.log``."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with open(Path(data_dir) / JOBS_LOG, "a", encoding="utf-8") as fh:
        fh.write(f"{stamp} {key} {method}\n")


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not after the fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return hook


def compute_in_worker(
    request: Any,
    data_dir: Path,
    progress: Callable[[str, int, int], None],
    mode: str | None = None,
) -> None:
    """Compute ``request`` into the store's cache in a fresh ``callbacks.worker`` process.

    ``mode`` is the worker's mode for other requests than a :class:`MapRequest`:
    ``"--training"`` (a TrainingRequest) or ``"--compare"`` (a CompareRequest).

    Raises
    ------
    TopomapError
        The worker's readable message for bad input.
    Cancelled
        The worker was asked to stop.
    RuntimeError
        Any other failure, with a one-line message.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    job = json.dumps({"data_dir": str(data_dir), "request": asdict(request)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "callbacks.worker", *([mode] if mode else [])],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent_hook(),
    )
    outcome: dict[str, Any] | None = None
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(job)
        proc.stdin.close()
        for line in proc.stdout:
            payload = worker.parse_line(line)
            if payload is None:
                continue
            if "progress" in payload:
                stage, done, total = payload["progress"]
                progress(str(stage), int(done), int(total))
            else:
                outcome = payload
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if outcome is None:
        raise RuntimeError(f"the computation stopped unexpectedly (exit status {code})")
    if outcome.get("ok"):
        return
    text = str(outcome.get("error") or "unknown error")
    if outcome.get("cancelled"):
        raise Cancelled(text)
    if outcome.get("topomap"):
        raise TopomapError(text)
    raise RuntimeError(text)


def result_data(request: MapRequest, key: str) -> dict[str, Any]:
    """What RESULT_STORE holds: the request and its view key, never the arrays."""
    return {"request": asdict(request), "key": key}


def run_job(
    values: dict[str, Any],
    data_dir: str | Path,
    set_progress: SetProgress | None = None,
    compute: Compute = compute_in_worker,
) -> tuple[dict[str, Any] | None, str]:
    """The Run button's job: the cached view at once, else compute it with progress.

    Returns
    -------
    result : dict or None
        RESULT_STORE data (:func:`result_data`), None when nothing could be shown.
    status : str
        A readable line for STATUS; errors never raise.
    """
    data_dir = Path(data_dir)
    report = set_progress or (lambda value: None)
    t0 = time.perf_counter()
    try:
        request = build_request(values)
        store = Store(data_dir)
        key = store.view_key(request)
        if store.cached_view(request) is not None:
            report((1, 1, "done (cached)"))
            return result_data(request, key), "Loaded the stored result."
        log_job(data_dir, key, request.method)
        LOG.info("computing view %s (%s) in pid %d", key[:12], request.method, os.getpid())
        report((0, 1, "loading model and data…"))
        compute(request, data_dir, ProgressRelay(report))
        result = store.cached_view(request)
        if result is None:
            raise RuntimeError("the result was computed but could not be stored")
    except Cancelled:
        return None, CANCELLED
    except Exception as exc:  # the page shows one readable line; the server keeps serving
        return None, f"Run failed: {readable_error(exc)}"
    seconds = time.perf_counter() - t0
    report((1, 1, "done"))
    n_groups, n_neurons = result.values.shape
    status = f"Done in {seconds:.1f} s: {n_groups} groups, {n_neurons} neurons."
    return result_data(request, key), status


def cached_result(
    values: dict[str, Any], data_dir: str | Path, warnings: list[str] | None = None
) -> tuple[dict[str, Any] | None, str]:
    """The stored view for the controls, if any; never computes (and never logs a job).

    Returns
    -------
    result : dict or None
        RESULT_STORE data, or None when the view is not stored (or the controls are invalid).
    status : str
        ``warnings`` (one per line) followed by what happened.
    """
    lines = list(warnings or [])
    result = None
    try:
        request = build_request(values)
        store = Store(data_dir)
        if store.cached_view(request) is not None:
            result = result_data(request, store.view_key(request))
            lines.append("Showing the stored result for these settings.")
        else:
            lines.append(NOT_COMPUTED)
    except TopomapError as exc:
        lines.append(readable_error(exc) + ".")
    except Exception as exc:
        lines.append(f"Could not look for a stored result: {readable_error(exc)}")
    return result, "\n".join(lines)


def register(app: Dash) -> None:
    """Register the Run/Cancel background job and the cached-view callback on ``app``."""
    data_dir = app_data_dir(app)
    controls = [State(cid, "value") for cid in CONTROL_IDS]

    @app.callback(
        Output(ID.RESULT_STORE, "data", allow_duplicate=True),
        Output(ID.STATUS, "children", allow_duplicate=True),
        Input(ID.RUN_BUTTON, "n_clicks"),
        *controls,
        **job_options(ID.RUN_BUTTON, ID.CANCEL_BUTTON, ID.PROGRESS_BAR, ID.PROGRESS_TEXT),
    )
    def on_run(set_progress: SetProgress, n_clicks: int | None, *values: Any):
        if not n_clicks:
            raise PreventUpdate
        result, status = run_job(controls_dict(*values), data_dir, set_progress)
        return (result if result is not None else no_update), status

    # Say at once, in the browser, that the click was taken (the job reports when done).
    # (The constant second input only gives this callback its own duplicate-output id.)
    # Warnings about the link are shown until the first run.
    app.clientside_callback(
        """function(n) {
            const skip = window.dash_clientside.no_update;
            return n ? ['Running…', []] : [skip, skip];
        }""",
        Output(ID.STATUS, "children", allow_duplicate=True),
        Output(ID.URL_WARNINGS, "data", allow_duplicate=True),
        Input(ID.RUN_BUTTON, "n_clicks"),
        Input(ID.RUN_BUTTON, "id"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ID.STATUS, "children", allow_duplicate=True),
        Input(ID.CANCEL_BUTTON, "n_clicks"),
        prevent_initial_call=True,
    )
    def on_cancel(n_clicks: int | None) -> str:
        if not n_clicks:
            raise PreventUpdate
        return CANCELLED

    @app.callback(
        Output(ID.RESULT_STORE, "data"),
        Output(ID.STATUS, "children"),
        *[Input(cid, "value") for cid in CONTROL_IDS],
        State(ID.URL_WARNINGS, "data"),
        prevent_initial_call=True,
    )
    def on_controls_changed(*args: Any):
        *values, warnings = args
        return cached_result(controls_dict(*values), data_dir, warnings)
