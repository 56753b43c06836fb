"""One unit of a benchmark: fit (or re-select) and score it, and return its row.

A unit is one (task, outer fold, seed, method) cell of a suite; a :class:`Job` is what
one worker computes: a single unit in ``end_to_end`` mode, or in ``replay`` mode every
unit that shares one search (same task, fold, seed and search strategy).

``end_to_end`` fits one ``AutoEnsembleClassifier`` (or ``AutoEnsembleRegressor`` for a
regression task) per unit on the outer training part and scores it on the outer test
part. ``replay`` runs the search once, saves it under ``work/search/``, then re-runs
each requested selector on it with :func:`autoens.select` (no base model is refit):
the cheap way to compare selectors. Baseline methods (``default:LEARNER``,
``tuned:LEARNER``) have no shared search and run as single units in either mode.

:func:`run_job` never raises for a unit's own failure (bad data, no candidate
finished): the failure becomes a row with ``status = "failed"`` and its error, and the
traceback goes to the unit's log under ``work/logs/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import json
import logging
import math
import os
import re
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoens.benchmark.rows import ROW_FIELDS
from autoens.benchmark.suite import Method, Suite, learners_for, parse_method
from autoens.benchmark.tasks import Task

__all__ = ["Job", "RunError", "Unit", "make_jobs", "plan_units", "run_job"]

#: The trial history of a replay search, next to its ``cache/`` (see _saved_search).
SEARCH_DB = "study.db"


class RunError(RuntimeError):
    """The run itself broke (not one unit): e.g. a worker process was killed."""


@dataclasses.dataclass(frozen=True)
class Unit:
    """One (task, outer fold, seed, method) cell of a suite: one row of results."""

    task: Task
    fold: int
    seed: int
    method: str

    @property
    def key(self) -> tuple[str, int, int, str]:
        """``(task id, fold, seed, method)``, as :func:`~autoens.benchmark.rows.row_key`
        reads it back from a row."""
        return (self.task.id, self.fold, self.seed, self.method)

    @property
    def spec(self) -> Method:
        """The parsed method (kind, search, selector, learner)."""
        return parse_method(self.method)

    @property
    def search(self) -> str | None:
        return self.spec.search

    @property
    def selector(self) -> str | None:
        return self.spec.selector


def plan_units(suite: Suite, tasks: Iterable[Task]) -> list[Unit]:
    """Every unit of the suite, task-major (task, fold, seed, method)."""
    return [
        Unit(task, fold, seed, method)
        for task in tasks
        for fold in suite.folds
        for seed in suite.seeds
        for method in suite.methods
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text)


@dataclasses.dataclass(frozen=True)
class Job:
    """What one worker call computes: one unit, or (replay) one search's units."""

    units: tuple[Unit, ...]
    suite: Suite
    work: str

    @property
    def replay(self) -> bool:
        """Whether the units share one saved search (replay mode, SEARCH+SELECTOR)."""
        return self.suite.mode == "replay" and self.units[0].spec.kind == "ensemble"


def make_jobs(suite: Suite, units: list[Unit], work: Path) -> list[Job]:
    """Group units into jobs: one per unit, or in replay mode one per search, so
    that a search is run once and every selector of its methods reuses it
    (baselines stay one job per unit)."""
    if suite.mode == "end_to_end":
        return [Job((u,), suite, str(work)) for u in units]
    groups: dict[tuple[str, int, int, str], list[Unit]] = {}
    for unit in units:
        if unit.spec.kind == "ensemble":
            key = (unit.task.id, unit.fold, unit.seed, f"search:{unit.search}")
        else:
            key = (unit.task.id, unit.fold, unit.seed, unit.method)
        groups.setdefault(key, []).append(unit)
    return [Job(tuple(g), suite, str(work)) for g in groups.values()]


# -- running one job -----------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _where() -> str:
    """Host and process of a unit, for its log (which machine ran it)."""
    import socket

    return f"on {socket.gethostname()} pid {os.getpid()}"


