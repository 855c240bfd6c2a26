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
upload is streamed to disk in chunks, hashed on the way (:meth:`Store.store`: memory bounded
whatever its size), gets the bounded checks of :mod:`topomap_core.io.archives` here, and the
full check (the model's configuration, a series' members) in a light job process afterwards
(``describe``, ``inspect-checkpoints``), whose refusal removes the file again. Every file is
written atomically (a temporary file in the same folder, ``fsync``, rename): a full disk or a
crash leaves no half-written file under a real name, uploads at once never see each other's
files, and an unreadable metadata file is skipped and logged, never an error for the whole
page. Names are shown as :func:`safe_name` writes them: no control, bidirectional or
invisible character can make one name pose as another.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import config
from .config import check_size, data_dir
from .errors import CheckpointError, DataError, ModelLoadError, TopomapError
from .io.archives import check_model_file, check_zip
from .io.demo import DEMO_CHECKPOINTS, DEMO_DATA, DEMO_MODELS
from .params import HASH_RE
from .result_cache import ResultCache

__all__ = ["HASH_RE", "Store", "Stored", "safe_name", "shown_name", "write_atomic"]

LOG = logging.getLogger(__name__)

#: A ``.part`` file older than this (seconds) is left over from a crash: removed at start.
STALE_PART_S = 600

#: A data archive may expand to this many times the upload limit (``.npz`` arrays of small
#: integers stored as float32 compress well).
_DATA_EXPANSION = 8

#: A checkpoint archive may expand to this many times the upload limit (as when loaded).
_CHECKPOINT_EXPANSION = 4

#: An upload is read and written this many bytes at a time: the most of it held in memory.
CHUNK_BYTES = 1 << 20

#: Longest file name shown (characters); a longer one keeps its start and its extension.
MAX_NAME_CHARS = 120

#: What an upload may be given as: its bytes, or a binary stream of them (a request's body).
Upload = bytes | BinaryIO


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


def _suffix(filename: str | None, allowed: tuple[str, ...], what: str, error=TopomapError) -> str:
    # Only the extension of the client's file name is used, and only if it is one we know.
    suffix = Path(_last_part(filename)).suffix.lower()
    if suffix == ".hdf5":
        suffix = ".h5"
    if suffix not in allowed:
        raise error(
            f"{what} file '{safe_name(filename, what)}' has an unsupported extension; "
            f"use one of {', '.join(allowed)}"
        )
    return suffix


def _last_part(filename: str | None) -> str:
    # Browsers send a bare name; other clients may send a path, of either kind of slash.
    return re.split(r"[/\\]", str(filename or ""))[-1].strip()


def safe_name(filename: str | None, default: str = "file") -> str:
    """A client's file name as it may be shown and logged: its last path part as
    :func:`shown_name` writes it; ``default`` when that is empty."""
    return shown_name(_last_part(filename)) or default


def shown_name(name: str) -> str:
    """``name`` with every character that could hide or disguise text written as a visible
    escape, at most :data:`MAX_NAME_CHARS` characters; applying it again changes nothing.

    Escaped (as Python's ``repr`` writes them): control characters (NUL, ESC of ANSI
    sequences, newlines), bidirectional overrides and isolates (``\\u202e`` would show
    ``\\u202eslx.keras`` as ``sarek.xls``), zero-width and other invisible or non-printing
    characters, separators other than the space. Letters of any script are kept as they are.
    A longer name keeps its start and its extension around an ellipsis.
    """
    parts = [c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name]
    if sum(map(len, parts)) <= MAX_NAME_CHARS:
        return "".join(parts)
    suffix = Path("".join(parts)).suffix[:16]
    head, used = [], len(suffix) + 1
    for part in parts:
        if used + len(part) > MAX_NAME_CHARS:
            break
        head.append(part)
        used += len(part)
    return "".join(head) + "…" + suffix


def _chunks(content: Upload) -> Iterator[bytes]:
    if isinstance(content, (bytes, bytearray, memoryview)):
        yield bytes(content)
        return
    while chunk := content.read(CHUNK_BYTES):
        yield chunk


def _check_model(path: Path, name: str) -> None:
    check_model_file(path, name)


