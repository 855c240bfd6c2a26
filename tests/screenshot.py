"""Screenshot of the running dashboard in headless Chromium.

    python tests/screenshot.py --url "http://127.0.0.1:8050/?<query>" --out docs/screenshot.png
        [--wait-for maps-graph] [--run] [--width 1600 --height 1000] [--timeout SECONDS]

Opens the page, waits until the element with id ``--wait-for`` holds a rendered plot
(``.main-svg``; ``--wait-for ''`` only waits for the app to render), and saves the window as
PNG. With ``--run`` it first clicks the Run button and waits (up to 300 s by default) until the
plot shows data and the app is idle again. The app must already be running (``make run``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from support import make_chrome, remove_profile  # tests/support.py, next to this script

from layouts.ids import ID

# JavaScript probes, run in the page. arguments[0] is an element id.
_JS_APP_RENDERED = """
const root = document.getElementById('react-entry-point');
return !!root && root.children.length > 0 && !document.querySelector('._dash-loading');
"""
_JS_HAS_PLOT = """
const el = document.getElementById(arguments[0]);
return !!el && !!el.querySelector('.main-svg');
"""
_JS_PLOT_HAS_DATA = """
const el = document.getElementById(arguments[0]);
const gd = el && (el.classList.contains('js-plotly-plot')
    ? el : el.querySelector('.js-plotly-plot'));
return !!gd && !!gd.querySelector('.main-svg') && Array.isArray(gd.data) && gd.data.length > 0;
"""
_JS_IDLE = """
return !document.title.startsWith('Updating')
    && !document.querySelector('[data-dash-is-loading="true"]')
    && !(document.getElementById(arguments[0]) || {}).disabled;
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8050/", help="page to open")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"), help="PNG file")
    parser.add_argument(
        "--wait-for",
        default=str(ID.MAPS_GRAPH),
        help="id of the graph that must hold a rendered plot ('' for none; default %(default)s)",
    )
    parser.add_argument("--run", action="store_true", help="click the Run button first")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument(
        "--timeout", type=float, help="seconds to wait (default 120, or 300 with --run)"
    )
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = 300.0 if args.run else 120.0
    return args


def _wait(driver, timeout: float, what: str, script: str, *script_args) -> None:
    try:
        WebDriverWait(driver, timeout, poll_frequency=0.25).until(
            lambda d: d.execute_script(script, *script_args)
        )
    except TimeoutException:
        raise SystemExit(
            f"screenshot: timed out after {timeout:.0f} s waiting for {what}"
        ) from None


def _wait_settled(driver, timeout: float, graph_id: str) -> None:
    """After Run: wait until the graph shows data and the app stays idle for 2 s."""
    deadline = time.monotonic() + timeout
    settled_since = None
    while time.monotonic() < deadline:
        done = (not graph_id or driver.execute_script(_JS_PLOT_HAS_DATA, graph_id)) and (
            driver.execute_script(_JS_IDLE, str(ID.RUN_BUTTON))
        )
        if not done:
            settled_since = None
        elif settled_since is None:
            settled_since = time.monotonic()
        elif time.monotonic() - settled_since >= 2:
            return
        time.sleep(0.25)
    target = f"#{graph_id} to show the maps" if graph_id else "the run to finish"
    raise SystemExit(f"screenshot: timed out after {timeout:.0f} s waiting for {target}")


def take(args: argparse.Namespace) -> Path:
    profile = Path(tempfile.mkdtemp(prefix="topomaps-chrome-"))
    driver = make_chrome(profile, args.width, args.height)
    try:
        driver.get(args.url)
        _wait(driver, args.timeout, "the app to render", _JS_APP_RENDERED)
        if args.run:
            run_id = str(ID.RUN_BUTTON)
            _wait(
                driver,
                args.timeout,
                f"#{run_id}",
                "return !!document.getElementById(arguments[0])",
                run_id,
            )
            _wait(driver, args.timeout, f"#{run_id} to be enabled", _JS_IDLE, run_id)
            driver.find_element(By.ID, run_id).click()
            time.sleep(1)  # let the click's callbacks start before waiting for idle
            _wait_settled(driver, args.timeout, args.wait_for)
        elif args.wait_for:
            _wait(driver, args.timeout, f"a plot in #{args.wait_for}", _JS_HAS_PLOT, args.wait_for)
        time.sleep(0.5)  # transitions and fonts
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not driver.save_screenshot(str(args.out)):
            raise SystemExit(f"screenshot: could not write {args.out}")
        return args.out
    finally:
        driver.quit()
        remove_profile(profile)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = take(args)
    print(f"wrote {out} ({args.width}x{args.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