def _base_row(unit: Unit, suite: Suite) -> dict[str, Any]:
    from autoens import __version__

    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    row.update(
        task=unit.task.id,
        source=unit.task.source,
        fold=unit.fold,
        seed=unit.seed,
        method=unit.method,
        mode=suite.mode,
        status="failed",
        metric=_row_metric(unit.task, suite.metric),
        fit_time=0.0,
        n_rows=0,
        n_features=0,
        n_classes=0,
        autoens_version=__version__,
    )
    return row


def _task_type(family: str) -> Any:
    from autoens.task import ClassificationTask, RegressionTask

    return RegressionTask if family == "regression" else ClassificationTask


def _metric(metric: str | None, family: str) -> Any:
    """The suite's metric for a task of ``family`` (its default when None); a
    ValueError when the metric scores the other family."""
    from autoens.metrics import get_metric

    task_type = _task_type(family)
    return get_metric(metric or task_type.default_metric, task=task_type)


def _score_name(metric: str | None, family: str = "classification") -> str:
    """The name a row gives the score: ``roc_auc``, ``neg_rmse``, ``r2``, ..."""
    m = _metric(metric, family)
    return m.score_name if m.greater_is_better else f"neg_{m.score_name}"


def _row_metric(task: Task, metric: str | None) -> str:
    """The row's metric name before anything is loaded: from the task's family when
    its id says it (an OpenML task's rows are renamed by :func:`_describe` once its
    data says what it is), else classification's; the other family's when the
    metric scores only that one (the unit then fails and says why)."""
    first = task.known_family or "classification"
    other = "regression" if first == "classification" else "classification"
    for family in (first, other):
        try:
            return _score_name(metric, family)
        except ValueError:
            continue
    return str(metric)