def _check_data(path: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            check_zip(zf, name, _DATA_EXPANSION * config.max_upload_bytes(), DataError)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        kind = "an .npz" if path.suffix == ".npz" else "a .zip"
        raise DataError(f"'{name}' is not {kind} archive ({exc})") from None


def _check_checkpoints(path: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = check_zip(zf, name, _CHECKPOINT_EXPANSION * config.max_upload_bytes(),
                              CheckpointError)  # fmt: skip
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"'{name}' is not a valid zip archive ({exc})") from None
    if len(infos) > config.max_checkpoints() + 16:
        raise CheckpointError(
            f"'{name}' has {len(infos)} members; a series holds at most "
            f"{config.max_checkpoints()} states (MAX_CHECKPOINTS)"
        )


@dataclass(frozen=True)
class Stored:
    """An upload in the store.

    Attributes
    ----------
    ref : str
        Its id, the SHA-256 of its bytes.
    name : str
        The name it is listed under (:func:`safe_name` of the one given).
    size : int
        Bytes.
    previous : str or None
        The name the same bytes were listed under before, when that was another.
    """

    ref: str
    name: str
    size: int
    previous: str | None = None


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
    @staticmethod
    def _receive(
        content: Upload, name: str, folder: Path, what: str, error
    ) -> tuple[Path, str, int]:
        """Stream ``content`` into a temporary file of ``folder`` in chunks of
        :data:`CHUNK_BYTES`, hashing it on the way; ``(file, sha256 hex digest, size)``, the
        file named ``.upload.<random>.part``.

        Memory stays bounded whatever the size: reading stops, and the file is removed, as
        soon as the upload passes ``MAX_UPLOAD_MB``.
        """
        limit = config.max_upload_bytes()
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in _chunks(content):
                    size += len(chunk)
                    if size > limit:
                        raise error(
                            f"{what} file '{name}' is over the {limit / 2**20:.3g} MB limit "
                            "(MAX_UPLOAD_MB); the rest of it was not read"
                        )
                    digest.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            check_size(size, name, what, error)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return Path(tmp), digest.hexdigest(), size

    def _add(
        self, content: Upload, filename: str | None, kind: str, check=None, error=TopomapError
    ) -> Stored:
        """Store an upload of ``kind`` (streamed, hashed, bounded-checked); see :meth:`store`."""
        folder, suffixes, what = self._kinds()[kind]
        name = safe_name(filename, what)
        suffix = _suffix(filename, suffixes, what, error)  # before a byte is read
        tmp, digest, size = self._receive(content, name, folder, what, error)
        path = folder / f"{digest}{suffix}"
        created = False
        try:
            if path.exists():  # the same bytes are stored already: keep that file
                tmp.unlink()
            else:
                os.replace(tmp, path)
                created = True
            if check is not None:
                check(path, name)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if created:
                self._remove(folder, digest)
            raise
        # Listed only now, once the checks passed, under the name just given (the same bytes
        # uploaded under another name are listed under the new one; the old name is said).
        meta = folder / f"{digest}.json"
        current = self._read_meta(meta) or {}
        previous = current.get("name")
        info = {**current, "name": name, "size": size, "added": time.time()}
        write_atomic(meta, json.dumps(info).encode())
        return Stored(digest, name, size, previous if previous not in (None, name) else None)

    def _kinds(self) -> dict[str, tuple[Path, tuple[str, ...], str]]:
        return {
            "model": (self.models_dir, MODEL_SUFFIXES, "model"),
            "data": (self.data_dir, DATA_SUFFIXES, "data"),
            "checkpoints": (self.checkpoints_dir, CHECKPOINT_SUFFIXES, "checkpoint"),
        }

    def store(self, kind: str, content: Upload, filename: str | None) -> Stored:
        """Store an upload of ``kind`` (``"model"``, ``"data"`` or ``"checkpoints"``) after
        bounded checks; what it is stored and listed as.

        ``content`` is the file's bytes or a binary stream of them (a request's body), read
        in chunks of :data:`CHUNK_BYTES` straight into a temporary file of the store while
        it is hashed, so memory stays bounded whatever the file's size. The file is then
        renamed to its hash (the same bytes uploaded twice are stored once) and checked
        (:meth:`add_model`, :meth:`add_data`, :meth:`add_checkpoints` say how); only a file
        that passes is listed, under :func:`safe_name` of ``filename``.

        Raises
        ------
        TopomapError
            An unknown kind, or an empty, oversized, unknown-format or bomb-like file (the
            subclass of the kind: DataError, CheckpointError, ModelLoadError); nothing of it
            is kept, and a file stored before under the same hash is left as it was.
        """
        if kind == "model":
            return self._add(content, filename, kind, _check_model)
        if kind == "data":
            return self._add(content, filename, kind, _check_data, DataError)
        if kind == "checkpoints":
            return self._add(content, filename, kind, _check_checkpoints, CheckpointError)
        raise TopomapError(
            f"unknown kind of upload {str(kind)[:40]!r}; use model, data or checkpoints"
        )

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
        return {**info, "name": shown_name(info["name"])}  # written by an older version too

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

    def add_model(self, content: Upload, filename: str | None) -> str:
        """Store an uploaded model after bounded checks; return its id (hash).

        Only what the file declares is checked here (format, archive sizes and ratios, the
        configuration's size: :func:`topomap_core.io.archives.check_model_file`); its
        configuration is inspected by the job that first loads it (the ``describe`` job the
        dashboard runs after an upload), which removes a refused model with
        :meth:`remove_model`. ``content``: bytes or a binary stream (see :meth:`store`).

        Raises
        ------
        TopomapError
            For an empty, oversized, unknown-format or bomb-like file; it is not kept.
        """
        return self.store("model", content, filename).ref

    def add_data(self, content: Upload, filename: str | None) -> str:
        """Store an uploaded data file (.npz or image-folder .zip) after bounded checks of its
        archive directory; return its id. Its arrays or images are read (and checked) by the
        ``check-data`` job, never here.

        Raises
        ------
        DataError
            An empty, oversized, bomb-like or unreadable archive; it is not kept.
        """
        return self.store("data", content, filename).ref

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
    def add_checkpoints(self, content: Upload, filename: str | None) -> str:
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
        return self.store("checkpoints", content, filename).ref

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
