"""Run a benchmark suite: every (task, outer fold, seed, method) unit, resumably.

Results directory layout (read by :mod:`autoens.benchmark.report`)::

    RESULTS_DIR/
      suite.toml     the resolved run definition (Suite.to_toml)
      rows.jsonl     one JSON object per finished unit (ROW_FIELDS), appended and
                     fsynced as each unit completes; load it with load_rows()
      work/          per-unit logs (work/logs/) and, in replay mode, each search's
                     disk cache and saved model (work/search/)

Two modes. ``end_to_end`` fits one ``AutoEnsembleClassifier`` per unit on the outer
training part and scores it on the outer test part. ``replay`` runs the search once
per (task, fold, seed, search strategy), saves it, then re-runs each requested
selector on it with :func:`autoens.select` (no base model is refit): the cheap way to
compare selectors.

Resuming: units already in ``rows.jsonl`` (ok or failed) are skipped; a torn last
line left by a kill is dropped. Units run in parallel through joblib (``jobs``), so
under ``joblib.parallel_config(backend="dask")`` they run on a Dask cluster; rows are
written only by this (driver) process as results come back.
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

from autoens.benchmark.suite import Suite, SuiteError, parse_method
from autoens.benchmark.tasks import Task, TaskError, resolve_tasks

__all__ = [
    "ROWS_FILE",
    "ROW_FIELDS",
    "SUITE_FILE",
    "RunError",
    "RunSummary",
    "Unit",
    "load_rows",
    "plan_units",
    "read_rows",
    "run_suite",
]

SUITE_FILE = "suite.toml"
ROWS_FILE = "rows.jsonl"
WORK_DIR = "work"

ROW_FIELDS: tuple[str, ...] = (
    "task",
    "source",
    "fold",
    "seed",
    "method",
    "mode",
    "status",
    "error",
    "metric",
    "test_score",
    "val_score",
    "single_best_test_score",
    "single_best_val_score",
    "test_log_loss",
    "n_members",
    "fit_time",
    "search_time",
    "select_time",
    "n_trials",
    "n_rows",
    "n_features",
    "n_classes",
    "autoens_version",
    "finished_at",
)
"""Keys of every row of ``rows.jsonl``, in order.

``task`` is the task id (``keel:sonar``, ``csv:NAME``, ``openml:task/31``); ``method``
is ``SEARCH+SELECTOR``; ``status`` is ``ok`` or ``failed`` (then ``error`` holds the
message and the scores are null). Scores are higher-is-better: ``metric`` names the
score (``roc_auc``; a loss such as log loss is stored negated as ``neg_log_loss``).
``test_score`` is measured on the outer test fold, ``val_score`` is the selector's
score on the out-of-fold rows of the search; ``single_best_*`` are those of the best
single model of the same search. ``test_log_loss`` is the plain (lower is better) log
loss on the test fold. Times are seconds; ``search_time`` and ``select_time`` are
null in end-to-end mode. ``n_rows``/``n_features``/``n_classes`` describe the whole
dataset (0 when it could not be loaded).
"""

_UNIT_KEY = ("task", "fold", "seed", "method")
logger = logging.getLogger("autoens")


# -- rows ----------------------------------------------------------------------------


def read_rows(results_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``rows.jsonl`` as dicts; a torn (unparsable) last line is ignored.

    A line that cannot be parsed anywhere but at the end means the file was edited
    or corrupted, which is an error rather than something to skip silently.
    """
    path = Path(results_dir) / ROWS_FILE
    if not path.is_file():
        return []
    rows = []
    lines = path.read_bytes().split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if number == len(lines):
                break  # no newline after it: the last line, torn by a kill
            raise ValueError(
                f"{path}, line {number}: not a JSON row. Only the last line may be "
                "incomplete (a killed run); fix or remove this line."
            ) from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object")
        rows.append(row)
    return rows


