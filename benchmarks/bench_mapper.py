"""Mapper graphs at scale: 1,797 digits, 20,000 synthetic 512-d vectors, and the browser
drawing of a graph with 1,000+ nodes (docs/PERFORMANCE.md).

Run from the repository root, limited to two cores as the goal says::

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 taskset -c 0,1 python benchmarks/bench_mapper.py

Prints the seconds per stage (lens, eps, clustering + links, drawing positions) for each data
set, and for the browser the time Plotly takes to draw the tab's figure (SVG scatter) of a
graph with about 1,000 and 2,000 nodes, and to redraw it with a search highlight, in headless
Chromium. Not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from topomap_core.shape.mapper import knee_eps, lens_values, mapper_graph

ROOT = Path(__file__).resolve().parent.parent


def _support():
    """``tests/support.py`` (Chromium), loaded from its file."""
    spec = importlib.util.spec_from_file_location("support", ROOT / "tests" / "support.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["support"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def timed_graph(name: str, vectors: np.ndarray, labels: np.ndarray, **settings) -> dict:
    """Time each stage of one graph and print one line."""
    t0 = time.perf_counter()
    lens = lens_values(vectors, settings.pop("lens", "l2norm"))
    t1 = time.perf_counter()
    eps = knee_eps(vectors, settings.get("min_samples", 5), 0)
    t2 = time.perf_counter()
    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(stage, done, total):
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - last[0]
        last[0] = now

    graph = mapper_graph(vectors, lens, eps=eps, progress=progress, **settings)
    t3 = time.perf_counter()
    from topomap_core.shape.mapper import mean_purity

    purity = mean_purity(graph, labels)["majority"]
    print(
        f"{name:<34} n={len(vectors):>6} d={vectors.shape[1]:>4}: lens {t1 - t0:6.2f} s, "
        f"eps {t2 - t1:6.2f} s, graph {t3 - t2:6.2f} s (positions "
        f"{stages.get('layout', 0):.2f} s); total {t3 - t0:6.2f} s; {graph.n_nodes} nodes, "
        f"{len(graph.links)} links, purity {purity:.2f}"
    )
    return {"graph": graph, "total": t3 - t0}


def synthetic(n: int, dims: int, clusters: int = 10, seed: int = 0):
    """Gaussian clusters of ReLU-like activations (non-negative, different norms)."""
    rng = np.random.RandomState(seed)
    centres = np.abs(rng.normal(0, 1, size=(clusters, dims))) * rng.uniform(0.5, 2, (clusters, 1))
    labels = rng.randint(0, clusters, size=n)
    x = np.maximum(centres[labels] + rng.normal(0, 0.3, size=(n, dims)), 0)
    return x.astype(np.float32), labels


def browser_drawing(n_nodes_list=(1000, 2000)) -> None:
    """Plotly's drawing time of the tab's figure for big graphs, in headless Chromium."""

    import plotly

    support = _support()
    make_chrome, remove_profile = support.make_chrome, support.remove_profile
    from layouts.figures.mapper import graph_figure
    from topomap_core.analyses.mapper import MapperRequest, MapperResult
    from topomap_core.shape.mapper import MapperGraph

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    folder = Path(tempfile.mkdtemp(prefix="bench-mapper-"))
    driver = make_chrome(folder / "profile")
    try:
        for n in n_nodes_list:
            rng = np.random.RandomState(0)
            sizes = rng.randint(5, 60, size=n)
            members = [np.sort(rng.choice(20000, size, replace=False)) for size in sizes]
            chain = [(i, i + 1) for i in range(n - 1)]
            links = np.array(chain + [(i, i + 7) for i in range(n - 7)])
            graph = MapperGraph(
                node_ids=[f"cube{i // 10}_cluster{i % 10}" for i in range(n)],
                members=members,
                links=links,
                shared=np.ones(len(links), int),
                jaccard=np.full(len(links), 0.2),
                mean_norm=rng.rand(n),
                eps=1.0,
                n_examples=20000,
                n_noise=0,
                positions=rng.rand(n, 2),
            )
            labels = rng.randint(0, 10, 20000)
            result = MapperResult(
                MapperRequest(), ["layer"], [graph], np.arange(20000), labels, None, None
            )
            fig = graph_figure(result)
            lit = graph_figure(result, highlight=set(range(0, n, 3)))
            page = folder / f"graph{n}.html"
            page.write_text(
                f"<html><body><div id='g' style='width:900px;height:560px'></div>"
                f"<script src='file://{plotly_js}'></script><script>"
                f"const fig = {fig.to_json()}; const lit = {lit.to_json()};"
                "const t0 = performance.now();"
                "Plotly.newPlot('g', fig.data, fig.layout).then(() => {"
                " window.first = performance.now() - t0; const t1 = performance.now();"
                " Plotly.react('g', lit.data, lit.layout).then(() => {"
                "  window.again = performance.now() - t1; });});"
                "</script></body></html>"
            )
            driver.get(page.as_uri())
            for _ in range(600):
                again = driver.execute_script("return window.again")
                if again is not None:
                    break
                time.sleep(0.1)
            first = driver.execute_script("return window.first")
            print(
                f"browser: {n} nodes, {len(links)} links: first drawing {first:.0f} ms, "
                f"redraw with a search highlight {again:.0f} ms (SVG scatter)"
            )
    finally:
        driver.quit()
        remove_profile(folder / "profile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.data.astype(np.float32)
    for lens in ("l2norm", "pca"):
        timed_graph(f"digits pixels, lens {lens}", pixels, digits.target, lens=lens)
    x, labels = synthetic(20000, 512)
    for lens in ("l2norm", "pca"):
        timed_graph(f"synthetic 512-d, lens {lens}", x, labels, lens=lens)
    if not args.skip_browser:
        browser_drawing()


if __name__ == "__main__":
    main()
