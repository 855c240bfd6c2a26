"""The one job process: computes one job of the registry, then exits.

Every computation that loads a model (views, training maps, comparisons, descriptions, and
every future job) runs here, in a process of its own, never in the web server: a model file is
untrusted input, and one job per process means nothing a model leaves behind (module state,
threads, memory) reaches the next job.

``python -m topomap_core.jobs.worker``
    A *cold* worker: reads one job from stdin, reports on stdout.
``python -m topomap_core.jobs.worker --spare DIR``
    A *spare* worker (:mod:`topomap_core.jobs.spares`): first imports TensorFlow, Keras and the
    job registry and compiles the layout kernels (numba's on-disk cache lives in the data
    directory), then waits on a socket in ``DIR`` for exactly one job, so a job starts warm.

Protocol: one JSON object ``{"job": name, "data_dir": str, "request": {fields}}``; then lines
starting with :data:`PREFIX` followed by JSON: ``{"progress": [stage, done, total]}`` while it
computes, ``{"memory": {"vm_mb", "rss_mb"}}`` a few times a second while its memory use
changes, and exactly one ``{"ok": true, "key": ..., "pid": ..., "jobs_in_process": 1}`` or
``{"error": str, "cancelled": bool, "topomap": bool, "stage": str}`` (``topomap``: a problem
with the user's input, or a limit; else an internal error, whose traceback the server log
gets). The request is validated here again, as it came from outside: only stored ids and demo
names pass, never a path. A process that dies without an outcome line has left a crash note
(:mod:`topomap_core.jobs.crashes`) from which the caller says what stopped it.

Every job process runs under an address-space limit (``RLIMIT_AS``,
:func:`topomap_core.config.job_memory_mb`), set before anything is imported, so a hostile or
merely huge input ends its own job with a message naming the limit instead of taking memory
from every other user; the caller adds a wall-clock limit
(:func:`topomap_core.config.job_timeout_s`).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from typing import Any, TextIO

from .. import config

PREFIX = "@@topomaps "

#: Jobs this process has run: always 1 when a job reports (one job per process), which the
#: outcome line says (``"jobs_in_process"``) so that callers and tests can check it.
_JOBS_RUN = 0


def limit_memory() -> int:
    """Apply the job memory limit to this process (before any big import); MiB, 0: none."""
    import resource

    limit_mb = config.job_memory_mb()
    if limit_mb:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = limit_mb * 2**20
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit_mb


_EMIT = threading.Lock()  # the memory monitor writes from its own thread


def emit(stream: TextIO, payload: dict[str, Any]) -> None:
    """Write one protocol line."""
    with _EMIT:
        stream.write(PREFIX + json.dumps(payload) + "\n")
        stream.flush()


def parse_line(line: str) -> dict[str, Any] | None:
    """The payload of a protocol line, or None for any other output."""
    if not line.startswith(PREFIX):
        return None
    try:
        payload = json.loads(line[len(PREFIX) :])
    except json.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def run_job(payload: dict[str, Any], out: TextIO) -> int:
    """Compute the job ``payload`` describes, reporting on ``out``; return the exit status."""
    config.quiet_tensorflow()
    from ..errors import Cancelled, TopomapError, one_line
    from ..progress import Throttle
    from ..store import Store
    from .crashes import MemoryMonitor, doing, enable_note, remove_note

    enable_note()
    MemoryMonitor(lambda payload: emit(out, payload)).start()
    stages: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        if not stages or stages[-1] != stage:
            stages[:] = [str(stage)]
        emit(out, {"progress": [str(stage), int(done), int(total)]})

    global _JOBS_RUN
    _JOBS_RUN += 1
    try:
        if not isinstance(payload.get("request"), dict) or not payload.get("data_dir"):
            raise TopomapError("bad job description (needs job, data_dir and request)")
        from .registry import get_job  # every analysis: under the memory limit, reported
        from .results import get_or_compute

        job = get_job(str(payload.get("job")))
        request = job.validate(payload["request"])
        _, key = get_or_compute(job, request, Store(payload["data_dir"]), Throttle(progress))
        emit(out, {"ok": True, "key": key, "pid": os.getpid(), "jobs_in_process": _JOBS_RUN})
        remove_note(os.getpid())
        return 0
    except Cancelled:
        emit(out, {"error": "Cancelled.", "cancelled": True})
    except TopomapError as exc:
        emit(out, {"error": _user_names(one_line(exc), payload), "topomap": True})
    except Exception as exc:  # the page gets one line; the server log gets the traceback
        traceback.print_exc(file=sys.stderr)
        stage = stages[-1] if stages else None
        layer = payload.get("request", {}).get("layer") if isinstance(payload, dict) else None
        if _out_of_memory(exc):
            text = (
                f"the job ran out of {config.memory_limit_text()} {doing(stage, layer)}: try "
                "fewer examples per group, a smaller layer or a smaller TOPOMAPS_BATCH_MB, or "
                "raise the setting"
            )
            emit(out, {"error": text, "topomap": True})
        elif isinstance(exc, ValueError):
            # The numerical steps check their input with ValueError ("a topographic map
            # needs at least 3 neurons"): a problem with what was asked for, in one line.
            emit(out, {"error": one_line(exc), "topomap": True})
        else:
            text = (
                f"the job failed {doing(stage, layer)}: {type(exc).__name__}: {one_line(exc)} "
                "(an internal error: the server log has the traceback)"
            )
            emit(out, {"error": text, "stage": stage})
    remove_note(os.getpid())
    return 1


def _user_names(text: str, payload: dict[str, Any]) -> str:
    """``text`` with every stored file's hash name (``<sha256>.npz``) replaced by the name the
    user uploaded it under, as the page's other messages name it."""
    import re

    from ..params import HASH_RE
    from ..store import Store

    request = payload.get("request") if isinstance(payload, dict) else None
    if not isinstance(request, dict) or not payload.get("data_dir"):
        return text
    store = Store(payload["data_dir"])
    for ref in {v for v in request.values() if isinstance(v, str) and HASH_RE.match(v)}:
        if ref in text:
            name = store.display_name(ref)
            text = re.sub(re.escape(ref) + r"(\.[A-Za-z0-9]+)?", lambda _, n=name: n, text)
    return text


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is what running out of the address-space limit looks like (Python's
    MemoryError, or a native library that could not map or allocate memory)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    signs = ("failed to map segment", "Cannot allocate memory", "bad_alloc", "OOM when allocating")
    return any(sign in text for sign in signs)


