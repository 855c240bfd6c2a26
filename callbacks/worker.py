"""Everything that loads a model runs here, in a fresh Python process, never in the web server.

Two jobs:

``python -m callbacks.worker``
    Compute one view (activations, NAP, layout, maps) into the store's cache.
``python -m callbacks.worker --describe``
    Load one model and list its layers and input shape (for the layer list and the data check).

Why a separate process: a model file is untrusted input, and even with the configuration
inspected first and ``safe_mode`` on, deserialising it is the riskiest step; it happens here,
in a short-lived process, so the web process never deserialises a model. It also keeps
TensorFlow out of the web server: Dash's DiskcacheManager runs a background callback in a
*forked* copy of the server, and TensorFlow's runtime does not survive a fork. The background
job starts this worker, a clean interpreter, and relays its progress. Cancelling the job kills
the job's process tree, this worker included.

Protocol: one JSON object on stdin: ``{"data_dir": str, "request": {MapRequest fields}}`` to
compute, ``{"data_dir": str, "model": ref}`` to describe. On stdout, lines starting with
:data:`PREFIX` followed by JSON: ``{"progress": [stage, done, total]}`` while computing, then
exactly one ``{"ok": true, "key": ...}`` (compute), ``{"ok": true, "layers": [...],
"input_shape": [...]}`` (describe) or ``{"error": str, "cancelled": bool, "topomap": bool}``
(``topomap``: a problem with the user's input). Other output (libraries printing) is ignored.

:func:`describe_in_worker` is the web process's side of ``--describe``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

PREFIX = "@@topomaps "

#: The repository root (the worker runs there, with it on ``PYTHONPATH``).
ROOT = Path(__file__).resolve().parent.parent

#: Seconds a ``--describe`` worker may take (TensorFlow start-up plus loading the model).
DESCRIBE_TIMEOUT_S = 180.0

#: At most this many progress lines per second (plus every stage change and the last step).
_MAX_RATE = 10.0


def emit(stream: TextIO, payload: dict[str, Any]) -> None:
    """Write one protocol line."""
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


def compute(job: dict[str, Any], out: TextIO) -> int:
    """Run the job described by ``job``, reporting on ``out``; return the exit status."""
    from topomap_core.config import quiet_tensorflow

    quiet_tensorflow()
    from topomap_core.errors import Cancelled, TopomapError
    from topomap_core.pipeline import MapRequest
    from topomap_core.store import Store

    last = {"stage": None, "time": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == last["stage"] and done < total and now - last["time"] < 1 / _MAX_RATE:
            return
        last.update(stage=stage, time=now)
        emit(out, {"progress": [str(stage), int(done), int(total)]})

    try:
        request = MapRequest(**job["request"])
        store = Store(job["data_dir"])
        store.view(request, progress=progress)
        emit(out, {"ok": True, "key": store.view_key(request)})
        return 0
    except Cancelled:
        emit(out, {"error": "Cancelled.", "cancelled": True})
    except TopomapError as exc:
        emit(out, {"error": _first_line(exc), "topomap": True})
    except MemoryError:
        emit(out, {"error": "Out of memory: try fewer examples per group or a smaller layer."})
    except ValueError as exc:
        # The numerical steps check their input with ValueError ("a topographic map needs
        # at least 3 neurons"): a problem with what was asked for, said in one line (the
        # traceback still goes to the server log, in case it is a bug).
        _log_traceback()
        emit(out, {"error": _first_line(exc), "topomap": True})
    except Exception as exc:  # the page gets one line; the server log gets the traceback
        _log_traceback()
        emit(out, {"error": f"{type(exc).__name__}: {_first_line(exc)}"})
    return 1


def describe(job: dict[str, Any], out: TextIO) -> int:
    """Load the model ``job["model"]`` of the store ``job["data_dir"]`` and describe it.

    Emits ``{"ok": true, "layers": [...], "input_shape": [...]}`` (see
    :func:`topomap_core.store.describe_model`) or an error line; returns the exit status.
    """
    from topomap_core.config import quiet_tensorflow

    quiet_tensorflow()
    from topomap_core.errors import TopomapError
    from topomap_core.store import Store, describe_model

    try:
        store = Store(job["data_dir"])
        description = describe_model(store.model_source(job["model"]))
        emit(out, {"ok": True, **description})
        return 0
    except TopomapError as exc:
        emit(out, {"error": _first_line(exc), "topomap": True})
    except MemoryError:
        emit(out, {"error": "Out of memory while loading the model.", "topomap": True})
    except Exception as exc:
        _log_traceback()
        emit(out, {"error": f"{type(exc).__name__}: {_first_line(exc)}"})
    return 1


def _log_traceback() -> None:
    import traceback

    traceback.print_exc(file=sys.stderr)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def worker_env() -> dict[str, str]:
    """The environment of a worker: this one, with the repository on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def describe_in_worker(
    ref: str, data_dir: str | Path, timeout: float = DESCRIBE_TIMEOUT_S
) -> dict[str, Any]:
    """Describe model ``ref`` of the store under ``data_dir`` in a fresh worker process.

    The web process's side of ``python -m callbacks.worker --describe``: the model is loaded
    by the worker, never by the caller.

    Returns
    -------
    dict
        ``{"layers": [...], "input_shape": [...]}``.

    Raises
    ------
    TopomapError
        The worker's readable message for a model that cannot be loaded.
    RuntimeError
        The worker crashed or took longer than ``timeout`` seconds.
    """
    from topomap_core.errors import TopomapError

    job = json.dumps({"data_dir": str(data_dir), "model": ref})
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "callbacks.worker", "--describe"],
            cwd=ROOT,
            env=worker_env(),
            input=job,
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"loading the model took longer than {timeout:.0f} s") from None
    outcome = None
    for line in proc.stdout.splitlines():
        payload = parse_line(line)
        if payload is not None and "progress" not in payload:
            outcome = payload
    if outcome is None:
        raise RuntimeError(
            f"loading the model stopped unexpectedly (exit status {proc.returncode})"
        )
    if outcome.get("ok"):
        return {"layers": outcome["layers"], "input_shape": outcome["input_shape"]}
    text = str(outcome.get("error") or "unknown error")
    if outcome.get("topomap"):
        raise TopomapError(text)
    raise RuntimeError(text)


def main(argv: list[str] | None = None) -> int:
    """Read the job from stdin and compute it (``--describe``: describe the model)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        job = json.loads(sys.stdin.read())
        if not isinstance(job, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        emit(sys.stdout, {"error": f"bad job description ({exc})"})
        return 2
    if args == ["--describe"]:
        return describe(job, sys.stdout)
    if args:
        emit(sys.stdout, {"error": f"unknown arguments {args!r}; use --describe or none"})
        return 2
    return compute(job, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
