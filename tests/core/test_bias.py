"""The bias view: label groups separate more than chance, random groups do not; its outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from topomap_core.analyses.bias import BiasRequest
from topomap_core.cli import main
from topomap_core.io.data import digits_split
from topomap_core.jobs.registry import JOBS


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    """The demo digits with a ``groups`` column of random letters (no attribute of the image)."""
    _, _, x, y = digits_split()
    groups = np.random.default_rng(0).choice(np.array(list("abc")), size=len(y))
    path = tmp_path_factory.mktemp("bias") / "digits.npz"
    np.savez(path, x=x, y=y, groups=groups)
    return path


def _bias(data, groups):
    request = BiasRequest(
        model="demo:digits-mlp", data=str(data), layer="dense", groups=groups,
        per_group=30, method="PCA", draws=40,
    )  # fmt: skip
    return JOBS["bias"].run(request)


def test_label_groups_separate_clearly_more_than_chance(demo_dir):
    result = _bias("demo:digits", "label")
    sep = result.separation
    assert sep.score > 1.5 and sep.spread[0] > 1.2
    assert sep.p_value < 0.05
    assert "more than chance" in result.sentence and "no more" not in result.sentence
    # The random groups drawn beside the real ones: as many, of the same sizes, one scale.
    assert result.maps.shape == result.random_maps.shape
    assert len(result.random_names) == len(result.group_names) == 10


def test_random_column_groups_stay_near_chance(demo_dir, digits_npz):
    result = _bias(digits_npz, "column")
    assert sorted(result.group_names) == ["a", "b", "c"]
    assert 0.6 < result.separation.score < 1.4
    low, high = result.separation.spread
    assert low < 1 < high


def test_bias_command_writes_the_score_and_its_draws(capsys, demo_dir, digits_npz, tmp_path):
    code = main(
        [
            "bias", "--model", "demo:digits-mlp", "--data", str(digits_npz), "--layer", "dense",
            "--groups", "column", "--per-group", "20", "--method", "PCA", "--draws", "10",
            "--out", str(tmp_path), "--quiet",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["draws"] == 10 and summary["sentence"] in out
    with (tmp_path / "draws.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10
    ratios = [float(row["score"]) for row in rows]
    assert min(ratios) <= summary["score"] * 1.0001 and max(ratios) >= summary["score"] / 1.0001
    assert (tmp_path / "maps.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--groups", "column"], "group mode 'column' needs a 'groups' array"),
        (["--draws", "0"], "draws"),
        (["--layer", "nope"], "model has no layer 'nope'"),
    ],
)
def test_bad_bias_input_exits_2_with_one_line(capsys, demo_dir, tmp_path, argv, message):
    base = ["bias", "--model", "demo:digits-mlp", "--data", "demo:digits", "--layer", "dense"]
    try:
        code = main([*base, *argv, "--out", str(tmp_path), "--quiet"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err
