"""On-disk prediction cache: resumable runs and selectors re-run without refitting.

Layout, one folder per (data, folds) fingerprint so one ``cache_dir`` serves many
datasets::

    root/<fingerprint[:16]>/<key>.npy            float32 OOF probabilities
    root/<fingerprint[:16]>/<key>.models.joblib  fitted fold models
    root/<fingerprint[:16]>/<key>.json           commit record, written last

An entry exists only once its JSON commit record does. Every file is written to a temp
file in the same folder, fsynced and moved into place with ``os.replace``, so readers
never see a partial file. The record holds the SHA-256 of the two data files, so a
mixed or damaged entry (a crash, a full disk, two writers interleaving on one key) is
detected on ``get``, logged, removed and recomputed, never used.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import joblib
import numpy as np

from autoens.cache.base import (
    FORMAT_VERSION,
    CacheEntry,
    check_name,
    normalize_meta,
    validated_oof,
)

logger = logging.getLogger("autoens")

# Libraries whose objects are pickled into ``*.models.joblib``. A pickle written by
# another release may not load, or may load and predict differently, so an entry
# records their versions and is recomputed when any of them changed.
_MODEL_LIBRARIES = ("numpy", "scikit-learn", "xgboost", "lightgbm")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries fold models are pickled from."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    """Read once per process: ``importlib.metadata`` scans the installed
    distributions (about 7 ms), and every cache read compares the versions, while
    the libraries this process has imported cannot change under it."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in _MODEL_LIBRARIES:
        try:
            found.append((name, version(name)))
        except PackageNotFoundError:
            found.append((name, "absent"))
    return tuple(found)


class _Broken(Exception):
    """A committed entry that cannot be trusted; the message says why."""


