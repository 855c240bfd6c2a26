"""Deployment tests: the image's contract, Celery scale-out and faults, without a container.

No container engine runs here, so the tests run what the image and the compose file would
run, read from ``Dockerfile`` and ``docker-compose.yml`` themselves, in the project's
``.venv``: the program (``gunicorn``, ``celery``, ``python``) becomes the ``.venv`` one, the
bind address a free loopback port, ``TOPOMAPS_DATA_DIR`` a temporary folder, and Redis a real
``redis-server`` on a free port (``--save '' --appendonly no``, in a temporary folder).

Fixtures
    ``deployment``  a :class:`Deployment`: ``redis()``, ``worker(redis_url, data_dir)``,
                    ``web(data_dir, redis_url=None)``, ``data_dir()``; everything it started is
                    killed (whole process groups) after the test, and a failing test shows
                    every service's log.
    ``browser``, ``new_browser``  headless Chromium, from ``tests/browser/conftest.py``.

Helpers
    :func:`dockerfile`, :func:`dockerfile_cmd`, :func:`healthcheck_cmd`, :func:`compose`
    (a reader for the small YAML subset ``docker-compose.yml`` uses), :func:`http_get`.

Nothing is skipped: without ``redis-server`` the tests fail and say to run
``make services-deps``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from browser.conftest import (  # noqa: F401 - browser, new_browser: fixtures for these tests
    _REPORTS,
    browser,
    new_browser,
)
from support import (  # noqa: F401 - upload_file, wait_text: helpers of these tests
    REPO_ROOT,
    AppServer,
    Service,
    app_env,
    free_port,
    seed_demo_models,
    start_service,
    upload_file,
    wait_for,
    wait_text,
    wait_until,
)

DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
#: The project's programs: ``gunicorn`` in the image is ``.venv/bin/gunicorn`` here.
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT = 180  # seconds for a service to come up (TensorFlow-free, but a busy machine)
DEPLOY_TEST_TIMEOUT = 900  # per test (pytest-timeout)


# --------------------------------------------------------------------------- pytest hooks


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test in this folder a generous but finite timeout."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(item.path).resolve().parents and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(DEPLOY_TEST_TIMEOUT))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Show every service's log when a test fails (and let ``new_browser`` save artefacts)."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    deployment = getattr(item, "funcargs", {}).get("deployment")
    if report.failed and isinstance(deployment, Deployment):
        for service in deployment.services:
            report.sections.append((f"{service.name} log ({service.log_path})", service.tail()))
    return report


# --------------------------------------------------------------------------- the files


def dockerfile_instructions(text: str | None = None) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined."""
    text = DOCKERFILE.read_text() if text is None else text
    instructions, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        instructions.append((word.upper(), rest.strip()))
        current = ""
    return instructions


def dockerfile(instruction: str) -> list[str]:
    """The arguments of every ``instruction`` line of the Dockerfile, in order."""
    return [rest for word, rest in dockerfile_instructions() if word == instruction.upper()]


def dockerfile_cmd() -> list[str]:
    """The Dockerfile's ``CMD``, which must be in JSON exec form."""
    (cmd,) = dockerfile("CMD")
    return json.loads(cmd)


def healthcheck_cmd() -> tuple[dict[str, str], list[str]]:
    """The ``HEALTHCHECK``'s options (``{"interval": "30s", ...}``) and exec-form command."""
    (line,) = dockerfile("HEALTHCHECK")
    options_text, sep, cmd = line.partition(" CMD ")
    assert sep, f"HEALTHCHECK without CMD: {line!r}"
    options = dict(opt.lstrip("-").split("=", 1) for opt in options_text.split())
    return options, json.loads(cmd)


def _scalar(text: str) -> Any:
    text = text.strip()
    if text[:1] in '["{':
        return json.loads(text)
    if text[:1] == "'" and text[-1:] == "'":
        return text[1:-1]
    return text


