"""The Topographic tab in a real headless Chromium: the demo's grid maps, region, features."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium.webdriver.common.by import By
from support import wait_for, wait_text

from layouts.topographic import TopoIds

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


def test_topographic_tab_shows_grid_maps_region_and_optimised_inputs(
    app_server, browser, digits_cnn_topographic, demo_dir
):
    # The session's fine-tuned demo, so the server does not fine-tune it again.
    target = Path(app_server.data_dir) / "demo-models"
    target.mkdir(exist_ok=True)
    for name in ("digits-cnn.keras", "digits-cnn-topographic.keras"):
        if not (target / name).exists():
            shutil.copy2(Path(demo_dir) / "demo-models" / name, target / name)
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
