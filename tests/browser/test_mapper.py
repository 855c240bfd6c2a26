"""The Mapper tab in a real browser: build a graph, click a node, see its examples, and send
them to the Maps tab as a custom group."""

from __future__ import annotations

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from support import wait_for, wait_text

from layouts.ids import ID
from layouts.mapper import MapperIds as M

RUN_TIMEOUT = 300


def test_build_a_graph_click_a_node_and_use_it_as_a_group(app_server, browser):
    # A link opens the tab with the (pre-trained) MLP demo and a small cover.
    browser.get(
        app_server.url + "?method=PCA&per_group=20&tab=mapper&mapper_model=demo:digits-mlp"
        "&mapper_layer=dense&intervals=6&max_examples=300"
    )
    # The link sets the layer at once: Run without waiting for the model's layer list.
    wait_text(browser, f"#{M.LAYER}", "dense", 60)
    browser.find_element(By.ID, M.RUN).click()
    wait_text(browser, f"#{M.STATUS}", "Done in", RUN_TIMEOUT)
    assert "dense: " in browser.find_element(By.ID, M.STATUS).text

    points = wait_for(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#{M.GRAPH} .scatterlayer .trace .point"),
        30,
        "the graph never showed its nodes",
    )
    assert not browser.find_elements(By.CSS_SELECTOR, f"#{M.GRAPH} canvas.gl-canvas")  # SVG
    target = max(points, key=lambda p: p.size["width"])  # the largest node: easy to hit
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", target)
    ActionChains(browser).move_to_element(target).pause(0.5).click().perform()
    summary = wait_text(browser, "#mapper-selection-summary", "1 node of dense", 30).text
    n_examples = int(summary.split(": ")[1].split(" examples")[0])
    pictures = browser.find_elements(By.CSS_SELECTOR, f"#{M.NODE_PANEL} img")
    assert 0 < len(pictures) == min(n_examples, 40)
    assert pictures[0].get_attribute("src").startswith("data:image/png;base64,")

    button = browser.find_element(By.ID, M.USE_AS_GROUP)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    # The Maps tab opens with the node as its custom group, ready to Run.
    chosen = wait_text(browser, f"#{ID.SELECTION_SELECT}", f"({n_examples} examples)", 30)
    assert chosen.is_displayed() and "node cube" in chosen.text
    wait_text(browser, f"#{ID.STATUS}", "Not computed yet", 30)
    assert "selection=" in browser.current_url
