"""Explained regions: connected strong regions of a map and the neurons inside them."""

from __future__ import annotations

import numpy as np
import pytest

from topomap_core.analyses.placing import draw
from topomap_core.errors import TopomapError
from topomap_core.profiles.regions import DEFAULT_THRESHOLD, find_regions


@pytest.fixture(scope="module")
def planted():
    """Neurons on a jittered 12 x 12 grid, weak noise everywhere, and two planted blobs: a
    strongly positive one at the lower left and a strongly negative one at the upper right."""
    rng = np.random.RandomState(0)
    g = np.linspace(0.0, 1.0, 12)
    xy = np.array([(x, y) for y in g for x in g]) + rng.uniform(-0.01, 0.01, size=(144, 2))
    xy = np.clip(xy, 0.0, 1.0)
    values = 0.02 * rng.normal(size=144)
    pos = np.flatnonzero(np.hypot(xy[:, 0] - 0.25, xy[:, 1] - 0.25) < 0.17)
    neg = np.flatnonzero(np.hypot(xy[:, 0] - 0.72, xy[:, 1] - 0.7) < 0.2)
    values[pos] = 1.0 + 0.1 * rng.uniform(size=pos.size)
    values[neg] = -0.8 - 0.1 * rng.uniform(size=neg.size)
    return xy, values, set(pos.tolist()), set(neg.tolist())


def test_two_planted_blobs_are_found_with_exactly_their_neurons(planted):
    xy, values, pos, neg = planted
    maps, vmax = draw(xy, values[None], dtype=np.float64)
    labels, regions = find_regions(maps[0], xy, values, vmax)
    assert [r.sign for r in regions] == [1, -1]
    assert set(regions[0].neurons) == pos and set(regions[1].neurons) == neg
    assert len(pos) >= 4 and len(neg) >= 4
    # Outlined where they are: the positive blob lower left, the negative one upper right.
    assert regions[0].centre[0] < 0.5 and regions[0].centre[1] < 0.5
    assert regions[1].centre[0] > 0.5 and regions[1].centre[1] > 0.5
    assert {int(v) for v in np.unique(labels)} == {0, 1, 2}
    assert regions[0].size_px == int(np.sum(labels == 1)) and regions[0].mean_value > 0


def test_threshold_is_adjustable_and_checked(planted):
    xy, values, pos, _ = planted
    maps, vmax = draw(xy, values[None], dtype=np.float64)
    # Above the negative blob's strength (0.8-0.9 of vmax ~1.1) only the positive one is left.
    _, regions = find_regions(maps[0], xy, values, vmax, threshold=0.85)
    assert [r.sign for r in regions] == [1] and set(regions[0].neurons) <= pos
    assert DEFAULT_THRESHOLD == pytest.approx(25 / 255)
    with pytest.raises(TopomapError, match="threshold must be between 0 and 1"):
        find_regions(maps[0], xy, values, vmax, threshold=1.5)


@pytest.mark.parametrize(
    "extra, text",
    [
        (("--threshold", "1.5"), "region threshold 1.5 (must be between 0.01 and 0.99)"),
        (("--top", "0"), "examples per region 0 (must be between 1 and 32)"),
    ],
)
def test_regions_bad_input_exits_2_with_one_line(capsys, tmp_path, extra, text):
    from topomap_core.cli import main

    argv = ["regions", "--model", "demo:digits-cnn", "--data", "demo:digits", "--layer",
            "conv1", "--group", "3", "--out", str(tmp_path), *extra]  # fmt: skip
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and text in err.lower(), err


def test_regions_command_writes_each_conv_regions_optimised_input(digits_cnn, tmp_path):
    """For a convolutional layer the command also writes every region's optimised input."""
    import json

    from topomap_core.cli import main

    argv = ["regions", "--model", "demo:digits-cnn", "--data", "demo:digits", "--layer",
            "conv1", "--group", "3", "--per-group", "10", "--method", "PCA",
            "--optimise-steps", "8", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "regions.json").read_text())
    with_neurons = [r for r in summary["regions"] if r["neurons"]]
    assert with_neurons
    with np.load(tmp_path / "optimised_inputs.npz") as arrays:
        assert sorted(arrays.files) == sorted(f"region_{r['index']}" for r in with_neurons)
        assert all(arrays[name].shape == (8, 8, 1) for name in arrays.files)
    for region in with_neurons:
        start, final = region["optimised_activation"]
        assert final > start > 0
    # Issue 20 item 17: and the group's map with its regions outlined.
    from PIL import Image

    picture = np.asarray(Image.open(tmp_path / "regions.png").convert("RGB"))
    assert picture.shape[1] == 400 and picture.shape[0] > 400
    assert (picture == 0).all(axis=-1).sum() > 200  # outlines (and the title) in black


def test_the_regions_picture_outlines_each_region_as_the_panel_does(planted):
    """Issue 20 item 17: the `regions` command wrote no picture. The map with its regions
    outlined: solid around the positive one, dashed around the negative one, inside them
    the map's own colours."""
    from topomap_core.profiles.render import _outline, render_regions

    xy, values, _, _ = planted
    maps, vmax = draw(xy, values[None], dtype=np.float64)
    labels, regions = find_regions(maps[0], xy, values, vmax)
    dicts = [r.to_dict() for r in regions]
    image = np.asarray(render_regions(maps[0], vmax, labels, dicts, title="group 3", size=400))
    band = image.shape[0] - 400
    assert image.shape[1] == 400 and band > 10
    picture = image[band:]
    big = np.kron(labels, np.ones((4, 4), dtype=int))  # 100 px -> 400 px
    black = (picture == 0).all(axis=-1)
    solid, dashed = _outline(big == 1), _outline(big == 2)
    assert black[solid].mean() > 0.95  # the positive region: one unbroken outline
    assert 0.3 < black[dashed].mean() < 0.7  # the negative one: dashes
    inside = (big == 1) & ~solid
    cx, cy = (round(c * 399) for c in (dicts[0]["centre"][0], 1 - dicts[0]["centre"][1]))
    inside[cy - 15 : cy + 15, cx - 15 : cx + 15] = False  # not the region's number
    reds = picture[inside]
    assert (reds[:, 0] > reds[:, 2]).mean() > 0.9  # the map shows through, red
    assert (image[:band] < 128).any()  # the title is drawn
