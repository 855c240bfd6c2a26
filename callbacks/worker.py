"""Compute one view in a fresh Python process: ``python -m callbacks.worker``.

Why a fresh process: Dash's DiskcacheManager runs a background callback in a *forked* copy
of the web server, and the server has usually used TensorFlow already (to list layers or to
check data). TensorFlow's runtime does not survive a fork: the forked child hangs on its
first operation. The background job therefore starts this worker, a clean interpreter, and
relays its progress. Cancelling the job kills the job's process tree, this worker included.

Protocol: one JSON object on stdin, ``{"data_dir": str, "request": {MapRequest fields}}``.
On stdout, lines starting with :data:`PREFIX` followed by JSON: ``{"progress": [stage, done,
total]}`` while working, then exactly one ``{"ok": true, "key": ...}`` or ``{"error": str,
"cancelled": bool}``. Other output (libraries printing) is ignored by the reader.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

PREFIX = "@@topomaps "

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
    except Exception as exc:  # the page gets one line; the server log gets the traceback
        import traceback

        traceback.print_exc(file=sys.stderr)
        emit(out, {"error": f"{type(exc).__name__}: {_first_line(exc)}"})
    return 1


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def main() -> int:
    """Read the job from stdin and compute it."""
    try:
        job = json.loads(sys.stdin.read())
    except json.JSONDecodeError as exc:
        emit(sys.stdout, {"error": f"bad job description ({exc})"})
        return 2
    return compute(job, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
