"""Command-line interface: ``python -m topomap_core {layers,map,methods,training,compare}``.

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
from .profiles.groups import DEFAULT_PER_GROUP, GROUP_MODES
from .profiles.nap import PROFILES

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
    from .placement import available_methods

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

    p = sub.add_parser("training", help="maps of every saved state of a training run on one layout")
    p.add_argument(
        "--checkpoints",
        required=True,
        help="a .zip of .keras or .weights.h5 files (ordered by the number in their names), "
        "or demo (digits-mlp trained one epoch, a state per batch)",
    )
    p.add_argument("--base-model", help="the architecture a .weights.h5 series fills (.keras)")
    _add_map_options(p, available_methods())
    p.add_argument("--fps", type=float, default=8, help="animation frames per second (default 8)")
    p.add_argument("--size", type=int, default=2, help="map enlargement in the frames (1-8)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("compare", help="two models' maps on one shared layout, and B - A")
    p.add_argument("--model-a", required=True, help="model file (.keras, .h5) or demo:...")
    p.add_argument("--model-b", required=True, help="model file (.keras, .h5) or demo:...")
    p.add_argument("--layer-b", help="model B's layer, if named differently (same width)")
    _add_map_options(p, available_methods())
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def _add_map_options(p: argparse.ArgumentParser, methods: list[str]) -> None:
    """Data, layer, grouping and layout options shared by `training` and `compare`."""
    p.add_argument("--data", required=True, help="data file (.npz, .zip) or demo:digits")
    p.add_argument("--layer", required=True, help="layer name, e.g. dense or backbone/conv2")
    p.add_argument("--groups", default="label", help=f"one of {', '.join(GROUP_MODES)}")
    p.add_argument("--random-groups", type=int, default=0, metavar="K",
                   help="add K random baseline groups (default 0)")  # fmt: skip
    p.add_argument("--per-group", type=int, default=DEFAULT_PER_GROUP, metavar="N",
                   help=f"examples per group (default {DEFAULT_PER_GROUP})")  # fmt: skip
    p.add_argument("--method", default="UMAP_PSO",
                   help=f"layout method (default UMAP_PSO): {', '.join(methods)}")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--profile", default="paper", choices=PROFILES,
                   help="layout profile for convolutions (default paper)")  # fmt: skip


def _cmd_layers(args) -> int:
    from .io.models import list_layers, load_model

    model = load_model(args.model)
    rows = [json.dumps(info.to_dict()) for info in list_layers(model)]
    print("[\n  " + ",\n  ".join(rows) + "\n]")  # valid JSON, one layer per line
    return 0


def _cmd_methods(args) -> int:
    from .placement import LAYOUT_METHODS

    for m in LAYOUT_METHODS.values():
        print(f"{m.name:10s} {m.summary}")
    return 0


def _cmd_map(args) -> int:
    from .pipeline import MapRequest, run_map, write_outputs
    from .placement import get_method
    from .profiles.groups import GROUP_MODES

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


def _map_params(args) -> dict:
    from .placement import get_method

    # Validate the cheap arguments before loading TensorFlow and any model.
    if args.groups not in GROUP_MODES:
        raise ValueError(
            f"group mode {args.groups!r} is not known; choose one of {', '.join(GROUP_MODES)}"
        )
    return {
        "data": args.data,
        "layer": args.layer,
        "groups": args.groups,
        "random_groups": args.random_groups,
        "per_group": args.per_group,
        "method": get_method(args.method).name,
        "seed": args.seed,
        "profile": args.profile,
    }


def _cmd_training(args) -> int:
    from .training import (
        DEMO_CHECKPOINTS,
        TrainingRequest,
        check_fps,
        check_size,
        run_training,
        write_training_outputs,
    )

    params = _map_params(args)
    check_fps(args.fps)
    check_size(args.size)
    checkpoints = DEMO_CHECKPOINTS if args.checkpoints == "demo" else args.checkpoints
    request = TrainingRequest(checkpoints=checkpoints, base_model=args.base_model, **params)
    progress = None if args.quiet else _progress_printer(sys.stderr)
    result = run_training(request, progress=progress)
    paths = write_training_outputs(result, args.out, fps=args.fps, size=args.size)
    change = result.change[1:]
    print(
        f"wrote {result.n_states} frames to {paths['frames']}, "
        f"{', '.join(str(p) for k, p in paths.items() if k != 'frames')}\n"
        f"{result.layout.shape[0]} neurons, {len(result.group_names)} groups, "
        f"{result.n_states} states; NAP change {change[0]:.3g} first, {change[-1]:.3g} last; "
        f"{result.timings['total']:.1f} s"
        if len(change)
        else f"wrote {', '.join(str(p) for p in paths.values())} (one state)"
    )
    return 0


def _cmd_compare(args) -> int:
    from .training import CompareRequest, run_compare, write_compare_outputs

    params = _map_params(args)
    request = CompareRequest(
        model_a=args.model_a, model_b=args.model_b, layer_b=args.layer_b, **params
    )
    progress = None if args.quiet else _progress_printer(sys.stderr)
    result = run_compare(request, progress=progress)
    paths = write_compare_outputs(result, args.out)
    rms = [r for r in result.group_rms_diff if r is not None]
    print(
        f"wrote {', '.join(str(p) for p in paths.values())}\n"
        f"{result.layout.shape[0]} neurons, {len(result.group_names)} groups; largest "
        f"|B - A| {result.diff_vmax:.3g}, mean group RMS difference "
        f"{(sum(rms) / len(rms)) if rms else float('nan'):.3g}; {result.timings['total']:.1f} s"
    )
    return 0


COMMANDS = {
    "compare": _cmd_compare,
    "layers": _cmd_layers,
    "map": _cmd_map,
    "methods": _cmd_methods,
    "training": _cmd_training,
}


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
