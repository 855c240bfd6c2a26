"""The Evaluate tab's callback bodies as plain functions (no browser)."""

from __future__ import annotations

import pytest

from app import TABS
from callbacks import evaluate, jobs
from layouts.controls import DEFAULTS
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import Store

TINY = {
    **{name: DEFAULTS.get(name) for name, _ in evaluate.INPUTS if name in DEFAULTS},
    "per_group": 20,
    "methods": "random,PCA",
    "repeats": 2,
    "layout_input": "nap",
}


def no_compute(*args):
    raise AssertionError("a job was started")


@pytest.fixture(scope="module")
def stored(demo_dir, tmp_path_factory):
    """A store holding the TINY evaluation of the demo MLP."""
    folder = tmp_path_factory.mktemp("evaluate-store")
    _, request = evaluate.evaluate_request(TINY)
    get_or_compute(JOBS["evaluate"], request, Store(folder))
    return folder


def test_the_tab_is_listed_and_its_request_comes_from_the_page():
    assert "evaluate" in [tab.pane.value for tab in TABS]
    _, request = evaluate.evaluate_request({**TINY, "methods": "pca, random"})
    assert request.methods == "PCA,random" and request.layer == DEFAULTS["layer"]


def test_stored_evaluation_is_shown_with_violins_and_ranking(stored):
    data, status = jobs.run_job(evaluate.JOB, TINY, stored, compute=no_compute)
    assert status.startswith("Loaded the stored result: 2 methods × 2 repeats on 128 neurons")
    fig, table = evaluate.evaluation_view(stored, data)
    violins = [t for t in fig.data if t.type == "violin"]
    assert len(violins) == 2 * 5 and {t.name for t in violins} == {"random", "PCA"}
    rows = table.children[1].children
    assert [row.children[1].children for row in rows] == [r["method"] for r in _ranking(stored)]


def _ranking(folder):
    from topomap_core.jobs.results import cached

    _, request = evaluate.evaluate_request(TINY)
    return cached(JOBS["evaluate"], request, Store(folder)).ranking


def test_bad_methods_fail_in_one_line_before_any_job(tmp_path):
    data, status = jobs.run_job(evaluate.JOB, {**TINY, "methods": "PCA,nope"}, tmp_path,
                                compute=no_compute)  # fmt: skip
    assert data is None and status.startswith("Evaluation failed: Unknown method 'nope'")
    assert "\n" not in status
    fig, _ = evaluate.evaluation_view(tmp_path, None)
    assert "No evaluation yet" in fig.layout.annotations[0].text


def test_ranking_numbers_are_written_alike_and_headers_sit_over_them():
    """Issue 20 item 19: the table mixed ``1e+04`` and ``9661``; the status said "press Run"
    by a button labelled Evaluate."""
    from pathlib import Path

    from layouts.evaluate import ranking_table
    from layouts.figures.evaluate import format_value

    assert [format_value(v) for v in (10000.0, 9661.2, 123.456, 0.5, 0.0, 2e-5)] == [
        "10,000", "9,661", "123.5", "0.5", "0", "2.00e-05",
    ]  # fmt: skip
    table = ranking_table([["#", "method", "mean rank", "Blur"], ["1", "PCA", "1.50", "9,661"]])
    head, body = table.children
    headers = [th.className for th in head.children.children]
    assert headers == ["num", "", "num", "num"]
    assert [td.className for td in body.children[0].children] == headers
    css = (Path(__file__).resolve().parents[2] / "assets" / "style.css").read_text()
    assert "table.metrics thead th.num {\n  text-align: right;" in css
    assert evaluate.JOB.not_computed == "Not computed yet — press Evaluate."


def test_a_setting_not_evaluated_yet_says_to_press_evaluate(tmp_path):
    data, status = jobs.cached_job(evaluate.JOB, TINY, tmp_path)
    assert data is None and status == "Not computed yet — press Evaluate."
