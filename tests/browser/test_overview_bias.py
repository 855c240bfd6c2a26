"""The Overview and Bias tabs in a real browser: opened by a link, run (or stored), drawn."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from support import wait_for, wait_text

from callbacks import bias
from layouts.bias import BiasIds
from layouts.overview import OverviewIds
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import Store

RUN_TIMEOUT = 240


def _heatmaps(driver, graph_id: str) -> int:
    return driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.filter(t => t.type === 'heatmap').length : 0;"
    )


def _run(driver, run_id: str, status_id: str, graph_id: str, n_maps: int) -> None:
    wait_for(driver, lambda d: d.find_element(By.ID, run_id).is_displayed(), 60, "no Run button")
    driver.find_element(By.ID, run_id).click()
    wait_text(driver, f"#{status_id}", "Done in", RUN_TIMEOUT)
    wait_for(
        driver,
        lambda d: _heatmaps(d, graph_id) == n_maps,
        60,
        f"#{graph_id} never showed {n_maps} maps",
    )


def test_overview_runs_and_the_bias_view_opens_drawn(app_server, browser, monkeypatch):
    shared = "per_group=10&method=PCA"
    # The MLP (the demo model the test servers have trained): its Dense layers, by default.
    browser.get(f"{app_server.url}?model=demo:digits-mlp&{shared}&tab=overview&draws=5")
    _run(browser, OverviewIds.RUN, OverviewIds.STATUS, OverviewIds.MAPS, 2 * 10)
    curve = browser.execute_script(
        f"return document.querySelector('#{OverviewIds.CURVE} .js-plotly-plot')._fullData[0].x;"
    )
    assert list(curve) == ["dense", "output"]
    # The sidebar's model is the one analysed: its section stays shown on this tab.
    assert browser.find_element(By.CSS_SELECTOR, ".panel-model").is_displayed()

    # The bias result, computed here into the server's store (one cold job process less: the
    # Run path is the overview's above), is what its link opens: drawn without a job.
    monkeypatch.setenv("TOPOMAPS_DATA_DIR", str(app_server.data_dir))
    values = dict(model="demo:digits-mlp", data="demo:digits", layer="dense", groups="label",
                  per_group=10, method="PCA", seed=0, draws=5)  # fmt: skip
    job, request = bias.bias_request(values)
    get_or_compute(job, request, Store(app_server.data_dir))
    browser.get(f"{app_server.url}?model=demo:digits-mlp&{shared}&tab=bias&bias_draws=5")
    wait_text(browser, f"#{BiasIds.STATUS}", "stored result", 60)
    wait_for(browser, lambda d: _heatmaps(d, BiasIds.MAPS) == 2 * 10, 60, "no bias maps")
    sentence = browser.find_element(By.ID, BiasIds.SENTENCE).text
    assert "chance in layer 'dense'" in sentence
    assert "× chance" in browser.find_element(By.ID, BiasIds.SCORE).text
