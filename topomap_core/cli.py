"""Command-line interface: ``python -m topomap_core {layers,map,methods} ...``.

Any bad input ends with exit status 2 and one line on stderr, never a traceback
(``--debug`` shows it). Unexpected failures exit with status 1, also in one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from .config import quiet_tensorflow
from .errors import Cancelled
from .groups import DEFAULT_PER_GROUP, GROUP_MODES
from .nap import PROFILES

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
    from .layouts import available_methods

    parser = _Parser(prog=PROG, description="Topographic activation maps of Keras models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("layers", help="list a model's layers as JSON")
    p.add_argument("--model", required=True, help="model file (.keras, .h5) or demo:digits-mlp")

    sub.add_parser("methods", help="list the layout methods")

    p = sub.add_parser("map", help="compute topographic maps of one layer")
    p.add_argument("--model", required=True, help="model file (.keras, .h5) or demo:digits-mlp")
    p.add_argument("--data", required=True, help="data file (.npz, .zip) or demo:digits")
    p.add_argument("--layer", required=True, help="layer name, e.g. dense or backbone/conv2")
    p.add_argument("--groups", default="label", help=f"one of {', '.join(GROUP_MODES)}")
    p.add_argument(
        "--random-groups",
        type=int,
        default=0,
        metavar="K",
        help="add K random baseline groups (default 0)",
    )
    p.add_argument(
        "--per-group",
        type=int,
        default=DEFAULT_PER_GROUP,
        metavar="N",
        help=f"examples per group (default {DEFAULT_PER_GROUP})",
    )
    p.add_argument(
        "--method",
        default="UMAP_PSO",
        help=f"layout method (default UMAP_PSO): {', '.join(available_methods())}",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--profile",
        default="paper",
        choices=PROFILES,
        help="layout profile for convolutions (default paper: (w*h*G) x N)",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def _cmd_layers(args) -> int:
    from .models import list_layers, load_model

    model = load_model(args.model)
    rows = [json.dumps(info.to_dict()) for info in list_layers(model)]
    print("[\n  " + ",\n  ".join(rows) + "\n]")  # valid JSON, one layer per line
    return 0


def _cmd_methods(args) -> int:
    from .layouts import LAYOUT_METHODS

    for m in LAYOUT_METHODS.values():
        print(f"{m.name:10s} {m.summary}")
    return 0


def _cmd_map(args) -> int:
    from .groups import GROUP_MODES
    from .layouts import get_method
    from .pipeline import MapRequest, run_map, write_outputs

    # Validate the cheap arguments before loading TensorFlow and the model.
    method = get_method(args.method).name
    if args.groups not in GROUP_MODES:
        raise ValueError(
            f"group mode {args.groups!r} is not known; choose one of {', '.join(GROUP_MODES)}"
        )
    request = MapRequest(
        model=args.model,
        data=args.data,
        layer=args.layer,
        groups=args.groups,
        random_groups=args.random_groups,
        per_group=args.per_group,
        method=method,
        seed=args.seed,
        profile=args.profile,
    )
    progress = None if args.quiet else _progress_printer(sys.stderr)
    result = run_map(request, progress=progress)
    paths = write_outputs(result, args.out)
    m = result.metrics
    print(
        f"wrote {', '.join(str(p) for p in paths.values())}\n"
        f"{result.nap.n_neurons} neurons, {len(result.order.names)} groups; "
        f"blur AUC {m['mse_blur_auc']:.1f}, resize AUC {m['mse_resize_auc']:.1f}, "
        f"{m['n_components']:.1f} components of {m['mean_component_size']:.0f} px; "
        f"{result.timings['total']:.1f} s"
    )
    return 0


COMMANDS = {"layers": _cmd_layers, "map": _cmd_map, "methods": _cmd_methods}


def main(argv: Sequence[str] | None = None) -> int:
    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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
