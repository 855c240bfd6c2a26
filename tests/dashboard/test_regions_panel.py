"""The explained-regions panel's callback bodies as plain functions (no browser)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from callbacks import jobs, regions
from layouts.controls import DEFAULTS
from topomap_core.analyses.view import ViewRequest
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute, job_key
from topomap_core.store import Store

FAST = {**DEFAULTS, "per_group": 30, "method": "PCA"}
del FAST["profile"], FAST["metric"]


def _texts(node) -> list[str]:
    """Every string in a component tree (``str()`` of a component abbreviates)."""
    if isinstance(node, str):
        return [node]
    children = getattr(node, "children", None)
    if children is None:
        return []
    if not isinstance(children, list | tuple):
        children = [children]
    return [text for child in children for text in _texts(child)]


def no_compute(*args):
    raise AssertionError("a job was started")


@pytest.fixture(scope="module")
def stored(demo_dir, tmp_path_factory):
    """A store holding the FAST map view of the demo MLP, and its result-store entry."""
    folder = tmp_path_factory.mktemp("regions-store")
    request = ViewRequest(**FAST)
    result, _ = get_or_compute(JOBS["view"], request, Store(folder))
    key = job_key(JOBS["view"], request, Store(folder))
    return folder, {"request": asdict(request), "key": key}, result


def test_regions_are_outlined_and_a_click_lists_their_neurons(stored):
    folder, map_data, result = stored
    options, group = regions.group_choices(folder, map_data, "3")
    assert group == "3" and [o["value"] for o in options] == result.order.names
    fig, details = regions.panel_view(folder, map_data, "3", 0.098, None, None)
    outlines = [t for t in fig.data if t.type == "contour"]
    assert outlines and "positive" in fig.layout.title.text
    assert "Click a region" in str(details)
    click = {"points": [{"customdata": 1}]}
    assert regions.clicked_region(click) == 1
    assert regions.clicked_region({"points": [{"customdata": 0}]}) is None
    fig, details = regions.panel_view(folder, map_data, "3", 0.098, 1, None)
    text = str(details)
    assert "Region 1" in text and "Neurons: " in text
    assert max(t.line.width for t in fig.data if t.type == "contour") == 3


def test_find_examples_ranks_inputs_and_shows_them(stored):
    folder, map_data, _ = stored
    values = {**FAST, "group": "3", "threshold": 0.098}
    _, request = regions.regions_request(values)
    result, _ = get_or_compute(JOBS["regions"], request, Store(folder))
    assert result.regions and len(result.examples[0]) == request.top
    # The best examples of a region score at least as high as any other example shown.
    assert result.scores[0] == sorted(result.scores[0], reverse=True)
    data, status = jobs.run_job(regions.JOB, values, folder, compute=no_compute)
    assert status.startswith("Loaded the stored top examples")
    _, details = regions.panel_view(folder, map_data, "3", 0.098, 1, data)
    text = str(details)
    assert "Examples that activate it most" in text and "data:image/png;base64," in text
    # A Dense layer has no spatial axes: no optimised input, and the panel says why.
    assert all(image is None for image in result.optimised)
    assert "Optimised input: none (a Dense layer has no spatial axes)" in text


def test_a_conv_region_gets_its_optimised_input(digits_cnn, tmp_path):
    """Issue 15: for convolutional layers, each region's optimised input (activation
    maximisation of its neurons together, the Topographic tab's code) is shown beside its
    examples, and it excites the region far more than the starting noise."""
    values = {**FAST, "model": "demo:digits-cnn", "layer": "conv2", "per_group": 20,
              "group": "0", "threshold": 0.098}  # fmt: skip
    _, request = regions.regions_request(values)
    result, _ = get_or_compute(JOBS["regions"], request, Store(tmp_path))
    with_neurons = [i for i, r in enumerate(result.regions) if r["neurons"]]
    assert with_neurons
    for i in with_neurons:
        assert result.optimised[i].shape == (8, 8, 1)
        start, final = result.optimised_activation[i]
        assert final > start > 0  # a unit silent on the first noise gets a louder start
    gains = [result.optimised_activation[i][1] / result.optimised_activation[i][0]
             for i in with_neurons]  # fmt: skip
    assert np.median(gains) > 5
    view_request = ViewRequest(**{k: v for k, v in values.items() if k in FAST})
    view, _ = get_or_compute(JOBS["view"], view_request, Store(tmp_path))
    map_data = {"request": asdict(view_request), "key": job_key(JOBS["view"], view_request,
                                                               Store(tmp_path))}  # fmt: skip
    data, _ = jobs.run_job(regions.JOB, values, tmp_path, compute=no_compute)
    index = result.regions[with_neurons[0]]["index"]
    _, details = regions.panel_view(tmp_path, map_data, "0", 0.098, index, data)
    text = " ".join(_texts(details))
    assert "Input optimised to excite the region's neurons" in text
    assert "optimised input, 64 steps (activation " in text and "on the starting noise" in text


def _steps(value: float, low: float, step: float) -> float:
    return (value - low) / step


def test_the_threshold_box_starts_valid():
    """Issue 20 item 16: the default 0.098 was no whole number of 0.01 steps above the
    minimum 0.01, so the browser drew the box invalid (red) before anyone typed."""
    from dash import dcc

    from layouts.regions import DEFAULTS as REGION_DEFAULTS
    from layouts.regions import RegionIds, panel

    boxes = []

    def walk(node) -> None:
        if isinstance(node, dcc.Input) and node.id == RegionIds.THRESHOLD:
            boxes.append(node)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list | tuple) else [children]:
            if child is not None and not isinstance(child, str):
                walk(child)

    walk(panel())
    (box,) = boxes
    assert box.value == REGION_DEFAULTS["threshold"] == round(1 - 230 / 255, 4)
    # HTML's step rule: (value - min) / step is a whole number; the maximum fits too.
    for value in (box.value, box.max):
        n = _steps(value, box.min, box.step)
        assert abs(n - round(n)) < 1e-6, (value, box.min, box.step)