def _score(metric: Any, loss: float) -> float:
    """Higher-is-better score of a loss of ``metric``."""
    return float(metric.to_score(loss)) if metric.greater_is_better else -float(loss)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _unit_log(path: Path) -> Iterator[io.StringIO]:
    """Collect the ``autoens`` log and all warnings of a job into ``path``."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log = logging.getLogger("autoens")
    previous = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield buffer
            finally:
                for w in caught:
                    buffer.write(
                        f"warning: {w.category.__name__}: {w.message} "
                        f"({w.filename}:{w.lineno})\n"
                    )
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(buffer.getvalue())


def _estimator(
    suite: Suite,
    family: str,
    search: str,
    selector: str,
    seed: int,
    learners: list[str] | None = None,
    **extra: Any,
) -> Any:
    from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor

    cls = AutoEnsembleRegressor if family == "regression" else AutoEnsembleClassifier
    if suite.portfolio is not None and learners is None:  # baselines keep the default
        extra.setdefault("portfolio", suite.portfolio)
    if learners is None and suite.learners is not None:
        learners = learners_for(suite.learners, family)
        if not learners:
            raise ValueError(
                f"none of the suite's learners {list(suite.learners)} is a {family} "
                "learner"
            )
    _metric(suite.metric, family)  # a clear error when it scores the other family
    return cls(
        n_trials=suite.n_trials,
        time_limit=suite.time_limit,
        trial_time_limit=suite.trial_time_limit,
        cv=suite.cv,
        metric=suite.metric,
        search=search,
        selector=selector,
        learners=learners,
        n_jobs=suite.n_jobs,
        random_state=seed,
        **extra,
    )


def _data(unit: Unit, suite: Suite) -> tuple[pd.DataFrame, pd.Series, Any, Any]:
    X, y = unit.task.load()
    train, test = unit.task.outer_split(
        unit.fold, n_folds=suite.n_folds, seed=unit.seed
    )
    return X.iloc[train], y.iloc[train], X.iloc[test], y.iloc[test]


def _encode_test(family: str, classes: Any, y_test: pd.Series) -> np.ndarray:
    """The outer test target as the metric reads it: class indices or floats."""
    if family == "regression":
        return np.asarray(y_test, dtype=np.float64)
    y_enc = pd.Index(classes).get_indexer(np.asarray(y_test, dtype=object))
    if (y_enc < 0).any():
        unseen = sorted(set(np.asarray(y_test)[y_enc < 0].tolist()), key=str)
        raise ValueError(
            f"the outer test fold has label(s) {unseen} that are not in the "
            "training part"
        )
    return y_enc


def _test_scores(
    metric: Any, family: str, y_test: np.ndarray, outputs: np.ndarray
) -> dict[str, Any]:
    """Test score of predictions ``outputs`` (n, n_outputs), and the extras of the
    family: log loss for classification, R² for regression."""
    from autoens.metrics import get_metric

    scores = {"test_score": _score(metric, metric.loss_single(y_test, outputs))}
    if family == "regression":
        r2_loss = get_metric("r2_loss", task=_task_type(family))
        scores["test_r2"] = r2_loss.to_score(r2_loss.loss_single(y_test, outputs))
    else:
        scores["test_log_loss"] = get_metric("log_loss").loss_single(y_test, outputs)
    return scores


def _outputs(model: Any, X: pd.DataFrame, trial: int | None = None) -> np.ndarray:
    """(n, n_outputs) predictions of a fitted estimator or of one of its members."""
    if model.task_.family == "regression":
        if trial is None:
            return np.asarray(model.predict(X), dtype=np.float64)[:, None]
        return np.asarray(model.predict_member(X, trial), dtype=np.float64)[:, None]
    if trial is None:
        return model.predict_proba(X)
    return model.predict_proba_member(X, trial)


def _scores(model: Any, X_test: pd.DataFrame, y_test: pd.Series) -> dict[str, Any]:
    """Test and validation scores of a fitted model and of its single best member."""
    metric, family = model.metric_, model.task_.family
    y_enc = _encode_test(family, getattr(model, "classes_", None), y_test)
    lib = model.library_
    val_loss = model.validation_loss_
    best = _test_scores(
        metric, family, y_enc, _outputs(model, X_test, model.best_trial_)
    )
    return {
        **_test_scores(metric, family, y_enc, _outputs(model, X_test)),
        "val_score": _score(metric, val_loss) if math.isfinite(val_loss) else None,
        "single_best_test_score": best["test_score"],
        "single_best_val_score": _score(metric, float(lib.losses[lib.best])),
        "n_members": int(np.count_nonzero(np.asarray(model.weights_))),
        "n_trials": len(model.leaderboard_),
    }


def _seeded_scores(
    model: Any,
    selector: str,
    seeds: tuple[int, ...] | None,
    X_test: pd.DataFrame,
    y_test: pd.Series,
) -> dict[str, Any]:
    """Scores of ``selector`` re-run on the saved search ``model``: once, seeded
    like the search, or (``seeds``) the mean over one run per seed, since one seed
    of a stochastic selector (QO-ES, CMA-ES, GES's tie-breaks) is one draw."""
    from autoens.replay import select

    if seeds is None:
        return _scores(select(model, selector), X_test, y_test)
    runs = pd.DataFrame(
        [
            _scores(select(model, selector, random_state=s), X_test, y_test)
            for s in seeds
        ]
    )
    out: dict[str, Any] = {
        key: (None if runs[key].isna().all() else float(runs[key].mean()))
        for key in runs.columns
    }
    out["n_trials"] = int(runs["n_trials"].iloc[0])
    out["selector_seeds"] = list(seeds)
    out["test_score_sd"] = float(runs["test_score"].std(ddof=0))
    return out


def _default_scores(
    unit: Unit,
    suite: Suite,
    family: str,
    data: tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series],
) -> dict[str, Any]:
    """``default:LEARNER``: the learner's default configuration fit once on the
    outer training part (no search, no CV), scored on the test part.

    It is its own single best; it has no validation score.
    """
    from autoens.space import get_learners
    from autoens.tabular import TableSchema

    X_train, y_train, X_test, y_test = data
    task, y_enc = _task_type(family).from_target(y_train)
    metric = _metric(suite.metric, family)
    (spec,) = get_learners([unit.spec.learner], task=task)
    schema, frame = TableSchema.learn(X_train)
    model = spec.make({}, schema.feature_types, unit.seed)
    model.fit(frame, y_enc)
    outputs = task.check_outputs(task.predict(model, schema.transform(X_test)))
    classes = getattr(task, "classes", None)
    scores = _test_scores(
        metric, family, _encode_test(family, classes, y_test), outputs
    )
    return {
        **scores,
        "single_best_test_score": scores["test_score"],
        "n_members": 1,
        "n_trials": 1,
    }


