"""The prediction cache: the one carrier of out-of-fold predictions and fold models.

``get_cache`` turns the user's ``cache_dir=`` argument into a cache object: in memory
(the default), on disk (a folder path), or any object that implements
:class:`PredictionCache`.
"""

from __future__ import annotations

import os

from autoens.cache.base import FORMAT_VERSION, CacheEntry, PredictionCache, make_key
from autoens.cache.disk import DiskCache
from autoens.cache.memory import MemoryCache

__all__ = [
    "FORMAT_VERSION",
    "CacheEntry",
    "DiskCache",
    "MemoryCache",
    "PredictionCache",
    "get_cache",
    "make_key",
]

_CACHE_MEMBERS = ("persistent", "get", "put", "__contains__", "keys", "__len__")


def get_cache(
    cache: str | os.PathLike[str] | PredictionCache | None, *, fingerprint: str
) -> PredictionCache:
    """Turn the user's ``cache=`` argument into a cache for ``fingerprint``'s data.

    None gives a fresh in-memory cache, a path a disk cache under that folder, and a
    ready cache object is used as is. Keys already include the fingerprint, so one
    object may serve many datasets; a cache that was built for one fingerprint only
    (it has a ``fingerprint`` attribute) must be built for this one.
    """
    if cache is None:
        return MemoryCache(fingerprint)
    if isinstance(cache, str | os.PathLike):
        if os.fspath(cache) == "":
            raise ValueError("cache path is empty; pass a folder, or None for memory")
        return DiskCache(cache, fingerprint)
    missing = [name for name in _CACHE_MEMBERS if not hasattr(cache, name)]
    if missing:
        raise TypeError(
            "cache must be None (in memory), a folder path (str or os.PathLike) or an "
            "object implementing autoens.cache.PredictionCache "
            f"({', '.join(_CACHE_MEMBERS)}); got {type(cache).__name__}, which lacks "
            f"{', '.join(missing)}"
        )
    bound = getattr(cache, "fingerprint", None)
    if bound is not None and bound != fingerprint:
        raise ValueError(
            f"the cache was built for fingerprint {bound!r} but this data and these "
            f"folds have fingerprint {fingerprint!r}; pass a cache built for this "
            "data, a cache folder path, or None."
        )
    return cache
