"""Results of jobs over a store: their cache keys, the cached lookup, and get-or-compute.

A result's key is the digest of the job's name and version, its request's key parts, and the
*content ids* of its inputs: an uploaded file is identified by its hash (its store id), a demo
by the digest of its built files, the demo data by a fixed version string. So two requests
that name the same content share a result, and rebuilding a demo invalidates its results.

:func:`cached` never computes and never builds a demo (the web process calls it); the job
processes call :func:`get_or_compute`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import errors
from ..errors import TopomapError
from ..io import demo
from ..io.archives import file_digest
from ..io.data import dataset_hash
from ..params import HASH_RE
from ..progress import ProgressCallback
from ..store import Store
from .base import Job, Sources, digest

__all__ = ["Failure", "StoreInputs", "cached", "cached_view", "get_or_compute", "job_key"]

# Digests of demo files by (path, size, mtime): a demo's content id is asked for on every
# cached lookup, and its file changes only when it is rebuilt.
_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def _digest_of(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _DIGESTS_LOCK:
        if key not in _DIGESTS:
            _DIGESTS[key] = file_digest(path)
        return _DIGESTS[key]


@dataclass
class Failure:
    """A remembered failure of a job (bad input), raised again by :func:`cached`."""

    message: str
    error: str = "TopomapError"


class StoreInputs:
    """Resolves and identifies a request's inputs against one store.

    ``spec(kind, ref)`` is what :mod:`topomap_core.io.sources` opens (the stored file of an
    upload, the demo name of a demo); ``content_id(kind, ref, build)`` names the content,
    building a demo first when ``build`` is true (None when it is not built and ``build`` is
    false).
    """

    def __init__(self, store: Store):
        self.store = store

    def spec(self, kind: str, ref: str) -> str | Path:
        source = {
            "model": self.store.model_source,
            "data": self.store.data_source,
            "checkpoints": self.store.checkpoints_source,
            "selection": self.store.selection_source,
        }[kind]
        return source(ref)

    def content_id(
        self, kind: str, ref: str, build: bool = True, progress: ProgressCallback | None = None
    ) -> str | None:
        self.spec(kind, ref)  # a bad or unknown reference is refused before anything else
        if HASH_RE.match(ref):
            return ref  # uploaded files are named by their content
        if kind == "data":
            return dataset_hash(ref)
        if kind == "model":
            # Demo models live in the process's data directory (config.data_dir), shared by
            # every store; a demo series lives under its store.
            path = demo.stored_demo_model(ref)
            if not path.is_file():
                if not build:
                    return None
                path = demo.demo_model_path(ref)
            return "demo:" + _digest_of(path)
        archive, model = demo.demo_series_files(self.store.root)
        if not (archive.is_file() and model.is_file()):
            if not build:
                return None
            demo.demo_checkpoints(self.store.root, progress=progress)
        return "demo:" + _digest_of(archive) + ":" + _digest_of(model)

    def sources(self, job: Job, request: Any) -> Sources:
        return Sources(
            request,
            job.inputs,
            resolve=self.spec,
            identify=lambda kind, ref: self.content_id(kind, ref),
            root=self.store.root,
        )


def _input_ids(job: Job, request: Any, inputs: StoreInputs, build: bool, progress) -> dict | None:
    ids = {}
    for field, kind in job.inputs.items():
        ref = getattr(request, field)
        if ref is None:
            ids[field] = None
            continue
        if kind == "model" and field == "base_model" and _demo_series(request):
            ids[field] = None  # the demo series brings its own architecture
            continue
        ids[field] = inputs.content_id(kind, ref, build=build, progress=progress)
        if ids[field] is None:
            return None
    return ids


def _demo_series(request: Any) -> bool:
    return getattr(request, "checkpoints", None) == demo.DEMO_CHECKPOINTS


def job_key(
    job: Job,
    request: Any,
    store: Store,
    *,
    build: bool = False,
    progress: ProgressCallback | None = None,
) -> str | None:
    """The cache key of ``job``'s result for ``request``; None when an input is a demo not
    built yet (and ``build`` is false).

    Raises
    ------
    TopomapError
        A reference that is not a demo nor a stored file.
    """
    ids = _input_ids(job, request, StoreInputs(store), build, progress)
    if ids is None:
        return None
    return digest({"job": job.name, "v": job.version, **job.key_parts(request), "inputs": ids})


def _check(value: Any) -> Any:
    if isinstance(value, Failure):
        error = getattr(errors, value.error, TopomapError)
        raise (error if issubclass(error, TopomapError) else TopomapError)(value.message)
    return value


def cached(job: Job, request: Any, store: Store) -> Any:
    """The stored result of ``job`` for ``request``, or None; never computes or builds.

    Raises
    ------
    TopomapError
        A remembered failure (see :attr:`Job.remember_errors_s`), or a bad reference.
    """
    key = job_key(job, request, store)
    return None if key is None else _check(store.cache.get(key))


def cached_view(job: Job, request: Any, store: Store) -> tuple[str | None, Any]:
    """``(key, view)``: what a viewer reads of the stored result (``job.view``), or None.

    Unlike :func:`cached` this reads only what the job publishes for viewers when it
    publishes anything (a training run's overview rather than all its maps).
    """
    key = job_key(job, request, store)
    if key is None:
        return None, None
    return key, _check(job.view(key, store.cache))


def get_or_compute(
    job: Job, request: Any, store: Store, progress: ProgressCallback | None = None
) -> tuple[Any, str]:
    """``(result, key)``: the stored result, or computed (building demos first) and stored.

    What the job publishes for viewers is written again when it went missing (evicted).
    """
    inputs = StoreInputs(store)
    key = job_key(job, request, store, build=True, progress=progress)
    result = _check(store.cache.get(key))
    if result is None:
        try:
            result = job.compute(request, inputs.sources(job, request), store.cache, progress)
        except TopomapError as exc:
            if job.remember_errors_s:
                failure = Failure(str(exc), type(exc).__name__)
                store.cache.set(key, failure, expire=job.remember_errors_s)
            raise
        store.cache.set(key, result)
        job.publish(result, key, store.cache)
    elif not job.is_published(key, store.cache):
        job.publish(result, key, store.cache)
    return result, key