def _describe(unit: Unit, row: dict[str, Any], suite: Suite) -> str:
    """Fill the dataset's size into ``row`` (and its metric, now that the family is
    known); return the task's family."""
    X, y = unit.task.load()
    family = unit.task.family
    row.update(
        n_rows=len(X),
        n_features=X.shape[1],
        # the number of classes; null for regression, which has none
        n_classes=int(y.nunique()) if family == "classification" else None,
        metric=_score_name(suite.metric, family),
    )
    return family


def run_job(job: Job) -> list[dict[str, Any]]:
    """Compute the rows of one job; every failure becomes a failed row, never raised.

    The fits inside run their trials in local worker processes, even when this job
    runs on a Dask worker: joblib's dask backend is active inside its tasks, and
    trials sent back to the cluster from there would wait for the very threads that
    are busy running units.
    """
    import joblib

    _check_can_fork()
    with joblib.parallel_config(backend="loky"):
        if job.replay:
            return _run_replay(job)
        return [_run_end_to_end(job.units[0], job.suite, Path(job.work))]


def _check_can_fork() -> None:
    import multiprocessing

    if multiprocessing.current_process().daemon:
        raise RunError(
            "benchmark units run in a daemonic process, which cannot start the "
            "worker processes of a search. On Dask, start the workers as "
            "non-daemonic: dask.config.set({'distributed.worker.daemon': False}) "
            "before creating a LocalCluster, or DASK_DISTRIBUTED__WORKER__DAEMON="
            "False in the environment of `dask worker`."
        )


def _run_end_to_end(unit: Unit, suite: Suite, work: Path) -> dict[str, Any]:
    row = _base_row(unit, suite)
    log = (
        work
        / "logs"
        / _slug(unit.task.id)
        / (f"fold{unit.fold}-seed{unit.seed}-{_slug(unit.method)}.log")
    )
    start = time.perf_counter()
    with _unit_log(log) as buffer:
        buffer.write(f"{_now()} start {unit.key} {_where()}\n")
        try:
            family = _describe(unit, row, suite)
            data = _data(unit, suite)
            spec = unit.spec
            if spec.kind == "default":
                scores = _default_scores(unit, suite, family, data)
            else:
                X_train, y_train, X_test, y_test = data
                learners = [spec.learner] if spec.learner is not None else None
                model = _estimator(
                    suite, family, spec.search, spec.selector, unit.seed, learners
                )
                model.fit(X_train, y_train)
                _check_not_interrupted(model)
                scores = _scores(model, X_test, y_test)
            row["fit_time"] = time.perf_counter() - start
            row.update(scores)
            row.update(status="ok")
        except Exception as exc:
            row.update(error=_error_text(exc))
            buffer.write(traceback.format_exc())
        row["fit_time"] = row["fit_time"] or time.perf_counter() - start
        buffer.write(f"{_now()} {row['status']} {unit.key}\n")
    row["finished_at"] = _now()
    return row


