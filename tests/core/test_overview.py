"""The whole-network overview: separation along the demo CNN's depth, its outputs, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from topomap_core.analyses.overview import OverviewRequest
from topomap_core.analyses.view import ViewRequest
from topomap_core.cli import main
from topomap_core.errors import TopomapError
from topomap_core.jobs.registry import JOBS
from topomap_core.profiles.separation import ExamplePool, describe, separation


def test_separation_is_one_for_shuffled_groups_and_grows_with_the_gap():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 30)
    noise = rng.normal(size=(120, 16))
    centres = rng.normal(size=(4, 16))
    apart = ExamplePool(noise + 2.0 * centres[labels], labels, list("abcd"))
    mixed = ExamplePool(noise, labels, list("abcd"))

    far = separation(apart, draws=30, random_state=1)
    chance = separation(mixed, draws=30, random_state=1)
    assert far.score > 3 and far.p_value < 0.05
    assert 0.7 < chance.score < 1.3
    low, high = far.spread
    assert low <= far.score <= high
    # Seeded: the same draws again.
    np.testing.assert_array_equal(separation(apart, 30, 1).random, far.random)
    # The sentence: more than chance, even with too few draws for a 5 % test; or not.
    assert describe(far).startswith(f"The model separates these groups {far.score:.1f}× more")
    few = describe(separation(apart, draws=5, random_state=1))
    assert "more than chance" in few and "all 5 random groupings" in few
    # Each group holds the same examples: no farther apart than any regrouping.
    same = ExamplePool(np.tile(noise[:10], (4, 1)), np.repeat(np.arange(4), 10), list("abcd"))
    assert "no more than chance" in describe(separation(same, draws=30, random_state=1))


def test_separation_needs_two_groups_and_two_draws():
    pool = ExamplePool(np.zeros((4, 3)), np.zeros(4, dtype=int), ["only"])
    with pytest.raises(TopomapError, match="at least two groups"):
        separation(pool, draws=5)
    with pytest.raises(ValueError, match="draws must be at least 2"):
        separation(ExamplePool(np.zeros((4, 3)), np.arange(4) % 2, ["a", "b"]), draws=1)


@pytest.fixture(scope="module")
def cnn_overview(demo_dir, tmp_path_factory):
    """The overview of the demo CNN through the command line (PCA, 20 examples per group)."""
    out = tmp_path_factory.mktemp("overview")
    code = main(
        [
            "overview", "--model", "demo:digits-cnn", "--data", "demo:digits",
            "--per-group", "20", "--method", "PCA", "--profile", "mean", "--draws", "20",
            "--out", str(out), "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    return out


def test_the_demo_cnn_separates_digits_more_in_deeper_layers(cnn_overview):
    with (cnn_overview / "separation.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # Every Dense/Conv layer, in depth order.
    assert [row["layer"] for row in rows] == ["conv1", "conv2", "output"]
    scores = {row["layer"]: float(row["score"]) for row in rows}
    assert scores["conv1"] > 1
    assert scores["conv2"] > scores["conv1"]
    for row in rows:
        assert float(row["score_low"]) <= float(row["score"]) <= float(row["score_high"])
        # 20 asked for, 59 drawn: enough for a 5 % test after Holm's correction for 3 layers.
        assert int(row["draws"]) == 59
        assert float(row["p_holm"]) >= float(row["p_value"])


def test_the_overview_writes_one_group_order_and_a_png(cnn_overview):
    summary = json.loads((cnn_overview / "summary.json").read_text())
    assert sorted(summary["groups"]) == [str(i) for i in range(10)]
    assert summary["layers"] == ["conv1", "conv2", "output"]
    image = Image.open(cnn_overview / "overview.png")
    assert image.format == "PNG" and image.height > image.width / 10


def test_a_trimmed_layer_list_reuses_the_cached_naps_and_layouts(tmp_path, demo_dir):
    from topomap_core.jobs.results import get_or_compute
    from topomap_core.store import Store

    store = Store(tmp_path / "store")
    job = JOBS["overview"]
    base = dict(model="demo:digits-cnn", data="demo:digits", per_group=10, method="PCA",
                profile="mean")  # fmt: skip
    both, _ = get_or_compute(
        job, OverviewRequest(layers=("conv2", "conv1"), draws=5, **base), store
    )
    assert [layer.name for layer in both.layers] == ["conv1", "conv2"]
    assert "load_model" in both.timings
    one, _ = get_or_compute(job, OverviewRequest(layers=("conv2",), draws=5, **base), store)
    # The layer's NAP (the Maps view's cache entry) and layout came from the cache.
    assert "load_model" not in one.timings
    np.testing.assert_array_equal(one.layers[0].layout, both.layers[1].layout)
    # The Maps view of that layer finds the same NAP: no model is loaded.
    view = ViewRequest(**{**base, "layer": "conv2"})
    shown, _ = get_or_compute(JOBS["view"], view, store)
    assert "load_model" not in shown.timings


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--layers", "nope"], "model has no layer 'nope'; valid layers: conv1, "),
        (["--draws", "1"], "draws"),
    ],
)
def test_bad_overview_input_exits_2_with_one_line(capsys, demo_dir, tmp_path, argv, message):
    base = ["overview", "--model", "demo:digits-cnn", "--data", "demo:digits"]
    try:
        code = main([*base, *argv, "--out", str(tmp_path), "--quiet"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err
