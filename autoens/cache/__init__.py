"""The prediction cache: the one carrier of out-of-fold predictions and fold models.

``get_cache`` turns the user's ``cache_dir=`` argument into a cache object: in memory
(the default), on disk (a folder path), or any object that implements
:class:`PredictionCache`.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    "make_cache_dir",
    "make_key",
]

_CACHE_MEMBERS = ("persistent", "get", "put", "__contains__", "keys", "__len__")


def _folder_error(name: str, path: str | os.PathLike[str], exc: OSError) -> str:
    where = os.fspath(path)
    label = f"{name} {where}" if name.startswith("-") else f"{name}={where!r}"
    reason = exc.strerror or str(exc)
    culprit = exc.filename
    if isinstance(exc, FileExistsError | NotADirectoryError):
        reason = "a file is in the way, where a folder is needed"
        # the file itself, which may be a parent of the folder asked for
        full = Path(os.path.abspath(culprit or where))
        culprit = next((p for p in (full, *full.parents) if p.exists()), culprit)
    shown = os.fspath(culprit) if culprit else ""
    same = shown in ("", where, os.path.abspath(where))
    return f"{label} cannot be used as the cache folder: {reason}" + (
        "" if same else f" ({shown})"
    )


def make_cache_dir(
    path: str | os.PathLike[str], *, name: str = "cache_dir"
) -> os.PathLike[str] | str:
    """Create the cache folder ``path`` now, or raise ``ValueError`` naming ``name``
    (``cache_dir`` from Python, ``--cache-dir`` from the command line).

    Called before any trial runs, so a folder that cannot be made (a file in the
    way, no permission, a read-only disk) is one clear error, not a traceback from
    the first trial's write.
    """
    if os.fspath(path) == "":
        raise ValueError(f"{name} is empty; pass a folder, or None for memory")
    try:
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied", os.fspath(path))
    except OSError as exc:
        raise ValueError(_folder_error(name, path, exc)) from None
    return path


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
        make_cache_dir(cache)
        try:
            return DiskCache(cache, fingerprint)
        except OSError as exc:  # its sub-folder for this data cannot be made
            raise ValueError(_folder_error("cache_dir", cache, exc)) from None
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
