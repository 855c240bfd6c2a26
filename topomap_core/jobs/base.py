"""The Job protocol: one contract for every analysis, as scikit-learn estimators share one.

An analysis (a map view, the maps of a training run, a comparison, and every future one) is
one module of :mod:`topomap_core.analyses` that declares

- its **request**: a frozen dataclass whose fields are declared with
  :func:`topomap_core.params.param` (constraints, defaults, labels), from which validation,
  the command line's options, the URL's checks and the dashboard's bounds all follow;
- its **inputs**: which request fields name a model, data file or checkpoint series; they
  are resolved (uploads to stored files, demos built on first use) and identified by content
  before the computation starts;
- its **cache key**: by default every non-input field plus the inputs' content ids and the
  job's ``version`` (:func:`topomap_core.jobs.results.job_key`);
- ``compute(request, sources, cache, progress)``: the computation, given resolved inputs
  (:class:`Sources`) and a cache for intermediate results (:func:`memo`), never the store.

and registers an instance with :func:`register`. :data:`JOBS` (complete once
:mod:`topomap_core.jobs.registry` is imported) lists it for the one worker entry point
(:mod:`topomap_core.jobs.worker`), the command line and the dashboard.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from .. import params
from ..progress import ProgressCallback

__all__ = [
    "JOBS",
    "Cache",
    "Job",
    "NullCache",
    "Sources",
    "digest",
    "memo",
    "register",
]


class Cache(Protocol):
    """What a computation may keep intermediate results in (a ResultCache, a dict-like)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, expire: float | None = None) -> Any: ...


class NullCache:
    """A cache that keeps nothing (the command line computes everything once)."""

    def get(self, key: str, default: Any = None) -> Any:
        return default

    def set(self, key: str, value: Any, expire: float | None = None) -> bool:
        return False

    def __contains__(self, key: str) -> bool:
        return False


