"""The result cache: on disk, with Redis in front of it when ``REDIS_URL`` is set.

The disk (:mod:`diskcache` under ``<data_dir>/results``) is the cache of record: every result
is written there first and survives restarts. With a Redis URL, results are also kept in Redis
for ``REDIS_RESULT_TTL`` seconds (default 3600), so the web servers of a deployment
read a view another host's worker just computed from memory instead of the shared volume;
a result read from disk is put back into Redis. Redis is an accelerator only: when it is
down, slow or full, reads and writes go to disk alone, and Redis is not asked again for
:data:`RETRY_AFTER_S` seconds.

Every disk entry is sealed: ``TMC1`` + the SHA-256 of the pickle + the pickle. An entry that
is truncated, has flipped bytes or cannot be unpickled is a miss (logged and removed), so the
job computes it again instead of failing for good or showing wrong maps.

Redis entries are pickles, like the disk's, so each one carries an HMAC-SHA256 made with a
key kept in the data directory (``<data_dir>/result-cache.key``, mode 600, shared by every
process that shares the directory). An entry whose tag does not verify (written by anyone
who can reach Redis but cannot read the data directory) is ignored and never unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import threading
import time
from pathlib import Path
from typing import Any

from . import config

LOG = logging.getLogger(__name__)

#: Results larger than this (pickled) stay on disk only (a whole training series' maps).
MAX_REDIS_BYTES = 16 * 2**20
#: After a Redis error, Redis is left alone this long (seconds).
RETRY_AFTER_S = 30.0
#: Connection and command timeouts (seconds): a hung Redis must not hold up a page.
SOCKET_TIMEOUT_S = 2.0
#: Prefix of the result keys in Redis (the job queue shares the database).
PREFIX = "topomaps-result-"
KEY_FILE = "result-cache.key"

#: The start of every sealed disk entry (format version 1).
SEAL = b"TMC1"

_MISSING = object()
_TAG_BYTES = 32
_CLIENTS: dict[str, Any] = {}  # one connection pool per URL and process
_DOWN_UNTIL: dict[str, float] = {}  # URL -> monotonic time before which Redis is not asked
_CLIENTS_LOCK = threading.Lock()


def _client(url: str):
    with _CLIENTS_LOCK:
        if url not in _CLIENTS:
            import redis

            _CLIENTS[url] = redis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_S,
                socket_connect_timeout=SOCKET_TIMEOUT_S,
            )
        return _CLIENTS[url]


def _signing_key(root: Path) -> bytes:
    """The data directory's HMAC key for the Redis entries (made by the first process)."""
    return bytes.fromhex(config.shared_secret(root / KEY_FILE))


