"""Smoke test: the real app starts, the page renders in Chromium and has the Run button."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from support import wait_for

from layouts.controls import SIDEBAR_CONTROLS, SIDEBAR_SECTIONS, unit_id
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


def test_each_tab_shows_exactly_the_sidebar_controls_its_request_reads(app_server, browser):
    """Issue 20: derived from each tab's declared inputs (``callbacks.page``), in the page."""
    from app import TABS
    from callbacks.page import sections_shown, sidebar_visibility

    expected = sidebar_visibility(TABS)
    browser.get(app_server.url)
    wait_for(browser, ec.title_is("topomaps"), 60, "the page title never became 'topomaps'")
    for tab in TABS:
        value = tab.pane.value
        browser.execute_script(
            "const tabs = [...document.querySelectorAll(arguments[0] + ' .tab')];"
            "const t = tabs.find(el => el.textContent.trim() === arguments[1]); t && t.click();",
            f"#{ID.TABS}",
            tab.pane.label,
        )

        def shown(driver, value=value):
            now = [c for c in SIDEBAR_CONTROLS
                   if driver.find_element(By.ID, unit_id(c)).is_displayed()]  # fmt: skip
            return now if now == expected[value] else False

        wait_for(browser, shown, 20, f"tab {value}: sidebar controls differ from its request")
        sections = {sid: browser.find_element(By.ID, sid).is_displayed()
                    for sid in SIDEBAR_SECTIONS}  # fmt: skip
        assert sections == sections_shown(expected[value]), value
        run_shown = browser.find_element(By.ID, ID.RUN_BUTTON).is_displayed()
        assert run_shown == (value == "maps"), value
