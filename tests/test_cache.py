"""Prediction cache: both backends round-trip; the disk cache never serves bad data."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from autoens.cache import (
    FORMAT_VERSION,
    CacheEntry,
    DiskCache,
    MemoryCache,
    PredictionCache,
    get_cache,
    make_key,
)
from autoens.cache.base import check_name, normalize_meta, validated_oof
from autoens.cache.disk import library_versions
from autoens.testing import check_cache

FP = "0123456789abcdef" * 4  # a sha256-like fingerprint of (data, folds)
OTHER_FP = "fedcba9876543210" * 4


@pytest.fixture(scope="module")
def iris_fit():
    """Real fold models and their OOF probabilities on iris (3 classes)."""
    X, y = load_iris(return_X_y=True)
    oof = np.zeros((len(y), 3))
    models = []
    for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5))
        model.fit(X[train], y[train])
        oof[test] = model.predict_proba(X[test])
        models.append(model)
    return X, oof, models


def make_entry(iris_fit, key: str | None = None) -> CacheEntry:
    _, oof, models = iris_fit
    params = {"C": 0.5, "penalty": "l2"}
    meta = {"learner": "logreg", "params": params, "loss": 0.123, "fit_time": 0.01}
    return CacheEntry(key or make_key("logreg", params, FP), oof, models, meta)


@pytest.fixture(params=["memory", "disk"])
def cache(request, tmp_path) -> PredictionCache:
    if request.param == "memory":
        return MemoryCache(FP)
    return DiskCache(tmp_path, FP)


# ---------------------------------------------------------------- both backends


def test_round_trip(cache, iris_fit):
    X, oof, models = iris_fit
    entry = make_entry(iris_fit)
    cache.put(entry)
    got = cache.get(entry.key)
    assert got is not None and got.key == entry.key
    assert got.oof.dtype == np.float32 and got.oof.shape == (150, 3)
    np.testing.assert_array_equal(got.oof, oof.astype(np.float32))
    assert got.meta == entry.meta
    assert len(got.models) == 3
    for before, after in zip(models, got.models, strict=True):
        np.testing.assert_array_equal(after.predict_proba(X), before.predict_proba(X))


def test_keys_contains_len_and_overwrite(cache, iris_fit):
    assert len(cache) == 0 and cache.keys() == [] and cache.get("nothing") is None
    a, b = make_entry(iris_fit, "a" * 32), make_entry(iris_fit, "b" * 32)
    cache.put(a)
    cache.put(b)
    assert sorted(cache.keys()) == [a.key, b.key] and len(cache) == 2
    assert a.key in cache and "c" * 32 not in cache and 3 not in cache
    cache.put(CacheEntry(a.key, np.full((4, 2), 0.5), [], {"loss": 1.0}))
    assert len(cache) == 2
    got = cache.get(a.key)
    assert got.oof.shape == (4, 2) and got.models == [] and got.meta == {"loss": 1.0}


def test_meta_reads_back_as_json(cache):
    meta = {"params": {"layers": (8, 4)}, "n": np.int64(3), "loss": np.float32(0.25)}
    cache.put(CacheEntry("k", np.ones((2, 2)), [], meta))
    got = cache.get("k").meta
    assert got == {"params": {"layers": [8, 4]}, "n": 3, "loss": 0.25}
    assert type(got["n"]) is int


@pytest.mark.parametrize(
    "oof, key, meta, error, match",
    [
        (np.array([[0.5, np.nan]]), "k", {}, ValueError, "NaN or infinite"),
        (np.array([[np.inf, 0.0]]), "k", {}, ValueError, "NaN or infinite"),
        (np.ones(3), "k", {}, ValueError, "2-D"),
        (np.ones((2, 2)), "../escape", {}, ValueError, "entry key"),
        (np.ones((2, 2)), "", {}, ValueError, "entry key"),
        (np.ones((2, 2)), "k", {"est": LogisticRegression()}, TypeError, "meta"),
    ],
)
def test_put_rejects_unusable_entries(cache, oof, key, meta, error, match):
    with pytest.raises(error, match=match):
        cache.put(CacheEntry(key, oof, [], meta))
    assert len(cache) == 0


def test_memory_cache_hands_out_read_only_oof():
    cache = MemoryCache(FP)
    source = np.ones((3, 2))
    cache.put(CacheEntry("k", source, [], {}))
    source[0, 0] = 7.0  # the caller's array is copied, not aliased
    got = cache.get("k")
    assert got.oof[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        got.oof[0, 0] = 5.0


# ---------------------------------------------------------------- make_key


def test_make_key_is_canonical():
    params = {"C": 0.1, "penalty": "l2", "layers": (8, 4), "cw": {"b": 1, "a": 2}}
    reordered = {"cw": {"a": 2, "b": 1}, "layers": [8, 4], "penalty": "l2", "C": 0.1}
    key = make_key("logreg", params, FP)
    assert len(key) == 32 and int(key, 16) >= 0
    assert make_key("logreg", reordered, FP) == key
    numpy_params = {
        "C": np.float64(0.1),
        "penalty": np.str_("l2"),
        "layers": np.array([8, 4]),
        "cw": {"b": np.int64(1), "a": np.int32(2)},
    }
    assert make_key("logreg", numpy_params, FP) == key


@pytest.mark.parametrize(
    "learner, params, fingerprint",
    [
        ("logreg", {"C": np.nextafter(0.1, 1.0)}, FP),  # the next float up differs
        ("logreg", {"C": 0.2}, FP),
        ("logreg", {"C": 1}, FP),  # int vs float: sklearn treats some differently
        ("logreg", {"C": 0.1, "tol": None}, FP),
        ("rf", {"C": 0.1}, FP),
        ("logreg", {"C": 0.1}, OTHER_FP),
    ],
)
def test_make_key_separates_configs(learner, params, fingerprint):
    assert make_key(learner, params, fingerprint) != make_key("logreg", {"C": 0.1}, FP)


def test_make_key_golden_value():
    """Pinned across versions and processes: changing it orphans every saved cache."""
    text = '["hgb",{"lr":0.1,"max_depth":null,"sizes":[3,1]},"fp"]'
    expected = hashlib.sha256(text.encode()).hexdigest()[:32]
    params = {"sizes": (3, np.int64(1)), "max_depth": None, "lr": np.float64(0.1)}
    assert make_key("hgb", params, "fp") == expected


def test_make_key_refuses_values_without_canonical_form():
    with pytest.raises(TypeError, match=r"params\['est'\] has type LogisticRegression"):
        make_key("stack", {"est": LogisticRegression()}, FP)


# ---------------------------------------------------------------- get_cache


def test_get_cache_resolves_each_kind(tmp_path):
    memory = get_cache(None, fingerprint=FP)
    assert isinstance(memory, MemoryCache) and memory.fingerprint == FP
    for path in (tmp_path, str(tmp_path)):
        disk = get_cache(path, fingerprint=FP)
        assert isinstance(disk, DiskCache) and disk.folder == tmp_path / FP[:16]
    assert get_cache(memory, fingerprint=FP) is memory
    assert get_cache(disk, fingerprint=FP) is disk


def test_get_cache_errors(tmp_path):
    with pytest.raises(ValueError, match="built for fingerprint"):
        get_cache(MemoryCache(OTHER_FP), fingerprint=FP)
    with pytest.raises(ValueError, match="built for fingerprint"):
        get_cache(DiskCache(tmp_path, OTHER_FP), fingerprint=FP)
    with pytest.raises(TypeError, match="got dict"):
        get_cache({}, fingerprint=FP)
    with pytest.raises(ValueError, match="empty"):
        get_cache("", fingerprint=FP)
    with pytest.raises(ValueError, match="fingerprint"):
        DiskCache(tmp_path, "../x")


# ---------------------------------------------------------------- disk only


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_disk_layout_and_no_temp_files(tmp_path, iris_fit):
    cache = DiskCache(tmp_path, FP)
    entry = make_entry(iris_fit)
    for _ in range(2):  # the overwrite path too
        cache.put(entry)
    k = entry.key
    assert files(tmp_path) == [FP[:16]]
    assert files(cache.folder) == [f"{k}.json", f"{k}.models.joblib", f"{k}.npy"]
    record = json.loads((cache.folder / f"{k}.json").read_text())
    assert record["format_version"] == FORMAT_VERSION == 1
    assert record["fingerprint"] == FP and record["key"] == k
    assert record["shape"] == [150, 3] and record["dtype"] == "float32"
    npy_bytes = (cache.folder / f"{k}.npy").read_bytes()
    assert record["sha256"]["oof"] == hashlib.sha256(npy_bytes).hexdigest()
    assert record["meta"] == entry.meta


def test_disk_reopen_sees_entries(tmp_path, iris_fit):
    """A second fit with the same cache_dir reuses every finished candidate."""
    X, _, models = iris_fit
    entry = make_entry(iris_fit)
    DiskCache(tmp_path, FP).put(entry)
    again = get_cache(tmp_path, fingerprint=FP)
    assert again.keys() == [entry.key]
    got = again.get(entry.key)
    np.testing.assert_array_equal(got.models[1].predict(X), models[1].predict(X))


def test_disk_failed_put_leaves_no_entry(tmp_path, iris_fit, caplog):
    """The npy is written, then the models cannot be: the old commit is withdrawn."""
    cache = DiskCache(tmp_path, FP)
    entry = make_entry(iris_fit)
    cache.put(entry)
    broken = CacheEntry(entry.key, entry.oof, [lambda x: x], entry.meta)
    with pytest.raises(Exception, match="lambda"):
        cache.put(broken)
    assert entry.key not in cache and cache.keys() == []
    with caplog.at_level(logging.WARNING, logger="autoens"):
        assert cache.get(entry.key) is None
    assert caplog.records == []  # absent, not corrupt
    assert not any(name.endswith(".tmp") for name in files(cache.folder))
    cache.put(entry)  # and it can be written again
    assert cache.get(entry.key) is not None


def test_disk_crash_before_commit_is_invisible(tmp_path, iris_fit):
    """A writer killed after its data files but before the JSON leaves no entry."""
    cache = DiskCache(tmp_path, FP)
    entry = make_entry(iris_fit)
    np.save(cache.folder / f"{entry.key}.npy", entry.oof.astype(np.float32))
    (cache.folder / f".{entry.key}.json.1234.tmp").write_text("{")  # torn temp
    assert cache.keys() == [] and len(cache) == 0 and entry.key not in cache
    assert cache.get(entry.key) is None
    cache.put(entry)
    assert cache.keys() == [entry.key] and cache.get(entry.key) is not None


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_record(**changes):
    def edit(path: Path) -> None:
        record = json.loads(path.read_text())
        record.update(changes)
        path.write_text(json.dumps(record))

    return edit


@pytest.mark.parametrize(
    "suffix, damage, reason",
    [
        (".npy", _flip_byte, "checksum"),
        (".npy", Path.unlink, "missing"),
        (".models.joblib", _truncate, "checksum"),
        (".models.joblib", Path.unlink, "missing"),
        (".json", lambda p: p.write_text('{"format_version": 1, "ke'), "unreadable"),
        (".json", lambda p: p.write_bytes(b"\xff\xfe\x00"), "unreadable"),
        (".json", _edit_record(format_version=FORMAT_VERSION + 1), "format_version"),
        (".json", _edit_record(shape=[150, 2]), "shape"),
        (".json", _edit_record(meta=[1]), "meta"),
        # Fold models pickled under another scikit-learn may not load, or may load and
        # predict differently: such an entry is recomputed, with the reason logged.
        (
            ".json",
            _edit_record(versions={**library_versions(), "scikit-learn": "0.24.2"}),
            "scikit-learn 0.24.2 (installed: ",
        ),
        (".json", _edit_record(versions=None), "unrecorded library versions"),
    ],
)
def test_disk_corrupt_entry_is_dropped(
    tmp_path, iris_fit, caplog, suffix, damage, reason
):
    cache = DiskCache(tmp_path, FP)
    entry = make_entry(iris_fit)
    cache.put(entry)
    damage(cache.folder / f"{entry.key}{suffix}")
    with caplog.at_level(logging.WARNING, logger="autoens"):
        assert cache.get(entry.key) is None
    [record] = caplog.records
    assert record.name == "autoens" and record.levelno == logging.WARNING
    assert entry.key in record.getMessage() and reason in record.getMessage()
    assert files(cache.folder) == []  # removed, so it is recomputed
    cache.put(entry)
    assert cache.get(entry.key) is not None


def _replace_oof(cache: DiskCache, key: str, array: np.ndarray) -> None:
    """Swap in other data *with* a matching checksum, as a buggy writer might."""
    npy = cache.folder / f"{key}.npy"
    np.save(npy, array)
    record_path = cache.folder / f"{key}.json"
    record = json.loads(record_path.read_text())
    record["sha256"]["oof"] = hashlib.sha256(npy.read_bytes()).hexdigest()
    record_path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    "make_array, reason",
    [
        (lambda a: np.where(a > 0.5, np.nan, a).astype(np.float32), "NaN or infinite"),
        (lambda a: np.where(a > 0.5, np.inf, a).astype(np.float32), "NaN or infinite"),
        (lambda a: a.astype(np.float64), "float32"),
        (lambda a: a[:, :2].astype(np.float32), "shape"),
    ],
)
def test_disk_bad_values_are_never_served(
    tmp_path, iris_fit, caplog, make_array, reason
):
    cache = DiskCache(tmp_path, FP)
    entry = make_entry(iris_fit)
    cache.put(entry)
    _replace_oof(cache, entry.key, make_array(entry.oof))
    with caplog.at_level(logging.WARNING, logger="autoens"):
        assert cache.get(entry.key) is None
    assert reason in caplog.text and entry.key in caplog.text
    assert files(cache.folder) == []


def test_disk_other_fingerprint_is_not_visible(tmp_path, iris_fit):
    entry = make_entry(iris_fit)
    DiskCache(tmp_path, FP).put(entry)
    other = DiskCache(tmp_path, OTHER_FP)
    assert (
        other.keys() == [] and entry.key not in other and other.get(entry.key) is None
    )
    # Same 16-char folder, different fingerprint: invisible, and left alone.
    cousin = DiskCache(tmp_path, FP[:16] + "x" * 48)
    assert cousin.folder == DiskCache(tmp_path, FP).folder
    assert cousin.get(entry.key) is None
    assert DiskCache(tmp_path, FP).get(entry.key) is not None
    assert files(tmp_path) == sorted([FP[:16], OTHER_FP[:16]])


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from autoens.cache import CacheEntry, DiskCache
    root, fp, key, value, n = sys.argv[1:]
    cache, v = DiskCache(root, fp), float(value)
    for _ in range(int(n)):
        cache.put(CacheEntry(key, np.full((300, 4), v), [v], {"writer": v}))
    """
)


