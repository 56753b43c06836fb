"""SIGKILL a search that has a disk cache and an SQLite storage, then run it again.

Policy for the trials a killed run leaves RUNNING in the study: they never finished,
so the next run fails them in the study (user attribute ``status = "cancelled"``),
counts each once in ``n_trials`` and runs its configuration again, once (or reads it
from the cache when the run died after storing its predictions). A trial killed
before its configuration was drawn is failed as ``"abandoned"`` and not counted.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import psutil
import pytest
from _processes import wait_until_gone
from sklearn.datasets import load_breast_cancer

from autoens import AutoEnsembleClassifier
from autoens.testing import read_evaluator_log

N_TRIALS = 12
PORTFOLIO = (0.1, 0.2, 0.35, 0.45)

# run_search with a fake evaluator (0.4 s a trial, two at a time) that logs each call
# when it starts: the search of a fit, without fitting anything.
_SEARCH = """
import json, sys
import numpy as np, pandas as pd
from autoens.cache import DiskCache
from autoens.metrics import get_metric
from autoens.search import Budget, run_search
from autoens.space import FeatureTypes
from autoens.task import ClassificationTask
from autoens.testing import FakeEvaluator, quadratic_learner

root, storage, log, n_trials = sys.argv[1:5]
rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=90), "b": rng.normal(size=90)})
task, y = ClassificationTask.from_target(rng.integers(3, size=90))
folds = task.make_folds(X, y, n_splits=3, random_state=0)
records = run_search(
    X=X, y=y, folds=folds, task=task, feature_types=FeatureTypes(numeric=("a", "b")),
    specs=[quadratic_learner()],
    portfolio=[("quadratic", {"x": x, "shape": "a"}) for x in PORTFOLIO],
    metric=get_metric("log_loss"), cache=DiskCache(root, folds.fingerprint),
    budget=Budget(int(n_trials), None, None), storage=storage, n_jobs=2,
    random_state=0, evaluate=FakeEvaluator(delay=0.4, log=log),
)
print(json.dumps([[r.number, r.status, r.source, r.params] for r in records]))
""".replace("PORTFOLIO", repr(PORTFOLIO))


def _config(params: dict) -> tuple:
    return (round(float(params["x"]), 12), params["shape"])


def _cached_configs(root: Path) -> set[tuple]:
    """Configs whose predictions are committed in the disk cache."""
    return {
        _config(json.loads(p.read_text())["meta"]["params"])
        for p in root.rglob("*.json")
    }


def _study(url: str) -> optuna.Study:
    [summary] = optuna.get_all_study_summaries(url)
    return optuna.load_study(study_name=summary.study_name, storage=url)


def _kill_and_wait_for_workers(proc: subprocess.Popen) -> None:
    """SIGKILL the search, then wait until its orphaned workers have exited too.

    A worker may still pick up a call its parent handed it just before the kill (and
    log it): counting the first run's calls before the workers are gone would
    attribute that call to the rerun.
    """
    workers = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    alive = wait_until_gone(workers)
    assert not alive, f"workers of the killed search outlived it: {alive}"


@pytest.mark.parametrize(
    "started",
    [1, 3, 7],
    ids=["first-portfolio-trial", "late-portfolio", "mid-search"],
)
def test_sigkill_then_rerun_recomputes_nothing_and_counts_every_trial(
    tmp_path, started
):
    script = tmp_path / "search.py"
    script.write_text(_SEARCH)
    root, log = tmp_path / "cache", tmp_path / "calls.jsonl"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    argv = [sys.executable, str(script), str(root), url, str(log), str(N_TRIALS)]

    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(read_evaluator_log(log)) < started:
            assert proc.poll() is None, "the search ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(random.Random(started).uniform(0.0, 0.4))  # somewhere in a trial
    finally:
        _kill_and_wait_for_workers(proc)
    first_calls = len(read_evaluator_log(log))
    cached = _cached_configs(root)
    killed = _study(url).get_trials(deepcopy=False)
    assert len(cached) < N_TRIALS
    left_running = [t for t in killed if t.state.name == "RUNNING"]

    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    records = json.loads(rerun.stdout.splitlines()[-1])
    again = [_config(c["params"]) for c in read_evaluator_log(log)[first_calls:]]

    # no finished trial was computed again ...
    assert not set(again) & cached
    # ... every other one ran once, and the budget is n_trials over both runs
    assert len(again) == len(set(again)) == N_TRIALS - len(cached)
    assert len(records) == N_TRIALS
    assert {status for _, status, _, _ in records} == {"ok"}
    resumed = {_config(p) for _, _, source, p in records if source == "resumed"}
    assert resumed == cached
    study = _study(url)
    counted = [t for t in study.trials if t.user_attrs.get("status") != "abandoned"]
    assert len(counted) == N_TRIALS
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "FAIL"}
    # the trials left RUNNING were taken over: failed in the study, run again once
    # under their own number (or read from the cache)
    numbers = {number for number, _, _, _ in records}
    for t in left_running:
        after = study.trials[t.number]
        assert after.state.name == "FAIL"
        assert "left RUNNING" in after.user_attrs["error"]
        if after.user_attrs["status"] == "cancelled":
            assert t.number in numbers
        else:  # killed between ask and the drawing of its parameters
            assert after.user_attrs["status"] == "abandoned"
            assert t.number not in numbers


_FIT = """
import sys
from sklearn.datasets import load_breast_cancer
from autoens import AutoEnsembleClassifier
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
AutoEnsembleClassifier(n_trials=16, cv=2, n_jobs=2, random_state=0,
                       cache_dir=sys.argv[1], storage=sys.argv[2],
                       learners=["logreg", "knn", "hist_gb"]).fit(X, y)
