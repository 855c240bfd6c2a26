"""Method evaluation (paper Figure 4), the fifth metric, and the layout input choice."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from topomap_core.analyses.evaluate import EvaluateRequest, evaluate_nap, rank_methods
from topomap_core.analyses.placing import layout_profile
from topomap_core.analyses.topomap import nap_key
from topomap_core.analyses.view import ViewRequest
from topomap_core.cli import main
from topomap_core.jobs.registry import get_job
from topomap_core.placement import compute_layout
from topomap_core.profiles.metrics import METRICS, coverage_cv
from topomap_core.profiles.nap import NAP


@pytest.fixture(scope="module")
def clustered():
    """A NAP of 6 groups over 90 neurons in three clusters (a dense layer's shape)."""
    rng = np.random.RandomState(0)
    centres = rng.normal(size=(3, 6))
    labels = np.repeat([0, 1, 2], 30)
    values = (centres[labels] + 0.2 * rng.normal(size=(90, 6))).T
    values -= values.mean(axis=0)
    return NAP([f"g{i}" for i in range(6)], [20] * 6, values)


def test_coverage_cv_is_low_for_a_lattice_and_high_for_clumps():
    g = np.linspace(0, 1, 10)
    lattice = np.array([(x, y) for x in g for y in g])
    rng = np.random.RandomState(0)
    uniform = rng.uniform(size=(100, 2))
    clumps = np.concatenate([c + 0.01 * rng.normal(size=(50, 2)) for c in ((0.1, 0.1), (0.9, 0.8))])
    assert coverage_cv(lattice) < 1e-9
    assert 0.35 < coverage_cv(uniform) < 0.7  # about 0.52 for a Poisson process
    assert coverage_cv(clumps) > coverage_cv(uniform)


def test_random_layout_ranks_last_on_the_five_metrics(clustered):
    request = EvaluateRequest(layer="d", methods="random,baseline,PCA_PSO", repeats=2, seed=1)
    result = evaluate_nap(clustered, request, n_steps=150)
    assert result.values.shape == (3, 2, len(METRICS)) and np.all(np.isfinite(result.values))
    assert [row["method"] for row in result.ranking][-1] == "random"
    assert set(result.ranking[-1]["ranks"]) == set(METRICS)


def test_rank_methods_follows_each_metrics_direction():
    means = {
        "a": dict(zip(METRICS, [1, 1, 1, 900, 0.1], strict=True)),  # best everywhere
        "b": dict(zip(METRICS, [2, 2, 2, 800, float("nan")], strict=True)),  # NaN is worst
        "c": dict(zip(METRICS, [3, 3, 3, 700, 0.2], strict=True)),
    }
    ranking = rank_methods(means)
    assert [r["method"] for r in ranking] == ["a", "b", "c"]
    assert ranking[0]["mean_rank"] == 1.0 and ranking[1]["ranks"]["coverage_cv"] == 3.0


def test_layout_input_is_part_of_the_view_key_not_the_naps(clustered):
    job = get_job("view")
    nap_in = job.validate({"layer": "dense"})
    dist_in = job.validate({"layer": "dense", "layout_input": "distances"})
    assert nap_in.layout_input == "nap" and dist_in.layout_input == "distances"
    assert job.key_parts(nap_in) != job.key_parts(dist_in)
    assert nap_key("m", "d", "dense", nap_in) == nap_key("m", "d", "dense", dist_in)
    profile = clustered.profile()
    rows = layout_profile(profile, dist_in)
    assert rows.shape == (90, 90) and np.allclose(rows, rows.T)
    a = compute_layout(layout_profile(profile, nap_in), "PCA", random_state=0)
    b = compute_layout(rows, "PCA", random_state=0)
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match=r"nknown layout input 'rows' \(use one of nap, dist"):
        job.validate({"layer": "dense", "layout_input": "rows"})
    assert ViewRequest().layout_input == "nap"


def _evaluate(capsys, out_dir, *extra):
    argv = ["evaluate", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer",
            "dense", "--per-group", "10", "--methods", "random,pca", "--repeats", "2",
            "--seed", "5", "--out", str(out_dir), "--quiet", *extra]  # fmt: skip
    code = main(argv)
    return code, *capsys.readouterr()


def test_evaluate_command_writes_csv_and_figure_and_ranks_the_same_twice(
    capsys, demo_dir, tmp_path
):
    code, out, err = _evaluate(capsys, tmp_path / "a")
    assert code == 0, err
    with (tmp_path / "a" / "evaluation.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("random", "5"), ("random", "6"), ("PCA", "5"), ("PCA", "6"),
    ]  # fmt: skip
    assert set(METRICS) <= set(rows[0])
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["methods"] == "random,PCA" and summary["n_neurons"] == 128
    assert (tmp_path / "a" / "violins.png").read_bytes()[:4] == b"\x89PNG"
    assert "mean rank over 5 metrics: " in out
    code, _, err = _evaluate(capsys, tmp_path / "b")
    assert code == 0, err
    # Same seed, same numbers, same ranking.
    ranking = [(tmp_path / d / "ranking.csv").read_text() for d in "ab"]
    assert ranking[0] == ranking[1] and len(ranking[0].splitlines()) == 3
    metrics = [
        [line.rsplit(",", 1)[0] for line in (tmp_path / d / "evaluation.csv").read_text().split()]
        for d in "ab"
    ]  # every column but the layout's seconds
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize(
    "extra, text",
    [
        (("--methods", "PCA,umap-pso"), "unknown method 'umap-pso'"),
        (("--methods", "PCA,pca"), "names pca twice"),
        (("--repeats", "0"), "repeats 0 (must be between 1 and 1000)"),
        (("--layout-input", "rows"), "unknown layout input 'rows'"),
    ],
)
def test_evaluate_bad_input_exits_2_with_one_line(capsys, tmp_path, extra, text):
    code = main(["evaluate", "--model", "demo:digits-mlp", "--data", "demo:digits",
                 "--layer", "dense", "--out", str(tmp_path), *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and text in err.lower(), err
