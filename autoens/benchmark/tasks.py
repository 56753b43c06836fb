"""Benchmark tasks: which dataset a task id names, how to load it, its outer folds.

:func:`resolve_tasks` turns task ids such as ``keel:sonar``, ``keel:*``,
``sklearn:iris``, ``csv:path/to/folder`` and ``openml:task/31`` /
``openml:suite/OpenML-CC18`` into :class:`Task` objects, which load their data and make
their outer folds: the official splits for OpenML tasks, else
``StratifiedKFold(n_folds, shuffle=True, random_state=seed)``.

KEEL and scikit-learn data come from the bundled loaders of :mod:`autoens.datasets`
(re-exported here); CSV files and OpenML tasks are loaded here, with the same
conventions: ``X`` has float64 numeric columns and object (``str``) categorical ones,
NaN for missing values; ``y`` is int64 when every label is an integer, else object.
"""

from __future__ import annotations

import functools
import gc
import importlib.util
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoens.datasets import (
    KEEL_DATASETS,
    KEEL_DEV12,
    KEEL_INSTALL_HINT,
    SKLEARN_DATASETS,
    load_keel,
    load_sklearn,
    read_csv,
    typed_labels,
)

__all__ = [
    "KEEL_DATASETS",
    "KEEL_DEV12",
    "OPENML_SUITE_ALIASES",
    "SKLEARN_DATASETS",
    "TASK_SOURCES",
    "Task",
    "TaskError",
    "load_csv",
    "load_keel",
    "load_openml",
    "load_sklearn",
    "resolve_tasks",
]

TASK_SOURCES: tuple[str, ...] = ("keel", "sklearn", "csv", "openml")
"""Prefixes of task ids: ``keel:NAME``, ``sklearn:NAME``, ``csv:PATH``, ``openml:…``."""

OPENML_SUITE_ALIASES: dict[str, int] = {
    "openml-cc18": 99,
    "amlb-classification": 271,
}
"""Suite aliases accepted by ``openml:suite/ALIAS`` (case-insensitive)."""


class TaskError(ValueError):
    """A task id that cannot be resolved, or task data that cannot be used."""