"""


@pytest.mark.slow
def test_sigkill_a_real_fit_mid_search_and_fit_again(tmp_path):
    cache, url = tmp_path / "cache", f"sqlite:///{tmp_path / 'study.db'}"
    proc = subprocess.Popen([sys.executable, "-c", _FIT, str(cache), url])
    try:
        deadline = time.monotonic() + 240
        # past the portfolio, into the sampler's proposals
        while len(list(cache.rglob("*.json"))) < 8:
            assert proc.poll() is None, "the fit ended before it could be killed"
            assert time.monotonic() < deadline, "too slow to reach the search"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    cached = {p.name.removesuffix(".json") for p in cache.rglob("*.json")}
    left_running = [t.number for t in _study(url).trials if t.state.name == "RUNNING"]

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = AutoEnsembleClassifier(
        n_trials=16,
        cv=2,
        n_jobs=2,
        random_state=0,
        cache_dir=cache,
        storage=url,
        learners=["logreg", "knn", "hist_gb"],
    ).fit(X, y)
    board = model.leaderboard_
    assert (board["status"] == "ok").all()
    keys = dict(zip(model.library_.trials, model.library_.keys, strict=True))
    source = board.set_index("trial")["source"]
    # what had finished is read back, nothing else is, and nothing is fitted twice
    assert {keys[t] for t in source.index[source == "resumed"]} == cached
    assert not {keys[t] for t in source.index[source == "evaluated"]} & cached
    # a trial the kill left running ran again under its own number, unless it was
    # killed before its configuration was drawn (then it never was a trial) or
    # repeated a finished one
    trials = _study(url).trials
    for number in left_running:
        attrs = trials[number].user_attrs
        assert attrs["status"] in ("cancelled", "abandoned")
        rerun = attrs["status"] == "cancelled" and not attrs.get("duplicate_of")
        assert (number in source.index) == rerun, attrs
    # 16 trials over both runs: every one has a row, but a proposal that repeated a
    # finished config (answered from it, without a worker)
    counted = [t for t in trials if t.user_attrs.get("status") != "abandoned"]
    repeats = [t for t in counted if t.user_attrs.get("duplicate_of")]
    assert len(counted) == 16 == len(board) + len(repeats)