def load_rows(results_dir: str | Path) -> pd.DataFrame:
    """The results of a run as a DataFrame: one row per finished unit.

    Columns are :data:`ROW_FIELDS` in order (missing keys become null);
    ``finished_at`` is parsed to a timezone-aware timestamp.
    """
    results = Path(results_dir)
    if not (results / ROWS_FILE).is_file() and not (results / SUITE_FILE).is_file():
        raise FileNotFoundError(
            f"{results_dir} is not a results directory (no {ROWS_FILE}); create one "
            "with `autoens benchmark run SUITE.toml --out DIR`"
        )
    frame = pd.DataFrame(read_rows(results), columns=list(ROW_FIELDS))
    frame = frame.astype(
        {
            "fold": "int64",
            "seed": "int64",
            "fit_time": "float64",
            **{
                c: "float64"
                for c in (
                    "test_score",
                    "val_score",
                    "single_best_test_score",
                    "single_best_val_score",
                    "test_log_loss",
                    "search_time",
                    "select_time",
                )
            },
        }
    )
    frame["finished_at"] = pd.to_datetime(frame["finished_at"], utc=True)
    return frame


def _rewrite_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace ``rows.jsonl`` atomically (used to drop a torn line or retried rows)."""
    fd, tmp = tempfile.mkstemp(prefix=".rows.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    Path(tmp).replace(path)


class _RowWriter:
    """Appends one JSON line per row and fsyncs it: a kill loses no finished unit."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


# -- units ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Unit:
    """One (task, outer fold, seed, method) cell of a suite: one row of results."""

    task: Task
    fold: int
    seed: int
    method: str

    @property
    def key(self) -> tuple[str, int, int, str]:
        return (self.task.id, self.fold, self.seed, self.method)

    @property
    def search(self) -> str:
        return parse_method(self.method)[0]

    @property
    def selector(self) -> str:
        return parse_method(self.method)[1]


def plan_units(suite: Suite, tasks: Iterable[Task]) -> list[Unit]:
    """Every unit of the suite, task-major (task, fold, seed, method)."""
    return [
        Unit(task, fold, seed, method)
        for task in tasks
        for fold in suite.folds
        for seed in suite.seeds
        for method in suite.methods
    ]


def _row_key(row: dict[str, Any]) -> tuple[str, int, int, str]:
    return (str(row["task"]), int(row["fold"]), int(row["seed"]), str(row["method"]))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text)


@dataclasses.dataclass(frozen=True)
class _Job:
    """What one worker call computes: one unit, or (replay) one search's units."""

    units: tuple[Unit, ...]
    suite: Suite
    work: str


def _jobs(suite: Suite, units: list[Unit], work: Path) -> list[_Job]:
    if suite.mode == "end_to_end":
        return [_Job((u,), suite, str(work)) for u in units]
    groups: dict[tuple[str, int, int, str], list[Unit]] = {}
    for unit in units:
        key = (unit.task.id, unit.fold, unit.seed, unit.search)
        groups.setdefault(key, []).append(unit)
    return [_Job(tuple(g), suite, str(work)) for g in groups.values()]


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
        metric=_score_name(suite.metric),
        fit_time=0.0,
        n_rows=0,
        n_features=0,
        n_classes=0,
        autoens_version=__version__,
    )
    return row


