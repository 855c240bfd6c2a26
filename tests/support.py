"""The one helper of every test that runs a real server or a real browser.

Servers
    :func:`start_service` (a process in its own group, output in a log file: :class:`Service`)
    and :func:`launch_app` (the app under any command line, on a free loopback port, with its
    own data directory holding trained demo models, answering ``GET /``: :class:`AppServer`).
    ``tests/browser`` runs ``python app.py``, ``tests/security`` and ``tests/deploy`` the
    image's gunicorn command, ``tests/deploy`` also Redis and the Celery worker.
Browsers
    :func:`make_chrome` (headless Debian Chromium, never a downloaded one), :func:`wait_for`,
    :func:`wait_text`, :func:`upload_file`.

Nothing is skipped: without Chromium or ``redis-server`` the tests fail and say which ``make``
target installs it. ``tests/`` is on ``sys.path`` while pytest runs (it has no
``__init__.py``), so test modules ``import support``.
"""

from __future__ import annotations

import atexit
import os
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

import psutil
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from topomap_core import config

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Seconds until a server answers ``GET /`` (TensorFlow-free, but the machine may be busy).
START_TIMEOUT = 180


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- processes


@dataclass(eq=False)
class Service:
    """A process started in its own process group, with its output in ``log_path``."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    def tail(self, chars: int = 15_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:] or "(empty log)"
        except OSError as exc:
            return f"(no log: {exc})"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self) -> set[int]:
        """Every live process of the group (the leader, its pool, its jobs' processes)."""
        pids = set()
        for proc in psutil.process_iter():
            try:
                if os.getpgid(proc.pid) == self.proc.pid and proc.status() != "zombie":
                    pids.add(proc.pid)
            except (ProcessLookupError, psutil.Error):
                pass
        return pids

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM the group, wait up to ``timeout`` s, SIGKILL what is left; seconds taken."""
        t0 = time.monotonic()
        _killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        seconds = time.monotonic() - t0
        self.kill()
        return seconds

    def kill(self) -> None:
        """SIGKILL the whole group now (children can outlive the leader)."""
        _killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(30)
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            _killpg(self.proc.pid, signal.SIGKILL)
            time.sleep(0.1)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)  # start_new_session=True: the group id is the leader's pid
    except (ProcessLookupError, PermissionError):
        pass


def start_service(name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Service:
    """Start ``argv`` in the repository, in a new process group, logging to ``log_path``."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, proc, log_path)


def wait_until(service: Service, ready: Callable[[], bool], what: str, timeout: float) -> None:
    """Wait until ``ready()``; raise with the service's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if service.proc.poll() is not None:
            service.kill()
            raise RuntimeError(
                f"{service.name} exited with code {service.proc.returncode} before {what}.\n"
                f"--- {service.log_path} ---\n{service.tail()}"
            )
        if time.monotonic() > deadline:
            service.kill()
            raise RuntimeError(
                f"{service.name}: no {what} within {timeout:.0f} s.\n"
                f"--- {service.log_path} ---\n{service.tail()}"
            )
        time.sleep(0.25)


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> int:
    """The status of ``GET url`` (HTTP errors included); 0 when nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


# --------------------------------------------------------------------------- the app


_SEEDS: dict[str, Path] = {}


def _trained_demo_models() -> Path:
    """A folder with the trained demo models, trained once per test session when needed.

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
             "p('demo:digits-mlp')"],
            cwd=REPO_ROOT,
            env={**os.environ, "TOPOMAPS_DATA_DIR": str(root)},
            check=True,
            timeout=600,
        )  # fmt: skip
        _SEEDS["trained"] = root / "demo-models"
    return _SEEDS["trained"]


def seed_demo_models(data_dir: Path) -> None:
    """Copy trained demo models into ``data_dir`` so that its servers do not train them."""
    source, target = _trained_demo_models(), Path(data_dir) / "demo-models"
    if source.resolve() == target.resolve():
        return
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.keras"):
        if not (target / path.name).exists():
            shutil.copy2(path, target / path.name)


@dataclass(eq=False)
class AppServer:
    """A running app: its address, data directory and process group."""

    url: str
    data_dir: Path
    port: int
    service: Service

    @property
    def proc(self) -> subprocess.Popen:
        return self.service.proc

    @property
    def log_path(self) -> Path:
        return self.service.log_path

    def log_tail(self, chars: int = 20_000) -> str:
        return self.service.tail(chars)

    def stop(self, timeout: float = 15) -> float:
        """Terminate the whole process group (job processes too); seconds taken."""
        return self.service.stop(timeout)


def app_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment for an app on ``data_dir``: no inherited Redis or shared key."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DASH_SECRET_KEY")}
    env.update(TOPOMAPS_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def launch_app(
    data_dir: Path,
    log_path: Path,
    argv: list[str] | None = None,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    ready_statuses: tuple[int, ...] = (200,),
    timeout: float = START_TIMEOUT,
    name: str = "app",
    seed: bool = True,
) -> AppServer:
    """Start the app on a free loopback port and wait until ``GET /`` answers.

    ``argv`` is ``python app.py`` by default; a command line that binds a port gets
    ``{port}`` in it replaced. ``ready_statuses``: the answers that count as serving (401
    with basic auth on). ``seed=False`` leaves the data directory as it is (a fresh install
    trains its demo model on first use).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if seed:
        seed_demo_models(data_dir)
    port = port or free_port()
    argv = [a.replace("{port}", str(port)) for a in (argv or [sys.executable, "app.py"])]
    env = {**app_env(data_dir), "HOST": "127.0.0.1", "PORT": str(port), **(env or {})}
    service = start_service(name, argv, env, log_path)
    server = AppServer(f"http://127.0.0.1:{port}/", data_dir, port, service)
    wait_until(
        service,
        lambda: http_status(server.url) in ready_statuses,
        f"an answer to GET {server.url}",
        timeout,
    )
    return server


# --------------------------------------------------------------------------- browsers

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

    Debian's ``chromium`` and ``chromium-driver`` are given by path, so Selenium Manager never
    tries to download a browser or a driver. The viewport is ``width`` x ``height``, the
    implicit wait 0 (wait explicitly), and the browser console is recorded
    (``driver.get_log("browser")``). The caller quits the driver.
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
    service = DriverService(
        executable_path=CHROMEDRIVER, log_output=str(driver_log) if driver_log else None
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.implicitly_wait(0)
    # Headless Chromium still reserves room for (invisible) browser chrome: grow the window
    # by the difference so pages and screenshots get the size asked for.
    driver.set_window_size(width, height)
    inner_w, inner_h = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if (inner_w, inner_h) != (width, height):
        driver.set_window_size(width + width - inner_w, height + height - inner_h)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    return driver


def remove_profile(user_data_dir: str | Path) -> None:
    """Delete a profile folder made for :func:`make_chrome` (ignores errors)."""
    shutil.rmtree(user_data_dir, ignore_errors=True)


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
