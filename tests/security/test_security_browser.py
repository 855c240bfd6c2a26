"""The page renders and runs in Chromium with the security headers and basic auth on.

The live server sends the Content-Security-Policy (no inline scripts but Dash's own, by hash;
no ``eval``); the browser sends the credentials on every request (set through the DevTools
protocol, as a browser does after the password dialog). The test loads a link to a stored
view, then runs a new one (background job, progress polling), and fails on any CSP violation
in the console.
"""

from __future__ import annotations

import base64
import re
import time

import pytest
from security_support import AUTH, FAST
from selenium.webdriver.common.by import By
from support import make_chrome, remove_profile

from app import TABS
from callbacks.url import to_query
from layouts.ids import ID

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


@pytest.fixture
def chrome(tmp_path):
    driver = make_chrome(tmp_path / "profile")
    yield driver
    try:
        driver.quit()
    finally:
        remove_profile(tmp_path / "profile")


def _wait(driver, condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition(driver)
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _text(driver, element_id: str) -> str:
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found else ""


def test_page_runs_under_the_csp_with_basic_auth(live_server, cached_view, chrome):
    token = base64.b64encode(f"alice:{AUTH['alice']}".encode()).decode()
    chrome.execute_cdp_cmd("Network.enable", {})
    chrome.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )
    chrome.get(live_server.url + to_query(FAST, TABS).lstrip("/"))

    # The stored view: the link restores the controls, the maps are drawn.
    _wait(
        chrome,
        lambda d: "Showing the stored result" in _text(d, ID.STATUS),
        180,
        "the stored result to be shown",
    )
    _wait(
        chrome,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, f"#{ID.MAPS_GRAPH} .heatmaplayer image")),
        120,
        "the maps to be drawn",
    )
    # The layer list comes from a worker process (the web process loads no model).
    _wait(chrome, lambda d: "layers" in _text(d, ID.MODEL_MESSAGE), 240, "the model's layer list")
    # A new run: the background job, its progress polling and the result callbacks.
    seed = chrome.find_element(By.ID, ID.SEED_INPUT)
    seed.clear()
    seed.send_keys("7\n")
    _wait(chrome, lambda d: "Not computed yet" in _text(d, ID.STATUS), 60, "the new seed")
    chrome.find_element(By.ID, ID.RUN_BUTTON).click()
    _wait(chrome, lambda d: _text(d, ID.STATUS).startswith("Done in"), 600, "the run to finish")
    _wait(
        chrome,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, f"#{ID.MAPS_GRAPH} .heatmaplayer image")),
        120,
        "the new maps to be drawn",
    )

    console = chrome.get_log("browser")
    violations = [
        entry["message"]
        for entry in console
        if re.search(
            r"Content Security Policy|Refused to (execute|load|apply|evaluate)", entry["message"]
        )
    ]
    assert violations == [], violations
    errors = [entry["message"] for entry in console if entry["level"] == "SEVERE"]
    assert errors == [], errors

    # The policy is enforced (so the clean console above means something): an injected
    # inline script does not run, and the browser reports the violation.
    ran = chrome.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'window.__injected = 1;';"
        "document.head.appendChild(s);"
        "return window.__injected === 1;"
    )
    assert ran is False
    console = chrome.get_log("browser")
    assert any("Content Security Policy" in entry["message"] for entry in console), console
