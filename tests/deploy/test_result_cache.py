"""With ``REDIS_URL`` set, results are cached in Redis in front of the on-disk store.

A real ``redis-server`` (the ``deployment`` fixture) and a real view of the demo MLP.
"""

from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest
import redis

from topomap_core import config, result_cache
from topomap_core.analyses.view import ViewRequest
from topomap_core.jobs.registry import JOBS
from topomap_core.jobs.results import cached, get_or_compute, job_key
from topomap_core.result_cache import PREFIX, ResultCache
from topomap_core.store import Store

REQUEST = ViewRequest(model="demo:digits-mlp", method="PCA", per_group=20)
VIEW = JOBS["view"]


class _Trap:
    """Unpickling this would create ``path``: proof that a forged entry was never loaded."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def redis_store(deployment, monkeypatch):
    """``(store factory, Redis client, redis service, data dir)`` with REDIS_URL set."""
    data_dir = deployment.data_dir()
    service, url = deployment.redis()
    monkeypatch.setenv("REDIS_URL", url)
    # A port may come round again: forget that an earlier test's Redis went down.
    monkeypatch.setattr(result_cache, "_DOWN_UNTIL", {})
    monkeypatch.setenv("TOPOMAPS_DATA_DIR", str(data_dir))
    client = redis.Redis.from_url(url)
    return (lambda: Store(data_dir)), client, service, data_dir


def test_a_view_is_written_to_disk_and_redis_and_read_from_either(redis_store):
    new_store, client, _, data_dir = redis_store
    store = new_store()
    key = job_key(VIEW, REQUEST, store)
    result = get_or_compute(VIEW, REQUEST, store)[0]
    assert isinstance(store.cache, ResultCache) and store.cache.redis is not None
    assert key in store.cache.disk
    assert client.exists(PREFIX + key)
    assert 0 < client.ttl(PREFIX + key) <= config.DEFAULT_REDIS_RESULT_TTL
    assert (os.stat(data_dir / result_cache.KEY_FILE).st_mode & 0o777) == 0o600

    # Redis emptied (a restart: it keeps nothing): the disk answers and Redis is refilled.
    client.flushdb()
    again = cached(VIEW, REQUEST, new_store())
    np.testing.assert_array_equal(again.layout, result.layout)
    assert client.exists(PREFIX + key)

    # The disk entry gone (another host's worker wrote it to Redis): Redis answers.
    del new_store().cache.disk[key]
    from_redis = cached(VIEW, REQUEST, new_store())
    np.testing.assert_array_equal(from_redis.layout, result.layout)
    np.testing.assert_array_equal(from_redis.maps, result.maps)


def test_a_forged_redis_entry_is_never_unpickled(redis_store, tmp_path):
    new_store, client, _, _ = redis_store
    store = new_store()
    key = job_key(VIEW, REQUEST, store)
    get_or_compute(VIEW, REQUEST, store)
    del store.cache.disk[key]
    marker = tmp_path / "unpickled.txt"
    # Right length, wrong tag: whoever reaches Redis without the data directory's key.
    client.set(PREFIX + key, os.urandom(32) + pickle.dumps(_Trap(str(marker))))
    assert cached(VIEW, REQUEST, new_store()) is None
    assert not marker.exists()


def test_without_redis_the_disk_serves_and_nothing_fails(redis_store):
    new_store, _, service, _ = redis_store
    store = new_store()
    get_or_compute(VIEW, REQUEST, store)
    service.kill()  # Redis goes away mid-deployment
    t0 = time.monotonic()
    store = new_store()
    assert cached(VIEW, REQUEST, store) is not None
    other = ViewRequest(model="demo:digits-mlp", method="random", per_group=20)
    # computed and stored on disk alone
    assert get_or_compute(VIEW, other, store)[0].layout.shape == (128, 2)
    assert store.cache.get(job_key(VIEW, other, store)) is not None
    # The first failure marks Redis down for every cache of the process, so later reads
    # and writes do not try it again (and wait for it) until the pause is over.
    assert result_cache._DOWN_UNTIL[store.cache.url] > t0 + result_cache.RETRY_AFTER_S - 5


def test_large_results_stay_on_disk_only_and_the_ttl_is_a_setting(redis_store, monkeypatch):
    new_store, client, _, _ = redis_store
    cache = new_store().cache
    big = np.zeros(result_cache.MAX_REDIS_BYTES // 8 + 1)
    cache.set("big", big)
    assert cache.get("big").shape == big.shape and not client.exists(PREFIX + "big")
    cache.set("small", 1)
    assert client.exists(PREFIX + "small")

    monkeypatch.setenv("REDIS_RESULT_TTL", "0")
    assert new_store().cache.redis is None  # 0 turns the Redis tier off
    monkeypatch.setenv("REDIS_RESULT_TTL", "soon")
    with pytest.raises(ValueError, match="REDIS_RESULT_TTL must be an integer, got 'soon'"):
        new_store().cache  # noqa: B018 - opening the cache reads the setting
