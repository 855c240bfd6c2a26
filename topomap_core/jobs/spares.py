"""Spare job processes: started ahead of time, warm, one job each.

A job process that starts cold spends most of a small job importing TensorFlow and compiling
numba code (a 128-neuron ``UMAP_PSO`` view: about 17 s cold, under 3 s warm). Isolation stays
as it was (one job per process, see :mod:`topomap_core.jobs.worker`), but a *keeper* keeps
:func:`spare_count` spare processes ready in a host-local folder, each warmed up and listening
on its own Unix socket; a job *claims* one, sends it the job, and the keeper starts the next.

The folder (:func:`spare_dir`) holds, per spare process ``<pid>``:

``<kind>/warming-<pid>``
    The keeper started it; it is still importing and compiling. Kinds: ``full`` (everything a
    computation needs, UMAP's compiled code included) and ``light`` (TensorFlow and Keras: for
    descriptions and checks, which need no more and would otherwise use up a full one).
``<kind>/ready-<pid>.sock``
    It listens. It was bound under another name first and renamed once listening, so a
    ``ready`` socket always answers.
``<kind>/claimed-<pid>-<claimer>.sock``
    A job renamed it (``rename`` is atomic: exactly one claimer wins) and is connecting.

One keeper per folder (an ``flock`` on ``keeper.lock``): the web process starts one, so do
Celery workers (:func:`start_keeper`); other processes of the host find its spares in the
folder. A spare dies with the keeper's process (``PR_SET_PDEATHSIG``) and with its claimer's
connection (a closed socket ends the job: that is how Cancel stops it).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .. import config

LOG = logging.getLogger(__name__)

__all__ = [
    "claim",
    "die_with_parent",
    "job_env",
    "serve",
    "spare_count",
    "spare_dir",
    "start_keeper",
    "watch_claimer",
]

#: How many spares a keeper keeps ready (``TOPOMAPS_SPARE_WORKERS``; 0: none, jobs start cold).
#: Two: the description of a new model and the Run that follows each find one warm. Each
#: holds about 800 MB (TensorFlow, Keras, the compiled layout kernels).
DEFAULT_SPARES = 2

#: A claimer waits this long for a spare that is still warming before it starts a cold one.
WAIT_FOR_WARMING_S = 60.0

#: A claimed spare that no connection reaches within this time gives up (claimer died).
CLAIM_TIMEOUT_S = 10.0

_KEEPERS: dict[Path, Keeper] = {}
_KEEPERS_LOCK = threading.Lock()


def job_env(data_dir: str | Path) -> dict[str, str]:
    """The environment of a job process serving ``data_dir``.

    numba's on-disk cache lives in the data directory; glibc keeps at most two malloc arenas
    (each thread of TensorFlow's pools would otherwise reserve 64 MB of address space, which
    counts against the memory limit without being used).
    """
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", os.path.join(os.fspath(data_dir), "numba-cache"))
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


def spare_count() -> int:
    """``TOPOMAPS_SPARE_WORKERS`` (default 2; 0 turns spares off)."""
    return config.int_setting("TOPOMAPS_SPARE_WORKERS", DEFAULT_SPARES, 0)


def spare_dir(data_dir: str | Path) -> Path | None:
    """The host-local folder of the spares serving ``data_dir``; None if it is not safe.

    ``<tmp>/topomaps-spares-<uid>/<digest of the data directory>``, private to this user
    (mode 700; a folder someone else made is not used).
    """
    base = Path(tempfile.gettempdir()) / f"topomaps-spares-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        base.mkdir(mode=0o700)
    try:
        info = base.lstat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or not base.is_dir():
        LOG.warning("%s is not private to this user: no spare job processes", base)
        return None
    name = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    folder = base / name
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not after the fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return hook


# --------------------------------------------------------------------------------------------
# The spare's side
# --------------------------------------------------------------------------------------------


def serve(folder: str | Path, warm_up: Callable[[], None]) -> socket.socket | None:
    """In a spare process: warm up, listen, and return the one connection of its job.

    Returns None when the socket was claimed but no job arrived within
    :data:`CLAIM_TIMEOUT_S` (the claimer died), so the process just exits.
    """
    folder = Path(folder)
    pid = os.getpid()
    warming = folder / f"warming-{pid}"
    try:
        warm_up()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        binding = folder / f"bind-{pid}.sock"
        binding.unlink(missing_ok=True)
        server.bind(str(binding))
        server.listen(1)
        ready = folder / f"ready-{pid}.sock"
        os.replace(binding, ready)
    finally:
        warming.unlink(missing_ok=True)
    server.settimeout(1.0)
    claimed_since = None
    while True:
        try:
            conn, _ = server.accept()
            break
        except TimeoutError:
            if ready.exists():
                continue
            claimed_since = claimed_since or time.monotonic()
            if time.monotonic() - claimed_since > CLAIM_TIMEOUT_S:
                _unlink_claimed(folder, pid)
                return None
    server.close()
    _unlink_claimed(folder, pid)
    conn.settimeout(None)
    return conn


def _unlink_claimed(folder: Path, pid: int) -> None:
    for path in folder.glob(f"claimed-{pid}-*.sock"):
        path.unlink(missing_ok=True)
    (folder / f"ready-{pid}.sock").unlink(missing_ok=True)


def watch_claimer(conn: socket.socket) -> None:
    """End this process when the claimer closes the connection (Cancel, or it died).

    Call it once the job has been read: from then on the claimer sends nothing.
    """
    watcher = conn.dup()

    def wait() -> None:
        try:
            while watcher.recv(4096):
                pass
        except OSError:
            pass
        os._exit(1)

    threading.Thread(target=wait, name="topomaps-claimer-watch", daemon=True).start()


# --------------------------------------------------------------------------------------------
# The claimer's side
# --------------------------------------------------------------------------------------------


def _pid_of(path: Path) -> int | None:
    try:
        return int(path.name.split("-")[1].split(".")[0])
    except (IndexError, ValueError):
        return None


def _warming(folder: Path) -> bool:
    """Whether a spare that is still warming up lives (stale markers are removed)."""
    found = False
    for marker in folder.glob("warming-*"):
        pid = _pid_of(marker)
        if pid is not None and _alive(pid):
            found = True
        else:
            marker.unlink(missing_ok=True)
    return found


def claim(
    data_dir: str | Path, wait_s: float = WAIT_FOR_WARMING_S, kind: str = "full"
) -> tuple[socket.socket, int] | None:
    """Claim a ready spare of ``kind``: ``(connection, pid)``, or None when there is none.

    Waits up to ``wait_s`` seconds while one is still warming up (it will be ready sooner
    than a cold process, which would do the same work while competing for the same cores).
    """
    base = spare_dir(data_dir) if spare_count() > 0 else None
    if base is None:
        return None
    folder = base / kind
    if not folder.is_dir():
        return None
    deadline = time.monotonic() + wait_s
    while True:
        candidates = sorted(folder.glob("ready-*.sock"), key=_mtime)
        for path in candidates:
            pid = _pid_of(path)
            if pid is None:
                continue
            target = folder / f"claimed-{pid}-{os.getpid()}-{threading.get_ident()}.sock"
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue  # another job was quicker
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(5.0)
            try:
                conn.connect(str(target))
            except OSError:
                conn.close()
                target.unlink(missing_ok=True)
                continue
            conn.settimeout(None)
            return conn, pid
        if time.monotonic() > deadline or not _warming(folder):
            return None
        time.sleep(0.1)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")


# --------------------------------------------------------------------------------------------
# The keeper
# --------------------------------------------------------------------------------------------


class Keeper:
    """Keeps spares of each kind ready, from a daemon thread of this process.

    ``pools`` maps a kind (``"full"``: everything a job may need, for computations;
    ``"light"``: TensorFlow and Keras only, for descriptions and checks) to how many of it.
    """

    def __init__(self, data_dir: Path, base: Path, pools: dict[str, int], interval: float = 0.5):
        self.data_dir = data_dir
        self.base = base
        self.pools = {kind: n for kind, n in pools.items() if n > 0}
        self.interval = interval
        self.children: list[tuple[str, subprocess.Popen]] = []
        self._lock_file = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="topomaps-spare-keeper", daemon=True)

    def folder(self, kind: str) -> Path:
        folder = self.base / kind
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def start(self) -> Keeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop keeping spares and kill the ones not yet claimed (tests, shutdown)."""
        self._stop.set()
        self._thread.join(timeout=5)
        for kind, child in self.children:
            if self._state(kind, child) is not None:
                child.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._holds_lock():
                    self._tend()
            except Exception:  # the keeper must outlive any hiccup (disk, fork limits)
                LOG.exception("spare keeper of %s", self.base)
            self._stop.wait(self.interval if self._lock_file is not None else 5.0)

    def _holds_lock(self) -> bool:
        if self._lock_file is None:
            handle = open(self.base / "keeper.lock", "a")  # noqa: SIM115 - held while alive
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False  # another process of this host keeps the spares
            self._lock_file = handle
        return True

    def _state(self, kind: str, child: subprocess.Popen) -> str | None:
        """``"warming"``, ``"ready"``, or None (claimed, or exited)."""
        if child.poll() is not None:
            return None
        folder = self.folder(kind)
        if (folder / f"warming-{child.pid}").exists():
            return "warming"
        if (folder / f"ready-{child.pid}.sock").exists():
            return "ready"
        return None

    def waiting(self, kind: str = "full") -> list[int]:
        """Pids of this keeper's spares of ``kind`` that are warming up or ready."""
        return [c.pid for k, c in self.children if k == kind and self._state(k, c)]

    def _tend(self) -> None:
        for kind, child in [(k, c) for k, c in self.children if c.poll() is not None]:
            self.children.remove((kind, child))
            (self.folder(kind) / f"warming-{child.pid}").unlink(missing_ok=True)
            (self.folder(kind) / f"ready-{child.pid}.sock").unlink(missing_ok=True)
        # One warms at a time: two warming together on two cores would both be ready late,
        # and the first Run after a start waits for the first one. Light ones first: they
        # take seconds, and the page's first request is a description.
        if any(self._state(k, c) == "warming" for k, c in self.children):
            return
        for kind in sorted(self.pools, key=lambda k: k != "light"):
            if len(self.waiting(kind)) < self.pools[kind]:
                self._spawn(kind)
                return

    def _spawn(self, kind: str) -> None:
        env = job_env(self.data_dir)
        folder = self.folder(kind)
        argv = [sys.executable, "-m", "topomap_core.jobs.worker", "--spare", str(folder)]
        if kind == "light":
            argv.append("--light")
        child = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            close_fds=True,
            preexec_fn=die_with_parent(),
        )
        # Marked before the child can finish warming, so it is never counted twice.
        (folder / f"warming-{child.pid}").touch()
        self.children.append((kind, child))
        LOG.info("started a %s spare job process %d for %s", kind, child.pid, self.data_dir)


def start_keeper(data_dir: str | Path, count: int | None = None) -> Keeper | None:
    """Keep ``count`` (default :func:`spare_count`) full spares and one light spare ready for
    ``data_dir``; idempotent. Returns the keeper of this process, or None when spares are off
    or impossible here.
    """
    count = spare_count() if count is None else count
    data_dir = Path(data_dir).resolve()
    base = spare_dir(data_dir)
    if count <= 0 or base is None:
        return None
    with _KEEPERS_LOCK:
        keeper = _KEEPERS.get(base)
        if keeper is None or not keeper._thread.is_alive():
            keeper = _KEEPERS[base] = Keeper(data_dir, base, {"full": count, "light": 1}).start()
        return keeper


def stop_keepers() -> None:
    """Stop every keeper of this process (tests)."""
    with _KEEPERS_LOCK:
        keepers = list(_KEEPERS.values())
        _KEEPERS.clear()
    for keeper in keepers:
        keeper.stop()
