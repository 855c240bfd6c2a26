"""Uploads and the web process's memory: this tree against an earlier commit, side by side.

    python benchmarks/bench_uploads.py --before 9a1f8ac [--sizes 40,80,186] [--together 2x186,4x80]

For each version (the earlier commit exported with ``git archive`` into a temporary folder,
then this tree) it starts the image's command line, ``gunicorn app:server`` with 2 workers x 4
threads, on a fresh data directory (the demo models copied in), and uploads ``.npz`` files of
random float32 (incompressible: the file is as large as said) the way that version's page
does: as a ``dcc.Upload``'s base64 data URL inside the Dash callback (the earlier commit), or
as the file's bytes to ``POST /_topomaps/upload/data`` (this tree, what ``assets/uploads.js``
sends). While each upload runs, the RSS of every gunicorn worker is sampled every 20 ms; the
line gives the busiest worker's RSS before and at its peak, and the sum of both workers'
peaks. ``--together`` uploads several
different files at once (``2x186``: two of 186 MB) and checks that every one is stored
intact: listed under its name, with a file whose SHA-256 is the upload's.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_npz(path: Path, megabytes: float, seed: int) -> Path:
    """An uncompressed ``.npz`` of random float32 images of about ``megabytes`` MB."""
    n = max(1, int(megabytes * MB / (28 * 28 * 4)))
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.random((n, 28, 28, 1), dtype=np.float32), y=np.arange(n) % 10)
    return path


class Server:
    """``gunicorn app:server`` of the checkout ``root`` on a free port and a fresh data dir."""

    def __init__(self, root: Path, data_dir: Path, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        demo = ROOT / "cache" / "demo-models"
        if demo.is_dir():
            shutil.copytree(demo, data_dir / "demo-models", dirs_exist_ok=True)
        env = {
            **os.environ,
            "TOPOMAPS_DATA_DIR": str(data_dir),
            "TOPOMAPS_SPARE_WORKERS": "0",  # job processes are not the web process
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("REDIS_URL", None)
        command = [
            sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4",
            "--worker-class", "gthread", "--timeout", "300",
            "--bind", f"127.0.0.1:{self.port}", "app:server",
        ]  # fmt: skip
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log}")
            time.sleep(0.5)
        else:
            raise RuntimeError(f"gunicorn did not answer within 240 s; see {log}")
        deps = requests.get(self.url + "_dash-dependencies", timeout=30).json()
        self.callback = next(
            (d for d in deps if any(i["id"] == "data-upload" for i in d["inputs"])), None
        )
        self.protocol = (
            "callback"
            if self.callback and self.callback["inputs"][0]["property"] == "contents"
            else "route"
        )

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children()

    def upload(self, path: Path) -> str:
        """Upload ``path`` as the page would; the message the page would show."""
        if self.protocol == "route":
            with open(path, "rb") as fh:
                reply = requests.post(
                    self.url + "_topomaps/upload/data",
                    params={"name": path.name},
                    data=fh,
                    headers={"Content-Type": "application/octet-stream"},
                    timeout=900,
                )
            answer = reply.json()
            return f"Stored {answer['name']}." if answer.get("ok") else answer.get("message")
        contents = "data:application/octet-stream;base64," + base64.b64encode(
            path.read_bytes()
        ).decode("ascii")
        dep = self.callback
        parts = dep["output"][2:-2].split("...")
        outputs = [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]
        values = {"data-upload.contents": contents, "data-upload.filename": path.name}
        body = {
            "output": dep["output"],
            "outputs": outputs,
            "inputs": [{**i, "value": values.get(f"{i['id']}.{i['property']}")}
                       for i in dep["inputs"]],
            "changedPropIds": ["data-upload.contents"],
            "state": [{**s, "value": values.get(f"{s['id']}.{s['property']}", "demo:digits")}
                      for s in dep["state"]],
        }  # fmt: skip
        del contents
        reply = requests.post(self.url + "_dash-update-component", json=body, timeout=900)
        if reply.status_code != 200:
            return f"HTTP {reply.status_code}: {reply.text[:200]}"
        return json.dumps(reply.json()["response"]["data-message"]["children"]["props"]["children"])

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def measure(server: Server, paths: list[Path]) -> tuple[float, float, float, list[str]]:
    """RSS before and at its peak (MB) of the busiest worker, the sum of both workers'
    peaks, and the messages, uploading ``paths`` at once."""
    workers = server.workers()
    before = {w.pid: w.memory_info().rss for w in workers}
    peak = dict(before)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for w in workers:
                try:
                    peak[w.pid] = max(peak[w.pid], w.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    messages: list[str] = [""] * len(paths)

    def send(i: int) -> None:
        messages[i] = server.upload(paths[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    sampler.join()
    busiest = max(peak, key=lambda pid: peak[pid] - before[pid])
    return before[busiest] / MB, peak[busiest] / MB, sum(peak.values()) / MB, messages


def intact(data_dir: Path, paths: list[Path]) -> int:
    """How many of ``paths`` are stored under their name with their own bytes."""
    names = {}
    for meta in (data_dir / "data").glob("*.json"):
        names[meta.stem] = json.loads(meta.read_text()).get("name")
    good = 0
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        stored = next((data_dir / "data").glob(f"{digest}.npz"), None)
        if stored and names.get(digest) == path.name:
            good += hashlib.sha256(stored.read_bytes()).hexdigest() == digest
    return good


def run(label: str, root: Path, sizes, together, files: Path, work: Path) -> list[str]:
    lines = []
    for n, size in [(1, s) for s in sizes] + together:
        data_dir = Path(tempfile.mkdtemp(dir=work, prefix="data-"))
        server = Server(root, data_dir, work / f"{label}.log")
        try:
            paths = [files / f"random-{size:g}mb-{i}.npz" for i in range(n)]
            before, peak, total, messages = measure(server, paths)
            ok = intact(data_dir, paths)
            shown = "; ".join(sorted(set(m[:90] for m in messages)))
            what = f"{n} x {size:g} MB at once" if n > 1 else f"{size:g} MB"
            lines.append(
                f"{label:8} {server.protocol:8} {what:18} {before:5.0f} -> {peak:5.0f} MB RSS"
                f" (both workers {total:5.0f})   stored intact {ok}/{n}   {shown}"
            )
            print(lines[-1], flush=True)
        finally:
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="an earlier commit to compare with (git archive)")
    parser.add_argument("--only-before", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="40,80,186", help="MB, one upload each")
    parser.add_argument("--together", default="2x186,4x80", help="N x MB uploaded at once")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",") if s]
    together = [
        (int(n), float(s)) for n, s in (t.split("x") for t in args.together.split(",") if t)
    ]
    work = Path(tempfile.mkdtemp(prefix="topomaps-bench-uploads-"))
    try:
        files = work / "files"
        files.mkdir()
        for n, size in [(1, s) for s in sizes] + together:
            for i in range(n):
                path = files / f"random-{size:g}mb-{i}.npz"
                if not path.exists():
                    make_npz(path, size, seed=int(size * 10) + i)
        versions = []
        if args.before:
            old = work / "before"
            old.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.before], cwd=ROOT, check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            versions.append((args.before[:8], old))
        if not args.only_before:
            versions.append(("this", ROOT))
        lines = []
        for label, root in versions:
            lines += run(label, root, sizes, together, files, work)
        print("\n".join(["", *lines]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