@dataclass(frozen=True)
class Task:
    """One dataset of a benchmark suite: where its data is and how its folds are made.

    Small and picklable (no data inside), so that it travels to joblib or Dask workers,
    which load the data themselves (:meth:`load`, memoised per process).

    ``id`` is the name used in results (``keel:sonar``, ``csv:credit``,
    ``openml:task/31``); ``name`` is the dataset name, CSV path or OpenML task id.
    """

    id: str
    source: str
    name: str
    target: str | None = None
    cache_dir: str | None = None

    def load(self) -> tuple[pd.DataFrame, pd.Series]:
        """``(X, y)`` of the whole dataset (see the module conventions)."""
        X, y, _ = _load_task(self, _stamp(self))
        return X, y

    def outer_split(
        self, fold: int, *, n_folds: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row indices ``(train, test)`` of outer fold ``fold``.

        OpenML tasks use their official split (repeat 0, fold ``fold``; ``n_folds`` and
        ``seed`` are ignored). Other sources use
        ``StratifiedKFold(n_folds, shuffle=True, random_state=seed)``.
        """
        _, y, openml_task = _load_task(self, _stamp(self))
        if openml_task is not None:
            _, n_official, _ = openml_task.get_split_dimensions()
            if not 0 <= fold < n_official:
                raise TaskError(
                    f"{self.id} has {n_official} official folds; fold {fold} does "
                    "not exist"
                )
            train, test = openml_task.get_train_test_split_indices(
                repeat=0, fold=fold, sample=0
            )
            return np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
        if not 0 <= fold < n_folds:
            raise TaskError(f"fold {fold} is out of range for {n_folds} outer folds")
        counts = y.value_counts()
        if len(counts) < 2:
            raise TaskError(
                f"{self.id} has a single class ({counts.index[0]!r}); a "
                "classification benchmark needs at least two"
            )
        if counts.min() < n_folds:
            raise TaskError(
                f"{self.id}: class {counts.idxmin()!r} has only {counts.min()} rows, "
                f"fewer than the {n_folds} outer folds, so a test fold would miss it"
            )
        from sklearn.model_selection import StratifiedKFold

        outer = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        train, test = next(
            split
            for i, split in enumerate(outer.split(np.zeros(len(y)), y))
            if i == fold
        )
        return train, test


def _stamp(task: Task) -> tuple[int, int] | None:
    """Version of a CSV file (a changed file is read again); None for the others."""
    if task.source != "csv":
        return None
    try:
        stat = Path(task.name).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=4)
def _load_task(
    task: Task, stamp: tuple[int, int] | None
) -> tuple[pd.DataFrame, pd.Series, Any]:
    """Data of a task (and the OpenML task object), memoised per process."""
    if task.source == "keel":
        return (*load_keel(task.name), None)
    if task.source == "sklearn":
        return (*load_sklearn(task.name), None)
    if task.source == "csv":
        return (*load_csv(task.name, target=task.target), None)
    if task.source == "openml":
        return load_openml(int(task.name), cache_dir=task.cache_dir)
    raise TaskError(f"unknown task source {task.source!r}; valid: {TASK_SOURCES}")


def load_csv(
    path: str | Path, target: str | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """Load one CSV file with a header row as ``(X, y)``.

    ``target`` names the class column (default: the last column). Feature columns keep
    their names; text columns become object dtype holding ``str``. Rows without a label
    are an error, not dropped; so is a file with a header but no rows.
    """
    file = Path(path)
    try:
        frame = read_csv(file)
    except ValueError as exc:
        raise TaskError(str(exc)) from None
    if frame.shape[1] < 2:
        raise TaskError(
            f"{file} has {frame.shape[1]} column(s); a task needs at least one "
            "feature column and the target column"
        )
    column = frame.columns[-1] if target is None else target
    if column not in frame.columns:
        raise TaskError(
            f"target column {target!r} not found in {file}; its columns are: "
            f"{', '.join(map(str, frame.columns))}"
        )
    labels = frame[column]
    missing = int(labels.isna().sum())
    if missing:
        raise TaskError(
            f"target column {column!r} of {file} has {missing} missing value(s) in "
            f"{len(labels)} rows; remove or fill those rows"
        )
    X = frame.drop(columns=[column])
    X = pd.DataFrame(
        {
            col: X[col].astype("float64")
            if pd.api.types.is_numeric_dtype(X[col])
            and not pd.api.types.is_bool_dtype(X[col])
            else X[col].astype(object).where(X[col].notna(), np.nan)
            for col in X.columns
        }
    )
    y = typed_labels(
        labels.astype(object) if not pd.api.types.is_numeric_dtype(labels) else labels
    )
    return X, y.rename(str(column))


def _openml_cache_root(cache_dir: str | None) -> Path:
    import openml

    if cache_dir is not None:
        openml.config.set_root_cache_directory(str(Path(cache_dir).expanduser()))
    return Path(openml.config.get_cache_directory())


def _import_openml() -> Any:
    try:
        import openml
    except ImportError:
        raise ImportError(
            "OpenML tasks need the openml package: pip install openml "
            "(or pip install 'autoens[openml]')"
        ) from None
    return openml


def load_openml(
    task_id: int, *, cache_dir: str | None = None
) -> tuple[pd.DataFrame, pd.Series, Any]:
    """``(X, y, task)`` of an OpenML classification task, through the OpenML cache.

    ``cache_dir`` is the root cache directory of the openml package (default: its
    configured one). Without network this works when the task, its splits and its
    data are already in that cache; otherwise the error names the directory.
    """
    openml = _import_openml()
    root = _openml_cache_root(cache_dir)
    try:
        with warnings.catch_warnings():
            # openml 0.15 leaves the split ARFF open: a ResourceWarning when collected
            warnings.simplefilter("ignore", ResourceWarning)
            task = openml.tasks.get_task(
                int(task_id),
                download_splits=True,
                download_data=True,
                download_qualities=False,
                download_features_meta_data=False,
            )
            dataset = task.get_dataset()
            X, y, categorical, _ = dataset.get_data(target=task.target_name)
            task.get_split_dimensions()  # reads (or downloads) the official splits now
            gc.collect()  # ... so close it here, inside the filter
    except Exception as exc:
        raise TaskError(
            f"cannot load OpenML task {task_id} ({type(exc).__name__}: {exc}). "
            f"Without network, only tasks already in the OpenML cache directory "
            f"{root} can be used: run once with network access to fill it, or point "
            "openml_cache_dir (in the suite's [run] table) at a filled cache."
        ) from exc
    if not hasattr(task, "class_labels"):
        raise TaskError(f"OpenML task {task_id} is not a classification task")
    X = pd.DataFrame(
        {
            str(name): X[name].astype(object).where(X[name].notna(), np.nan)
            if is_cat or not pd.api.types.is_numeric_dtype(X[name])
            else X[name].astype("float64")
            for name, is_cat in zip(X.columns, categorical, strict=True)
        }
    )
    labels = pd.Series(y).astype(object).map(str)
    return X, typed_labels(labels).rename(str(task.target_name)), task


def _openml_suite_tasks(suite: str, cache_dir: str | None) -> list[int]:
    """Task ids of an OpenML suite; remembered in the cache for offline re-runs."""
    key = OPENML_SUITE_ALIASES.get(suite.lower(), suite)
    root = _openml_cache_root(cache_dir) if _has_openml() else None
    memo = None if root is None else root / "autoens-suites" / f"{key}.json"
    if memo is not None and memo.is_file():
        return [int(t) for t in json.loads(memo.read_text())["tasks"]]
    openml = _import_openml()
    try:
        tasks = [int(t) for t in openml.study.get_suite(key).tasks or []]
    except Exception as exc:
        raise TaskError(
            f"cannot list OpenML suite {suite!r} ({type(exc).__name__}: {exc}). "
            f"Without network, list its tasks as openml:task/ID instead; those in the "
            f"OpenML cache directory {root} load offline."
        ) from exc
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps({"suite": key, "tasks": tasks}))
    return tasks


def _has_openml() -> bool:
    return importlib.util.find_spec("openml") is not None


def _csv_tasks(path: str, target: str | None) -> list[Task]:
    where = Path(path).expanduser()
    if where.is_file():
        files = [where]
    elif where.is_dir():
        files = sorted(where.glob("*.csv"))
        if not files:
            raise TaskError(f"csv:{path}: no *.csv files in folder {where}")
    else:
        raise TaskError(f"csv:{path}: no such file or folder")
    return [
        Task(f"csv:{file.stem}", "csv", str(file.resolve()), target=target)
        for file in files
    ]


def resolve_tasks(
    ids: Sequence[str | Mapping[str, Any]],
    *,
    csv_target: str | None = None,
    openml_cache_dir: str | None = None,
) -> list[Task]:
    """Expand task ids into :class:`Task` objects, in order.

    An id is ``keel:NAME`` or ``keel:*`` (all 43), ``sklearn:NAME`` or ``sklearn:*``,
    ``csv:PATH`` (a CSV file, or a folder: one task per ``*.csv``), ``openml:task/ID``
    or ``openml:suite/ID-OR-ALIAS`` (aliases: :data:`OPENML_SUITE_ALIASES`). A mapping
    ``{"id": ..., "target": ...}`` gives a CSV task its own target column.
    """
    out: list[Task] = []
    for item in ids:
        target = csv_target
        if isinstance(item, Mapping):
            unknown = set(item) - {"id", "target"}
            if "id" not in item or unknown:
                raise TaskError(
                    f"a task table needs an 'id' and may have a 'target'; got keys "
                    f"{sorted(item)}"
                )
            target = item.get("target", csv_target)
            item = item["id"]
        if not isinstance(item, str) or ":" not in item:
            raise TaskError(
                f"task {item!r} must be SOURCE:NAME with SOURCE one of "
                f"{', '.join(TASK_SOURCES)} (e.g. keel:sonar, csv:data/, "
                "openml:task/31)"
            )
        source, _, name = item.partition(":")
        source, name = source.strip().lower(), name.strip()
        if source == "keel":
            names = list(KEEL_DATASETS) if name == "*" else [name]
            if not KEEL_DATASETS:
                raise ImportError(KEEL_INSTALL_HINT)
            for n in names:
                if n not in KEEL_DATASETS:
                    raise TaskError(
                        f"unknown KEEL dataset in {item!r}; available: "
                        f"{', '.join(KEEL_DATASETS)}"
                    )
                out.append(Task(f"keel:{n}", "keel", n))
        elif source == "sklearn":
            names = list(SKLEARN_DATASETS) if name == "*" else [name]
            for n in names:
                if n not in SKLEARN_DATASETS:
                    raise TaskError(
                        f"unknown scikit-learn dataset in {item!r}; available: "
                        f"{', '.join(SKLEARN_DATASETS)}"
                    )
                out.append(Task(f"sklearn:{n}", "sklearn", n))
        elif source == "csv":
            out.extend(_csv_tasks(name, target))
        elif source == "openml":
            kind, _, ref = name.partition("/")
            if kind == "task" and ref.isdigit():
                ids_ = [int(ref)]
            elif kind == "suite" and ref:
                ids_ = _openml_suite_tasks(ref, openml_cache_dir)
            else:
                raise TaskError(
                    f"OpenML task id {item!r} must be openml:task/ID or "
                    f"openml:suite/ID-OR-ALIAS (aliases: "
                    f"{', '.join(OPENML_SUITE_ALIASES)})"
                )
            out.extend(
                Task(f"openml:task/{t}", "openml", str(t), cache_dir=openml_cache_dir)
                for t in ids_
            )
        else:
            raise TaskError(
                f"unknown task source {source!r} in {item!r}; valid: "
                f"{', '.join(TASK_SOURCES)}"
            )
    seen: dict[str, Task] = {}
    for task in out:
        if task.id in seen:
            raise TaskError(
                f"task {task.id} is listed twice (check overlapping ids such as "
                "keel:* and keel:NAME, or two CSV files with the same name)"
            )
        seen[task.id] = task
    return out