class ResultCache:
    """A :class:`diskcache.Cache` with an optional Redis tier in front.

    Supports what the store and the dashboard use: :meth:`get`, :meth:`set`, ``key in
    cache`` and ``del cache[key]``.

    Parameters
    ----------
    disk : diskcache.Cache
        The cache of record.
    redis_url : str or None
        ``redis://host:port/db``; None: disk only.
    root : Path
        The data directory (holds the signing key of the Redis entries).
    ttl : int, optional
        Seconds an entry lives in Redis; default ``REDIS_RESULT_TTL``. 0: disk only.
    """

    def __init__(self, disk, redis_url: str | None, root: Path, ttl: int | None = None):
        self.disk = disk
        self.ttl = config.redis_result_ttl() if ttl is None else int(ttl)
        self.url = redis_url if redis_url and self.ttl > 0 else None
        self.redis = _client(self.url) if self.url else None
        if self.redis is not None:
            import redis

            # What a failing Redis raises: caught, logged, and the disk serves alone.
            self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._root = Path(root)
        self._key: bytes | None = None

    # -- the Redis tier -----------------------------------------------------------------
    def _usable(self) -> bool:
        return self.redis is not None and time.monotonic() >= _DOWN_UNTIL.get(self.url, 0.0)

    def _failed(self, what: str, exc: BaseException) -> None:
        # Shared by every cache of this process: each callback opens its own Store.
        _DOWN_UNTIL[self.url] = time.monotonic() + RETRY_AFTER_S
        LOG.warning(
            "Redis result cache: %s failed (%s); using the disk alone for %.0f s",
            what,
            exc,
            RETRY_AFTER_S,
        )

    def _tag(self, payload: bytes) -> bytes:
        if self._key is None:
            self._key = _signing_key(self._root)
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def _redis_get(self, key: str) -> Any:
        try:
            raw = self.redis.get(PREFIX + key)
        except self._errors as exc:
            self._failed("a read", exc)
            return _MISSING
        if raw is None or len(raw) <= _TAG_BYTES:
            return _MISSING
        tag, payload = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(payload)):
            LOG.warning("Redis result cache: entry %s... is not signed by us; ignored", key[:12])
            return _MISSING
        try:
            return pickle.loads(payload)
        except Exception as exc:  # e.g. a class renamed since: recompute rather than fail
            LOG.warning("Redis result cache: entry %s... unreadable (%s)", key[:12], exc)
            return _MISSING

    def _redis_set(self, key: str, value: Any, expire: float | None) -> None:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        if len(payload) > MAX_REDIS_BYTES:
            return
        ttl = self.ttl if expire is None else max(1, min(self.ttl, int(expire)))
        try:
            self.redis.set(PREFIX + key, self._tag(payload) + payload, ex=ttl)
        except self._errors as exc:
            self._failed("a write", exc)

    # -- the disk tier --------------------------------------------------------------------
    def _disk_get(self, key: str) -> Any:
        try:
            raw = self.disk.get(key, default=_MISSING)
        except Exception as exc:  # a damaged file diskcache cannot even read
            return self._bad(key, f"is unreadable ({type(exc).__name__}: {exc})")
        if raw is _MISSING:
            return _MISSING
        if not isinstance(raw, bytes) or not raw.startswith(SEAL):
            return self._bad(key, "is not sealed (written by an older version?)")
        digest, payload = raw[len(SEAL) : len(SEAL) + 32], raw[len(SEAL) + 32 :]
        if hashlib.sha256(payload).digest() != digest:
            return self._bad(key, "fails its checksum (truncated or damaged)")
        try:
            return pickle.loads(payload)
        except Exception as exc:  # e.g. a class renamed since
            return self._bad(key, f"is unreadable ({type(exc).__name__}: {exc})")

    def _bad(self, key: str, why: str) -> Any:
        LOG.warning("result cache: entry %s... %s; it will be computed again", key[:12], why)
        try:
            del self.disk[key]
        except Exception:  # already gone, or the disk refuses: a miss either way
            pass
        return _MISSING

    # -- the cache interface ------------------------------------------------------------
    def get(self, key: str | None, default: Any = None) -> Any:
        """The value stored under ``key``: from Redis, else from disk (then put in Redis).

        A damaged disk entry is a miss (see the module's notes)."""
        if key is None:
            return default
        if self._usable():
            value = self._redis_get(key)
            if value is not _MISSING:
                return value
        value = self._disk_get(key)
        if value is _MISSING:
            return default
        if self._usable():
            self._redis_set(key, value, None)
        return value

    def set(self, key: str, value: Any, expire: float | None = None) -> None:
        """Store ``value`` on disk, sealed, then in Redis (``expire`` seconds, if given, on
        both)."""
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self.disk.set(key, SEAL + hashlib.sha256(payload).digest() + payload, expire=expire)
        if self._usable():
            self._redis_set(key, value, expire)

    def __contains__(self, key: str) -> bool:
        return key in self.disk

    def __delitem__(self, key: str) -> None:
        try:
            del self.disk[key]
        finally:
            if self._usable():
                try:
                    self.redis.delete(PREFIX + key)
                except self._errors as exc:
                    self._failed("a delete", exc)