def parse_yaml_subset(text: str) -> Any:
    """Read the YAML subset of ``docker-compose.yml`` (PyYAML is not a dependency).

    Block mappings, block sequences of scalars, plain scalars and JSON-style flow values
    (``["a", "b"]``, ``"quoted"``); full-line comments. Anything else is an error, so the
    compose file stays within what this reads.
    """
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ValueError(f"line {number}: tab in indentation")
        lines.append((len(raw) - len(raw.lstrip()), raw.strip(), number))

    def block(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1].startswith("- "):
            items = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                items.append(_scalar(lines[i][1][2:]))
                i += 1
            return items, i
        mapping: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent:
            _, content, number = lines[i]
            match = re.fullmatch(r"([A-Za-z0-9_.-]+):(?:\s+(.*))?", content)
            if not match:
                raise ValueError(f"line {number}: not a 'key: value' line: {content!r}")
            key, value = match.groups()
            i += 1
            if value is not None:
                mapping[key] = _scalar(value)
            elif i < len(lines) and lines[i][0] > indent:
                mapping[key], i = block(i, lines[i][0])
            else:
                mapping[key] = None
        if i < len(lines) and lines[i][0] > indent:
            raise ValueError(f"line {lines[i][2]}: unexpected indentation")
        return mapping, i

    value, end = block(0, lines[0][0]) if lines else ({}, 0)
    if end != len(lines):
        raise ValueError(f"line {lines[end][2]}: unexpected indentation")
    return value


def compose() -> dict[str, Any]:
    """``docker-compose.yml`` as a dict."""
    return parse_yaml_subset(COMPOSE_FILE.read_text())


def in_venv(argv: list[str]) -> list[str]:
    """``argv`` with its program (``gunicorn``, ``celery``, ``python``) taken from ``.venv``."""
    program = sys.executable if argv[0] in ("python", "python3") else str(VENV_BIN / argv[0])
    assert Path(program).is_file(), f"{argv[0]} is not installed in {VENV_BIN}"
    return [program, *argv[1:]]


# --------------------------------------------------------------------------- HTTP


def http_get(url: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# --------------------------------------------------------------------------- services


def _wait(service: Service, ready, what: str, timeout: float = START_TIMEOUT) -> None:
    """Wait until ``ready()`` is true; fail with the service's log if it exits or times out."""
    try:
        wait_until(service, ready, what, timeout)
    except RuntimeError as exc:
        pytest.fail(str(exc))


def redis_server_path() -> str:
    """The ``redis-server`` program; fails the test with the install hint when missing."""
    path = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").is_file() else None
    )
    if path is None:
        pytest.fail(
            "redis-server is not installed: run `make services-deps` (Debian's redis-server "
            "package) to run the deployment tests."
        )
    return path


@dataclass(eq=False)
class WebServer(AppServer):
    """The image's CMD (gunicorn) running here."""

    def worker_pids(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children()]
        except psutil.NoSuchProcess:
            return []