def warm_up_light() -> None:
    """Import what light jobs (descriptions, checks) use: Keras, TensorFlow, every analysis."""
    config.import_keras()  # quiets TensorFlow first
    from . import registry  # noqa: F401  (every analysis)


def warm_up() -> None:
    """Import and compile what jobs use, so that a spare's job starts warm.

    Keras (TensorFlow's runtime with it), every analysis, and the layout kernels: a tiny
    ``UMAP_PSO`` layout compiles UMAP's numba code (about 14 s the first time in a process,
    even with numba's on-disk cache, which covers only our own kernels) and the PSO kernels.
    """
    config.import_keras()  # quiets TensorFlow first
    import numpy as np

    from ..placement import compute_layout
    from . import registry  # noqa: F401  (every analysis)

    nap = np.random.default_rng(0).normal(size=(4, 32))
    compute_layout(nap, "UMAP_PSO", random_state=0, n_steps=20)


def main(argv: list[str] | None = None) -> int:
    """Run one job: from stdin (cold), or from the socket a spare waits on (``--spare DIR``)."""
    args = sys.argv[1:] if argv is None else argv
    limit_memory()
    if len(args) in (2, 3) and args[0] == "--spare" and args[2:] in ([], ["--light"]):
        from .spares import serve, watch_claimer

        conn = serve(args[1], warm_up_light if args[2:] else warm_up)
        if conn is None:
            return 0  # not claimed in time, or the claimer went away
        with conn, conn.makefile("r", encoding="utf-8") as reader:
            writer = conn.makefile("w", encoding="utf-8")
            try:
                payload = json.loads(reader.readline())
            except ValueError as exc:
                emit(writer, {"error": f"bad job description ({exc})"})
                return 2
            watch_claimer(conn)
            code = run_job(payload if isinstance(payload, dict) else {}, writer)
            writer.close()
        os._exit(code)  # skip interpreter teardown: nothing of this process is reused
    if args:
        emit(
            sys.stdout,
            {"error": f"unknown arguments {args!r}; use none or --spare DIR [--light]"},
        )
        return 2
    try:
        payload = json.loads(sys.stdin.read())
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        emit(sys.stdout, {"error": f"bad job description ({exc})"})
        return 2
    return run_job(payload, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