def _score_name(metric: str) -> str:
    from autoens.metrics import get_metric

    m = get_metric(metric)
    return m.score_name if m.greater_is_better else f"neg_{m.score_name}"


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
    suite: Suite, search: str, selector: str, seed: int, **extra: Any
) -> Any:
    from autoens import AutoEnsembleClassifier

    return AutoEnsembleClassifier(
        n_trials=suite.n_trials,
        time_limit=suite.time_limit,
        trial_time_limit=suite.trial_time_limit,
        cv=suite.cv,
        metric=suite.metric,
        search=search,
        selector=selector,
        learners=list(suite.learners) if suite.learners is not None else None,
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


def _scores(model: Any, X_test: pd.DataFrame, y_test: pd.Series) -> dict[str, Any]:
    """Test and validation scores of a fitted model and of its single best member."""
    from autoens.metrics import get_metric

    metric = model.metric_
    y_enc = pd.Index(model.classes_).get_indexer(np.asarray(y_test, dtype=object))
    if (y_enc < 0).any():
        unseen = sorted(set(np.asarray(y_test)[y_enc < 0].tolist()), key=str)
        raise ValueError(
            f"the outer test fold has label(s) {unseen} that are not in the "
            "training part"
        )
    proba = model.predict_proba(X_test)
    best = model.predict_proba_member(X_test, model.best_trial_)
    lib = model.library_
    val_loss = model.validation_loss_
    return {
        "test_score": _score(metric, metric.loss_single(y_enc, proba)),
        "val_score": _score(metric, val_loss) if math.isfinite(val_loss) else None,
        "single_best_test_score": _score(metric, metric.loss_single(y_enc, best)),
        "single_best_val_score": _score(metric, float(lib.losses[lib.best])),
        "test_log_loss": get_metric("log_loss").loss_single(y_enc, proba),
        "n_members": int(np.count_nonzero(np.asarray(model.weights_))),
        "n_trials": len(model.leaderboard_),
    }


def _describe(unit: Unit, row: dict[str, Any]) -> None:
    X, y = unit.task.load()
    row.update(n_rows=len(X), n_features=X.shape[1], n_classes=int(y.nunique()))


def run_job(job: _Job) -> list[dict[str, Any]]:
    """Compute the rows of one job; every failure becomes a failed row, never raised.

    The fits inside run their trials in local worker processes, even when this job
    runs on a Dask worker: joblib's dask backend is active inside its tasks, and
    trials sent back to the cluster from there would wait for the very threads that
    are busy running units.
    """
    import joblib

    _check_can_fork()
    with joblib.parallel_config(backend="loky"):
        if job.suite.mode == "replay":
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
            _describe(unit, row)
            X_train, y_train, X_test, y_test = _data(unit, suite)
            model = _estimator(suite, unit.search, unit.selector, unit.seed)
            model.fit(X_train, y_train)
            row["fit_time"] = time.perf_counter() - start
            row.update(_scores(model, X_test, y_test))
            row.update(status="ok")
        except Exception as exc:
            row.update(error=_error_text(exc))
            buffer.write(traceback.format_exc())
        row["fit_time"] = row["fit_time"] or time.perf_counter() - start
        buffer.write(f"{_now()} {row['status']} {unit.key}\n")
    row["finished_at"] = _now()
    return row


def _search_dir(unit: Unit, work: Path) -> Path:
    return (
        work
        / "search"
        / _slug(unit.task.id)
        / f"fold{unit.fold}-seed{unit.seed}-{_slug(unit.search)}"
    )


def _saved_search(
    unit: Unit, suite: Suite, work: Path, X: Any, y: Any
) -> tuple[Any, float]:
    """The search of a replay group: loaded when saved, else run (reusing its cache).

    Returns the fitted model (built with the ``single_best`` selector) and the
    seconds the search took when it was run.
    """
    import joblib

    folder = _search_dir(unit, work)
    model_file, meta_file = folder / "model.joblib", folder / "search.json"
    if model_file.is_file() and meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        return joblib.load(model_file), float(meta["search_time"])
    # else search (again): the disk cache keeps every candidate that had finished
    folder.mkdir(parents=True, exist_ok=True)
    model = _estimator(
        suite,
        unit.search,
        "single_best",
        unit.seed,
        cache_dir=str((folder / "cache").resolve()),
    )
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    fd, tmp = tempfile.mkstemp(prefix=".model.", dir=folder)
    os.close(fd)
    joblib.dump(model, tmp)
    Path(tmp).replace(model_file)
    fd, tmp = tempfile.mkstemp(prefix=".search.", dir=folder)
    with os.fdopen(fd, "w") as fh:
        json.dump({"search_time": seconds, "finished_at": _now()}, fh)
    Path(tmp).replace(meta_file)  # written last: it marks the search as complete
    return model, seconds


def _run_replay(job: _Job) -> list[dict[str, Any]]:
    from autoens.replay import select

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
                _describe(first, row)
            X_train, y_train, X_test, y_test = _data(first, suite)
            model, search_time = _saved_search(first, suite, work, X_train, y_train)
        except Exception as exc:
            buffer.write(traceback.format_exc())
            for row in rows:
                row.update(error=_error_text(exc), fit_time=time.perf_counter() - start)
                row["finished_at"] = _now()
            return rows
        for unit, row in zip(job.units, rows, strict=True):
            tic = time.perf_counter()
            try:
                chosen = select(model, unit.selector)
                select_time = time.perf_counter() - tic
                row.update(_scores(chosen, X_test, y_test))
                row.update(status="ok", select_time=select_time)
            except Exception as exc:
                select_time = time.perf_counter() - tic
                row.update(error=_error_text(exc), select_time=select_time)
                buffer.write(traceback.format_exc())
            row.update(search_time=search_time, fit_time=search_time + select_time)
            row["finished_at"] = _now()
            buffer.write(f"{_now()} {row['status']} {unit.key}\n")
    return rows


# -- the driver ----------------------------------------------------------------------


class RunError(RuntimeError):
    """The run itself broke (not one unit): e.g. a worker process was killed."""


@dataclasses.dataclass
class RunSummary:
    """What a call of :func:`run_suite` did."""

    results_dir: Path
    n_units: int
    n_skipped: int
    n_ok: int
    n_failed: int
    seconds: float
    failures: list[tuple[tuple[str, int, int, str], str]] = dataclasses.field(
        default_factory=list
    )

    def text(self) -> str:
        ran = self.n_ok + self.n_failed
        lines = [
            f"{self.n_ok} ok, {self.n_failed} failed of {ran} unit(s) run in "
            f"{self.seconds:.0f}s ({self.n_skipped} already done, "
            f"{self.n_units} in the suite). Rows: {self.results_dir / ROWS_FILE}"
        ]
        for key, error in self.failures[:5]:
            lines.append(f"  failed {'/'.join(map(str, key))}: {error}")
        if len(self.failures) > 5:
            lines.append(f"  ... {len(self.failures) - 5} more failures in the rows")
        lines.append(f"Next: autoens benchmark report {self.results_dir}")
        return "\n".join(lines)


def _check_resume(suite: Suite, results: Path) -> None:
    """Refuse to mix rows computed under different settings in one results dir."""
    from autoens.benchmark.suite import load_suite

    old_file = results / SUITE_FILE
    if not old_file.is_file():
        return
    try:
        old = load_suite(old_file)
    except SuiteError as exc:
        raise SuiteError(
            f"{old_file} cannot be read ({exc}); use another --out"
        ) from None
    old_settings, new_settings = old.result_settings(), suite.result_settings()
    changed = [k for k in new_settings if old_settings[k] != new_settings[k]]
    if changed:
        diff = "; ".join(
            f"{k}: {old_settings[k]!r} -> {new_settings[k]!r}" for k in changed
        )
        raise SuiteError(
            f"{results} holds results of a run with other settings ({diff}); "
            "resume with the same settings, or write to another --out"
        )


def run_suite(
    suite: Suite,
    results_dir: str | Path,
    *,
    retry_failed: bool = False,
    progress: bool = False,
    verbose: int = 0,
) -> RunSummary:
    """Run every unit of ``suite`` not yet in ``results_dir``; return a summary.

    Safe to interrupt at any moment: each finished unit is on disk, and calling this
    again with the same arguments does the rest. ``suite.jobs`` units run at once
    (joblib; a ``joblib.parallel_config`` backend such as ``"dask"`` is honoured).
    """
    started = time.perf_counter()
    results = Path(results_dir)
    results.mkdir(parents=True, exist_ok=True)
    _check_resume(suite, results)
    try:
        tasks = resolve_tasks(
            list(suite.tasks),
            csv_target=suite.csv_target,
            openml_cache_dir=suite.openml_cache_dir,
        )
    except TaskError as exc:
        raise SuiteError(f"tasks: {exc}") from None
    fd, tmp = tempfile.mkstemp(prefix=".suite.", dir=results)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(suite.to_toml())
    Path(tmp).replace(results / SUITE_FILE)

    rows_file = results / ROWS_FILE
    rows = read_rows(results)
    kept = [r for r in rows if r.get("status") == "ok" or not retry_failed]
    raw = rows_file.read_bytes() if rows_file.is_file() else b""
    if len(kept) != len(rows) or (raw and not raw.endswith(b"\n")):
        _rewrite_rows(rows_file, kept)  # drop a torn last line / rows to retry
    done = {_row_key(r) for r in kept}
    units = plan_units(suite, tasks)
    todo = [u for u in units if u.key not in done]
    work = (results / WORK_DIR).resolve()
    jobs = _jobs(suite, todo, work)
    summary = RunSummary(
        results_dir=results,
        n_units=len(units),
        n_skipped=len(units) - len(todo),
        n_ok=0,
        n_failed=0,
        seconds=0.0,
    )
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=suite.name, unit="unit", dynamic_ncols=True)
    writer = _RowWriter(rows_file)
    try:
        if jobs:
            for job_rows in _execute(jobs, suite.jobs):
                for row in job_rows:
                    writer.write(row)
                    if row["status"] == "ok":
                        summary.n_ok += 1
                    else:
                        summary.n_failed += 1
                        summary.failures.append((_row_key(row), str(row["error"])))
                    if bar is not None:
                        bar.update(1)
                        if verbose > 1:
                            bar.write(_row_line(row))
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _execute(jobs: list[_Job], n_jobs: int) -> Iterator[list[dict[str, Any]]]:
    """Run the jobs, yielding each one's rows as soon as it finishes.

    Under joblib's dask backend the jobs go to the cluster through ``joblib.Parallel``.
    Locally they run in a loky process pool of their own: joblib's default pool is
    the process-wide reusable executor that the search loop inside each fit uses too,
    and threads would share it the same way. One job runs in this process.
    """
    import joblib

    backend, _ = joblib.parallel.get_active_backend()
    if getattr(backend, "client", None) is not None:  # dask
        yield from joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            joblib.delayed(run_job)(job) for job in jobs
        )
        return
    workers = min(len(jobs), max(1, joblib.effective_n_jobs(n_jobs)))
    if workers == 1:
        for job in jobs:
            yield run_job(job)
        return
    from concurrent.futures import FIRST_COMPLETED, wait

    from joblib.externals.loky import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        pending = {pool.submit(run_job, job): job for job in jobs}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                try:
                    rows = future.result()
                except Exception as exc:  # run_job never raises: the worker died
                    keys = ", ".join("/".join(map(str, u.key)) for u in job.units)
                    raise RunError(
                        f"a worker process died ({type(exc).__name__}: {exc}) while "
                        f"running {keys}; perhaps out of memory. Finished units are "
                        "saved: run again to continue, with --jobs 1 to see which "
                        "unit fails."
                    ) from exc
                yield rows
    finally:
        pool.shutdown(wait=False, kill_workers=True)


def _row_line(row: dict[str, Any]) -> str:
    where = f"{row['task']} fold {row['fold']} seed {row['seed']} {row['method']}"
    if row["status"] != "ok":
        return f"failed {where}: {row['error']}"
    score = f"{row['metric']} {row['test_score']:.4f}"
    return f"ok     {where}: {score} ({row['fit_time']:.1f}s)"
