"""What stopped a job process that died without a word: its signal, where, and its memory.

A job process can die where Python cannot report: a native crash (TensorFlow's oneDNN kernels
have corrupted the heap on real CNNs, glibc then aborts), an allocation that fails under the
job memory limit inside C++ (``std::bad_alloc``: SIGABRT), or the system's out-of-memory
killer (SIGKILL). The page must still say what happened, so

- every job process lets :mod:`faulthandler` write a *crash note* on a fatal signal
  (:func:`enable_note`): the signal and the Python stack that was running, into a host-local
  private folder, under the process's pid;
- every job process reports its memory use a few times a second (:class:`MemoryMonitor`), so
  the caller knows how close to the memory limit it was when it died;
- :func:`explain` turns the note, the last memory report and the last progress stage into one
  line: "the job process crashed with SIGSEGV in TensorFlow while computing activations of
  layer conv2d_6", adding which limit applies when the memory was near it.
"""

from __future__ import annotations

import faulthandler
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CrashNote",
    "MemoryMonitor",
    "crash_dir",
    "doing",
    "enable_note",
    "explain",
    "read_note",
    "remove_note",
]

#: The environment variable naming a job process's crash folder (set by ``spares.job_env``).
CRASH_DIR_ENV = "TOPOMAPS_CRASH_DIR"

#: Memory use at least this share of the limit makes the limit the likely cause of a crash.
NEAR_LIMIT = 0.85

_SIGNALS = {
    "Segmentation fault": "SIGSEGV",
    "Aborted": "SIGABRT",
    "Bus error": "SIGBUS",
    "Floating point exception": "SIGFPE",
    "Illegal instruction": "SIGILL",
}

#: Where a frame's file lies -> what to call it in the message.
_LIBRARIES = (
    ("/tensorflow/", "TensorFlow"),
    ("/keras/", "TensorFlow (Keras)"),
    ("/numba/", "numba-compiled code"),
    ("/umap/", "UMAP"),
    ("/pynndescent/", "UMAP (pynndescent)"),
    ("/scipy/", "SciPy"),
    ("/sklearn/", "scikit-learn"),
    ("/numpy/", "NumPy"),
    ("/PIL/", "Pillow"),
    ("/h5py/", "h5py"),
    ("/topomap_core/", "topomaps"),
)


def crash_dir() -> Path:
    """The private folder of crash notes: ``$TOPOMAPS_CRASH_DIR``, else one per user in the
    temporary directory (job processes and their callers share a host)."""
    configured = os.environ.get(CRASH_DIR_ENV)
    base = Path(configured) if configured else Path(tempfile.gettempdir())
    folder = base if configured else base / f"topomaps-crashes-{os.getuid()}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _note_path(pid: int) -> Path:
    return crash_dir() / f"crash-{int(pid)}.txt"


def enable_note() -> Path | None:
    """In a job process: write a crash note (:mod:`faulthandler`) on a fatal signal. Returns
    its path (None when the folder cannot be written)."""
    try:
        path = _note_path(os.getpid())
        handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - open until the process ends
    except OSError:
        return None
    faulthandler.enable(file=handle, all_threads=True)
    enable_note.handle = handle  # type: ignore[attr-defined]  (kept open, and alive)
    return path


@dataclass
class CrashNote:
    """What faulthandler wrote: the signal's name and where the running Python code was."""

    signal: str | None
    where: str | None


def _frames(text: str) -> list[str]:
    """The file of each frame of the thread that crashed, innermost first (or of the first
    thread with Python frames when the crashing one has none, e.g. a TensorFlow pool thread:
    then the main thread is inside the call into TensorFlow)."""
    sections = re.split(r"\n(?=(?:Current thread|Thread) 0x)", text)
    current = [s for s in sections if s.startswith("Current thread")]
    ordered = current + [s for s in sections if not s.startswith("Current thread")]
    for section in ordered:
        files = re.findall(r'File "([^"]+)", line \d+', section)
        if files:
            return files
    return []


def read_note(pid: int | None) -> CrashNote | None:
    """The crash note of job process ``pid`` (removed once read), or None if it wrote none."""
    if pid is None:
        return None
    path = _note_path(pid)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    finally:
        path.unlink(missing_ok=True)
    if not text.strip():
        return None
    found = re.search(r"Fatal Python error: ([A-Za-z ]+)", text)
    signal = _SIGNALS.get(found.group(1).strip(), found.group(1).strip()) if found else None
    where = None
    for file in _frames(text):
        where = next((name for part, name in _LIBRARIES if part in file), None)
        if where is not None:
            break
    return CrashNote(signal, where)


