"""The page renders and runs in Chromium with the security headers and basic auth on.

The live server sends the Content-Security-Policy (no inline scripts but Dash's own, by hash;
no ``eval``); the browser sends the credentials on every request (set through the DevTools
protocol, as a browser does after the password dialog). The first test loads a link to a
stored view, then runs a new one (background job, progress polling); the second uploads
files through the page's upload zone (``assets/uploads.js``). Both fail on any CSP violation
in the console.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time

import numpy as np
import pytest
from security_support import AUTH, FAST, SERVER_UPLOAD_MB
from selenium.webdriver.common.by import By
from support import make_chrome, remove_profile, upload_file

from app import TABS
from callbacks.url import to_query
from layouts.ids import ID
from topomap_core.store import Store

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


def _log_in(chrome) -> None:
    token = base64.b64encode(f"alice:{AUTH['alice']}".encode()).decode()
    chrome.execute_cdp_cmd("Network.enable", {})
    chrome.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )


def _csp_violations(console: list[dict]) -> list[str]:
    pattern = r"Content Security Policy|Refused to (execute|load|apply|evaluate)"
    return [entry["message"] for entry in console if re.search(pattern, entry["message"])]


def test_page_runs_under_the_csp_with_basic_auth(live_server, cached_view, chrome):
    _log_in(chrome)
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
    violations = _csp_violations(console)
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


def test_the_upload_zone_streams_files_and_refuses_large_ones_unsent(live_server, chrome, tmp_path):
    # Issue 20 item 2: dcc.Upload read a file whole into the page (a 217 MB one crashed the
    # tab) and sent it as base64; the zone sends its bytes, streamed, and checks the size
    # first. Item 11: the name is shown as it is, a control character written out.
    _log_in(chrome)
    chrome.get(live_server.url)
    _wait(chrome, lambda d: "dense" in _text(d, ID.LAYER_SELECT), 120, "the page")
    big = tmp_path / "big.npz"
    big.write_bytes(np.random.default_rng(0).bytes(int(SERVER_UPLOAD_MB * 2**20) + 2**20))
    upload_file(chrome, ID.DATA_UPLOAD, big)
    text = _wait(
        chrome,
        lambda d: "big.npz" in _text(d, ID.DATA_MESSAGE) and _text(d, ID.DATA_MESSAGE),
        60,
        "the refusal",
    )
    assert text == (
        f"big.npz refused: it is 3.0 MB, over the {SERVER_UPLOAD_MB} MB upload limit "
        "(MAX_UPLOAD_MB); nothing was sent."
    )
    assert "Demo: 8×8 digits" in _text(chrome, ID.DATA_SELECT)  # the selection stays

    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    np.savez(buffer, x=rng.random((2000, 8, 8, 1), dtype=np.float32), y=np.arange(2000) % 10)
    good = tmp_path / "my\u202eslx.npz"
    good.write_bytes(buffer.getvalue())
    upload_file(chrome, ID.DATA_UPLOAD, good)
    _wait(chrome, lambda d: "Stored" in _text(d, ID.DATA_MESSAGE), 60, "the upload")
    # The upload's note stays in front of the data check that follows it.
    assert _text(chrome, ID.DATA_MESSAGE).startswith("Stored my\\u202eslx.npz.")
    ref = hashlib.sha256(good.read_bytes()).hexdigest()
    assert f"my\\u202eslx.npz ({ref[:8]})" in _text(chrome, ID.DATA_SELECT)
    assert (Store(live_server.data_dir).data_dir / f"{ref}.npz").read_bytes() == good.read_bytes()

    console = chrome.get_log("browser")
    assert _csp_violations(console) == []
    assert [entry["message"] for entry in console if entry["level"] == "SEVERE"] == []
