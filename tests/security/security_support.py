"""Helpers of the security tests (imported by their conftest and the tests; this folder has
no ``__init__.py``, so that no package named ``security`` hides the top-level ``security.py``).

:class:`LiveServer` (a ``gunicorn app:server`` with basic auth; ``.get`` / ``.post`` /
``.callback`` send the right credentials), :func:`launch_gunicorn`, :func:`compute_view`,
:func:`as_upload` (what ``dcc.Upload`` sends), :class:`Callbacks` (the Dash request body of a
callback, built from ``/_dash-dependencies`` as the browser builds it).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from callbacks.state import DEFAULTS
from security import basic_auth_header
from topomap_core import config

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Users of the live server: alice by plain password, bob by the SHA-256 of his.
AUTH = {"alice": "wonder land", "bob": "builder"}
AUTH_ENV_VALUE = (
    "alice:wonder land, bob:sha256:df6b07176a9b17cc4c9afc257bd404732e7d09b76436c7890f7b7be14e579794"
)
#: Upload cap of the live server (small, so the request cap can be tested cheaply).
SERVER_UPLOAD_MB = 2
#: A quick view (PCA, 30 examples per group) of the demo.
FAST = {**DEFAULTS, "per_group": 30, "method": "PCA"}
SERVER_START_TIMEOUT = 240


def as_upload(content: bytes, mime: str = "application/octet-stream") -> str:
    """What ``dcc.Upload`` hands a callback: a base64 data URL."""
    return f"data:{mime};base64," + base64.b64encode(content).decode("ascii")


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed_demo_models(target: Path) -> None:
    """Copy trained demo models into ``target/demo-models`` (from ``TOPOMAPS_DATA_DIR`` or the
    repository's ``cache/``) so they are not trained again; the worker trains missing ones."""
    dest = target / "demo-models"
    for parent in (os.environ.get("TOPOMAPS_DATA_DIR"), str(config.DEFAULT_DATA_DIR)):
        source = Path(parent) / "demo-models" if parent else None
        if source is None or not source.is_dir() or source.resolve() == dest.resolve():
            continue
        dest.mkdir(parents=True, exist_ok=True)
        for path in source.glob("*.keras"):
            if not (dest / path.name).exists():
                shutil.copy2(path, dest / path.name)


# ----------------------------------------------------------------------------- callbacks


class Callbacks:
    """Dash callback requests as the browser sends them, from ``/_dash-dependencies``."""

    def __init__(self, dependencies: list[dict[str, Any]]):
        self.dependencies = dependencies

    def find(self, first_output: str) -> dict[str, Any]:
        """The callback whose first output is exactly ``"id.prop"`` (not an ``@`` duplicate)."""
        for dep in self.dependencies:
            first = _split_outputs(dep["output"])[0]
            if f"{first['id']}.{first['property']}" == first_output:
                return dep
        raise KeyError(f"no callback with first output {first_output!r}")

    def body(
        self, first_output: str, values: dict[str, Any], changed: list[str] | None = None
    ) -> dict[str, Any]:
        """The request body; ``values`` maps ``"id.prop"`` of inputs and states to values."""
        dep = self.find(first_output)
        outputs = _split_outputs(dep["output"])

        def items(kind: str) -> list[dict[str, Any]]:
            out = []
            for item in dep[kind]:
                key = f"{item['id']}.{item['property']}"
                out.append({"id": item["id"], "property": item["property"], "value": values[key]})
            return out

        inputs = items("inputs")
        multi = dep["output"].startswith("..")
        return {
            "output": dep["output"],
            "outputs": outputs if multi else outputs[0],
            "inputs": inputs,
            "changedPropIds": changed or [f"{inputs[0]['id']}.{inputs[0]['property']}"],
            "state": items("state"),
        }


def _split_outputs(output: str) -> list[dict[str, str]]:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    result = []
    for part in parts:
        id_, prop = part.rsplit(".", 1)
        result.append({"id": id_, "property": prop})
    return result


def response_text(payload: dict[str, Any]) -> str:
    """Every text of a callback response, flattened (to look for the user's message)."""
    return json.dumps(payload.get("response", payload), ensure_ascii=False)


# --------------------------------------------------------------------------------- server


@dataclass(eq=False)
class LiveServer:
    """``gunicorn app:server`` in its own process group, with basic auth."""

    url: str
    data_dir: Path
    proc: subprocess.Popen
    log_path: Path
    auth: dict[str, str] = field(default_factory=lambda: basic_auth_header("alice", AUTH["alice"]))
    _callbacks: Callbacks | None = None

    def get(self, path: str, auth: bool = True, **kwargs: Any) -> requests.Response:
        headers = {**(self.auth if auth else {}), **kwargs.pop("headers", {})}
        return requests.get(self.url + path.lstrip("/"), headers=headers, timeout=120, **kwargs)

    def post(self, path: str, auth: bool = True, **kwargs: Any) -> requests.Response:
        headers = {**(self.auth if auth else {}), **kwargs.pop("headers", {})}
        return requests.post(self.url + path.lstrip("/"), headers=headers, timeout=300, **kwargs)

    @property
    def callbacks(self) -> Callbacks:
        if self._callbacks is None:
            response = self.get("/_dash-dependencies")
            response.raise_for_status()
            self._callbacks = Callbacks(response.json())
        return self._callbacks

    def callback(
        self, first_output: str, values: dict[str, Any], changed: list[str] | None = None
    ) -> requests.Response:
        """POST one callback to ``/_dash-update-component`` (204 when it did not update)."""
        body = self.callbacks.body(first_output, values, changed)
        return self.post("/_dash-update-component", json=body)

    def serves(self) -> bool:
        """GET / answers 200 (the server survived whatever came before) and it still runs."""
        return self.proc.poll() is None and self.get("/").status_code == 200

    def log_tail(self, chars: int = 20_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(no log: {exc})"

    def stop(self, timeout: float = 20) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                continue


def launch_gunicorn(data_dir: Path, log_path: Path, extra_env: dict[str, str]) -> LiveServer:
    """Start ``gunicorn app:server`` (2 workers x 4 threads) on 127.0.0.1; wait for GET /."""
    data_dir.mkdir(parents=True, exist_ok=True)
    seed_demo_models(data_dir)
    port = free_port()
    env = {
        **os.environ,
        "TOPOMAPS_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    env.pop("REDIS_URL", None)  # the embedded job queue, whatever the caller's shell says
    command = [
        sys.executable, "-m", "gunicorn",
        "--workers", "2", "--threads", "4", "--worker-class", "gthread",
        "--bind", f"127.0.0.1:{port}",
        "--timeout", "300", "--graceful-timeout", "5",
        "app:server",
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}/", data_dir, proc, log_path)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last = "no answer yet"
    while True:
        if proc.poll() is not None:
            server.stop()
            raise RuntimeError(f"gunicorn exited ({proc.returncode}):\n{server.log_tail()}")
        try:
            response = server.get("/")
            if response.status_code == 200:
                return server
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"gunicorn did not serve GET / ({last}):\n{server.log_tail()}")
        time.sleep(0.5)


def compute_view(data_dir: Path, values: dict[str, Any]) -> dict[str, Any]:
    """Compute a view into ``data_dir``'s store with a ``callbacks.worker`` process."""
    from dataclasses import asdict

    from callbacks.state import build_request

    request = build_request(values)
    job = json.dumps({"data_dir": str(data_dir), "request": asdict(request)})
    env = {**os.environ, "TOPOMAPS_DATA_DIR": str(data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "callbacks.worker"],
        cwd=REPO_ROOT,
        env=env,
        input=job,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@topomaps ")]
    outcome = json.loads(lines[-1].removeprefix("@@topomaps ")) if lines else {}
    assert outcome.get("ok"), f"worker failed: {outcome or proc.stderr[-3000:]}"
    return {"request": asdict(request), "key": outcome["key"]}


def control_values(values: dict[str, Any]) -> dict[str, Any]:
    """``"id.value"`` -> value for the eight controls (as the cached-view callback gets them)."""
    from callbacks.common import CONTROL_IDS, CONTROL_ORDER

    return {
        f"{cid}.value": values[key] for cid, key in zip(CONTROL_IDS, CONTROL_ORDER, strict=True)
    }
