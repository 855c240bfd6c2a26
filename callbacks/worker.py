"""Everything that loads a model runs here, in a fresh Python process, never in the web server.

The jobs:

``python -m callbacks.worker``
    Compute one view (activations, NAP, layout, maps) into the store's cache.
``python -m callbacks.worker --training``
    Compute the maps of every state of a checkpoint series (Training tab) into the cache.
``python -m callbacks.worker --compare``
    Compute the comparison of two models (Compare tab) into the cache.
``python -m callbacks.worker --describe``
    Load one model and list its layers and input shape (for the layer list and the data check).
``python -m callbacks.worker --describe-series``
    Load the last state of a checkpoint series and list its layers (the Training tab's list).

Why a separate process: a model file is untrusted input, and even with the configuration
inspected first and ``safe_mode`` on, deserialising it is the riskiest step; it happens here,
in a short-lived process, so the web process never deserialises a model. It also keeps
TensorFlow out of the web server: Dash's DiskcacheManager runs a background callback in a
*forked* copy of the server, and TensorFlow's runtime does not survive a fork. The background
job starts this worker, a clean interpreter, and relays its progress. Cancelling the job kills
the job's process tree, this worker included.

Protocol: one JSON object on stdin: ``{"data_dir": str, "request": {MapRequest fields}}`` to
compute (``--training``: TrainingRequest fields, ``--compare``: CompareRequest fields),
``{"data_dir": str, "model": ref}`` to describe, ``{"data_dir": str, "checkpoints": ref,
"base_model": ref or null}`` to describe a series. On stdout, lines starting with
:data:`PREFIX` followed by JSON: ``{"progress": [stage, done, total]}`` while computing, then
exactly one ``{"ok": true, "key": ...}`` (compute), ``{"ok": true, "layers": [...],
"input_shape": [...]}`` (describe) or ``{"error": str, "cancelled": bool, "topomap": bool}``
(``topomap``: a problem with the user's input). Other output (libraries printing) is ignored.

:func:`describe_in_worker` is the web process's side of ``--describe`` (and of
``--describe-series``).
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


#: The computing modes: argument -> what it computes.
MODES = ("--training", "--compare")


def _compute_request(mode: str | None, job: dict[str, Any], progress) -> str:
    """Compute ``job``'s request of ``mode`` into the store's cache; return its cache key."""
    from topomap_core.pipeline import MapRequest
    from topomap_core.store import Store
    from topomap_core.training import CompareRequest, TrainingRequest

    store = Store(job["data_dir"])
    if mode == "--training":
        request = TrainingRequest(**job["request"])
        store.training(request, progress=progress)
        return store.training_key(request) or ""
    if mode == "--compare":
        request = CompareRequest(**job["request"])
        store.compare(request, progress=progress)
        return store.compare_key(request)
    request = MapRequest(**job["request"])
    store.view(request, progress=progress)
    return store.view_key(request)


def compute(job: dict[str, Any], out: TextIO, mode: str | None = None) -> int:
    """Run the job described by ``job``, reporting on ``out``; return the exit status.

    ``mode``: None for a view, ``"--training"`` or ``"--compare"`` (:data:`MODES`).
    """
    from topomap_core.config import quiet_tensorflow

    quiet_tensorflow()
    from topomap_core.errors import Cancelled, TopomapError

    last = {"stage": None, "time": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == last["stage"] and done < total and now - last["time"] < 1 / _MAX_RATE:
            return
        last.update(stage=stage, time=now)
        emit(out, {"progress": [str(stage), int(done), int(total)]})

    try:
        key = _compute_request(mode, job, progress)
        emit(out, {"ok": True, "key": key})
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
        if "checkpoints" in job:
            description = describe_series(store, job["checkpoints"], job.get("base_model"))
        else:
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


def describe_series(store: Any, checkpoints: str, base_model: str | None) -> dict[str, Any]:
    """Layers and input shape of a checkpoint series' last state (loaded in *this* process).

    The states of a series share one architecture, so the last one describes them all; the
    demo series is trained here on first use.
    """
    from topomap_core.io.models import input_shape, list_layers
    from topomap_core.training import open_series

    with open_series(checkpoints, base_model, store=store) as series:
        model = series.load(len(series) - 1)
        return {
            "layers": [info.to_dict() for info in list_layers(model)],
            "input_shape": [None if s is None else int(s) for s in input_shape(model)],
        }


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
    ref: str,
    data_dir: str | Path,
    timeout: float = DESCRIBE_TIMEOUT_S,
    *,
    series: bool = False,
    base_model: str | None = None,
) -> dict[str, Any]:
    """Describe model ``ref`` of the store under ``data_dir`` in a fresh worker process.

    The web process's side of ``python -m callbacks.worker --describe``: the model is loaded
    by the worker, never by the caller. With ``series=True``, ``ref`` is a checkpoint series
    (with ``base_model`` for a ``.weights.h5`` series) and its last state is described
    (``--describe-series``).

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

    if series:
        job = json.dumps({"data_dir": str(data_dir), "checkpoints": ref, "base_model": base_model})
    else:
        job = json.dumps({"data_dir": str(data_dir), "model": ref})
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "callbacks.worker",
                "--describe-series" if series else "--describe",
            ],
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
    """Read the job from stdin and compute it (see the module docstring for the modes)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        job = json.loads(sys.stdin.read())
        if not isinstance(job, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        emit(sys.stdout, {"error": f"bad job description ({exc})"})
        return 2
    if args in (["--describe"], ["--describe-series"]):
        if (args == ["--describe-series"]) != ("checkpoints" in job):
            emit(sys.stdout, {"error": f"{args[0]} needs a job with the matching reference"})
            return 2
        return describe(job, sys.stdout)
    if len(args) == 1 and args[0] in MODES:
        return compute(job, sys.stdout, args[0])
    if args:
        valid = ", ".join(("--describe", "--describe-series", *MODES))
        emit(sys.stdout, {"error": f"unknown arguments {args!r}; use one of {valid} or none"})
        return 2
    return compute(job, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