def digest(parts: Mapping[str, Any]) -> str:
    """A cache key: SHA-256 of the parts as sorted JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def memo(cache: Cache, parts: Mapping[str, Any], compute: Callable[[], Any]) -> tuple[Any, bool]:
    """``(value, was_cached)``: the cached value under ``parts``, or ``compute()`` stored there."""
    key = digest(parts)
    value = cache.get(key)
    if value is not None:
        return value, True
    value = compute()
    cache.set(key, value)
    return value, False


class Sources:
    """The resolved inputs of one request: what to open, and what it is (content id).

    Parameters
    ----------
    request : dataclass
    inputs : mapping
        Request field -> kind (``"model"``, ``"data"``, ``"checkpoints"``).
    resolve : callable
        ``resolve(kind, ref) -> spec``: a spec :mod:`topomap_core.io.sources` opens (a demo
        name or a file path). The command line passes its own values through; the store
        turns an uploaded file's id into its path.
    identify : callable
        ``identify(kind, ref) -> str``: the content id (demos are built first).
    root : path, optional
        The data directory the demo checkpoint series is stored in (demo models are kept in
        :func:`topomap_core.config.data_dir`, shared by every store of a process).
    """

    def __init__(
        self,
        request: Any,
        inputs: Mapping[str, str],
        resolve: Callable[[str, Any], Any] | None = None,
        identify: Callable[[str, Any], str] | None = None,
        root: str | Path | None = None,
    ):
        self.request = request
        self.inputs = dict(inputs)
        self._resolve = resolve or (lambda kind, ref: ref)
        self._identify = identify
        self.root = root
        self._ids: dict[str, str] = {}

    def _ref(self, field: str) -> tuple[str, Any]:
        if field not in self.inputs:
            raise KeyError(f"{field!r} is not an input of this request; inputs: {self.inputs}")
        return self.inputs[field], getattr(self.request, field)

    def spec(self, field: str) -> Any:
        """What to open for input ``field`` (None for an unset optional input)."""
        kind, ref = self._ref(field)
        return None if ref is None else self._resolve(kind, ref)

    def id(self, field: str) -> str | None:
        """The content id of input ``field`` (computed once)."""
        if field not in self._ids:
            kind, ref = self._ref(field)
            if ref is None:
                return None
            if self._identify is not None:
                self._ids[field] = self._identify(kind, ref)
            else:
                from ..io.sources import spec_id

                self._ids[field] = spec_id(kind, self.spec(field))
        return self._ids[field]

    def load_model(self, field: str = "model"):
        """Load input ``field`` through the safe loader."""
        from ..io.sources import load_model

        return load_model(self.spec(field))

    def load_data(self, shape=None, field: str = "data"):
        """Load input ``field`` prepared for a model's input ``shape`` (an
        :class:`~topomap_core.io.prepare.InputSpec`), as the request's ``preprocess`` and
        ``resize`` say (``auto`` and ``none`` for a request without them)."""
        from ..io.sources import load_data

        preprocess = getattr(self.request, "preprocess", "auto")
        resize = getattr(self.request, "resize", "none")
        return load_data(self.spec(field), shape, preprocess, resize)

    def open_series(
        self,
        field: str = "checkpoints",
        base: str = "base_model",
        progress: ProgressCallback | None = None,
    ):
        """Open the checkpoint series of input ``field`` (with its base model, if any)."""
        from ..io.sources import open_series

        base_spec = self.spec(base) if base in self.inputs else None
        return open_series(self.spec(field), base_spec, root=self.root, progress=progress)


class Job:
    """Base class of an analysis's job; subclasses set the class attributes and ``compute``.

    Attributes
    ----------
    name : str
        Registry name (``"view"``).
    request_type : type
        The frozen request dataclass with declared fields.
    inputs : dict
        Request field -> input kind.
    version : str
        Part of every cache key: bump it when results of an older version are stale.
    command : str or None
        The command-line sub-command, if the job has one.
    summary : str
        One line for the command line's help.
    remember_errors_s : int
        Keep a failure (bad input) in the cache this many seconds, so asking again does not
        redo the work at once; 0 keeps none.
    light : bool
        A few seconds of work in a cold process (a description): it takes a ready spare but
        never waits for one that is still warming up.
    """

    name: ClassVar[str]
    request_type: ClassVar[type]
    inputs: ClassVar[dict[str, str]] = {}
    version: ClassVar[str] = "1"
    command: ClassVar[str | None] = None
    summary: ClassVar[str] = ""
    remember_errors_s: ClassVar[int] = 0
    light: ClassVar[bool] = False

    # -- the contract ------------------------------------------------------------------------
    def key_parts(self, request: Any) -> dict[str, Any]:
        """The request's part of the cache key: every field but the inputs (whose content ids
        :func:`~topomap_core.jobs.results.job_key` adds)."""
        return {k: v for k, v in dataclasses.asdict(request).items() if k not in self.inputs}

    def compute(
        self, request: Any, sources: Sources, cache: Cache, progress: ProgressCallback | None
    ) -> Any:
        """Compute the result of a validated ``request``."""
        raise NotImplementedError

    def run(self, request: Any, progress: ProgressCallback | None = None) -> Any:
        """Compute ``request`` here, without a cache; its inputs are specs (demo names or
        file paths), as the command line and the library give them."""
        return self.compute(request, Sources(request, self.inputs), NullCache(), progress)

    def publish(self, result: Any, key: str, cache: Cache) -> None:
        """Store what viewers read instead of the whole result (run after ``compute``)."""

    def is_published(self, key: str, cache: Cache) -> bool:
        """Whether everything :meth:`publish` writes for result ``key`` is still stored."""
        return True

    def view(self, key: str, cache: Cache) -> Any:
        """What a viewer reads of stored result ``key`` (None: not stored); default the
        result itself."""
        return cache.get(key)

    def validate(self, values: Mapping[str, Any], *, paths: bool = False) -> Any:
        """The request of raw ``values`` (see :func:`topomap_core.params.validate`)."""
        return params.validate(self.request_type, values, paths=paths)

    # -- the command line --------------------------------------------------------------------
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The sub-command's options: one per declared field, plus the job's own."""
        params.add_arguments(parser, self.request_type)

    def request_from_arguments(self, args: argparse.Namespace) -> Any:
        """The request of parsed arguments (paths allowed)."""
        return params.from_arguments(self.request_type, args)

    def write_outputs(self, result: Any, out_dir: Path, args: argparse.Namespace) -> dict:
        """Write the command line's files; return role -> path."""
        raise NotImplementedError

    def report(self, result: Any) -> str:
        """One line about a finished result (the command line prints it)."""
        return ""


#: Registry name -> job, in registration order.
JOBS: dict[str, Job] = {}


def register(cls: type[Job]) -> type[Job]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    if cls.name in JOBS and type(JOBS[cls.name]) is not cls:
        raise ValueError(f"a job named {cls.name!r} is already registered")
    JOBS[cls.name] = cls()
    return cls
