"""The user's path through the dashboard, in a real headless Chromium against the real app."""

from __future__ import annotations

import re
import time

import keras
import numpy as np
import psutil
from selenium.common.exceptions import ElementClickInterceptedException
from selenium.webdriver.common.by import By
from support import upload_file, wait_for, wait_text

from layouts.ids import ID

RUN_TIMEOUT = 300


def _save_model(path, hidden_units=(24, 16)):
    layers = [keras.Input((8, 8, 1), name="image"), keras.layers.Flatten(name="flatten")]
    names = ["hidden", "second"]
    for name, units in zip(names, hidden_units, strict=False):
        layers.append(keras.layers.Dense(units, activation="relu", name=name))
    layers.append(keras.layers.Dense(10, activation="softmax", name="out"))
    keras.utils.set_random_seed(0)
    keras.Sequential(layers).save(path)
    return path


def _choose(driver, dropdown_id: str, text_prefix: str) -> None:
    """Open a Dash 4 dropdown and click the option whose text starts with ``text_prefix``."""
    button = driver.find_element(By.ID, dropdown_id)
    # The sidebar scrolls under a sticky Run panel: bring the control to the middle first.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()

    def option(d):
        for el in d.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
            text = el.text.strip()
            if el.is_displayed() and (text == text_prefix or text.startswith(text_prefix + " ")):
                return el
        return False

    el = wait_for(driver, option, 20, f"no option {text_prefix!r} in #{dropdown_id}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'nearest'});", el)
    try:
        el.click()
    except ElementClickInterceptedException:  # the list's search box overlaps its first rows
        driver.execute_script("arguments[0].click();", el)
    wait_text(driver, f"#{dropdown_id}", text_prefix, 20)


def _plot_data(driver, graph_id: str) -> list:
    return driver.execute_script(
        f"const g = document.querySelector('#{graph_id} .js-plotly-plot');"
        # _fullData: arrays sent as base64 binary are decoded there, and _length is set.
        "return g && g._fullData ? g._fullData.map(t => ({type: t.type, n: t._length || 0})) : [];"
    )


def _jobs(data_dir) -> int:
    log = data_dir / "jobs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _wait_for_maps(driver, n_groups: int, timeout: float = RUN_TIMEOUT) -> None:
    wait_for(
        driver,
        lambda d: sum(t["type"] == "heatmap" for t in _plot_data(d, ID.MAPS_GRAPH)) == n_groups,
        timeout,
        f"the maps graph never showed {n_groups} maps",
    )


def test_upload_run_then_share_link_restores_from_cache(app_server, browser, new_browser, tmp_path):
    model_path = _save_model(tmp_path / "tiny.keras")
    browser.get(app_server.url)
    wait_for(browser, lambda d: d.find_elements(By.ID, ID.RUN_BUTTON), 60)

    upload_file(browser, ID.MODEL_UPLOAD, model_path)
    wait_text(browser, f"#{ID.MODEL_MESSAGE}", "tiny.keras: 4 layers", 120)
    _choose(browser, ID.LAYER_SELECT, "hidden")  # not the default layer ("second")
    _choose(browser, ID.METHOD_SELECT, "PCA_PSO")

    jobs_before = _jobs(app_server.data_dir)
    browser.find_element(By.ID, ID.RUN_BUTTON).click()
    wait_text(browser, f"#{ID.STATUS}", "Done in", RUN_TIMEOUT)
    assert _jobs(app_server.data_dir) == jobs_before + 1

    _wait_for_maps(browser, 10)  # the ten digit classes
    scatter = [t for t in _plot_data(browser, ID.SCATTER_GRAPH) if t["n"]]
    assert scatter and scatter[0]["n"] == 24  # one point per neuron of layer "hidden"

    link = browser.current_url
    assert re.search(r"model=[0-9a-f]{64}", link), link
    assert "layer=hidden" in link and "method=PCA_PSO" in link

    # A teammate opens the link in a fresh browser: same view, straight from the cache.
    other = new_browser()
    other.get(link)
    _wait_for_maps(other, 10, timeout=120)
    wait_text(other, f"#{ID.STATUS}", "stored result", 30)
    assert "hidden" in other.find_element(By.ID, ID.LAYER_SELECT).text
    assert "PCA_PSO" in other.find_element(By.ID, ID.METHOD_SELECT).text
    assert _jobs(app_server.data_dir) == jobs_before + 1, "opening a shared link ran a job"


def _workers(server) -> list[psutil.Process]:
    """The server's running job processes (one that exits while listed is not one: its
    ``cmdline`` raises, a zombie's too)."""
    try:
        children = psutil.Process(server.proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "topomap_core.jobs.worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # exited (or a zombie) since it was listed
            continue
    return found


def test_cancel_a_running_job(app_server, browser, tmp_path):
    # 6000 neurons with the plain PSO: minutes of work, so it is surely running when cancelled.
    model_path = _save_model(tmp_path / "wide.keras", hidden_units=(6000,))
    browser.get(app_server.url)
    wait_for(browser, lambda d: d.find_elements(By.ID, ID.RUN_BUTTON), 60)
    upload_file(browser, ID.MODEL_UPLOAD, model_path)
    wait_text(browser, f"#{ID.MODEL_MESSAGE}", "wide.keras: 3 layers", 120)
    _choose(browser, ID.LAYER_SELECT, "hidden")
    _choose(browser, ID.METHOD_SELECT, "PSO")

    browser.find_element(By.ID, ID.RUN_BUTTON).click()
    wait_text(browser, f"#{ID.PROGRESS_TEXT}", "PSO", RUN_TIMEOUT)
    assert _workers(app_server), "no worker process is computing"
    browser.find_element(By.ID, ID.CANCEL_BUTTON).click()

    wait_text(browser, f"#{ID.STATUS}", "Cancelled", 60)
    wait_for(browser, lambda d: d.find_element(By.ID, ID.RUN_BUTTON).is_enabled(), 30)
    deadline = time.monotonic() + 30
    while _workers(app_server) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _workers(app_server), "the cancelled job's worker is still running"

    # The controls stay usable: switching back to the demo works at once.
    _choose(browser, ID.MODEL_SELECT, "Demo: digits MLP")
    wait_text(browser, f"#{ID.LAYER_SELECT}", "dense", 60)


def test_corrupt_upload_shows_error_and_keeps_the_model(app_server, browser, tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(np.random.RandomState(0).bytes(5000))
    browser.get(app_server.url)
    wait_text(browser, f"#{ID.LAYER_SELECT}", "dense", 60)

    upload_file(browser, ID.MODEL_UPLOAD, broken)
    message = wait_text(browser, f"#{ID.MODEL_MESSAGE}", "broken.keras", 60).text
    assert "refused" in message or "could not" in message, message
    assert "Traceback" not in browser.page_source
    assert "digits MLP" in browser.find_element(By.ID, ID.MODEL_SELECT).text
    assert "dense" in browser.find_element(By.ID, ID.LAYER_SELECT).text
