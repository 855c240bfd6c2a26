"""The Overview and Bias tabs in a real browser: each opened by its link on the demo, drawn.

Both results are computed here, into the server's store, and the links open them: the Run
button, progress and job process are the one ``register_job`` path every tab shares (run in a
browser by the Maps, Training and Compare tests), and a cold job process per view would cost
this test most of its time.
"""

from __future__ import annotations

from selenium.webdriver.common.by import By
from support import wait_for, wait_text

from callbacks import bias, overview
from layouts.bias import BiasIds
from layouts.overview import OverviewIds
from topomap_core.jobs.results import get_or_compute
from topomap_core.store import Store

#: The sidebar's values of the links below (the MLP: the demo model test servers have).
SHARED = dict(model="demo:digits-mlp", data="demo:digits", layer="dense", groups="label",
              random_groups=0, per_group=10, method="PCA", seed=0, nap="mean",
              nap_class="true")  # fmt: skip
QUERY = "model=demo:digits-mlp&per_group=10&method=PCA"


def _heatmaps(driver, graph_id: str) -> int:
    return driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.filter(t => t.type === 'heatmap').length : 0;"
    )


def _open(driver, url: str, status_id: str, graph_id: str, n_maps: int) -> None:
    driver.get(url)
    wait_text(driver, f"#{status_id}", "stored", 60)
    wait_for(
        driver,
        lambda d: _heatmaps(d, graph_id) == n_maps,
        60,
        f"#{graph_id} never showed {n_maps} maps",
    )


def test_the_overview_and_bias_views_open_drawn(app_server, browser, monkeypatch):
    monkeypatch.setenv("TOPOMAPS_DATA_DIR", str(app_server.data_dir))  # the server's demos
    store = Store(app_server.data_dir)
    get_or_compute(*overview.overview_request({**SHARED, "layers": "", "draws": 5}), store)
    get_or_compute(*bias.bias_request({**SHARED, "draws": 5}), store)

    # Every Dense layer of the MLP by default: two rows of ten maps, and the curve.
    url = f"{app_server.url}?{QUERY}&tab=overview&draws=5"
    _open(browser, url, OverviewIds.STATUS, OverviewIds.MAPS, 2 * 10)
    curve = browser.execute_script(
        f"return document.querySelector('#{OverviewIds.CURVE} .js-plotly-plot')._fullData[0].x;"
    )
    assert list(curve) == ["dense", "output"]
    # The sidebar's model is the one analysed: its section stays shown on this tab.
    assert browser.find_element(By.ID, "sidebar-model").is_displayed()

    url = f"{app_server.url}?{QUERY}&tab=bias&bias_draws=5"
    _open(browser, url, BiasIds.STATUS, BiasIds.MAPS, 2 * 10)
    assert "chance in layer 'dense'" in browser.find_element(By.ID, BiasIds.SENTENCE).text
    assert "× chance" in browser.find_element(By.ID, BiasIds.SCORE).text
