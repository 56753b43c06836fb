"""In-memory prediction cache, the default when no ``cache_dir`` is given."""

from __future__ import annotations

import copy

from autoens.cache.base import CacheEntry, check_name, normalize_meta, validated_oof


class MemoryCache:
    """A dict of entries; lives as long as the fit (or the object that holds it).

    The stored OOF matrix is a read-only float32 copy, so a caller that edits an
    array it got from ``get`` cannot change what later readers see, and ``get``
    hands out that array itself (no copy), so predictions are held once.
    ``fingerprint`` (optional) binds the cache to one (data, folds) fingerprint.
    """

    #: Entries vanish with the process: a pickled model does not carry them.
    persistent = False

    def __init__(self, fingerprint: str | None = None) -> None:
        if fingerprint is not None and (
            not isinstance(fingerprint, str) or not fingerprint
        ):
            raise ValueError(
                f"fingerprint must be a non-empty str or None, got {fingerprint!r}"
            )
        self.fingerprint = fingerprint
        self._entries: dict[str, CacheEntry] = {}

    def get(self, key: str, *, load_models: bool = True) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        models = list(entry.models) if load_models else None
        return CacheEntry(entry.key, entry.oof, models, copy.deepcopy(entry.meta))

    def put(self, entry: CacheEntry) -> None:
        check_name(entry.key, "entry key")
        oof = validated_oof(entry.oof, entry.key)
        oof.flags.writeable = False
        self._entries[entry.key] = CacheEntry(
            entry.key, oof, list(entry.models or []), normalize_meta(entry.meta)
        )

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[str]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryCache(fingerprint={self.fingerprint!r}, n_entries={len(self)})"
