"""Smoke test: the real app starts, the page renders in Chromium and has the Run button."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from support import wait_for

from layouts.ids import ID


def test_page_renders_with_run_button(app_server, browser):
    browser.get(app_server.url)
    # Dash shows "Updating..." as the title while callbacks run; it settles on the app title.
    wait_for(browser, ec.title_is("topomaps"), 60, "the page title never became 'topomaps'")
    run = wait_for(
        browser,
        ec.presence_of_element_located((By.ID, ID.RUN_BUTTON)),
        60,
        f"no #{ID.RUN_BUTTON} in the rendered page",
    )
    assert browser.find_elements(By.ID, ID.RUN_BUTTON) == [run]
