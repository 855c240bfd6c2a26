"""Content-addressed model and data store, and the on-disk result cache.

Uploaded files are stored under the SHA-256 of their bytes
(``<data_dir>/models/<hash>.keras``): the same file uploaded twice is stored
once, and a model is referred to by its hash, never by a path a user typed.
Results are cached with :mod:`diskcache`, keyed by the content of everything
that defines them. NAPs are cached apart from views, so changing only the
layout method reuses the NAP.

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
import time
from dataclasses import asdict
from pathlib import Path

from .config import check_size, data_dir
from .errors import DataError, ModelLoadError, TopomapError
from .layouts import ProgressCallback
from .nap import NAP
from .pipeline import MapRequest, MapResult, compute_view, nap_for_request

#: Bump when a change makes cached results stale.
CACHE_VERSION = "1"
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
DEMO_MODELS = ("demo:digits-mlp", "demo:digits-cnn")
DEMO_DATA = ("demo:digits",)
MODEL_SUFFIXES = (".keras", ".h5")
DATA_SUFFIXES = (".npz", ".zip")


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


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
        for d in (self.models_dir, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._cache = None

    # -- results cache -------------------------------------------------------------
    @property
    def cache(self):
        """The :class:`diskcache.Cache` of results (opened on first use)."""
        if self._cache is None:
            import diskcache

            # Views of big layers are tens of MB; keep a few GB of them, least recently used out.
            self._cache = diskcache.Cache(str(self.root / "results"), size_limit=4 * 2**30)
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
        from .models import inspect_model_file

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
        """What :func:`topomap_core.models.load_model` should open for a model reference."""
        return self._source(ref, DEMO_MODELS, self.models_dir, ModelLoadError, "model")

    def data_source(self, ref: str) -> str | Path:
        """What :func:`topomap_core.data.load_data` should open for a data reference."""
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
        if ref in DEMO_MODELS or ref in DEMO_DATA:
            return ref
        for folder in (self.models_dir, self.data_dir):
            meta = folder / f"{ref}.json"
            if HASH_RE.match(ref or "") and meta.exists():
                return json.loads(meta.read_text())["name"]
        return str(ref)[:16]

    # -- identities -------------------------------------------------------------------
    def _content_id(self, ref: str, kind: str) -> str:
        if HASH_RE.match(ref):
            return ref  # uploaded files are already named by their content
        if kind == "model":
            from .demo import demo_model_path
            from .models import model_hash

            # A demo model is identified by the stored file, so retraining invalidates results.
            return "demo:" + model_hash(demo_model_path(ref.removeprefix("demo:")))
        from .data import dataset_hash

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

    # -- layers -----------------------------------------------------------------------
    def layers(self, ref: str) -> list[dict]:
        """The model's layers (``LayerInfo.to_dict()``), cached by model content."""
        key = _digest(
            {"kind": "layers", "v": CACHE_VERSION, "model": self._content_id(ref, "model")}
        )
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        from .models import list_layers, load_model

        layers = [info.to_dict() for info in list_layers(load_model(self.model_source(ref)))]
        self.cache.set(key, layers)
        return layers

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
