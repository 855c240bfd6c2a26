"""Command-line interface: ``python -m topomap_core {layers,methods,<a job>}``.

Every job of the registry with a ``command`` (``map``, ``training``, ``compare``, ...) is a
sub-command whose options are its request's declared fields.

Any bad input ends with exit status 2 and one line on stderr, never a traceback
(``--debug`` shows it). Unexpected failures exit with status 1, also in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .config import quiet_tensorflow
from .errors import Cancelled

PROG = "python -m topomap_core"


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line, like every other error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _progress_printer(stream):
    last = {"stage": None, "t": 0.0}

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != last["stage"] or done == total or now - last["t"] > 1.0:
            stream.write(f"\r{stage}: {done}/{total}\033[K")
            if done == total:
                stream.write("\n")
            stream.flush()
            last.update(stage=stage, t=now)

    return progress


def build_parser() -> argparse.ArgumentParser:
    """The parser: ``layers``, ``methods``, and one sub-command per job with a ``command``.

    A job's options come from its request's declared fields (:mod:`topomap_core.params`).
    """
    from .jobs.registry import JOBS

    parser = _Parser(prog=PROG, description="Topographic activation maps of Keras models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("layers", help="list a model's layers as JSON")
    JOBS["describe"].add_arguments(p)
    sub.add_parser("methods", help="list the layout methods")
    for job in JOBS.values():
        if job.command:
            p = sub.add_parser(job.command, help=job.summary, description=job.summary)
            job.add_arguments(p)
            p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def _cmd_layers(args) -> int:
    from .jobs.registry import JOBS

    job = JOBS["describe"]
    description = job.run(job.request_from_arguments(args))
    rows = [json.dumps(layer) for layer in description["layers"]]
    print("[\n  " + ",\n  ".join(rows) + "\n]")  # valid JSON, one layer per line
    return 0


def _cmd_methods(args) -> int:
    from .analyses.topomap import GRID_METHOD
    from .placement import LAYOUT_METHODS

    for m in LAYOUT_METHODS.values():
        print(f"{m.name:10s} {m.summary}")
    # Not a placement method (it reads the model, not a profile), but a map may ask for it.
    print(f"{GRID_METHOD:10s} the grid of a layer trained with the topographic regularizer")
    return 0


def _cmd_job(args) -> int:
    from .jobs.registry import JOBS

    job = next(j for j in JOBS.values() if j.command == args.command)
    # Validated before TensorFlow and any model are loaded.
    request = job.request_from_arguments(args)
    progress = None if args.quiet else _progress_printer(sys.stderr)
    result = job.run(request, progress)
    paths = job.write_outputs(result, Path(args.out), args)
    print(f"wrote {', '.join(str(p) for p in paths.values())}\n{job.report(result)}")
    return 0


COMMANDS = {"layers": _cmd_layers, "methods": _cmd_methods}


def main(argv: Sequence[str] | None = None) -> int:
    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS.get(args.command, _cmd_job)(args)
    except (ValueError, OSError, Cancelled) as exc:  # TopomapError is a ValueError
        if args.debug:
            raise
        sys.stderr.write(f"{PROG}: error: {_one_line(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if args.debug:
            raise
        sys.stderr.write(f"{PROG}: internal error: {type(exc).__name__}: {_one_line(exc)}\n")
        return 1


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 500 else text[:497] + "..."
