"""Real-browser tests: the real app in a subprocess, driven by headless Chromium.

Fixtures
    ``app_server``    one app for the whole session (``.url``, ``.data_dir``, ``.port``,
                      ``.proc``, ``.log_path``, ``.log_tail()``, ``.stop()``).
    ``start_server``  factory ``start_server(data_dir=None) -> AppServer`` for a second server
                      or a restart on the same data dir; servers it starts stop after the test.
    ``browser``       a fresh headless Chromium (1600x1000 viewport, implicit wait 0).
    ``new_browser``   factory ``new_browser() -> WebDriver`` for a second, fresh browser.

Helpers (``from tests.browser.conftest import wait_for, wait_text, upload_file``)
    ``wait_for(driver, condition, timeout=60)``, ``wait_text(driver, css, text, timeout=60)``,
    ``upload_file(driver, upload_id, path)``.

On a failing test every browser it used leaves a screenshot, the page source and the browser
console in ``<tmp>/browser-failures/``, and the report shows the tail of the server logs.
Nothing is skipped: without Chromium the tests fail and say to run ``make browser-deps``.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from scripts.chrome import make_chrome, remove_profile
from topomap_core import config

REPO_ROOT = Path(__file__).resolve().parents[2]
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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(eq=False)
class AppServer:
    """A running ``python app.py`` in its own process group."""

    url: str
    data_dir: Path
    port: int
    proc: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 20_000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return text[-chars:] or "(empty log)"

    def stop(self, timeout: float = 15) -> None:
        """Terminate the whole process group (Dash's background job processes too)."""
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Children can outlive the leader; SIGKILL whatever is left in the group.
        _signal_group(self.proc, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session=True: the group id is the leader's pid
    except (ProcessLookupError, PermissionError):
        pass


_SEEDS: dict[str, Path] = {}


def _trained_demo_models() -> Path:
    """A folder with the trained demo MLP, trained once per test session when needed.

    The parent's data dir (``TOPOMAPS_DATA_DIR`` when set, else the repository's default
    ``./cache``, where the app itself would have trained them) is used when it has the MLP;
    on a fresh checkout it does not, and every server would train its own (slowly, and more
    than one process at once for the same data dir).
    """
    parent = Path(os.environ.get("TOPOMAPS_DATA_DIR") or config.DEFAULT_DATA_DIR)
    if (parent / "demo-models" / "digits-mlp.keras").is_file():
        return parent / "demo-models"
    if "trained" not in _SEEDS:
        root = Path(tempfile.mkdtemp(prefix="topomaps-demo-seed-"))
        atexit.register(shutil.rmtree, root, True)
        subprocess.run(
            [sys.executable, "-c", "from topomap_core.io.demo import demo_model_path as p; "
             "p('digits-mlp')"],
            cwd=REPO_ROOT,
            env={**os.environ, "TOPOMAPS_DATA_DIR": str(root), "PYTHONPATH": str(REPO_ROOT)},
            check=True,
            timeout=600,
        )  # fmt: skip
        _SEEDS["trained"] = root / "demo-models"
    return _SEEDS["trained"]


def seed_demo_models(data_dir: Path) -> None:
    """Copy trained demo models into ``data_dir`` so that its servers do not train them."""
    source, target = _trained_demo_models(), data_dir / "demo-models"
    if not target.exists() and source.resolve() != target.resolve():
        shutil.copytree(source, target)


def launch_server(data_dir: Path, log_path: Path, timeout: float = SERVER_START_TIMEOUT):
    """Start ``python app.py`` on a free port with ``data_dir``; wait until GET / is 200."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    seed_demo_models(data_dir)
    port = free_port()
    env = {
        **os.environ,
        "TOPOMAPS_DATA_DIR": str(data_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = AppServer(f"http://127.0.0.1:{port}/", data_dir, port, proc, log_path)
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while True:
        if proc.poll() is not None:
            server.stop()
            raise RuntimeError(
                f"app.py exited with code {proc.returncode} before serving (port {port}).\n"
                f"--- server log ({log_path}) ---\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url, timeout=5) as response:
                if response.status == 200:
                    return server
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"app.py did not answer GET {server.url} with 200 within {timeout:.0f} s "
                f"(last: {last_error}).\n--- server log ({log_path}) ---\n{server.log_tail()}"
            )
        time.sleep(0.25)


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


# --------------------------------------------------------------------------- helpers


def wait_for(driver: WebDriver, condition: Callable, timeout: float = 60, message: str = ""):
    """``WebDriverWait(driver, timeout).until(condition)``; returns the condition's value."""
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, message)


def wait_text(driver: WebDriver, css: str, text: str, timeout: float = 60) -> WebElement:
    """Wait until the element matching ``css`` contains ``text``; return the element."""
    wait_for(
        driver,
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text),
        timeout,
        f"{css!r} never contained {text!r}",
    )
    return driver.find_element(By.CSS_SELECTOR, css)


def upload_file(driver: WebDriver, upload_id: str, path: str | Path, timeout: float = 60) -> None:
    """Upload ``path`` through the ``dcc.Upload`` with id ``upload_id`` (its hidden input)."""
    css = f"#{upload_id} input[type=file]"
    field = wait_for(
        driver,
        ec.presence_of_element_located((By.CSS_SELECTOR, css)),
        timeout,
        f"no file input {css!r}",
    )
    field.send_keys(str(Path(path).resolve()))