def remove_note(pid: int | None) -> None:
    """Forget the (empty) note of a job process that ended normally."""
    if pid is not None:
        _note_path(pid).unlink(missing_ok=True)


def _memory_mb() -> tuple[int, int]:
    """``(address space, resident)`` of this process in MiB, from ``/proc``."""
    try:
        with open("/proc/self/statm") as fh:
            size, resident = (int(v) for v in fh.read().split()[:2])
    except (OSError, ValueError):
        return 0, 0
    page = os.sysconf("SC_PAGE_SIZE")
    return size * page // 2**20, resident * page // 2**20


class MemoryMonitor:
    """Report this process's memory use (``{"memory": {"vm_mb", "rss_mb"}}``) every
    ``interval`` seconds while it changes, from a daemon thread."""

    def __init__(self, send: Callable[[dict], None], interval: float = 0.25):
        self.send = send
        self.interval = interval
        self._thread = threading.Thread(target=self._run, name="topomaps-memory", daemon=True)

    def start(self) -> MemoryMonitor:
        self._thread.start()
        return self

    def _run(self) -> None:
        last = (-1000, -1000)
        while True:
            vm, rss = _memory_mb()
            if abs(vm - last[0]) >= 16 or abs(rss - last[1]) >= 16:
                try:
                    self.send({"memory": {"vm_mb": vm, "rss_mb": rss}})
                except (OSError, ValueError):
                    return  # the connection is gone: the process ends anyway
                last = (vm, rss)
            time.sleep(self.interval)


_STAGES = (
    ("activations", "computing activations"),
    ("predictions", "computing predictions"),
    ("feature visualisation", "optimising inputs (feature visualisation)"),
    ("layout", "computing the layout"),
    ("UMAP", "computing the layout (UMAP)"),
    ("PSO", "computing the layout (PSO)"),
    ("training", "training"),
    ("NAPs", "computing NAPs"),
    ("maps", "drawing the maps"),
)


def doing(stage: str | None, layer: str | None = None) -> str:
    """``"while computing activations of layer conv2d_6"`` for the last progress stage."""
    if not stage:
        return "while loading the model and data"
    what = next((text for key, text in _STAGES if stage.startswith(key)), stage)
    of = f" of layer {layer}" if layer and what.startswith(("computing act", "optimising")) else ""
    return f"while {what}{of}"


def explain(
    status: str,
    note: CrashNote | None,
    stage: str | None,
    layer: str | None,
    memory: dict | None,
    limit_mb: int,
) -> str:
    """One line about a job process that died without reporting.

    Parameters
    ----------
    status : str
        What the caller saw (``"killed by SIGKILL"``, ``"exit status 1"``, or that the spare
        closed its connection).
    note : CrashNote or None
        The process's crash note.
    stage, layer : str or None
        Its last progress stage, and the request's layer.
    memory : dict or None
        Its last memory report (``vm_mb``, ``rss_mb``).
    limit_mb : int
        The job memory limit (0: none).
    """
    signal = note.signal if note is not None and note.signal else None
    if signal is None:
        found = re.search(r"killed by (SIG\w+)", status)
        signal = found.group(1) if found else None
    where = f" in {note.where}" if note is not None and note.where else ""
    when = doing(stage, layer)
    if signal == "SIGKILL":
        head = f"the job process was killed (SIGKILL) {when}: the system may have run out of memory"
    elif signal is not None:
        head = f"the job process crashed with {signal}{where} {when}"
    else:
        head = f"the job process stopped without a result ({status}) {when}"
    used = int(memory.get("vm_mb", 0)) if memory else 0
    if limit_mb and used >= NEAR_LIMIT * limit_mb:
        return (
            f"{head}; it was using {used} MB of its memory limit of {limit_mb} MB "
            "(TOPOMAPS_JOB_MEMORY_MB), so most likely it ran out of it: raise the setting, or "
            "use fewer examples per group, a smaller layer or a smaller TOPOMAPS_BATCH_MB"
        )
    if limit_mb and used:
        return f"{head} (at {used} MB of its memory limit of {limit_mb} MB: not the limit)"
    return head
