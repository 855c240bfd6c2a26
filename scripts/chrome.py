"""Headless Chromium for browser tests and screenshots: the one place a driver is built.

Uses Debian's ``chromium`` and ``chromium-driver`` packages (``make browser-deps`` installs
them). Both paths are given explicitly, so Selenium Manager never tries to download a browser
or a driver (there is no internet here besides package registries).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

#: Flags needed to run Chromium as root in a container without a display. Without the
#: background-networking ones Chromium's own connections get refused in bursts here.
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def check_chromium() -> None:
    """Raise ``RuntimeError`` with an install hint when Chromium or its driver is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        raise RuntimeError(
            f"Browser tests need Debian's chromium and chromium-driver; missing: "
            f"{', '.join(missing)}. Install them with `make browser-deps` (or `apt-get install "
            f"-y chromium chromium-driver`)."
        )


def make_chrome(
    user_data_dir: str | Path,
    width: int = 1600,
    height: int = 1000,
    driver_log: str | Path | None = None,
) -> webdriver.Chrome:
    """Start headless Chromium with a fresh profile in ``user_data_dir``.

    The window is ``width`` x ``height``, the implicit wait is 0 (wait explicitly), and the
    browser console is recorded (``driver.get_log("browser")``). ``driver_log`` gets
    chromedriver's own log when given. The caller quits the driver.
    """
    check_chromium()
    Path(user_data_dir).mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(
        executable_path=CHROMEDRIVER,
        log_output=str(driver_log) if driver_log else None,
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.implicitly_wait(0)
    _size_viewport(driver, width, height)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    return driver


def _size_viewport(driver: webdriver.Chrome, width: int, height: int) -> None:
    """Make the page's viewport ``width`` x ``height``.

    Headless Chromium still reserves room for (invisible) browser chrome: a 1600x1000 window
    has a 1600x857 viewport. Grow the window by the difference so pages and screenshots get
    the size asked for.
    """
    driver.set_window_size(width, height)
    inner_w, inner_h = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if (inner_w, inner_h) != (width, height):
        driver.set_window_size(width + width - inner_w, height + height - inner_h)


def remove_profile(user_data_dir: str | Path) -> None:
    """Delete a profile folder made for :func:`make_chrome` (ignores errors)."""
    shutil.rmtree(user_data_dir, ignore_errors=True)
