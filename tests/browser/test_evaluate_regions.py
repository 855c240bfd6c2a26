"""The Evaluate tab and the explained-regions panel in a real headless Chromium (issue 15)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from support import wait_for, wait_text

from layouts.evaluate import EvaluateIds
from layouts.ids import ID
from layouts.regions import RegionIds

RUN_TIMEOUT = 300


def _types(driver, graph_id: str) -> list[str]:
    return driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.map(t => t.type) : [];"
    )


def _click(driver, element_id: str) -> None:
    el = driver.find_element(By.ID, element_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    driver.execute_script("arguments[0].click();", el)


def test_evaluate_the_demo_and_outline_its_regions(app_server, browser):
    # The Evaluate tab from a link: two methods, two repeats, on the demo MLP's dense layer.
    browser.get(
        app_server.url + "?method=PCA&per_group=20&tab=evaluate&methods=random,PCA&repeats=2"
    )
    wait_for(browser, lambda d: d.find_elements(By.ID, EvaluateIds.RUN), 60, "no Evaluate tab")
    wait_for(
        browser,
        lambda d: d.find_element(By.ID, EvaluateIds.METHODS).get_attribute("value") == "random,PCA",
        60,
        "the link's methods never reached the tab",
    )
    _click(browser, EvaluateIds.RUN)
    wait_text(browser, f"#{EvaluateIds.STATUS}", "2 methods × 2 repeats", RUN_TIMEOUT)
    wait_for(
        browser, lambda d: _types(d, EvaluateIds.GRAPH).count("violin") == 10, 60, "no violins"
    )
    ranking = browser.find_element(By.ID, EvaluateIds.RANKING).text
    assert "mean rank" in ranking and "random" in ranking and "PCA" in ranking

    # The Maps tab: Run, then the regions panel outlines the selected group's map.
    browser.get(app_server.url + "?method=PCA&per_group=20")
    wait_for(browser, lambda d: d.find_elements(By.ID, ID.RUN_BUTTON), 60, "no Run button")
    wait_text(browser, f"#{ID.DATA_MESSAGE}", "fits the model", 120)
    _click(browser, ID.RUN_BUTTON)
    wait_text(browser, f"#{ID.STATUS}", "groups", RUN_TIMEOUT)
    wait_for(
        browser,
        lambda d: "contour" in _types(d, RegionIds.GRAPH),
        60,
        "no region outlined on the regions panel's map",
    )
    assert "heatmap" in _types(browser, RegionIds.GRAPH)
    title = browser.execute_script(
        f"return document.querySelector('#{RegionIds.GRAPH} .gtitle').textContent;"
    )
    assert "positive" in title and "negative" in title
