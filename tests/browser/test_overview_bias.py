"""The Overview and Bias tabs in a real browser: opened by a link, run, and drawn."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from support import wait_for, wait_text

from layouts.bias import BiasIds
from layouts.overview import OverviewIds

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


def test_overview_and_bias_views_run_and_draw(app_server, browser):
    shared = "per_group=10&method=PCA"
    browser.get(
        f"{app_server.url}?model=demo:digits-cnn&{shared}&tab=overview&layers=conv1,conv2&draws=5"
    )
    _run(browser, OverviewIds.RUN, OverviewIds.STATUS, OverviewIds.MAPS, 2 * 10)
    curve = browser.execute_script(
        f"return document.querySelector('#{OverviewIds.CURVE} .js-plotly-plot')._fullData[0].x;"
    )
    assert list(curve) == ["conv1", "conv2"]

    browser.get(f"{app_server.url}?model=demo:digits-mlp&{shared}&tab=bias&bias_draws=5")
    _run(browser, BiasIds.RUN, BiasIds.STATUS, BiasIds.MAPS, 2 * 10)
    sentence = browser.find_element(By.ID, BiasIds.SENTENCE).text
    assert "chance in layer 'dense'" in sentence
    assert "× chance" in browser.find_element(By.ID, BiasIds.SCORE).text
