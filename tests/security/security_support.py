"""Helpers of the security tests (imported by their conftest and the tests; this folder has
no ``__init__.py``, so that no package named ``security`` hides the top-level ``security.py``).

:class:`LiveServer` (a ``gunicorn app:server`` with basic auth, started by ``tests/support.py``;
``.get`` / ``.post`` / ``.callback`` send the right credentials), :func:`launch_gunicorn`,
:func:`compute_view`,
:meth:`LiveServer.upload` (what the page's upload zone sends, ``assets/uploads.js``),
:class:`Callbacks` (the Dash request body of a callback, built from ``/_dash-dependencies`` as
the browser builds it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from support import REPO_ROOT, AppServer, launch_app, seed_demo_models

from callbacks.maps import INPUTS
from layouts.controls import DEFAULTS as VIEW_DEFAULTS
from security import basic_auth_header

__all__ = ["REPO_ROOT", "seed_demo_models"]  # also the security tests' helpers

#: Users of the live server: alice by plain password, bob by the SHA-256 of his.
AUTH = {"alice": "wonder land", "bob": "builder"}
AUTH_ENV_VALUE = (
    "alice:wonder land, bob:sha256:df6b07176a9b17cc4c9afc257bd404732e7d09b76436c7890f7b7be14e579794"
)
#: Upload cap of the live server (small, so the request cap can be tested cheaply).
SERVER_UPLOAD_MB = 2
#: The Maps tab's controls on a plain load.
DEFAULTS = {name: VIEW_DEFAULTS[name] for name, _ in INPUTS}
#: A quick view (PCA, 30 examples per group) of the demo.
FAST = {**DEFAULTS, "per_group": 30, "method": "PCA"}
SERVER_START_TIMEOUT = 240


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
        """The request body; ``values`` maps ``"id.prop"`` of inputs and states to values
        (None for one it does not name)."""
        dep = self.find(first_output)
        outputs = _split_outputs(dep["output"])

        def items(kind: str) -> list[dict[str, Any]]:
            out = []
            for item in dep[kind]:
                key = f"{item['id']}.{item['property']}"
                out.append(
                    {"id": item["id"], "property": item["property"], "value": values.get(key)}
                )
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
    """``gunicorn app:server`` (:class:`support.AppServer`), with basic auth."""

    server: AppServer
    auth: dict[str, str] = field(default_factory=lambda: basic_auth_header("alice", AUTH["alice"]))
    _callbacks: Callbacks | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def proc(self) -> subprocess.Popen:
        return self.server.proc

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

    def upload(self, kind: str, filename: str, content: Any) -> requests.Response:
        """POST a file to the upload route as the page does: its bytes (or a file object, or
        an iterator of chunks: sent chunked, with no length) as the body."""
        return self.post(
            f"/_topomaps/upload/{kind}",
            params={"name": filename},
            data=content,
            headers={"Content-Type": "application/octet-stream"},
        )

    def serves(self) -> bool:
        """GET / answers 200 (the server survived whatever came before) and it still runs."""
        return self.proc.poll() is None and self.get("/").status_code == 200

    def log_tail(self, chars: int = 20_000) -> str:
        return self.server.log_tail(chars)

    def stop(self, timeout: float = 20) -> None:
        self.server.stop(timeout)


def launch_gunicorn(data_dir: Path, log_path: Path, extra_env: dict[str, str]) -> LiveServer:
    """Start ``gunicorn app:server`` (2 workers x 4 threads) on 127.0.0.1; wait for GET /."""
    command = [
        sys.executable, "-m", "gunicorn",
        "--workers", "2", "--threads", "4", "--worker-class", "gthread",
        "--bind", "127.0.0.1:{port}",
        "--timeout", "300", "--graceful-timeout", "5",
        "app:server",
    ]  # fmt: skip
    # 401 is serving too: basic auth is on.
    server = launch_app(
        data_dir,
        log_path,
        command,
        env=extra_env,
        ready_statuses=(200, 401),
        timeout=SERVER_START_TIMEOUT,
        name="gunicorn",
    )
    return LiveServer(server)


def compute_view(data_dir: Path, values: dict[str, Any]) -> dict[str, Any]:
    """Compute a view into ``data_dir``'s store with a job process (as the Run button would)."""
    from dataclasses import asdict

    from callbacks.maps import view_request

    _, request = view_request(values)
    job = json.dumps({"job": "view", "data_dir": str(data_dir), "request": asdict(request)})
    env = {**os.environ, "TOPOMAPS_DATA_DIR": str(data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "topomap_core.jobs.worker"],
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
    return {f"{cid}.value": values[name] for name, cid in INPUTS}