def _check_not_interrupted(model: Any) -> None:
    """A fit ended early by Ctrl-C is no result: the run stops (and is resumed by the
    next one) rather than record, or save as complete, a truncated search."""
    if getattr(model, "search_interrupted_", False):
        raise KeyboardInterrupt("a search of the benchmark was interrupted (Ctrl-C)")


def _search_dir(unit: Unit, work: Path) -> Path:
    return (
        work
        / "search"
        / _slug(unit.task.id)
        / f"fold{unit.fold}-seed{unit.seed}-{_slug(unit.search)}"
    )


def _saved_search(
    unit: Unit, suite: Suite, work: Path, X: Any, y: Any, family: str
) -> tuple[Any, float]:
    """The search of a replay group: loaded when saved, else run (or resumed).

    Returns the fitted model (built with the ``single_best`` selector) and the
    seconds the search took when it was run.

    The search keeps its candidates in a disk cache and its trial history in an
    SQLite study next to it, so a search cut short (a kill, Ctrl-C) resumes: every
    trial that had finished is read back, none is fitted again, and the trial budget
    counts the trials of both runs. The cache alone would not be enough: with
    parallel trials or a time budget, a fresh search does not propose the same
    configurations again.
    """
    import joblib

    folder = _search_dir(unit, work)
    model_file, meta_file = folder / "model.joblib", folder / "search.json"
    if model_file.is_file() and meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        return joblib.load(model_file), float(meta["search_time"])
    folder.mkdir(parents=True, exist_ok=True)
    model = _estimator(
        suite,
        family,
        str(unit.search),
        "single_best",
        unit.seed,
        cache_dir=str((folder / "cache").resolve()),
        storage=f"sqlite:///{(folder / SEARCH_DB).resolve()}",
    )
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    _check_not_interrupted(model)
    fd, tmp = tempfile.mkstemp(prefix=".model.", dir=folder)
    os.close(fd)
    joblib.dump(model, tmp)
    Path(tmp).replace(model_file)
    fd, tmp = tempfile.mkstemp(prefix=".search.", dir=folder)
    with os.fdopen(fd, "w") as fh:
        json.dump({"search_time": seconds, "finished_at": _now()}, fh)
    Path(tmp).replace(meta_file)  # written last: it marks the search as complete
    return model, seconds


def _run_replay(job: Job) -> list[dict[str, Any]]:
    suite, work = job.suite, Path(job.work)
    first = job.units[0]
    rows = [_base_row(u, suite) for u in job.units]
    log = _search_dir(first, work).with_suffix(".log")
    log = work / "logs" / log.relative_to(work / "search")
    with _unit_log(log) as buffer:
        buffer.write(
            f"{_now()} start search {first.key[:3]} {first.search} {_where()}\n"
        )
        start = time.perf_counter()
        try:
            for row in rows:
                family = _describe(first, row, suite)
            X_train, y_train, X_test, y_test = _data(first, suite)
            model, search_time = _saved_search(
                first, suite, work, X_train, y_train, family
            )
        except Exception as exc:
            buffer.write(traceback.format_exc())
            for row in rows:
                row.update(error=_error_text(exc), fit_time=time.perf_counter() - start)
                row["finished_at"] = _now()
            return rows
        for unit, row in zip(job.units, rows, strict=True):
            tic = time.perf_counter()
            try:
                row.update(
                    _seeded_scores(
                        model, unit.selector, suite.selector_seeds, X_test, y_test
                    )
                )
                select_time = time.perf_counter() - tic
                row.update(status="ok", select_time=select_time)
            except Exception as exc:
                select_time = time.perf_counter() - tic
                row.update(error=_error_text(exc), select_time=select_time)
                buffer.write(traceback.format_exc())
            row.update(search_time=search_time, fit_time=search_time + select_time)
            row["finished_at"] = _now()
            buffer.write(f"{_now()} {row['status']} {unit.key}\n")
    return rows
