"""Content-addressed model and data store, and the on-disk result cache.

Uploaded files are stored under the SHA-256 of their bytes
(``<data_dir>/models/<hash>.keras``): the same file uploaded twice is stored
once, and a model is referred to by its hash, never by a path a user typed.
Results are cached with :mod:`diskcache` (and in Redis too when ``REDIS_URL``
is set), keyed by the content of everything that defines them. NAPs are cached
apart from views, so changing only the layout method reuses the NAP.

References accepted everywhere (URL parameters included):

- models: ``demo:digits-mlp``, ``demo:digits-cnn`` or a 64-hex-digit hash of a stored model;
- data: ``demo:digits`` or a 64-hex-digit hash of a stored data file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import config
from .config import check_size, data_dir
from .errors import CheckpointError, DataError, ModelLoadError, TopomapError
from .pipeline import MapRequest, MapResult, compute_view, nap_for_request
from .placement import ProgressCallback
from .profiles.nap import NAP
from .result_cache import ResultCache
from .training import DEMO_CHECKPOINTS, TRAINING_CACHE_VERSION

#: Bump when a change makes cached results stale.
CACHE_VERSION = "1"
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
DEMO_MODELS = ("demo:digits-mlp", "demo:digits-cnn")
DEMO_DATA = ("demo:digits",)
MODEL_SUFFIXES = (".keras", ".h5")
DATA_SUFFIXES = (".npz", ".zip")
CHECKPOINT_SUFFIXES = (".zip",)

#: ``describer(ref) -> {"layers": [...], "input_shape": [...]}`` for a model reference; the
#: dashboard passes one that loads the model in a worker process (never in the web process).
Describer = Callable[[str], dict]

#: A description that failed with a TopomapError is remembered this long (seconds), so a bad
#: model selected again does not start another worker at once, yet is retried later.
DESCRIBE_ERROR_TTL = 300

# One description per model at a time in this process (the layer list and the data check ask
# together when a model is selected); a fixed pool of locks, picked by key. Other processes
# may duplicate the work, harmlessly.
_DESCRIBE_LOCKS = tuple(threading.Lock() for _ in range(32))


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def demo_model_file(ref: str) -> Path:
    """Where demo model ``ref`` (``"demo:digits-mlp"``) is stored once trained.

    The same path as :func:`topomap_core.io.demo.demo_model_path`, computed without importing
    Keras and without training anything.
    """
    return config.data_dir() / "demo-models" / f"{ref.removeprefix('demo:')}.keras"


def describe_model(source: str | Path) -> dict[str, Any]:
    """Load a model in *this* process and describe it for the dashboard.

    Parameters
    ----------
    source : str or Path
        What :func:`topomap_core.io.models.load_model` accepts (a demo spec or a model file).

    Returns
    -------
    dict
        ``layers``: ``LayerInfo.to_dict()`` of every mappable layer; ``input_shape``: the
        input shape without the batch axis as a list (``None`` for a free dimension).
    """
    from .io.models import input_shape, list_layers, load_model

    model = load_model(source)
    return {
        "layers": [info.to_dict() for info in list_layers(model)],
        "input_shape": [None if s is None else int(s) for s in input_shape(model)],
    }


def _suffix(filename: str, allowed: tuple[str, ...], what: str) -> str:
    # Only the extension of the client's file name is used, and only if it is one we know.
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".hdf5":
        suffix = ".h5"
    if suffix not in allowed:
        raise TopomapError(
            f"{what} file {filename!r} has an unsupported extension; "
            f"use one of {', '.join(allowed)}"
        )
    return suffix


class Store:
    """Files and results under one data directory (``TOPOMAPS_DATA_DIR``).

    Parameters
    ----------
    root : path, optional
        Defaults to :func:`topomap_core.config.data_dir`.
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else data_dir()
        self.models_dir = self.root / "models"
        self.data_dir = self.root / "data"
        self.checkpoints_dir = self.root / "checkpoints"
        for d in (self.models_dir, self.data_dir, self.checkpoints_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._cache = None

    # -- results cache -------------------------------------------------------------
    @property
    def cache(self) -> ResultCache:
        """The result cache (opened on first use): a :class:`diskcache.Cache` under
        ``results/``, with Redis in front when ``REDIS_URL`` is set (see
        :mod:`topomap_core.result_cache`)."""
        if self._cache is None:
            import diskcache

            # Views of big layers are tens of MB; keep a few GB of them, least recently used out.
            disk = diskcache.Cache(str(self.root / "results"), size_limit=4 * 2**30)
            self._cache = ResultCache(disk, config.redis_url(), self.root)
        return self._cache

    # -- files -----------------------------------------------------------------------
    def _add(self, content: bytes, filename: str, folder: Path, suffixes, what: str) -> str:
        check_size(len(content), Path(filename or "").name, what, TopomapError)
        suffix = _suffix(filename, suffixes, what)
        digest = hashlib.sha256(content).hexdigest()
        path = folder / f"{digest}{suffix}"
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=suffix + ".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, path)
        meta = folder / f"{digest}.json"
        if not meta.exists():
            name = Path(filename).name[:200]
            meta.write_text(json.dumps({"name": name, "size": len(content), "added": time.time()}))
        return digest

    def add_model(self, content: bytes, filename: str) -> str:
        """Store an uploaded model after checking its config; return its id (hash).

        Raises
        ------
        TopomapError
            For an empty, oversized, unknown-format or refused model; a refused
            file is not kept.
        """
        from .io.models import inspect_model_file

        digest = self._add(content, filename, self.models_dir, MODEL_SUFFIXES, "model")
        path = self._find(self.models_dir, digest)
        try:
            inspect_model_file(path)
        except TopomapError:
            path.unlink(missing_ok=True)
            (self.models_dir / f"{digest}.json").unlink(missing_ok=True)
            raise
        return digest

    def add_data(self, content: bytes, filename: str) -> str:
        """Store an uploaded data file (.npz or image-folder .zip); return its id."""
        return self._add(content, filename, self.data_dir, DATA_SUFFIXES, "data")

    def remove_model(self, ref: str) -> None:
        """Delete a stored model (file and metadata); demo names and unknown ids are ignored."""
        if not isinstance(ref, str) or not HASH_RE.match(ref):
            return
        for path in self.models_dir.glob(f"{ref}.*"):
            path.unlink(missing_ok=True)

    @staticmethod
    def _find(folder: Path, digest: str) -> Path:
        for path in folder.glob(f"{digest}.*"):
            if path.suffix != ".json" and not path.name.endswith(".part"):
                return path
        raise FileNotFoundError(digest)

    def _source(self, ref, demos, folder: Path, error, what: str) -> str | Path:
        if ref in demos:
            return ref
        if not isinstance(ref, str) or not HASH_RE.match(ref):
            raise error(
                f"{what} {str(ref)[:80]!r} is not a demo {what} ({', '.join(demos)}) "
                f"nor the 64-hex-digit id of an uploaded {what} file"
            )
        try:
            return self._find(folder, ref)
        except FileNotFoundError:
            raise error(f"{what} {ref[:12]}... is not in the {what} store") from None

    def model_source(self, ref: str) -> str | Path:
        """What :func:`topomap_core.io.models.load_model` should open for a model reference."""
        return self._source(ref, DEMO_MODELS, self.models_dir, ModelLoadError, "model")

    def data_source(self, ref: str) -> str | Path:
        """What :func:`topomap_core.io.data.load_data` should open for a data reference."""
        return self._source(ref, DEMO_DATA, self.data_dir, DataError, "data")

    def _list(self, folder: Path) -> list[dict]:
        items = []
        for meta in folder.glob("*.json"):
            if HASH_RE.match(meta.stem):
                info = json.loads(meta.read_text())
                items.append({"id": meta.stem, **info})
        return sorted(items, key=lambda item: -item.get("added", 0))

    def list_models(self) -> list[dict]:
        """Stored models, newest first: ``id``, ``name`` (as uploaded), ``size``, ``added``."""
        return self._list(self.models_dir)

    def list_data(self) -> list[dict]:
        """Stored data files, newest first."""
        return self._list(self.data_dir)

    def display_name(self, ref: str) -> str:
        """A human name for a model or data reference."""
        if ref in DEMO_MODELS or ref in DEMO_DATA or ref == DEMO_CHECKPOINTS:
            return ref
        for folder in (self.models_dir, self.data_dir, self.checkpoints_dir):
            meta = folder / f"{ref}.json"
            if HASH_RE.match(ref or "") and meta.exists():
                return json.loads(meta.read_text())["name"]
        return str(ref)[:16]

    # -- identities -------------------------------------------------------------------
    def _content_id(self, ref: str, kind: str) -> str:
        if HASH_RE.match(ref):
            return ref  # uploaded files are already named by their content
        if kind == "model":
            # A demo model is identified by the stored file, so retraining invalidates results.
            path = demo_model_file(ref)
            if ref not in DEMO_MODELS or not path.is_file():
                from .io.demo import demo_model_path  # trains it (or names the valid demos)

                path = demo_model_path(ref.removeprefix("demo:"))
            return "demo:" + _file_digest(path)
        from .io.data import dataset_hash

        return dataset_hash(ref)

    def nap_key(self, request: MapRequest) -> str:
        """Cache key of the request's NAP: model, data, layer and grouping contents."""
        return _digest(
            {
                "kind": "nap",
                "v": CACHE_VERSION,
                "model": self._content_id(request.model, "model"),
                "data": self._content_id(request.data, "data"),
                "layer": request.layer,
                "groups": request.groups,
                "random_groups": request.random_groups,
                "per_group": request.per_group,
                "seed": request.seed,
            }
        )

    def view_key(self, request: MapRequest) -> str:
        """Cache key of a whole view: the NAP key plus layout method, seed and parameters."""
        params = asdict(request)
        return _digest({"kind": "view", "nap": self.nap_key(request), **params, "v": CACHE_VERSION})

    # -- model descriptions -------------------------------------------------------------
    def describe(self, ref: str, describer: Describer | None = None) -> dict[str, Any]:
        """The model's layers and input shape, cached by model content.

        Parameters
        ----------
        ref : str
            A model reference (demo name or stored hash).
        describer : callable, optional
            ``describer(ref) -> {"layers", "input_shape"}``, called when the description is
            not cached. Default: load the model in this process (:func:`describe_model`).
            The dashboard passes one that loads it in a worker process.

        Returns
        -------
        dict
            ``{"layers": [LayerInfo.to_dict(), ...], "input_shape": [int or None, ...]}``.

        Raises
        ------
        ModelLoadError
            A reference that is not a demo nor a stored model (checked before any loading),
            or the describer's TopomapError; such a failure is remembered for
            :data:`DESCRIBE_ERROR_TTL` seconds and raised again without a new attempt.
        """
        self.model_source(ref)  # a bad or unknown reference never reaches the describer
        if describer is None:

            def describer(r: str) -> dict[str, Any]:
                return describe_model(self.model_source(r))

        fresh = None
        if ref in DEMO_MODELS and not demo_model_file(ref).is_file():
            # Not trained yet: let the describer train it (in the worker, for the dashboard)
            # before the file's content names the cache entry.
            fresh = self._describe_now(None, ref, describer)
        key = _digest(
            {"kind": "describe", "v": CACHE_VERSION, "model": self._content_id(ref, "model")}
        )
        if fresh is not None:
            self.cache.set(key, fresh)
            return fresh
        with _DESCRIBE_LOCKS[int(key[:8], 16) % len(_DESCRIBE_LOCKS)]:
            return self._describe_now(key, ref, describer)

    def _describe_now(self, key: str | None, ref: str, describer: Describer) -> dict[str, Any]:
        hit = self.cache.get(key) if key is not None else None
        if hit is not None:
            if "error" in hit:
                raise ModelLoadError(hit["error"])
            return hit
        try:
            raw = describer(ref)
        except TopomapError as exc:
            if key is not None:
                self.cache.set(key, {"error": str(exc)}, expire=DESCRIBE_ERROR_TTL)
            raise
        description = {
            "layers": list(raw["layers"]),
            "input_shape": [None if s is None else int(s) for s in raw["input_shape"]],
        }
        if key is not None:
            self.cache.set(key, description)
        return description

    def layers(self, ref: str, describer: Describer | None = None) -> list[dict]:
        """The model's layers (``LayerInfo.to_dict()``), cached by model content."""
        return self.describe(ref, describer)["layers"]

    def input_shape(self, ref: str, describer: Describer | None = None) -> tuple:
        """The model's input shape without the batch axis, cached by model content."""
        return tuple(self.describe(ref, describer)["input_shape"])

    # -- results ----------------------------------------------------------------------
    def cached_view(self, request: MapRequest) -> MapResult | None:
        """The cached view for ``request``, or None; never computes anything."""
        return self.cache.get(self.view_key(request))

    def nap(
        self,
        request: MapRequest,
        progress: ProgressCallback | None = None,
        timings: dict | None = None,
    ) -> NAP:
        """The request's NAP, from the cache or computed (and then cached)."""
        key = self.nap_key(request)
        nap = self.cache.get(key)
        if nap is None:
            nap = nap_for_request(
                request,
                progress,
                timings,
                model_source=self.model_source(request.model),
                data_source=self.data_source(request.data),
            )
            self.cache.set(key, nap)
        return nap

    def view(self, request: MapRequest, progress: ProgressCallback | None = None) -> MapResult:
        """The complete view, from the cache or computed (reusing a cached NAP)."""
        key = self.view_key(request)
        result = self.cache.get(key)
        if result is not None:
            return result
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        nap = self.nap(request, progress, timings)
        result = compute_view(request, nap, progress, timings)
        timings["total"] = time.perf_counter() - t0
        self.cache.set(key, result)
        return result

    # -- training series and comparisons (topomap_core.training) -----------------------
    def add_checkpoints(self, content: bytes, filename: str) -> str:
        """Store an uploaded checkpoint ``.zip`` after checking it; return its id (hash).

        The archive is validated before it is stored (zip safety, member kinds, names and
        numbers, and the configuration of every ``.keras`` member); a refused archive is
        not kept.

        Raises
        ------
        CheckpointError, ModelRefusedError, ModelLoadError
            As :func:`topomap_core.training.open_series` raises them.
        """
        from .training import CheckpointSeries

        check_size(len(content), Path(filename or "").name, "checkpoint", CheckpointError)
        try:
            _suffix(filename, CHECKPOINT_SUFFIXES, "checkpoint")
        except TopomapError as exc:
            raise CheckpointError(str(exc)) from None
        fd, tmp = tempfile.mkstemp(prefix="topomaps-upload-", suffix=".zip")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            # A weights series is checked without its base model here (none is known yet);
            # its weights are checked against the base model when they are loaded.
            with CheckpointSeries(Path(tmp), base_model=None, allow_missing_base=True) as series:
                info = {"n_checkpoints": len(series), "kind": series.kind}
                steps = [c.step for c in series.checkpoints]
                info.update(first_step=steps[0], last_step=steps[-1])
        finally:
            Path(tmp).unlink(missing_ok=True)
        digest = self._add(
            content, filename, self.checkpoints_dir, CHECKPOINT_SUFFIXES, "checkpoint"
        )
        meta = self.checkpoints_dir / f"{digest}.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), **info}))
        return digest

    def list_checkpoints(self) -> list[dict]:
        """Stored checkpoint series, newest first: ``id``, ``name``, ``size``, ``added``,
        ``n_checkpoints``, ``kind`` (``"keras"`` or ``"weights"``), ``first_step``,
        ``last_step``."""
        return self._list(self.checkpoints_dir)

    def checkpoints_source(self, ref: str) -> str | Path:
        """What :func:`topomap_core.training.open_series` opens for a series reference:
        the demo name itself, or the stored ``.zip``."""
        return self._source(
            ref, (DEMO_CHECKPOINTS,), self.checkpoints_dir, CheckpointError, "checkpoint series"
        )

    def _series_id(self, ref: str) -> str | None:
        """Content id of a series; None for the demo series not trained yet."""
        if ref == DEMO_CHECKPOINTS:
            path = self.root / "demo-training" / "digits-mlp" / "checkpoints.zip"
            if not (path.is_file() and path.with_name("model.keras").is_file()):
                return None
            # Identified by the stored files, so retraining invalidates cached results.
            return "demo:" + _file_digest(path) + ":" + _file_digest(path.with_name("model.keras"))
        self.checkpoints_source(ref)  # names a bad or unknown reference
        return ref

    def training_key(self, request) -> str | None:
        """Cache key of a whole training result; None if the demo series is not trained."""
        series = self._series_id(request.checkpoints)
        if series is None:
            return None
        base = None
        if request.base_model is not None and request.checkpoints != DEMO_CHECKPOINTS:
            base = self._content_id(request.base_model, "model")
        params = asdict(request)
        return _digest(
            {
                "kind": "training",
                "v": TRAINING_CACHE_VERSION,
                **params,
                "checkpoints": series,
                "base_model": base,
                "data": self._content_id(request.data, "data"),
            }
        )

    def cached_training(self, request):
        """The cached training result for ``request``, or None; never computes anything."""
        key = self.training_key(request)
        return None if key is None else self.cache.get(key)

    def training(self, request, progress: ProgressCallback | None = None):
        """The training maps of ``request``, from the cache or computed (and then cached).

        Each state's NAP is cached on its own (keyed by the checkpoint's content), so a
        series with one more state recomputes only that state's NAP.
        """
        from .training import demo_checkpoints, run_training

        if request.checkpoints == DEMO_CHECKPOINTS:
            demo_checkpoints(self.root, progress=progress)  # train first: it names the key
        key = self.training_key(request)
        result = self.cache.get(key)
        if result is None:
            result = run_training(request, progress, store=self)
            self.cache.set(key, result)
        return result

    def compare_key(self, request) -> str:
        """Cache key of a comparison: both models', the data's contents and the parameters."""
        return _digest(
            {
                "kind": "compare",
                "v": TRAINING_CACHE_VERSION,
                **asdict(request),
                "model_a": self._content_id(request.model_a, "model"),
                "model_b": self._content_id(request.model_b, "model"),
                "data": self._content_id(request.data, "data"),
            }
        )

    def cached_compare(self, request):
        """The cached comparison for ``request``, or None; never computes anything."""
        for ref in (request.model_a, request.model_b):
            if ref in DEMO_MODELS and not demo_model_file(ref).is_file():
                return None
        return self.cache.get(self.compare_key(request))

    def compare(self, request, progress: ProgressCallback | None = None):
        """The comparison of ``request``, from the cache or computed (and then cached).

        The two models' NAPs are the store's NAPs, shared with their single-model views.
        """
        from .training import run_compare

        key = self.compare_key(request)
        result = self.cache.get(key)
        if result is None:
            result = run_compare(request, progress, store=self)
            self.cache.set(key, result)
        return result
