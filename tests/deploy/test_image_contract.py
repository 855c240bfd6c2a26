"""The image's contract, by proxy: the Dockerfile's own CMD and HEALTHCHECK run here.

No container engine runs on the test machines. These tests read ``Dockerfile``,
``docker-compose.yml`` and ``.dockerignore`` and check what they promise, and run the CMD line
(gunicorn serving ``app:server``) in the project's environment on a free loopback port.
"""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import re
import stat
import subprocess
import threading
import time

import pytest

from tests.deploy.conftest import (
    REPO_ROOT,
    compose,
    dockerfile,
    dockerfile_cmd,
    dockerfile_instructions,
    free_port,
    healthcheck_cmd,
    http_get,
    in_venv,
    parse_yaml_subset,
)

SETTINGS = (
    "REDIS_URL",
    "DASH_SECRET_KEY",
    "TOPOMAPS_DATA_DIR",
    "MAX_UPLOAD_MB",
    "TOPOMAPS_AUTH",
    "REDIS_RESULT_TTL",
)


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_dockerfile_is_slim_non_root_pinned_with_health_check_and_volume():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = dockerfile("USER")
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    last_user = max(i for i, (word, _) in enumerate(instructions) if word == "USER")
    assert all(word not in ("RUN", "COPY") for word, _ in instructions[last_user:])
    assert any("/data" in json.loads(v) for v in dockerfile("VOLUME"))
    assert any("TOPOMAPS_DATA_DIR=/data" in env for env in dockerfile("ENV"))
    assert dockerfile("EXPOSE") == ["8050"]

    # Requirements: installed from the pinned file, every line pinned with ==.
    assert any("-r requirements.txt" in run for run in dockerfile("RUN"))
    requirements = [
        line.split("#")[0].strip()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert requirements
    unpinned = [r for r in requirements if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", r)]
    assert not unpinned, f"unpinned requirements: {unpinned}"

    # Served by gunicorn, sized for a 2-core box, with a graceful shutdown.
    cmd = dockerfile_cmd()
    assert cmd[0] == "gunicorn" and cmd[-1] == "app:server"
    assert _option(cmd, "--bind") == "0.0.0.0:8050"
    assert (_option(cmd, "--workers"), _option(cmd, "--threads")) == ("2", "4")
    assert _option(cmd, "--timeout") == "120"
    assert int(_option(cmd, "--graceful-timeout")) > 0

    options, check = healthcheck_cmd()
    assert check[0] == "python" and "/health" in check[-1] and "8050" in check[-1]
    assert {"interval", "timeout", "start-period", "retries"} <= set(options)

    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "cache/*", "tests/"} <= set(ignored)


def test_compose_runs_web_worker_and_redis_from_one_image_on_one_volume():
    config = compose()
    services = config["services"]
    assert set(services) == {"web", "worker", "redis"}
    web, worker, redis = services["web"], services["worker"], services["redis"]
    assert redis["image"].startswith("redis:7-alpine")
    assert redis["command"] == ["redis-server", "--save", "", "--appendonly", "no"]
    assert web["image"] == worker["image"] and web["build"] == worker["build"] == "."
    assert worker["command"][:3] == ["celery", "-A", "app.celery_app"]
    assert "worker" in worker["command"]
    assert "command" not in web, "web runs the image's CMD"
    assert web["volumes"] == worker["volumes"] == ["topomaps-data:/data"]
    assert "topomaps-data" in config["volumes"]
    for service in (web, worker):
        env = service["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["TOPOMAPS_DATA_DIR"] == "/data"
        assert "DASH_SECRET_KEY" in env
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "TOPOMAPS_AUTH" in web["environment"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "inspect ping" in worker["healthcheck"]["test"][1]  # the image's check is HTTP
    assert all(s["restart"] == "unless-stopped" for s in services.values())


def test_yaml_reader_refuses_what_it_does_not_understand():
    assert parse_yaml_subset('a:\n  b: ["x", ""]\n  c:\n    - "1:2"\n') == {
        "a": {"b": ["x", ""], "c": ["1:2"]}
    }
    with pytest.raises(ValueError):
        parse_yaml_subset("a:\n  - x\n  y: 1\n")


def test_every_setting_is_documented_and_passed_by_compose():
    readme = (REPO_ROOT / "README.md").read_text()
    deploy = readme.split("\n## Deploy", 1)[1].split("\n## ", 1)[0]
    web_env = compose()["services"]["web"]["environment"]
    for name in SETTINGS:
        assert f"`{name}`" in deploy, f"{name} is not in the README's Deploy section"
        assert name in web_env, f"docker-compose.yml does not pass {name} to web"


def _serve_status(status: int) -> tuple[http.server.HTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _run_health_check(port: int) -> int:
    _, check = healthcheck_cmd()
    argv = in_venv([part.replace("8050", str(port)) for part in check])
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode


def test_health_check_passes_on_ok_and_401_and_fails_otherwise():
    for status, expected in ((200, 0), (401, 0), (500, 1), (404, 1)):
        server, port = _serve_status(status)
        try:
            assert _run_health_check(port) == expected, f"HTTP {status}"
        finally:
            server.shutdown()
            server.server_close()
    assert _run_health_check(free_port()) != 0  # nothing listening


def test_image_cmd_serves_the_app_and_stops_gracefully(deployment):
    data_dir = deployment.data_dir()
    t0 = time.monotonic()
    web = deployment.web(data_dir)
    print(f"CMD up (GET / is 200) in {time.monotonic() - t0:.1f} s")

    status, headers, body = http_get(web.url)
    assert status == 200 and "<title>topomaps</title>" in body.decode()
    status, headers, body = http_get(web.url + "_dash-layout")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert "props" in json.loads(body)
    assert http_get(web.url + "health")[:3:2] == (200, b"OK")
    assert _run_health_check(web.port) == 0
    assert len(web.worker_pids()) == 2, "the CMD asks for 2 gunicorn workers"

    # A second server on the same data: its very first requests, all at once, are for the
    # page's scripts, and every one loads (Dash's first-request setup races under threads,
    # plotly/dash#3971: without app.py's eager setup most of these fail with 500).
    scripts = re.findall(r'src="(/_dash-component-suites/[^"]+)"', http_get(web.url)[2].decode())
    assert scripts
    fresh = deployment.web(data_dir, wait_http=False)
    urls = [fresh.url.rstrip("/") + src for src in scripts] * 8
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda u: http_get(u, timeout=60)[0], urls))
    assert statuses == [200] * len(urls), fresh.log_tail()
    fresh.service.stop()

    # Without DASH_SECRET_KEY both workers share a generated key kept in the data dir.
    key_file = data_dir / "secret_key"
    assert key_file.is_file() and len(key_file.read_text().strip()) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "DASH_SECRET_KEY is not set" in web.log_tail()

    seconds = web.service.stop(timeout=40)
    graceful = int(_option(dockerfile_cmd(), "--graceful-timeout"))
    print(f"SIGTERM to exit: {seconds:.1f} s")
    assert web.proc.returncode == 0, web.log_tail()
    assert seconds < graceful
    assert not web.service.pids()
    assert _run_health_check(web.port) != 0
