"""What viewers read of a stored map view: the view without its maps, and its maps in pages.

A view's maps are ``n_groups x 100 x 100`` floats: 80 MB for 1000 groups, most of a stored
result. The web process shows one page of maps at a time (:data:`MAPS_PAGE`), so the view job
publishes, next to the whole result, a *light* copy (NAP, layout, order, metrics; no maps) and
the maps one page per cache entry (float32). A viewer reads the light copy and the pages it
shows (:class:`PagedMaps`), never every map (issue 20, item 9).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..jobs.base import Cache, digest

__all__ = [
    "MAPS_PAGE",
    "PagedMaps",
    "is_published",
    "n_pages",
    "page_bounds",
    "publish",
    "published_view",
]

#: Maps per page: what the Maps tab shows at once (a 6 x 6 grid), and one cache entry.
MAPS_PAGE = 36

#: Bump when what :func:`publish` writes changes form.
PUBLISH_VERSION = "1"


def n_pages(n_groups: int) -> int:
    """Pages of :data:`MAPS_PAGE` maps that ``n_groups`` maps fill (at least 1)."""
    return max(1, math.ceil(int(n_groups) / MAPS_PAGE))


def page_bounds(n_groups: int, page: Any) -> tuple[int, int]:
    """``(first, end)``: the indices (dendrogram order) of page ``page``'s maps, end
    exclusive; a page out of range (or not a number) is the nearest page there is."""
    try:
        p = int(page)
    except (TypeError, ValueError):
        p = 0
    p = min(max(p, 0), n_pages(n_groups) - 1)
    return p * MAPS_PAGE, min(int(n_groups), (p + 1) * MAPS_PAGE)


def _index_key(key: str) -> str:
    return digest({"kind": "view-index", "v": PUBLISH_VERSION, "key": key})


def _light_key(key: str) -> str:
    return digest({"kind": "view-light", "v": PUBLISH_VERSION, "key": key})


def _page_key(key: str, page: int) -> str:
    return digest({"kind": "view-maps", "v": PUBLISH_VERSION, "key": key, "page": page})


class PagedMaps:
    """The maps of published view ``key``, read from ``cache`` a page at a time.

    Indexes like the ndarray of shape (n_groups, R, R) it stands for: ``maps[k]`` reads the
    page holding map ``k`` (and keeps it, for the rest of this request); ``maps[a:b]`` the
    pages of those maps; ``np.asarray(maps)`` every page.
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, cache: Cache, key: str, n_groups: int, resolution: int):
        self._cache, self._key = cache, key
        self.shape = (int(n_groups), int(resolution), int(resolution))
        self._pages: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.shape[0]

    def page(self, page: int) -> np.ndarray:
        """The maps of page ``page``, shape (maps on it, R, R), float32."""
        if page not in self._pages:
            maps = self._cache.get(_page_key(self._key, page))
            if maps is None:  # evicted since the view was read: from the whole result
                whole = self._cache.get(self._key)
                first, end = page * MAPS_PAGE, min(len(self), (page + 1) * MAPS_PAGE)
                if whole is None:  # gone altogether: blank maps rather than a failure
                    maps = np.full((end - first, *self.shape[1:]), np.nan, np.float32)
                else:
                    maps = np.asarray(whole.maps[first:end], dtype=np.float32)
            self._pages[page] = maps
        return self._pages[page]

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, int | np.integer) and not isinstance(index, bool):
            k = int(index) + (len(self) if index < 0 else 0)
            if not 0 <= k < len(self):
                raise IndexError(f"map {index} of {len(self)}")
            return self.page(k // MAPS_PAGE)[k % MAPS_PAGE]
        if isinstance(index, slice):
            picked = range(len(self))[index]
            if not picked:
                return np.empty((0, *self.shape[1:]), np.float32)
            return np.stack([self[k] for k in picked])
        return np.asarray(self)[index]

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        maps = np.concatenate([self.page(p) for p in range(n_pages(len(self)))])
        return maps if dtype is None else maps.astype(dtype)


def publish(result: Any, key: str, cache: Cache) -> None:
    """Store the light copy of view ``result`` and its maps in pages (float32); the index
    last, so that an index means everything is there."""
    maps = result.maps
    n = len(maps)
    for page in range(n_pages(n)):
        first, end = page_bounds(n, page)
        cache.set(_page_key(key, page), np.asarray(maps[first:end], dtype=np.float32))
    light = dataclasses.replace(result, maps=np.empty((0, *maps.shape[1:]), np.float32))
    cache.set(_light_key(key), light)
    cache.set(_index_key(key), {"n": n, "resolution": int(maps.shape[-1])})


def is_published(key: str, cache: Cache) -> bool:
    """Whether the light copy and every page of view ``key`` are stored."""
    index = cache.get(_index_key(key))
    if not isinstance(index, dict) or _light_key(key) not in cache:
        return False
    return all(_page_key(key, p) in cache for p in range(n_pages(index["n"])))


def published_view(key: str, cache: Cache) -> Any:
    """The light copy of view ``key`` with its maps as :class:`PagedMaps`; None when not
    published (or evicted since)."""
    index = cache.get(_index_key(key))
    light = cache.get(_light_key(key)) if isinstance(index, dict) else None
    if light is None:
        return None
    light.maps = PagedMaps(cache, key, index["n"], index["resolution"])
    return light
