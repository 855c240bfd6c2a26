"""Uploads in bounded memory (issue 20 item 2), against the real server.

``gunicorn app:server`` (2 workers x 4 threads, basic auth on) with the default upload cap
(``MAX_UPLOAD_MB`` 200), not the live server's 2 MB. Files are sent as the page sends them
(``assets/uploads.js``): their bytes, streamed, to ``POST /_topomaps/upload/<kind>``. The
RSS of every gunicorn worker is sampled while they arrive. Before, an upload travelled as
base64 in a Dash callback, decoded in memory: an 80 MB ``.npz`` took a worker from 207 to 712
MB, a 186 MB one to 1388 MB (``benchmarks/bench_uploads.py``, ``docs/RELIABILITY.md``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from security_support import AUTH_ENV_VALUE, launch_gunicorn

from layouts.controls import uploaded_id
from layouts.ids import ID
from topomap_core.store import Store

MB = 2**20
#: Most a worker's RSS may grow while it receives files (it held about 3 times the file).
GROWTH_LIMIT_MB = 40


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory, demo_models):
    tmp = tmp_path_factory.mktemp("upload-server")
    server = launch_gunicorn(
        tmp / "data",
        tmp / "gunicorn.log",
        {"TOPOMAPS_AUTH": AUTH_ENV_VALUE, "TOPOMAPS_SPARE_WORKERS": "0"},
    )
    yield server
    server.stop()


def _npz(path: Path, megabytes: int, seed: int) -> Path:
    n = megabytes * MB // (28 * 28 * 4)
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.random((n, 28, 28, 1), dtype=np.float32), y=np.arange(n) % 10)
    return path


class PeakRSS:
    """Samples the RSS of the server's gunicorn workers every 20 ms while in a ``with``."""

    def __init__(self, server):
        self.workers = psutil.Process(server.proc.pid).children()
        self.before = {w.pid: w.memory_info().rss for w in self.workers}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for worker in self.workers:
                self.peak[worker.pid] = max(self.peak[worker.pid], worker.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def growth_mb(self) -> float:
        """The largest growth of one worker, MB."""
        return max(self.peak[pid] - self.before[pid] for pid in self.peak) / MB

    def text(self) -> str:
        return ", ".join(
            f"{self.before[pid] / MB:.0f} -> {self.peak[pid] / MB:.0f} MB" for pid in self.peak
        )


def _send(server, path: Path):
    with open(path, "rb") as fh:  # a file object: streamed from disk, as the browser does
        return server.upload("data", path.name, fh)


def test_a_large_upload_is_streamed_and_the_web_process_stays_small(upload_server, tmp_path):
    path = _npz(tmp_path / "large.npz", 80, seed=1)
    with PeakRSS(upload_server) as rss:
        reply = _send(upload_server, path)
    assert reply.status_code == 200, reply.text[:300]
    answer = reply.json()
    assert answer["ok"] and answer["ref"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rss.growth_mb() < GROWTH_LIMIT_MB, rss.text()
    # The page hands the answer to the zone's callback, which selects the file.
    response = upload_server.callback(
        f"{ID.DATA_SELECT}.options",
        {f"{uploaded_id(ID.DATA_UPLOAD)}.data": answer, f"{ID.DATA_SELECT}.value": "demo:digits"},
    ).json()["response"]
    assert response[ID.DATA_SELECT]["value"] == answer["ref"]
    assert response[ID.DATA_MESSAGE]["children"]["props"]["children"] == "Stored large.npz."
    print(f"\n80 MB upload: worker RSS {rss.text()}")


def test_uploads_at_once_are_all_stored_intact(upload_server, tmp_path):
    paths = [_npz(tmp_path / f"at-once-{i}.npz", 30, seed=10 + i) for i in range(4)]
    replies: list = [None] * len(paths)
    start = threading.Barrier(len(paths))

    def send(i: int) -> None:
        start.wait()
        replies[i] = _send(upload_server, paths[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(paths))]
    with PeakRSS(upload_server) as rss:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    listed = {item["id"]: item["name"] for item in Store(upload_server.data_dir).list_data()}
    for path, reply in zip(paths, replies, strict=True):
        assert reply.status_code == 200, reply.text[:300]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert reply.json()["ref"] == digest and listed[digest] == path.name
        stored = upload_server.data_dir / "data" / f"{digest}.npz"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    assert rss.growth_mb() < GROWTH_LIMIT_MB, rss.text()
    print(f"\n4 x 30 MB at once: worker RSS {rss.text()}")
    assert upload_server.serves()
