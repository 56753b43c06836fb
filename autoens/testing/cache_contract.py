"""The prediction-cache contract: ``check_cache``."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np

from autoens.cache import CacheEntry, make_key
from autoens.testing._checks import expect as _expect

__all__ = ["check_cache"]

# --- the prediction-cache contract ---------------------------------------------------

_CACHE_FP = "c0ffee" * 10 + "beef"  # a fingerprint for the contract's keys


def _contract_entry(seed: int, n_outputs: int = 3) -> CacheEntry:
    rng = np.random.default_rng(seed)
    oof = rng.dirichlet(np.ones(n_outputs), size=40).astype(np.float32)
    params = {"alpha": float(seed), "depth": seed % 4, "kind": ["a", "b"][seed % 2]}
    models = [{"fold": k, "coef": rng.normal(size=3).tolist()} for k in range(3)]
    meta = {"learner": "contract", "params": params, "loss": 0.1 * seed}
    return CacheEntry(make_key("contract", params, _CACHE_FP), oof, models, meta)


def check_cache(cache: Any) -> None:
    """Run the prediction-cache contract on an *empty* cache object.

    Checks: the protocol's members (``persistent``, ``get(key, *, load_models)``,
    ``put``, ``__contains__``, ``keys``, ``__len__``); a round trip of predictions,
    fold models and JSON metadata (tuples read back as lists); ``load_models=False``
    (no models, same predictions and metadata); absent keys; overwriting; that editing
    an array from ``get`` cannot change what later readers see; that unusable entries
    (NaN predictions, 1-D predictions, a key that is not a file-safe name) are refused
    with ``ValueError`` at ``put``; and, for a persistent cache, that a pickled copy
    sees the same entries.
    """
    name = type(cache).__name__
    for member in ("persistent", "get", "put", "__contains__", "keys", "__len__"):
        _expect(hasattr(cache, member), f"{name}: lacks {member}")
    _expect(isinstance(cache.persistent, bool), f"{name}: persistent must be a bool")
    _expect(len(cache) == 0 and list(cache.keys()) == [], f"{name}: must start empty")

    first, second = _contract_entry(1), _contract_entry(2)
    _expect(cache.get(first.key) is None, f"{name}: get of an absent key")
    _expect(first.key not in cache, f"{name}: __contains__ of an absent key")
    cache.put(first)
    cache.put(second)
    _expect(
        sorted(cache.keys()) == sorted([first.key, second.key]) and len(cache) == 2,
        f"{name}: keys()/len() after two puts",
    )
    _expect(first.key in cache and 42 not in cache, f"{name}: __contains__")
    for entry in (first, second):
        got = cache.get(entry.key)
        _expect(got is not None, f"{name}: get of a stored key returned None")
        _expect(got.key == entry.key, f"{name}: entry key changed")
        _expect(
            isinstance(got.oof, np.ndarray)
            and got.oof.dtype == np.float32
            and np.array_equal(got.oof, entry.oof),
            f"{name}: predictions must read back as the same float32 array",
        )
        _expect(got.models == entry.models, f"{name}: fold models changed")
        _expect(
            got.meta == json.loads(json.dumps(entry.meta)),
            f"{name}: metadata must read back as its JSON round trip",
        )
        light = cache.get(entry.key, load_models=False)
        _expect(
            light is not None
            and light.models is None
            and np.array_equal(light.oof, entry.oof)
            and light.meta == got.meta,
            f"{name}: get(load_models=False) must give predictions and metadata, "
            "models None",
        )
    # Readers cannot change what later readers see.
    got = cache.get(first.key)
    try:
        got.oof[0, 0] += 1.0
    except ValueError:
        pass  # read-only: fine
    got.meta["loss"] = -1.0
    again = cache.get(first.key)
    _expect(
        np.array_equal(again.oof, first.oof) and again.meta["loss"] == 0.1,
        f"{name}: editing what get() returned changed the stored entry",
    )
    # Overwrite.
    replaced = CacheEntry(first.key, second.oof, second.models, second.meta)
    cache.put(replaced)
    got = cache.get(first.key)
    _expect(
        len(cache) == 2 and np.array_equal(got.oof, second.oof),
        f"{name}: put must overwrite an existing key",
    )
    # Unusable entries are refused at put, and leave no entry behind.
    bad_nan = _contract_entry(3)
    bad_nan.oof[0, 0] = np.nan
    bad_shape = _contract_entry(4)
    bad_shape = CacheEntry(bad_shape.key, bad_shape.oof[:, 0], [], bad_shape.meta)
    bad_key = CacheEntry("../escape", _contract_entry(5).oof, [], {"loss": 0.0})
    for what, entry in (("NaN", bad_nan), ("1-D", bad_shape), ("unsafe key", bad_key)):
        try:
            cache.put(entry)
        except ValueError:
            pass
        else:
            raise AssertionError(f"{name}: put of an entry with {what} must raise")
        _expect(entry.key not in cache, f"{name}: a refused put left an entry")
    if cache.persistent:
        copy_ = pickle.loads(pickle.dumps(cache))
        _expect(
            sorted(copy_.keys()) == sorted(cache.keys())
            and np.array_equal(copy_.get(second.key).oof, second.oof),
            f"{name}: a persistent cache must pickle, and its copy see its entries",
        )