@dataclass(eq=False)
class Deployment:
    """Starts redis, Celery workers and web servers for one test; stops them all after it."""

    tmp: Path
    services: list[Service] = field(default_factory=list)

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> Service:
        service = start_service(name, argv, env, self.tmp / f"{name}-{len(self.services)}.log")
        self.services.append(service)
        return service

    def env(self, data_dir: Path, redis_url: str | None = None, **extra: str) -> dict[str, str]:
        """This environment with the deployment's settings (and no inherited ones)."""
        return app_env(data_dir, **({"REDIS_URL": redis_url} if redis_url else {}), **extra)

    def data_dir(self, name: str = "data") -> Path:
        """A fresh data directory (the ``/data`` volume) with the demo models already trained."""
        path = self.tmp / name
        path.mkdir(parents=True, exist_ok=True)
        seed_demo_models(path)
        return path

    def redis(self) -> tuple[Service, str]:
        """A real ``redis-server`` on a free port, without persistence; ``(service, url)``."""
        import redis

        port = free_port()
        folder = self.tmp / f"redis-{port}"
        folder.mkdir()
        argv = [redis_server_path(), "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
        service = self._start("redis", argv, dict(os.environ))
        client = redis.Redis(port=port, socket_timeout=1)

        def ready() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        _wait(service, ready, "PONG", timeout=30)
        return service, f"redis://127.0.0.1:{port}/0"

    def worker(self, redis_url: str, data_dir: Path, **extra_env: str) -> Service:
        """The compose file's ``worker`` command, ready to take jobs."""
        argv = in_venv(compose()["services"]["worker"]["command"])
        service = self._start("worker", argv, self.env(data_dir, redis_url, **extra_env))
        _wait(service, lambda: re.search(r"celery@\S+ ready", service.log()), "'ready' line")
        return service

    def web(
        self,
        data_dir: Path,
        redis_url: str | None = None,
        port: int | None = None,
        wait_http: bool = True,
        **extra_env: str,
    ) -> WebServer:
        """The Dockerfile's CMD on a free loopback port, answering ``GET /`` with 200.

        ``wait_http=False``: return as soon as the port accepts connections, before any
        request has reached a gunicorn worker.
        """
        port = port or free_port()
        argv = in_venv(dockerfile_cmd())
        argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
        # gunicorn's control socket defaults to ~/.gunicorn/gunicorn.ctl: one per container in
        # the image, but shared by every gunicorn on this machine. Give this one its own.
        argv += ["--control-socket", str(self.tmp / f"gunicorn-{port}-{len(self.services)}.ctl")]
        service = self._start("web", argv, self.env(data_dir, redis_url, **extra_env))
        server = WebServer(f"http://127.0.0.1:{port}/", data_dir, port, service)

        def ready() -> bool:
            try:
                if not wait_http:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return True
                return http_get(server.url, timeout=5)[0] == 200
            except OSError:
                return False

        _wait(service, ready, f"200 on GET {server.url}" if wait_http else f"port {port} open")
        return server

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.kill()


@pytest.fixture
def deployment(tmp_path):
    """A :class:`Deployment` in ``tmp_path``; every process it started is killed afterwards."""
    deployment = Deployment(tmp_path / "deployment")
    deployment.tmp.mkdir()
    yield deployment
    deployment.stop_all()
    left = {s.name: s.pids() for s in deployment.services if s.pids()}
    assert not left, f"processes left after the test: {left}"


# --------------------------------------------------------------------------- the page


def open_view(driver, server: AppServer, **params: Any) -> None:
    """Open the dashboard at ``server`` with URL parameters; wait until the controls settle."""
    from urllib.parse import urlencode

    from layouts.ids import ID

    driver.get(server.url + ("?" + urlencode(params) if params else ""))
    wait_text(driver, f"#{ID.STATUS}", "", 120)
    for key, cid in (("layer", ID.LAYER_SELECT), ("method", ID.METHOD_SELECT)):
        if key in params:
            wait_text(driver, f"#{cid}", str(params[key]), 180)
    wait_for(
        driver,
        lambda d: any(
            text in d.find_element("id", ID.STATUS).text
            for text in ("Not computed", "stored result")
        ),
        180,
        "the page never said whether the view is stored",
    )


def click_run(driver) -> None:
    from selenium.webdriver.common.by import By

    from layouts.ids import ID

    wait_for(driver, lambda d: d.find_element(By.ID, ID.RUN_BUTTON).is_enabled(), 60)
    driver.find_element(By.ID, ID.RUN_BUTTON).click()


def status(driver) -> str:
    from layouts.ids import ID

    return driver.find_element("id", ID.STATUS).text


def heatmaps(driver) -> int:
    """How many maps the maps graph shows."""
    from layouts.ids import ID

    return driver.execute_script(
        f"const g = document.querySelector('#{ID.MAPS_GRAPH} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.filter(t => t.type === 'heatmap').length : 0;"
    )


def jobs_logged(data_dir: Path) -> list[str]:
    log = Path(data_dir) / "jobs.log"
    return log.read_text().splitlines() if log.exists() else []


def compute_processes(service: Service) -> list[psutil.Process]:
    """The job processes (``topomap_core.jobs.worker``) in ``service``'s group."""
    found = []
    for pid in service.pids():
        try:
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
        except psutil.Error:
            continue
        if "topomap_core.jobs.worker" in cmdline:
            found.append(proc)
    return found


def small_model_bytes(hidden_units: tuple[int, ...], folder: Path) -> bytes:
    """A ``.keras`` file: (8, 8, 1) -> Flatten -> Dense "hidden" [-> Dense "second"] -> 10."""
    import keras

    layers = [keras.Input((8, 8, 1), name="image"), keras.layers.Flatten(name="flatten")]
    for name, units in zip(("hidden", "second"), hidden_units, strict=False):
        layers.append(keras.layers.Dense(units, activation="relu", name=name))
    layers.append(keras.layers.Dense(10, activation="softmax", name="out"))
    keras.utils.set_random_seed(0)
    path = folder / f"model-{'-'.join(map(str, hidden_units))}.keras"
    keras.Sequential(layers).save(path)
    return path.read_bytes()


@pytest.fixture(scope="session")
def wide_model(tmp_path_factory):
    """``add(data_dir) -> model id``: stores a 6000-neuron model, whose plain-PSO layout
    takes minutes, so a job on it is surely still running when a test interferes."""
    from topomap_core.store import Store

    content = small_model_bytes((6000,), tmp_path_factory.mktemp("wide-model"))

    def add(data_dir: Path) -> str:
        return Store(data_dir).add_model(content, "wide.keras")

    return add
