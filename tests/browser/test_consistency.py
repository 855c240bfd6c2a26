"""What only a real browser shows of issue 20's rough edges (items 15, 16, 19): layout,
validity and overlap as Chromium renders the page, on one server and one fast view."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from support import wait_for, wait_text

from layouts.ids import ID
from layouts.regions import RegionIds
from layouts.training import TrainingIds

RUN_TIMEOUT = 300

#: For every visible graph with a toolbar: its toolbar's and each colour bar's boxes.
_BOXES = """
const out = [];
for (const plot of document.querySelectorAll('.js-plotly-plot')) {
  const host = plot.closest('[id]');
  const bar = plot.querySelector('.modebar');
  if (!bar || !host || host.offsetParent === null) continue;
  const m = bar.getBoundingClientRect();
  for (const scale of plot.querySelectorAll('g.colorbar')) {
    const c = scale.getBoundingClientRect();
    const apart = m.right <= c.left || c.right <= m.left || m.bottom <= c.top || c.bottom <= m.top;
    out.push({graph: host.id, apart: apart});
  }
}
return out;
"""


def test_sidebar_threshold_slider_and_toolbars_as_rendered(app_server, browser):
    browser.get(app_server.url + "?method=PCA&per_group=30")
    wait_for(browser, lambda d: d.title == "topomaps", 60, "the page never rendered")
    wait_for(browser, lambda d: d.find_elements(By.ID, RegionIds.THRESHOLD), 60, "no regions")

    # Item 19: no horizontal scrollbar on the sidebar (its content was 354 px in 345 px: a
    # dropdown's invisible focus input stuck out of the narrow right-hand column).
    wait_for(browser, lambda d: d.find_elements(By.ID, ID.RESIZE_SELECT), 60, "no sidebar")
    scroll, client = browser.execute_script(
        "const s = document.querySelector('.sidebar'); return [s.scrollWidth, s.clientWidth];"
    )
    assert scroll <= client, f"the sidebar scrolls sideways: {scroll} px in {client} px"

    # Item 16: the threshold box starts valid (0.098 with a step of 0.01 was drawn red).
    box = browser.find_element(By.ID, RegionIds.THRESHOLD)
    assert box.get_attribute("value") == "0.098"
    assert browser.execute_script("return arguments[0].validity.valid;", box)

    # Item 19: on the large panels, the upright toolbar stays clear of the colour bars.
    browser.find_element(By.ID, ID.RUN_BUTTON).click()
    wait_text(browser, f"#{ID.STATUS}", "groups", RUN_TIMEOUT)
    wait_for(browser, lambda d: len(d.execute_script(_BOXES)) >= 2, 60, "no colour bars")
    boxes = browser.execute_script(_BOXES)
    assert {b["graph"] for b in boxes} >= {ID.SELECTED_MAP_GRAPH, ID.SCATTER_GRAPH}
    assert all(b["apart"] for b in boxes), boxes

    # Item 15: the Training tab's state has one input, the labelled State box (Dash's slider
    # brought an unlabelled second one).
    browser.get(app_server.url + "?tab=training")
    wait_for(browser, lambda d: d.find_elements(By.ID, TrainingIds.STATE_INPUT), 60, "no box")
    # (The speed dropdown's invisible focus input is no state input.)
    inputs = browser.execute_script(
        "return Array.from(document.querySelectorAll("
        "'.player input:not(.dash-dropdown-focus-target)')).map(i => i.id);"
    )
    assert inputs == [TrainingIds.STATE_INPUT], inputs
