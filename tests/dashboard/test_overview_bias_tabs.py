"""The Overview and Bias tabs: callback bodies as plain functions, and their links."""

from __future__ import annotations

import pytest

from app import TABS
from callbacks import bias, jobs, overview, url
from layouts.controls import DEFAULTS
from topomap_core.analyses.bias import BiasRequest
from topomap_core.analyses.overview import OverviewRequest
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import Store

SHARED = {
    "model": "demo:digits-cnn", "data": "demo:digits", "groups": "label", "random_groups": 0,
    "per_group": 10, "method": "PCA", "seed": 0, "nap": "mean", "nap_class": "true",
}  # fmt: skip
OVERVIEW = {**SHARED, "layers": "conv2, conv1", "draws": 5}
BIAS = {**SHARED, "layer": "conv2", "random_groups": 3, "draws": 5}


def no_compute(*args):
    raise AssertionError("a job was started")


@pytest.fixture(scope="module")
def stored(demo_dir, tmp_path_factory):
    """A store holding the overview and the bias result the controls above ask for."""
    folder = tmp_path_factory.mktemp("overview-bias-store")
    store = Store(folder)
    _, request = overview.overview_request(OVERVIEW)
    get_or_compute(JOBS["overview"], request, store)
    _, request = bias.bias_request(BIAS)
    get_or_compute(JOBS["bias"], request, store)
    return folder


def test_the_controls_make_the_requests():
    _, request = overview.overview_request(OVERVIEW)
    assert isinstance(request, OverviewRequest) and request.layers == ("conv2", "conv1")
    _, request = overview.overview_request({**OVERVIEW, "layers": ""})
    assert request.layers is None  # every Dense and Conv layer
    # The sidebar's random groups are not the bias view's: it draws its own.
    _, request = bias.bias_request(BIAS)
    assert isinstance(request, BiasRequest) and request.random_groups == 0


def test_the_overview_shows_one_row_per_layer_and_the_curve(stored):
    data, status = jobs.run_job(overview.JOB, OVERVIEW, stored, compute=no_compute)
    assert status == "Loaded the stored overview: 2 layers, 10 groups."
    maps, curve, notes = overview.overview_views(stored, data)
    assert len(maps.data) == 2 * 10
    # Holm's correction for the two layers is said, and marks the curve (filled: it holds).
    assert any("after Holm's correction for 2 layers" in str(p.children) for p in notes)
    assert curve.data[0].marker.color[0] in ("white", curve.data[0].line.color)
    assert list(curve.data[0].x) == ["conv1", "conv2"]  # depth order, whatever was typed
    assert all(score > 1 for score in curve.data[0].y)
    titles = [maps.layout[f"yaxis{k}"].title.text for k in (1, 11)]
    assert titles[0].startswith("<b>conv1</b>") and titles[1].startswith("<b>conv2</b>")


def test_the_bias_view_shows_the_score_its_sentence_and_both_rows(stored):
    data, status = jobs.run_job(bias.JOB, BIAS, stored, compute=no_compute)
    assert status == "Loaded the stored result: 10 groups, 5 random draws."
    score, sentence, score_fig, maps = bias.bias_views(stored, data)
    assert score.split("×")[0] == f"{float(score.split('×')[0]):.2f}"
    assert "chance" in score and "in layer 'conv2'" in sentence
    assert len(score_fig.data[0].x) == 5
    assert len(maps.data) == 20  # ten groups above ten random groups


def test_no_result_and_a_bad_control_say_what_to_do(tmp_path):
    maps, _, notes = overview.overview_views(tmp_path, None)
    assert notes == []
    assert "press Run" in maps.layout.annotations[0].text
    data, status = jobs.run_job(overview.JOB, {**OVERVIEW, "draws": 1}, tmp_path, no_compute)
    assert data is None and status.startswith("Run failed: Random draws 1 (must be between 2")
    data, status = jobs.run_job(bias.JOB, {**BIAS, "layer": "x y"}, tmp_path, no_compute)
    assert data is None and status.startswith("Run failed: ")


def test_links_carry_the_layers_and_draws_and_refuse_bad_ones():
    parsed = url.parse_query("?tab=overview&layers=conv1,conv2&draws=7&bias_draws=9", TABS)
    assert parsed.values["layers"] == "conv1,conv2" and parsed.values["draws"] == 7
    assert parsed.values["bias_draws"] == 9 and parsed.warnings == []
    values = {**DEFAULTS, "tab": "overview", "layers": "conv1,conv2", "draws": 7}
    assert "&tab=overview&layers=conv1%2Cconv2&draws=7" in url.to_query(values, TABS)
    many = ",".join(f"l{i}" for i in range(65))
    parsed = url.parse_query(f"?tab=bias&bias_draws=1&layers={many}", TABS)
    assert parsed.values["bias_draws"] == bias.layout.DEFAULTS["draws"]
    assert parsed.values["layers"] is None
    assert "random draws 1 (must be between 2" in parsed.warnings[0]
    assert "layers has 65 names (at most 64)" in parsed.warnings[1]