def test_disk_concurrent_writers_never_tear_an_entry(tmp_path, caplog):
    """Two processes put one key with different contents while this one reads."""
    key, n_puts = "k" * 32, 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), FP, key, value, str(n_puts)]
        )
        for value in ("0.25", "0.75")
    ]
    cache = DiskCache(tmp_path, FP)
    seen: list[float] = []  # the writer of every whole entry read

    def check(entry: CacheEntry | None) -> float | None:
        if entry is None:
            return None
        # whole entries only: data, models and meta agree
        v = entry.meta["writer"]
        assert entry.models == [v] and (entry.oof == v).all()
        assert entry.oof.shape == (300, 4)
        seen.append(v)
        return v

    deadline = time.monotonic() + 60
    with caplog.at_level(logging.WARNING, logger="autoens"):
        while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
            check(cache.get(key))
        assert [w.wait(timeout=60) for w in writers] == [0, 0]
        final = check(cache.get(key))
    assert not any(name.endswith(".tmp") for name in files(cache.folder))
    # Interleaved writers may leave a mismatched set, which get() drops; never more.
    assert all("unusable" in r.getMessage() for r in caplog.records)
    # Whole entries were read, of both values only.
    assert seen and set(seen) <= {0.25, 0.75}, seen
    if final is None:  # the last two puts interleaved: get() said so, removed it
        assert caplog.records and files(cache.folder) == []
    else:  # the last put's entry, whole
        assert final in (0.25, 0.75) and cache.keys() == [key]


