"""Real-browser tests: the real app in a subprocess, driven by headless Chromium.

Fixtures
    ``app_server``    one app for the whole session (``.url``, ``.data_dir``, ``.port``,
                      ``.proc``, ``.log_path``, ``.log_tail()``, ``.stop()``).
    ``start_server``  factory ``start_server(data_dir=None) -> AppServer`` for a second server
                      or a restart on the same data dir; servers it starts stop after the test.
    ``browser``       a fresh headless Chromium (1600x1000 viewport, implicit wait 0).
    ``new_browser``   factory ``new_browser() -> WebDriver`` for a second, fresh browser.

Helpers (``from support import wait_for, wait_text, upload_file``): see ``tests/support.py``,
the one helper of every server and browser test.

On a failing test every browser it used leaves a screenshot, the page source and the browser
console in ``<tmp>/browser-failures/``, and the report shows the tail of the server logs.
Nothing is skipped: without Chromium the tests fail and say to run ``make browser-deps``.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from support import AppServer, launch_app, make_chrome, remove_profile

SERVER_START_TIMEOUT = 120  # seconds until GET / answers 200
BROWSER_TEST_TIMEOUT = 900  # per test (pytest-timeout), server start included
FAILURES_DIR = Path(tempfile.gettempdir()) / "browser-failures"

_REPORTS = pytest.StashKey[dict]()


# --------------------------------------------------------------------------- pytest hooks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: real-browser test (headless Chromium against the running app)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``browser`` and give it a generous timeout."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here not in Path(item.path).resolve().parents:
            continue
        item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(BROWSER_TEST_TIMEOUT))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item, and show server logs when a test fails."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    if report.failed:
        for server in _servers_of(item):
            report.sections.append(
                (f"topomaps server log, port {server.port} ({server.log_path})", server.log_tail())
            )
    return report


def _servers_of(item: pytest.Item) -> list[AppServer]:
    servers = []
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, AppServer):
            servers.append(value)
        elif isinstance(value, ServerFactory):
            servers.extend(value.servers)
    return list(dict.fromkeys(servers))


def _failed(item: pytest.Item) -> bool:
    return any(r.failed for r in item.stash.get(_REPORTS, {}).values())


# --------------------------------------------------------------------------- the app server


def launch_server(data_dir: Path, log_path: Path, timeout: float = SERVER_START_TIMEOUT):
    """Start ``python app.py`` on a free port with ``data_dir``; wait until GET / is 200."""
    return launch_app(Path(data_dir), Path(log_path), timeout=timeout)


class ServerFactory:
    """``factory(data_dir=None) -> AppServer``; remembers its servers to stop them."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.servers: list[AppServer] = []

    def __call__(self, data_dir: str | Path | None = None) -> AppServer:
        n = len(self.servers)
        if data_dir is None:
            data_dir = self.tmp_dir / f"data-{n}"
        server = launch_server(Path(data_dir), self.tmp_dir / f"server-{n}.log")
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The real app for the whole session, on a free port with a temporary data dir."""
    tmp = tmp_path_factory.mktemp("app-server")
    server = launch_server(tmp / "data", tmp / "server.log")
    yield server
    server.stop()


@pytest.fixture
def start_server(tmp_path):
    """Factory for extra servers (``start_server(data_dir)``); all stop after the test.

    To restart on the same data, ``server.stop()`` and call ``start_server(server.data_dir)``.
    """
    factory = ServerFactory(tmp_path / "servers")
    yield factory
    factory.stop_all()


# --------------------------------------------------------------------------- browsers


def _save_failure(driver: WebDriver, name: str) -> list[Path]:
    """Save screenshot, page source and browser console as ``FAILURES_DIR/<name>.*``."""
    FAILURES_DIR.mkdir(parents=True, exist_ok=True)
    png, html, console = (FAILURES_DIR / f"{name}{ext}" for ext in (".png", ".html", ".log"))
    saved = []
    try:
        driver.save_screenshot(str(png))
        saved.append(png)
        html.write_text(driver.page_source)
        saved.append(html)
        entries = driver.get_log("browser")
        console.write_text("".join(f"{e['level']} {e['message']}\n" for e in entries))
        saved.append(console)
    except Exception as exc:  # a dead browser must not hide the test's own failure
        print(f"could not save browser state to {FAILURES_DIR}/{name}.*: {exc!r}")
    return saved


@pytest.fixture
def new_browser(request, tmp_path):
    """Factory for fresh headless Chromium browsers; all quit after the test.

    If the test fails, each leaves screenshot, page source and console log in
    ``<tmp>/browser-failures/``.
    """
    drivers: list[WebDriver] = []

    def make() -> WebDriver:
        n = len(drivers)
        driver = make_chrome(tmp_path / f"chrome-profile-{n}")
        drivers.append(driver)
        return driver

    yield make
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
    failed = _failed(request.node)
    for n, driver in enumerate(drivers):
        if failed:
            for path in _save_failure(driver, f"{safe}-{n}"):
                print(f"browser failure artefact: {path}")
        try:
            driver.quit()
        except Exception:
            pass
    for n in range(len(drivers)):
        remove_profile(tmp_path / f"chrome-profile-{n}")


@pytest.fixture
def browser(new_browser) -> WebDriver:
    """A fresh headless Chromium (1600x1000 viewport), quit after the test."""
    return new_browser()
