"""The paper's Figure 4 protocol on our demo data, with ``evaluate``'s core (not a test).

The paper's seven methods (``evaluate.PAPER_METHODS``) on the MLP's first dense layer and the
CNN's first convolution of the demo models (8x8 digits, about 54 examples per class), each
with both layout inputs (the NAP columns, ours; the rows of the N x N cosine distance matrix,
the paper's release). Seeded methods run ``--repeats`` times (default 100, seeds 0..R-1);
PCA_PSO and TSNE_PSO are deterministic (PCA has no randomness at this size, t-SNE from its
PCA start none, the local-force PSO none; measured: ten seeds gave ten identical rows), so they
run once. The baseline ignores the profiles, so it runs with the "nap" input only and its
results stand for both inputs.

The work is done in rounds of ``--round`` repeats over every configuration and method, each
round appended to ``results.csv``: a run stopped early still has balanced results, and a
rerun continues where the file ends. ``--summarise`` reads the file and writes the violins
(one PNG per configuration) and the rankings (``rankings.md``) into ``--figures``.

Usage::

    nice -n 19 python benchmarks/figure4_study.py --out /tmp/figure4          # runs, resumes
    python benchmarks/figure4_study.py --out /tmp/figure4 --summarise --figures docs/figure4
    # --repeats N with --summarise: only seeds below N (complete rounds of a stopped run)
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CONFIGS = (("MLP", "demo:digits-mlp", "dense"), ("CNN", "demo:digits-cnn", "conv1"))
INPUTS = ("nap", "distances")
DETERMINISTIC = {"PCA_PSO", "TSNE_PSO"}


def _done(path: Path) -> set[tuple[str, str, str, int]]:
    if not path.exists():
        return set()
    with path.open() as fh:
        return {
            (row["model"], row["layout_input"], row["method"], int(row["seed"]))
            for row in csv.DictReader(fh)
        }


def run(out: Path, repeats: int, round_size: int) -> None:
    from topomap_core.analyses.evaluate import PAPER_METHODS, EvaluateRequest, evaluate_nap
    from topomap_core.analyses.naps import compute_nap
    from topomap_core.io.models import input_shape
    from topomap_core.io.sources import load_data, load_model
    from topomap_core.profiles.metrics import METRICS

    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.csv"
    done = _done(path)
    naps = {}
    for name, model_ref, layer in CONFIGS:
        model = load_model(model_ref)
        request = EvaluateRequest(model=model_ref, data="demo:digits", layer=layer)
        naps[name] = (layer, compute_nap(model, load_data("demo:digits", input_shape(model)),
                                         layer, request))  # fmt: skip
        nap = naps[name][1]
        print(f"{name} {layer}: {nap.n_neurons} neurons, groups {nap.group_sizes}", flush=True)
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["model", "layer", "layout_input", "method", "seed", *METRICS,
                             "layout_seconds"])  # fmt: skip
        for start in range(0, repeats, round_size):
            t0 = time.perf_counter()
            for name, (layer, nap) in naps.items():
                for layout_input in INPUTS:
                    for method in PAPER_METHODS:
                        n = 1 if method in DETERMINISTIC else min(round_size, repeats - start)
                        if method in DETERMINISTIC and start > 0:
                            continue
                        if (name, layout_input, method, start) in done:
                            continue
                        if method == "baseline" and layout_input != "nap":
                            continue  # it ignores the profiles: the "nap" rows stand for both
                        request = EvaluateRequest(
                            model="demo", data="demo:digits", layer=layer, methods=method,
                            repeats=n, seed=start, layout_input=layout_input,
                        )  # fmt: skip
                        result = evaluate_nap(nap, request)
                        for r in range(n):
                            writer.writerow([name, layer, layout_input, method, start + r,
                                             *(f"{v:.6g}" for v in result.values[0, r]),
                                             f"{result.seconds[0, r]:.4f}"])  # fmt: skip
                        fh.flush()
            print(f"seeds {start}..{start + round_size - 1}: {time.perf_counter() - t0:.0f} s",
                  flush=True)  # fmt: skip


def summarise(out: Path, figures: Path, repeats: int) -> None:
    from topomap_core.analyses.evaluate import PAPER_METHODS, rank_methods
    from topomap_core.profiles.metrics import HIGHER_IS_BETTER, METRICS
    from topomap_core.profiles.violins import save_violins

    with (out / "results.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["seed"]) < repeats]  # complete rounds
    figures.mkdir(parents=True, exist_ok=True)
    lines = []
    means_lines = []
    for name, _, layer in CONFIGS:
        for layout_input in INPUTS:
            sel = [
                r
                for r in rows
                if r["model"] == name
                and r["layout_input"] == ("nap" if r["method"] == "baseline" else layout_input)
            ]
            if not sel:
                continue
            methods = [m for m in PAPER_METHODS if any(r["method"] == m for r in sel)]
            n = max(sum(r["method"] == m for r in sel) for m in methods)
            values = np.full((len(methods), n, len(METRICS)), np.nan)
            for i, m in enumerate(methods):
                mine = [r for r in sel if r["method"] == m]
                for j, r in enumerate(mine):
                    values[i, j] = [float(r[k]) for k in METRICS]
                if len(mine) == 1:  # deterministic: one value stands for every repeat
                    values[i, :] = values[i, 0]
            title = f"{name} {layer}, layout input {layout_input}: {n} repeats"
            save_violins(figures / f"{name.lower()}_{layout_input}.png", methods, values,
                         METRICS, HIGHER_IS_BETTER, title=title)  # fmt: skip
            with np.errstate(all="ignore"):
                means = np.nanmean(values, axis=1)
            ranking = rank_methods({m: dict(zip(METRICS, means[i], strict=True))
                                    for i, m in enumerate(methods)})  # fmt: skip
            lines.append(f"| {name} | {layout_input} | {n} | " + ", ".join(
                f"{r['method']} {r['mean_rank']:.1f}" for r in ranking) + " |")  # fmt: skip
            order4 = rank_methods({m: dict(zip(METRICS, means[i], strict=True))
                                   for i, m in enumerate(methods)}, METRICS[:4])  # fmt: skip
            lines.append(f"| {name} (paper's 4) | {layout_input} | {n} | " + ", ".join(
                f"{r['method']} {r['mean_rank']:.1f}" for r in order4) + " |")  # fmt: skip
            means_lines.append(f"\n**{name} {layer}, layout input {layout_input}** "
                               f"({n} repeats)\n")  # fmt: skip
            means_lines.append("| method | " + " | ".join(METRICS) + " | layout s |")
            means_lines.append("|---" * (len(METRICS) + 2) + "|")
            for i, m in enumerate(methods):
                secs = np.mean([float(r["layout_seconds"]) for r in sel if r["method"] == m])
                cells = " | ".join(f"{v:.4g}" for v in means[i])
                means_lines.append(f"| {m} | {cells} | {secs:.2f} |")
    table = ["| model | layout input | repeats | mean rank (best first) |", "|---|---|---|---|"]
    (figures / "rankings.md").write_text("\n".join(table + lines) + "\n")
    (figures / "means.md").write_text("\n".join(means_lines) + "\n")
    print("\n".join(table + lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/figure4"))
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--round", type=int, default=10, dest="round_size")
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "figure4")
    args = parser.parse_args()
    if args.summarise:
        summarise(args.out, args.figures, args.repeats)
    else:
        run(args.out, args.repeats, args.round_size)


if __name__ == "__main__":
    main()