def test_disk_get_without_models(tmp_path, iris_fit, caplog):
    cache = DiskCache(tmp_path, FP)
    entry = make_entry(iris_fit)
    cache.put(entry)
    light = cache.get(entry.key, load_models=False)
    assert light is not None and light.models is None
    np.testing.assert_array_equal(light.oof, entry.oof.astype(np.float32))
    assert light.meta == cache.get(entry.key).meta
    # a missing models file is still noticed, and the entry removed for recompute
    (cache.folder / f"{entry.key}.models.joblib").unlink()
    with caplog.at_level(logging.WARNING, logger="autoens"):
        assert cache.get(entry.key, load_models=False) is None
    assert "missing" in caplog.text
    assert files(cache.folder) == []


# ---------------------------------------------------------------- the contract


class LockedDictCache:
    """A third backend, written as a user would: a dict behind a lock."""

    persistent = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, CacheEntry] = {}
        self.reads = 0

    def get(self, key: str, *, load_models: bool = True) -> CacheEntry | None:
        with self._lock:
            self.reads += 1
            entry = self._entries.get(key)
            if entry is None:
                return None
            models = list(entry.models) if load_models else None
            return CacheEntry(key, entry.oof.copy(), models, copy.deepcopy(entry.meta))

    def put(self, entry: CacheEntry) -> None:
        key = check_name(entry.key, "entry key")
        stored = CacheEntry(
            key,
            validated_oof(entry.oof, key),
            list(entry.models or []),
            normalize_meta(entry.meta),
        )
        with self._lock:
            self._entries[key] = stored

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


