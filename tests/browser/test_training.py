"""The Training tab in a real headless Chromium: run the demo series, step through it, share it."""

from __future__ import annotations

import re

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from support import wait_for, wait_text

from layouts.training import TrainingIds

RUN_TIMEOUT = 300


def _traces(driver, graph_id: str) -> list[dict]:
    return driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.map(t => ({type: t.type, "
        "n: (t.x && t.x.length) || 0})) : [];"
    )


def _heatmaps(driver) -> int:
    return sum(t["type"] == "heatmap" for t in _traces(driver, TrainingIds.MAPS_GRAPH))


def _jobs(data_dir) -> int:
    log = data_dir / "jobs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _label(driver) -> str:
    return driver.find_element(By.ID, TrainingIds.STEP_LABEL).text


def test_run_the_demo_training_step_through_it_and_share_a_state(app_server, browser, new_browser):
    browser.get(app_server.url + "?tab=training&method=PCA&per_group=50")
    wait_text(browser, f"#{TrainingIds.MESSAGE}", "digits MLP trained for one epoch", 120)
    assert "Training" in browser.find_element(By.CSS_SELECTOR, ".tab--selected").text

    jobs_before = _jobs(app_server.data_dir)
    browser.find_element(By.ID, TrainingIds.RUN).click()
    wait_text(browser, f"#{TrainingIds.STATUS}", "Done in", RUN_TIMEOUT)
    assert (
        "79 states, 10 groups, 128 neurons" in browser.find_element(By.ID, TrainingIds.STATUS).text
    )
    assert _jobs(app_server.data_dir) == jobs_before + 1

    # The change curve over all 79 states, and the ten maps of the last (trained) state.
    wait_for(browser, lambda d: _heatmaps(d) == 10, 60, "no maps")
    curve = _traces(browser, TrainingIds.CHANGE_GRAPH)
    assert curve and curve[0]["type"] == "scatter" and curve[0]["n"] == 79
    wait_text(browser, f"#{TrainingIds.STEP_LABEL}", "batch 79 of 79")
    wait_for(browser, lambda d: "state=78" in d.current_url, 30, "no state in the URL")

    # One step back with the keyboard on the slider: new maps, new label, new URL.
    handle = browser.find_element(By.CSS_SELECTOR, f"#{TrainingIds.SLIDER} [role=slider]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    handle.send_keys(Keys.ARROW_LEFT)
    wait_text(browser, f"#{TrainingIds.STEP_LABEL}", "batch 78 of 79", 30)
    wait_for(browser, lambda d: "state=77" in d.current_url, 30, "the URL kept the old state")
    assert _heatmaps(browser) == 10

    # Issue 12 item 21: the state box shows the slider's number (0-based, as the URL), and
    # typing a state and pressing Enter shows it.
    box = browser.find_element(By.ID, TrainingIds.STATE_INPUT)
    wait_for(browser, lambda d: box.get_attribute("value") == "77", 30, "box != slider")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("40", Keys.ENTER)
    wait_text(browser, f"#{TrainingIds.STEP_LABEL}", "state 40: batch 41 of 79", 30)
    wait_for(browser, lambda d: "state=40" in d.current_url, 30, "Enter did not move the state")

    # A teammate opens state 5 of the same run: shown from the cache, no job.
    link = re.sub(r"state=\d+", "state=5", browser.current_url)
    assert "tab=training" in link and "method=PCA" in link
    other = new_browser()
    other.get(link)
    wait_text(other, f"#{TrainingIds.STEP_LABEL}", "batch 6 of 79", 120)
    wait_text(other, f"#{TrainingIds.STATUS}", "stored result", 30)
    wait_for(other, lambda d: _heatmaps(d) == 10, 60, "no maps from the shared link")
    assert "state=5" in other.current_url
    assert _jobs(app_server.data_dir) == jobs_before + 1, "opening a shared link ran a job"
