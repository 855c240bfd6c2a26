"""The Topographic tab in a real headless Chromium: the demo's grid maps, region, features."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium.webdriver.common.by import By
from support import wait_for, wait_text

from layouts.topographic import TopoIds
from layouts.train_topographic import JOB as TRAIN_JOB
from layouts.train_topographic import TrainIds

RUN_TIMEOUT = 300


def _count(driver, graph_id: str, what: str) -> int:
    script = {
        "heatmaps": "g._fullData.filter(t => t.type === 'heatmap').length",
        "shapes": "(g._fullLayout.shapes || []).length",
    }[what]
    return driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        f"return g && g._fullData ? {script} : 0;"
    )


def _share_demos(app_server, demo_dir) -> None:
    """The session's trained demos, so the server does not train them again."""
    target = Path(app_server.data_dir) / "demo-models"
    target.mkdir(exist_ok=True)
    for name in ("digits-cnn.keras", "digits-cnn-topographic.keras"):
        if not (target / name).exists():
            shutil.copy2(Path(demo_dir) / "demo-models" / name, target / name)


def test_topographic_tab_shows_grid_maps_region_and_optimised_inputs(
    app_server, browser, digits_cnn_topographic, demo_dir
):
    _share_demos(app_server, demo_dir)
    browser.get(app_server.url + "?tab=topographic&per_group=5&fv_steps=8")
    run = wait_for(browser, lambda d: d.find_element(By.ID, TopoIds.RUN), 60, "no Run button")
    wait_for(browser, lambda d: run.is_displayed(), 60, "the tab never opened")
    run.click()
    wait_text(browser, f"#{TopoIds.STATUS}", "on a 16×8 grid", RUN_TIMEOUT)
    wait_for(browser, lambda d: _count(d, TopoIds.GRID_GRAPH, "heatmaps") == 10, 60, "no maps")
    assert _count(browser, TopoIds.SMOOTH_GRAPH, "heatmaps") == 10
    assert _count(browser, TopoIds.SMOOTH_GRAPH, "shapes") == 10  # each group's region
    assert _count(browser, TopoIds.FEATURES_GRAPH, "heatmaps") == 10  # 9 filters, the region
    region = browser.find_element(By.ID, TopoIds.REGION).text
    assert region.startswith("Group 0: most responsive region at row")


def test_train_tab_trains_stores_and_opens_the_model_in_the_topographic_tab(
    app_server, browser, digits_cnn_topographic, demo_dir
):
    """Issue 13: train-topographic as a job with its own tab; the trained model is stored like
    an upload and its link opens it in the Topographic tab."""
    _share_demos(app_server, demo_dir)
    browser.get(app_server.url + "?tab=train&topotrain_model=demo:digits-cnn&epochs=1")
    train = wait_for(browser, lambda d: d.find_element(By.ID, TRAIN_JOB.run), 60, "no Train")
    wait_for(browser, lambda d: train.is_displayed(), 60, "the tab never opened")
    wait_text(browser, f"#{TrainIds.MESSAGE}", "layers.", 120)  # the model's layers listed
    train.click()
    wait_text(browser, f"#{TRAIN_JOB.status}", "stored as model digits-cnn-topographic-conv2",
              RUN_TIMEOUT)  # fmt: skip
    assert "1 epoch," in browser.find_element(By.ID, TRAIN_JOB.status).text
    report = browser.find_element(By.ID, TrainIds.REPORT).text
    assert "conv2 on a 16x8 grid (weights, strength 0.01)" in report
    assert "mean neighbour similarity" in report
    link = wait_for(browser, lambda d: d.find_element(By.ID, TrainIds.OPEN), 30, "no link")
    wait_for(browser, lambda d: link.is_displayed(), 30, "the link stayed hidden")
    link.click()
    wait_for(
        browser,
        lambda d: "digits-cnn-topographic-conv2.keras" in d.find_element(By.ID, TopoIds.MODEL).text,
        60,
        "the Topographic tab did not open the trained model",
    )
    assert "tab=topographic" in browser.current_url
    assert "conv2" in browser.find_element(By.ID, TopoIds.LAYER).text