@pytest.mark.parametrize("backend", ["memory", "disk", "locked-dict"])
def test_every_backend_passes_the_cache_contract(backend, tmp_path):
    make = {
        "memory": MemoryCache,
        "disk": lambda: DiskCache(tmp_path, FP),
        "locked-dict": LockedDictCache,
    }[backend]
    check_cache(make())


def test_the_contract_catches_a_broken_backend():
    class ForgetsModels(LockedDictCache):
        def get(self, key, *, load_models=True):
            entry = super().get(key, load_models=load_models)
            if entry is not None and entry.models:
                entry.models = entry.models[:1]
            return entry

    with pytest.raises(AssertionError, match="fold models changed"):
        check_cache(ForgetsModels())

    class AcceptsNaN(LockedDictCache):
        def put(self, entry):
            self._entries[entry.key] = entry

    with pytest.raises(AssertionError, match="NaN must raise"):
        check_cache(AcceptsNaN())


def test_a_user_backend_serves_a_cache_hit_refit_and_select(mixed_data):
    from autoens import AutoEnsembleClassifier, select
    from autoens.testing import FAST_FIT

    X, y = mixed_data
    backend = LockedDictCache()
    params = {
        **FAST_FIT,
        "n_trials": 4,
        "cache_dir": backend,
        "selector": "single_best",
    }
    first = AutoEnsembleClassifier(**params).fit(X, y)
    assert set(first.leaderboard_["source"]) == {"evaluated"}
    assert len(backend) == (first.leaderboard_["status"] == "ok").sum()
    again = AutoEnsembleClassifier(**params).fit(X, y)
    assert set(again.leaderboard_["source"]) == {"cache"}
    np.testing.assert_allclose(again.predict_proba(X), first.predict_proba(X))
    # select() reaches every member's fold models through the user's cache, also
    # the ones keep_models="ensemble" did not keep on the model
    unused = set(first.library_.trials) - set(first.weights_[first.weights_ > 0].index)
    assert unused
    other = select(first, "qdo-es", random_state=0)
    for trial in unused:
        proba = other.predict_proba_member(X, trial)
        assert proba.shape == (len(X), 2)
    # the model pickles without the (unpicklable, in-memory) backend
    restored = pickle.loads(pickle.dumps(first))
    assert restored.library_.cache is None
    np.testing.assert_allclose(restored.predict_proba(X), first.predict_proba(X))
