"""Prediction cache shared by search, selectors and benchmark (DESIGN.md §3)."""

from autoens.cache.base import (
    FORMAT_VERSION,
    CacheEntry,
    PredictionCache,
    get_cache,
    make_key,
)
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
