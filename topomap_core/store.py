"""The files of one data directory: uploaded models, data and checkpoint series, and the
result cache. Files only: what is computed from them is :mod:`topomap_core.jobs`' business.

Uploaded files are stored under the SHA-256 of their bytes
(``<data_dir>/models/<hash>.keras``): the same file uploaded twice is stored once, and a file is
referred to by its hash, never by a path a user typed. Results are cached with
:mod:`diskcache` (and in Redis too when ``REDIS_URL`` is set), keyed by content
(:func:`topomap_core.jobs.results.job_key`).

References accepted everywhere (URL parameters included): a built-in demo name
(:mod:`topomap_core.io.demo`) or a 64-hex-digit hash of a stored file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from . import config
from .config import check_size, data_dir
from .errors import CheckpointError, DataError, ModelLoadError, TopomapError
from .io.demo import DEMO_CHECKPOINTS, DEMO_DATA, DEMO_MODELS
from .params import HASH_RE
from .result_cache import ResultCache

__all__ = ["HASH_RE", "Store"]

MODEL_SUFFIXES = (".keras", ".h5")
DATA_SUFFIXES = (".npz", ".zip")
CHECKPOINT_SUFFIXES = (".zip",)


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
        self.selections_dir = self.root / "selections"
        for d in (self.models_dir, self.data_dir, self.checkpoints_dir, self.selections_dir):
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
        from .io.model_safety import inspect_model_file

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

    # -- checkpoint series ---------------------------------------------------------------
    def add_checkpoints(self, content: bytes, filename: str) -> str:
        """Store an uploaded checkpoint ``.zip`` after checking it; return its id (hash).

        The archive is validated before it is stored (zip safety, member kinds, names and
        numbers, and the configuration of every ``.keras`` member); a refused archive is
        not kept.

        Raises
        ------
        CheckpointError, ModelRefusedError, ModelLoadError
            As :func:`topomap_core.io.sources.open_series` raises them.
        """
        from .io.checkpoints import CheckpointSeries

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
        """What :func:`topomap_core.io.sources.open_series` opens for a series reference:
        the demo name itself, or the stored ``.zip``."""
        return self._source(
            ref, (DEMO_CHECKPOINTS,), self.checkpoints_dir, CheckpointError, "checkpoint series"
        )

    # -- selections of examples ----------------------------------------------------------
    def add_selection(self, indices, name: str) -> str:
        """Store a named selection of examples (a custom group); return its id.

        The file ``selections/<id>.json`` holds ``{"name", "indices"}`` (sorted, distinct);
        the id is the SHA-256 of that content, so a link names the selection by what it is.

        Raises
        ------
        TopomapError
            A bad name, no indices, or one that is not a whole number 0 or more.
        """
        from .io.sources import selection_bytes

        content = selection_bytes(indices, name)
        digest = hashlib.sha256(content).hexdigest()
        path = self.selections_dir / f"{digest}.json"
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.selections_dir, suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, path)
        return digest

    def selection_source(self, ref: str) -> Path:
        """The stored file of selection ``ref`` (what
        :func:`topomap_core.io.sources.load_selection` reads)."""
        if not isinstance(ref, str) or not HASH_RE.match(ref):
            raise TopomapError(f"selection {str(ref)[:80]!r} is not a stored selection's id")
        path = self.selections_dir / f"{ref}.json"
        if not path.is_file():
            raise TopomapError(f"selection {ref[:12]}... is not in the selection store")
        return path

    def list_selections(self) -> list[dict]:
        """Stored selections, newest first: ``id``, ``name``, ``size``."""
        items = []
        paths = sorted(self.selections_dir.glob("*.json"), key=lambda p: -p.stat().st_mtime)
        for path in paths:
            if HASH_RE.match(path.stem):
                info = json.loads(path.read_text())
                items.append({"id": path.stem, "name": info["name"], "size": len(info["indices"])})
        return items
