"""The prediction cache contract: entries, keys and the helpers both backends share.

The cache is the one object that search, selectors and benchmark share, and the only
carrier of out-of-fold predictions and fold models: the search puts every finished
trial into it, the library reads the predictions back from it, and a selector can be
re-run on a saved cache without fitting a single model. An entry is keyed by the
config *and* the fingerprint of (data, target, folds), so a key can only ever be
answered by predictions made on the same rows with the same splits.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: Bump when the on-disk layout or the meaning of a stored field changes; entries
#: written under another version are treated as absent and recomputed.
FORMAT_VERSION: int = 1

# Keys and fingerprints become file and folder names, so keep them path-safe.
_NAME_RE = re.compile(r"[0-9A-Za-z_-]+")


@dataclass
class CacheEntry:
    """One evaluated base-learner config.

    ``oof`` is the float32 ``(n_samples, n_outputs)`` out-of-fold prediction matrix
    (class probabilities for classification), ``models`` the fitted fold models
    (picklable with joblib; None when the entry was read with ``load_models=False``),
    ``meta`` JSON-able facts about the run (learner, params, loss, fit_time,
    predict_time, ...).
    """

    key: str
    oof: np.ndarray
    models: list[Any] | None
    meta: dict[str, Any]


@runtime_checkable
class PredictionCache(Protocol):
    """What search, library, selectors and benchmark need from a cache.

    Any object with these members works (``autoens.testing.check_cache`` runs the
    contract on one). ``persistent`` says whether entries outlive this process: a
    fitted model keeps a persistent cache (it must then be picklable) to fetch fold
    models later, and drops any other when it is pickled.
    """

    persistent: bool

    def get(self, key: str, *, load_models: bool = True) -> CacheEntry | None:
        """The entry, or None if it is absent or cannot be trusted.

        With ``load_models=False`` the entry's ``models`` is None (a resumed search
        needs every candidate's predictions but only the members' fold models); the
        entry must still be one whose models *can* be loaded.
        """
        ...

    def put(self, entry: CacheEntry) -> None:
        """Store (or overwrite) an entry."""
        ...

    def __contains__(self, key: object) -> bool: ...

    def keys(self) -> list[str]: ...

    def __len__(self) -> int: ...


def _canonical(value: Any, where: str) -> Any:
    """A JSON-ready copy of ``value`` whose dump is the same for equal configs.

    NumPy scalars become Python scalars (``np.int64(3)`` and ``3`` are the same
    config); tuples and arrays become lists; mapping keys become strings. Anything
    without an unambiguous text form is refused rather than guessed at, because a
    wrong key silently reuses someone else's predictions.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist(), where)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"{where} has type {type(value).__name__}, which has no canonical JSON form; "
        "cache keys and metadata accept None, bool, int, float, str, NumPy scalars "
        "and arrays, and lists, tuples and dicts of those."
    )


def _dumps(value: Any) -> str:
    # json writes floats with repr(), the shortest string that round-trips exactly.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def make_key(learner: str, params: Mapping[str, Any], fingerprint: str) -> str:
    """A stable key for one config on one (data, folds) fingerprint.

    The same learner and params give the same key in any process or run, whatever the
    dict order, so a second ``fit`` with the same ``cache_dir`` finds its candidates.
    """
    if not isinstance(learner, str):
        raise TypeError(f"learner must be a str, got {type(learner).__name__}")
    if not isinstance(fingerprint, str):
        raise TypeError(f"fingerprint must be a str, got {type(fingerprint).__name__}")
    text = _dumps([learner, _canonical(dict(params), "params"), fingerprint])
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:32]


def normalize_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata exactly as a JSON round trip returns it.

    Both backends store this, so an entry reads back the same from memory and from
    disk (tuples come back as lists either way), and a meta that could not be written
    to disk fails at ``put`` on the in-memory cache too.
    """
    return json.loads(_dumps(_canonical(dict(meta), "meta")))


def check_name(name: str, what: str) -> str:
    """Refuse keys and fingerprints that are not safe as file names."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"{what} must be a non-empty string of letters, digits, '_' or '-' "
            f"(it names files in the cache), got {name!r}"
        )
    return name


def validated_oof(oof: Any, key: str) -> np.ndarray:
    """The OOF matrix as a C-contiguous float32 copy; refuses unusable values early.

    A NaN in a cached matrix would poison every ensemble that includes it, so it is
    rejected at ``put`` time, where the caller can still record a failed trial.
    """
    arr = np.array(oof, dtype=np.float32, order="C", copy=True)
    if arr.ndim != 2:
        raise ValueError(
            f"entry {key}: oof must be 2-D (n_samples, n_outputs), "
            f"got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"entry {key}: oof contains NaN or infinite values")
    return arr
