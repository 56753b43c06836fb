"""Run a benchmark suite: every (task, outer fold, seed, method) unit, resumably.

:func:`run_suite` plans the units of a suite, skips those already in the results
directory, runs the rest (:mod:`autoens.benchmark.units`) and appends each finished
unit's row to ``rows.jsonl`` (:mod:`autoens.benchmark.rows`, which also describes the
results directory).

Resuming: units already in ``rows.jsonl`` (ok or failed) are skipped; a torn last
line left by a kill is dropped. Units run in parallel through joblib (``jobs``), so
under ``joblib.parallel_config(backend="dask")`` they run on a Dask cluster; rows are
written only by this (driver) process as results come back.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from autoens.benchmark.rows import (
    ROW_FIELDS,
    ROWS_FILE,
    SUITE_FILE,
    WORK_DIR,
    RowWriter,
    load_rows,
    prune_rows,
    read_rows,
    row_key,
)
from autoens.benchmark.suite import (
    Suite,
    SuiteError,
    learner_families,
    learners_for,
    load_suite,
    metric_families,
    parse_method,
)
from autoens.benchmark.tasks import Task, TaskError, resolve_tasks
from autoens.benchmark.units import (
    Job,
    RunError,
    Unit,
    make_jobs,
    plan_units,
    run_job,
)

# The rows and units names are re-exported: this module was their home, and
# ``autoens.benchmark.runner.load_rows`` is the documented way to read results.
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
    # A results directory written before `metric` could be left unset recorded the
    # then default, roc_auc, which is what an unset metric still means for
    # classification; regression tasks added on resume get their own rows' metric.
    if {old_settings["metric"], new_settings["metric"]} == {None, "roc_auc"}:
        old_settings["metric"] = new_settings["metric"]
    changed = [k for k in new_settings if old_settings[k] != new_settings[k]]
    if changed:
        diff = "; ".join(
            f"{k}: {old_settings[k]!r} -> {new_settings[k]!r}" for k in changed
        )
        raise SuiteError(
            f"{results} holds results of a run with other settings ({diff}); "
            "resume with the same settings, or write to another --out"
        )


def _check_families(suite: Suite, tasks: list[Task]) -> None:
    """Refuse a suite whose metric, learners or selectors cannot serve some of its
    tasks, for the tasks whose family the id says (an OpenML task's is checked by its
    units): such units could only fail, and leave every block of their metric
    incomplete in the report."""
    families = {t.known_family for t in tasks} - {None}
    checks = []
    if suite.metric is not None:
        checks.append(("metric", metric_families(suite.metric), suite.metric))
    if suite.learners is not None:
        learners = list(suite.learners)
        checks.append(("learners", learner_families(learners), learners))
    from autoens.selectors.names import selector_names

    for method in suite.methods:
        spec = parse_method(method)
        for family in sorted(families):
            if spec.selector is not None and spec.selector not in selector_names(
                family
            ):
                raise SuiteError(
                    f"methods: {method}: selector {spec.selector!r} does not support "
                    f"{family}, and the suite has {family} tasks; {family} selectors: "
                    f"{', '.join(selector_names(family))}"
                )
            if spec.learner is not None and not learners_for([spec.learner], family):
                raise SuiteError(
                    f"methods: {method}: {spec.learner!r} is not a {family} learner, "
                    f"and the suite has {family} tasks; {family} learners: "
                    f"{', '.join(learners_for(_all_learners(), family))}"
                )
    for key, served, value in checks:
        for family in sorted(families - set(served)):
            ids = [t.id for t in tasks if t.known_family == family]
            shown = ", ".join(ids[:3]) + (
                f" (+{len(ids) - 3} more)" if len(ids) > 3 else ""
            )
            raise SuiteError(
                f"{key}: {value!r} serves {' and '.join(served)} only, but the suite "
                f"has {family} tasks: {shown}. "
                + (
                    "Leave metric unset to score each task with its own family's "
                    "default (roc_auc, rmse), or split the suite."
                    if key == "metric"
                    else f"Add learners of {family} (each task searches the learners "
                    "of its own family), or split the suite."
                )
            )


def _all_learners() -> list[str]:
    from autoens.space import DEFAULT_LEARNERS, DEFAULT_REGRESSORS

    return sorted({*DEFAULT_LEARNERS, *DEFAULT_REGRESSORS})


def suite_tasks(suite: Suite) -> list[Task]:
    """The suite's task ids expanded with its own CSV and OpenML settings."""
    try:
        return resolve_tasks(
            list(suite.tasks),
            csv_target=suite.csv_target,
            csv_task=suite.task or "classification",
            openml_cache_dir=suite.openml_cache_dir,
        )
    except TaskError as exc:
        raise SuiteError(f"tasks: {exc}") from None


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
    tasks = suite_tasks(suite)
    _check_families(suite, tasks)
    fd, tmp = tempfile.mkstemp(prefix=".suite.", dir=results)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(suite.to_toml())
    Path(tmp).replace(results / SUITE_FILE)

    kept = prune_rows(results, retry_failed=retry_failed)
    done = {row_key(r) for r in kept}
    units = plan_units(suite, tasks)
    todo = [u for u in units if u.key not in done]
    work = (results / WORK_DIR).resolve()
    jobs = make_jobs(suite, todo, work)
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
    writer = RowWriter(results)
    try:
        if jobs:
            for job_rows in _execute(jobs, suite.jobs):
                for row in job_rows:
                    writer.write(row)
                    if row["status"] == "ok":
                        summary.n_ok += 1
                    else:
                        summary.n_failed += 1
                        summary.failures.append((row_key(row), str(row["error"])))
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


def _execute(jobs: list[Job], n_jobs: int) -> Iterator[list[dict[str, Any]]]:
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
