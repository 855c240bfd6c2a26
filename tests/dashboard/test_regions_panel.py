"""The explained-regions panel's callback bodies as plain functions (no browser)."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from callbacks import jobs, regions
from layouts.controls import DEFAULTS
from topomap_core.analyses.view import ViewRequest
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute, job_key
from topomap_core.store import Store

FAST = {**DEFAULTS, "per_group": 30, "method": "PCA"}
del FAST["profile"], FAST["metric"]


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
