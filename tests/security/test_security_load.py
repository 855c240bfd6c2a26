"""Load: 20 concurrent clients on loopback against the real server, bounded in time and count.

The server is ``gunicorn app:server`` with 2 workers x 4 threads and basic auth on
(``live_server``). Each client is a thread with its own keep-alive connection. Zero errors are
required; p50 / p95 latencies are printed (``pytest -s``) and recorded in
``docs/RELIABILITY.md`` (section "Load").
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import requests
from security_support import FAST, control_values

from layouts.ids import ID

CLIENTS = 20
REQUESTS_PER_CLIENT = 25
TIME_LIMIT_S = 60.0


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    unfinished: int = 0

    def summary(self, label: str) -> str:
        ms = np.asarray(self.latencies) * 1000
        p50, p95, p99 = np.percentile(ms, [50, 95, 99]) if len(ms) else (np.nan,) * 3
        return (
            f"{label}: {len(self.latencies)} requests from {CLIENTS} clients in "
            f"{self.elapsed:.1f} s ({len(self.latencies) / self.elapsed:.0f} req/s), "
            f"errors {len(self.errors)}, unfinished {self.unfinished}; latency ms "
            f"p50 {p50:.0f}, p95 {p95:.0f}, p99 {p99:.0f}, max {ms.max():.0f}"
        )


def hammer(request: Callable[[requests.Session], str | None], per_client: int) -> LoadResult:
    """Run ``request(session)`` ``per_client`` times in each of :data:`CLIENTS` threads.

    ``request`` returns None when the answer was right, else what was wrong. Threads stop
    starting requests after :data:`TIME_LIMIT_S` (those left count as unfinished).
    """
    result = LoadResult()
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    deadline = [0.0]

    def client() -> None:
        with requests.Session() as session:
            start.wait()
            for n in range(per_client):
                if time.monotonic() > deadline[0]:
                    with lock:
                        result.unfinished += per_client - n
                    return
                t0 = time.perf_counter()
                try:
                    problem = request(session)
                except requests.RequestException as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                latency = time.perf_counter() - t0
                with lock:
                    result.latencies.append(latency)
                    if problem:
                        result.errors.append(problem)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + TIME_LIMIT_S
    t0 = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join(TIME_LIMIT_S + 60)
    result.elapsed = time.perf_counter() - t0
    return result


def test_cached_view_callback_under_load(live_server, cached_view):
    """20 clients x 25 POSTs of the controls-changed callback, answered from the cache."""
    body = live_server.callbacks.body(
        f"{ID.RESULT_STORE}.data", {**control_values(FAST), f"{ID.URL_WARNINGS}.data": []}
    )
    data = json.dumps(body).encode()
    headers = {**live_server.auth, "Content-Type": "application/json"}
    url = live_server.url + "_dash-update-component"
    expected_key = cached_view["key"]

    def request(session: requests.Session) -> str | None:
        reply = session.post(url, data=data, headers=headers, timeout=TIME_LIMIT_S)
        if reply.status_code != 200:
            return f"HTTP {reply.status_code}: {reply.text[:200]}"
        response = reply.json()["response"]
        if response[ID.RESULT_STORE]["data"]["key"] != expected_key:
            return f"not the cached view: {response[ID.STATUS]['children'][:200]}"
        return None

    with requests.Session() as warm:  # both workers up, Dash set up, cache opened
        for _ in range(6):
            assert request(warm) is None

    result = hammer(request, REQUESTS_PER_CLIENT)
    print("\n" + result.summary("cached-view callback"))
    assert result.errors == [], result.errors[:5]
    assert result.unfinished == 0 and len(result.latencies) == CLIENTS * REQUESTS_PER_CLIENT
    assert live_server.serves()


def test_page_and_layout_under_load(live_server):
    """20 clients x 10 page loads (GET / then GET /_dash-layout, as the browser starts)."""
    headers = live_server.auth

    def request(session: requests.Session) -> str | None:
        page = session.get(live_server.url, headers=headers, timeout=TIME_LIMIT_S)
        if page.status_code != 200 or "_dash-renderer" not in page.text:
            return f"page: HTTP {page.status_code}"
        layout = session.get(live_server.url + "_dash-layout", headers=headers, timeout=60)
        if layout.status_code != 200 or ID.MAPS_GRAPH not in layout.text:
            return f"layout: HTTP {layout.status_code}"
        return None

    result = hammer(request, 10)
    print("\n" + result.summary("page + layout"))
    assert result.errors == [], result.errors[:5]
    assert result.unfinished == 0 and len(result.latencies) == CLIENTS * 10
    assert live_server.serves()
