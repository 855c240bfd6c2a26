"""A practitioner's own model in the real page (issue 19): a Keras 2 ``.h5`` mini-Xception and
raw 0-255 photos, the data check's warning, Preprocess typed in, and maps of prepared input."""

from __future__ import annotations

import numpy as np
import zoo
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from support import upload_file, wait_for, wait_text

from layouts.ids import ID

RUN_TIMEOUT = 300


def test_a_keras2_model_with_raw_photos_is_warned_then_prepared(app_server, browser, tmp_path):
    model_path = zoo.keras2_h5(zoo.mini_xception(), tmp_path / "fer2013_mini_XCEPTION.h5")
    x, y = zoo.images(60, (64, 64, 1), classes=2)
    data_path = tmp_path / "faces.npz"
    np.savez(data_path, x=x.astype(np.uint8), y=y, label_names=np.array(["neutral", "happy"]))

    browser.get(app_server.url)
    wait_for(browser, lambda d: d.find_elements(By.ID, ID.RUN_BUTTON), 60)
    upload_file(browser, ID.MODEL_UPLOAD, model_path)
    wait_text(browser, f"#{ID.MODEL_MESSAGE}", "Converted from Keras 2", 180)
    message = browser.find_element(By.ID, ID.MODEL_MESSAGE).text
    assert "Showing conv2d_6 (128 neurons)" in message
    assert "conv2d_6" in browser.find_element(By.ID, ID.LAYER_SELECT).text

    upload_file(browser, ID.DATA_UPLOAD, data_path)
    wait_text(browser, f"#{ID.DATA_MESSAGE}", "raw pixel values", 180)
    shown = browser.find_element(By.CSS_SELECTOR, f"#{ID.DATA_MESSAGE} span")
    assert "msg-warning" in shown.get_attribute("class")
    assert shown.text.startswith("Stored faces.npz. ")  # the upload's note, then the check

    field = browser.find_element(By.ID, ID.PREPROCESS_INPUT)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)
    field.clear()
    field.send_keys("unit", Keys.ENTER)
    wait_text(browser, f"#{ID.DATA_MESSAGE}", "preprocess unit (x/255)", 180)
    assert "raw pixel values" not in browser.find_element(By.ID, ID.DATA_MESSAGE).text
    assert "preprocess=unit" in browser.current_url  # the link reproduces the preparation

    browser.find_element(By.ID, ID.RUN_BUTTON).click()
    wait_text(browser, f"#{ID.STATUS}", "Done in", RUN_TIMEOUT)

    def titles(driver):
        found = driver.execute_script(
            f"const g = document.querySelector('#{ID.MAPS_GRAPH} .js-plotly-plot');"
            "return g ? (g.layout.annotations || []).map(a => a.text) : [];"
        )
        names = " ".join(found)
        return found if "neutral" in names and "happy" in names else False

    wait_for(browser, titles, 60, "the maps never showed the groups neutral and happy")
