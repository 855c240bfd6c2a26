"""The files of one data directory: uploaded models, data and checkpoint series, and the
result cache. Files only: what is computed from them is :mod:`topomap_core.jobs`' business.

Uploaded files are stored under the SHA-256 of their bytes
(``<data_dir>/models/<hash>.keras``): the same file uploaded twice is stored once, and a file is
referred to by its hash, never by a path a user typed. Results are cached with
:mod:`diskcache` (and in Redis too when ``REDIS_URL`` is set), keyed by content
(:func:`topomap_core.jobs.results.job_key`).

References accepted everywhere (URL parameters included): a built-in demo name
(:mod:`topomap_core.io.demo`) or a 64-hex-digit hash of a stored file.

The web process calls this module, so it never parses, decodes or loads what it stores: an
upload gets the bounded checks of :mod:`topomap_core.io.archives` here, and the full check
(the model's configuration, a series' members) in a light job process afterwards
(``describe``, ``inspect-checkpoints``), whose refusal removes the file again. Every file is
written atomically (a temporary file in the same folder, ``fsync``, rename): a full disk or a
crash leaves no half-written file under a real name, and an unreadable metadata file is
skipped and logged, never an error for the whole page.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
import zipfile
from pathlib import Path

from . import config
from .config import check_size, data_dir
from .errors import CheckpointError, DataError, ModelLoadError, TopomapError
from .io.archives import check_model_file, check_zip
from .io.demo import DEMO_CHECKPOINTS, DEMO_DATA, DEMO_MODELS
from .params import HASH_RE
from .result_cache import ResultCache

__all__ = ["HASH_RE", "Store", "write_atomic"]

LOG = logging.getLogger(__name__)

#: A ``.part`` file older than this (seconds) is left over from a crash: removed at start.
STALE_PART_S = 600

#: A data archive may expand to this many times the upload limit (``.npz`` arrays of small
#: integers stored as float32 compress well).
_DATA_EXPANSION = 8

#: A checkpoint archive may expand to this many times the upload limit (as when loaded).
_CHECKPOINT_EXPANSION = 4


def write_atomic(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` all or nothing: a temporary file in the same folder,
    flushed to disk, then renamed over ``path``.

    Raises
    ------
    OSError
        E.g. the disk is full; ``path`` is then as it was, and no temporary file remains.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
            write_atomic(path, content)
        meta = folder / f"{digest}.json"
        if self._read_meta(meta) is None:
            name = Path(filename).name[:200]
            info = {"name": name, "size": len(content), "added": time.time()}
            write_atomic(meta, json.dumps(info).encode())
        return digest

    @staticmethod
    def _read_meta(meta: Path) -> dict | None:
        """A metadata file's content; None (logged) when it is missing or unreadable."""
        try:
            info = json.loads(meta.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            LOG.warning("skipping unreadable metadata %s (%s)", meta, exc)
            return None
        if not isinstance(info, dict) or not isinstance(info.get("name"), str):
            LOG.warning("skipping metadata %s: not a record with a name", meta)
            return None
        return info

    def clean_partial(self, older_than_s: float = STALE_PART_S) -> int:
        """Remove ``.part`` files left by a crash or a full disk; return how many."""
        removed = 0
        now = time.time()
        for folder in (self.models_dir, self.data_dir, self.checkpoints_dir):
            for part in folder.glob("*.part"):
                with contextlib.suppress(OSError):
                    if now - part.stat().st_mtime > older_than_s:
                        part.unlink()
                        removed += 1
        if removed:
            LOG.warning("removed %d unfinished file(s) (.part) from %s", removed, self.root)
        return removed

    def add_model(self, content: bytes, filename: str) -> str:
        """Store an uploaded model after bounded checks; return its id (hash).

        Only what the file declares is checked here (format, archive sizes and ratios, the
        configuration's size: :func:`topomap_core.io.archives.check_model_file`); its
        configuration is inspected by the job that first loads it (the ``describe`` job the
        dashboard runs after an upload), which removes a refused model with
        :meth:`remove_model`.

        Raises
        ------
        TopomapError
            For an empty, oversized, unknown-format or bomb-like file; it is not kept.
        """
        digest = self._add(content, filename, self.models_dir, MODEL_SUFFIXES, "model")
        try:
            check_model_file(self._find(self.models_dir, digest))
        except TopomapError:
            self.remove_model(digest)
            raise
        return digest

    def add_data(self, content: bytes, filename: str) -> str:
        """Store an uploaded data file (.npz or image-folder .zip) after bounded checks of its
        archive directory; return its id. Its arrays or images are read (and checked) by the
        ``check-data`` job, never here.

        Raises
        ------
        DataError
            An empty, oversized, bomb-like or unreadable archive; it is not kept.
        """
        digest = self._add(content, filename, self.data_dir, DATA_SUFFIXES, "data")
        path = self._find(self.data_dir, digest)
        try:
            with zipfile.ZipFile(path) as zf:
                check_zip(zf, Path(filename).name, _DATA_EXPANSION * config.max_upload_bytes(),
                          DataError)  # fmt: skip
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            self._remove(self.data_dir, digest)
            kind = "an .npz" if path.suffix == ".npz" else "a .zip"
            raise DataError(f"'{Path(filename).name}' is not {kind} archive ({exc})") from None
        except TopomapError:
            self._remove(self.data_dir, digest)
            raise
        return digest

    def remove_model(self, ref: str) -> None:
        """Delete a stored model (file and metadata); demo names and unknown ids are ignored."""
        self._remove(self.models_dir, ref)

    def remove_checkpoints(self, ref: str) -> None:
        """Delete a stored checkpoint series (file and metadata)."""
        self._remove(self.checkpoints_dir, ref)

    @staticmethod
    def _remove(folder: Path, ref: str) -> None:
        if not isinstance(ref, str) or not HASH_RE.match(ref):
            return
        for path in folder.glob(f"{ref}.*"):
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
                info = self._read_meta(meta)
                if info is not None:
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
        if isinstance(ref, str) and HASH_RE.match(ref):
            for folder in (self.models_dir, self.data_dir, self.checkpoints_dir):
                info = self._read_meta(folder / f"{ref}.json")
                if info is not None:
                    return info["name"]
        return str(ref)[:16]

    # -- checkpoint series ---------------------------------------------------------------
    def add_checkpoints(self, content: bytes, filename: str) -> str:
        """Store an uploaded checkpoint ``.zip`` after bounded checks; return its id (hash).

        Here: size, extension and the archive's directory (member paths, count, declared
        sizes and ratios). The members themselves (kinds, names and numbers, the
        configuration of every ``.keras`` member) are checked by the ``inspect-checkpoints``
        job, whose answer :meth:`set_series_info` records and whose refusal removes the
        series again (:meth:`remove_checkpoints`).

        Raises
        ------
        CheckpointError
            An empty, oversized or bomb-like archive, or not a zip; it is not kept.
        """
        check_size(len(content), Path(filename or "").name, "checkpoint", CheckpointError)
        try:
            _suffix(filename, CHECKPOINT_SUFFIXES, "checkpoint")
        except TopomapError as exc:
            raise CheckpointError(str(exc)) from None
        digest = self._add(
            content, filename, self.checkpoints_dir, CHECKPOINT_SUFFIXES, "checkpoint"
        )
        path = self._find(self.checkpoints_dir, digest)
        label = Path(filename).name
        try:
            with zipfile.ZipFile(path) as zf:
                limit = _CHECKPOINT_EXPANSION * config.max_upload_bytes()
                infos = check_zip(zf, label, limit, CheckpointError)
            if len(infos) > config.max_checkpoints() + 16:
                raise CheckpointError(
                    f"'{label}' has {len(infos)} members; a series holds at most "
                    f"{config.max_checkpoints()} states (MAX_CHECKPOINTS)"
                )
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            self.remove_checkpoints(digest)
            raise CheckpointError(f"'{label}' is not a valid zip archive ({exc})") from None
        except TopomapError:
            self.remove_checkpoints(digest)
            raise
        return digest

    def set_series_info(self, ref: str, info: dict) -> None:
        """Add what the ``inspect-checkpoints`` job found (``n_checkpoints``, ``kind``,
        ``first_step``, ``last_step``) to a stored series' metadata."""
        meta = self.checkpoints_dir / f"{ref}.json"
        current = self._read_meta(meta) if HASH_RE.match(ref or "") else None
        if current is not None:
            write_atomic(meta, json.dumps({**current, **info}).encode())

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
