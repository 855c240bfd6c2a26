"""Run-to-Done on the demo, as a user feels it: this tree against an earlier commit, side by side.

    python benchmarks/bench_run_to_done.py --before c5deae8 [--rounds 2]

For each version (the earlier commit checked out into a temporary git worktree, and this
tree), one round is: start ``python app.py`` on a fresh data directory (demo models copied in,
not trained), open the default view in headless Chromium, press Run as soon as the button is
enabled ("first run after start"), then run other views one after the other ("later runs":
UMAP_PSO with seeds 1 and 2, then PCA_PSO, SOM_PSO and TSNE_PSO), each timed from the click to
"Done in" on the page. The versions alternate round by round, so both see the same machine.
Between later runs the page waits like a user reading a result: until this tree's spare job
process is warm again (at most ``--think`` seconds, the same pause for the earlier commit).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LATER = [("UMAP_PSO", 1), ("UMAP_PSO", 2), ("PCA_PSO", 0), ("SOM_PSO", 0), ("TSNE_PSO", 0)]


def _support():
    """``tests/support.py`` (servers, Chromium), loaded from its file."""
    spec = importlib.util.spec_from_file_location("support", ROOT / "tests" / "support.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["support"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _run(support, driver, url: str, timeout: float = 240) -> float:
    """Seconds from the click on Run to "Done in"; ``inf`` when it never came (a hang)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By

    driver.get(url)
    support.wait_for(driver, lambda d: d.find_element(By.ID, "run-button").is_enabled(), 120)
    support.wait_for(
        driver,
        lambda d: any(
            t in d.find_element(By.ID, "status").text for t in ("Not computed", "stored result")
        ),
        120,
    )
    t0 = time.perf_counter()
    driver.find_element(By.ID, "run-button").click()
    # A run that never says "Done" (the earlier commit's first run could hang) counts as inf.
    try:
        support.wait_text(driver, "#status", "Done in", timeout)
    except TimeoutException:
        return float("inf")
    return time.perf_counter() - t0


def _spare_ready(data_dir: Path, timeout: float) -> None:
    from topomap_core.jobs.spares import spare_dir

    folder = spare_dir(data_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not list(folder.glob("ready-*.sock")):
        time.sleep(0.2)


def one_round(support, name: str, tree: Path, tmp: Path, think: float) -> dict[str, float]:
    data_dir = tmp / f"{name}-data-{time.monotonic_ns()}"
    env = {"TOPOMAPS_SPARE_WORKERS": "1"}
    server = support.launch_app(
        data_dir, tmp / f"{name}.log", [sys.executable, str(tree / "app.py")], env=env
    )
    # The earlier commit's app finds its own modules first (its folder is sys.path[0]).
    driver = support.make_chrome(tmp / f"chrome-{name}")
    times: dict[str, float] = {}
    try:
        times["first"] = _run(support, driver, server.url)
        for method, seed in LATER:
            if name == "after":
                _spare_ready(data_dir, think)
            else:
                time.sleep(min(think, 20))
            times[f"{method} seed {seed}"] = _run(
                support, driver, f"{server.url}?method={method}&seed={seed}"
            )
    finally:
        driver.quit()
        support.remove_profile(tmp / f"chrome-{name}")
        server.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the earlier commit (e.g. c5deae8)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--think", type=float, default=60, help="most seconds between runs")
    args = parser.parse_args()
    support = _support()
    tmp = Path(tempfile.mkdtemp(prefix="bench-run-to-done-"))
    before_tree = tmp / "before"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(before_tree), args.before],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    try:
        for _ in range(args.rounds):
            for name, tree in (("before", before_tree), ("after", ROOT)):
                results[name].append(one_round(support, name, tree, tmp, args.think))
                print(name, {k: round(v, 1) for k, v in results[name][-1].items()}, flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before_tree)], cwd=ROOT)
        shutil.rmtree(tmp, ignore_errors=True)
    keys = list(results["after"][0])
    print(f"\n{'Run':22s} {'before s':>10s} {'after s':>10s} {'before/after':>12s}")
    for key in keys:
        b = statistics.median(r[key] for r in results["before"])
        a = statistics.median(r[key] for r in results["after"])
        ratio = f"{b / a:11.1f}x" if a != float("inf") else "          -"
        print(f"{key:22s} {b:10.1f} {a:10.1f} {ratio}")
    print(f"(median of {args.rounds} rounds; {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