class DiskCache:
    """Prediction cache stored under ``root`` for one (data, folds) fingerprint."""

    #: Entries outlive the process: a saved model may fetch fold models from here.
    persistent = True

    def __init__(self, root: str | os.PathLike[str], fingerprint: str) -> None:
        self.fingerprint = check_name(fingerprint, "fingerprint")
        self.root = Path(root)
        self.folder = self.root / fingerprint[:16]
        self.folder.mkdir(parents=True, exist_ok=True)

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        return (
            self.folder / f"{key}.npy",
            self.folder / f"{key}.models.joblib",
            self.folder / f"{key}.json",
        )

    def put(self, entry: CacheEntry) -> None:
        key = check_name(entry.key, "entry key")
        oof = validated_oof(entry.oof, key)
        meta = normalize_meta(entry.meta)
        models = list(entry.models or [])
        npy_path, models_path, record_path = self._paths(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        # Withdraw any old commit first: a put that fails half-way then leaves no
        # entry, rather than an old record next to new data.
        record_path.unlink(missing_ok=True)
        oof_sha = _atomic_write(npy_path, lambda f: np.save(f, oof, allow_pickle=False))
        models_sha = _atomic_write(models_path, lambda f: joblib.dump(models, f))
        record = {
            "format_version": FORMAT_VERSION,
            "key": key,
            "fingerprint": self.fingerprint,
            "shape": list(oof.shape),
            "dtype": "float32",
            "sha256": {"oof": oof_sha, "models": models_sha},
            "versions": library_versions(),
            "meta": meta,
        }
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        _atomic_write(record_path, lambda f: f.write(text.encode("utf-8")))
        _fsync_dir(self.folder)

    def get(self, key: str, *, load_models: bool = True) -> CacheEntry | None:
        """The entry, or None if absent or untrustworthy (then it is removed).

        ``load_models=False`` reads the OOF matrix and metadata only (``models`` is
        None): a search resuming from a large cache needs every candidate's
        predictions but only the ensemble members' fold models, which the
        :class:`~autoens.library.Library` fetches later by key. The models file is
        still checked against its recorded checksum (hashing is cheap next to
        unpickling), so a damaged file is found here, where the search can still
        recompute the candidate, rather than when the library needs the models.
        """
        if not isinstance(key, str) or key not in self:
            return None
        try:
            return self._load(key, load_models)
        except _Broken as exc:
            logger.warning(
                "prediction cache entry %s in %s is unusable (%s); removing it so it "
                "is recomputed",
                key,
                self.folder,
                exc,
            )
            for path in reversed(self._paths(key)):  # the commit record first
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            return None

    def _load(self, key: str, load_models: bool = True) -> CacheEntry | None:
        npy_path, models_path, record_path = self._paths(key)
        try:
            record = json.loads(record_path.read_bytes())
        except FileNotFoundError:  # removed since the existence check
            return None
        except (OSError, ValueError) as exc:
            raise _Broken(f"unreadable commit record: {exc}") from exc
        if not isinstance(record, dict):
            raise _Broken("commit record is not a JSON object")
        if record.get("fingerprint") != self.fingerprint:
            # Only reachable if two fingerprints share their first 16 characters:
            # the entry belongs to another dataset, so leave it alone.
            return None
        version = record.get("format_version")
        if version != FORMAT_VERSION:
            raise _Broken(f"format_version {version!r}, expected {FORMAT_VERSION}")
        sha = record.get("sha256")
        meta = record.get("meta")
        if record.get("key") != key or not isinstance(sha, dict):
            raise _Broken("commit record does not describe this key")
        if not isinstance(meta, dict):
            raise _Broken("meta is not a JSON object")
        versions = record.get("versions")
        if versions != library_versions():
            changed = _version_changes(versions)
            raise _Broken(f"its fold models were pickled under {changed}")
        if record.get("dtype") != "float32":
            raise _Broken(f"recorded dtype {record.get('dtype')!r}, expected float32")

        oof = _read_verified(
            npy_path, sha.get("oof"), lambda f: np.load(f, allow_pickle=False)
        )
        if not isinstance(oof, np.ndarray) or oof.dtype != np.float32:
            raise _Broken(f"{npy_path.name} does not hold a float32 array")
        if oof.ndim != 2 or list(oof.shape) != record.get("shape"):
            raise _Broken(
                f"{npy_path.name} has shape {oof.shape}, recorded {record.get('shape')}"
            )
        if not np.isfinite(oof).all():
            raise _Broken(f"{npy_path.name} contains NaN or infinite values")
        if not load_models:
            _read_verified(models_path, sha.get("models"), lambda f: None)
            return CacheEntry(key, oof, None, meta)
        models = _read_verified(models_path, sha.get("models"), joblib.load)
        if not isinstance(models, list):
            raise _Broken(f"{models_path.name} does not hold a list of models")
        return CacheEntry(key, oof, models, meta)

    def __contains__(self, key: object) -> bool:
        """True when the entry is committed; ``get`` may still reject it as broken."""
        if not isinstance(key, str):
            return False
        try:
            check_name(key, "entry key")
        except ValueError:
            return False
        return self._paths(key)[2].is_file()

    def keys(self) -> list[str]:
        """Committed entries, sorted; temp files and uncommitted data are ignored."""
        return sorted(p.name[: -len(".json")] for p in self.folder.glob("*.json"))

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return f"DiskCache(root={str(self.root)!r}, fingerprint={self.fingerprint!r})"


def _version_changes(recorded: Any) -> str:
    if not isinstance(recorded, dict):
        return "unrecorded library versions"
    now = library_versions()
    return ", ".join(
        f"{name} {recorded.get(name, 'unrecorded')} (installed: {now[name]})"
        for name in _MODEL_LIBRARIES
        if recorded.get(name) != now[name]
    )


def _sha256(f: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _read_verified(path: Path, expected: Any, load: Callable[[IO[bytes]], Any]) -> Any:
    """Load ``path`` only if its bytes hash to ``expected``.

    Hashing and loading use one open file, so a concurrent ``os.replace`` cannot slip
    different bytes in between the check and the use.
    """
    try:
        with path.open("rb") as f:
            if _sha256(f) != expected:
                raise _Broken(f"{path.name} does not match its recorded checksum")
            f.seek(0)
            try:
                return load(f)
            except Exception as exc:
                raise _Broken(f"{path.name} cannot be loaded: {exc!r}") from exc
    except FileNotFoundError as exc:
        raise _Broken(f"{path.name} is missing") from exc
    except OSError as exc:
        raise _Broken(f"{path.name} cannot be read: {exc}") from exc


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> str:
    """Write ``path`` all-or-nothing and return the SHA-256 of what was written.

    The temp file lives in the same folder, so ``os.replace`` is an atomic rename:
    readers see the old file or the new one, never a partial one.
    """
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            digest = _sha256(f)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return digest


def _fsync_dir(folder: Path) -> None:
    """Make the renames themselves durable; skipped where folders cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
