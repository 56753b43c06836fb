"""The search loop through its front door, with a fake evaluator: no learner is fit.

``FakeEvaluator`` gives each configuration a fixed loss and logs every call it gets in
the worker processes, so these tests check the loop's own bookkeeping: budgets in
trials and in seconds, duplicate proposals, cache reuse, and resuming from storage.
"""

from __future__ import annotations

import time

import numpy as np
import optuna
import pandas as pd
import pytest

from autoens.cache import DiskCache, MemoryCache
from autoens.metrics import get_metric
from autoens.search import Budget, run_search
from autoens.space import FeatureTypes
from autoens.task import ClassificationTask
from autoens.testing import FakeEvaluator, quadratic_learner, read_evaluator_log

N_ROWS = 90


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=N_ROWS), "b": rng.normal(size=N_ROWS)})
    task, y = ClassificationTask.from_target(rng.integers(3, size=N_ROWS))
    folds = task.make_folds(X, y, n_splits=3, random_state=0)
    return X, y, task, folds


def _search(problem, cache, budget, *, log=None, delay=0.0, **kwargs):
    X, y, task, folds = problem
    params = {
        "specs": [quadratic_learner()],
        "portfolio": [("quadratic", {"x": 0.3, "shape": "a"})],
        "metric": get_metric("log_loss"),
        "n_jobs": 1,
        "random_state": 0,
        **kwargs,
    }
    return run_search(
        X=X,
        y=y,
        folds=folds,
        task=task,
        feature_types=FeatureTypes(numeric=("a", "b")),
        cache=cache,
        budget=budget,
        evaluate=FakeEvaluator(delay=delay, log=None if log is None else str(log)),
        **params,
    )


def test_trial_budget_is_exact_and_every_result_goes_to_the_cache(problem, tmp_path):
    log = tmp_path / "calls.jsonl"
    cache = MemoryCache()
    records = _search(problem, cache, Budget(7, None, None), log=log)
    assert [r.number for r in records] == list(range(7))
    assert {r.status for r in records} == {"ok"}
    assert {r.source for r in records} == {"evaluated"}
    calls = read_evaluator_log(log)
    assert len(calls) == 7
    # the portfolio config runs first, then the sampler's proposals
    assert calls[0]["params"] == {"x": 0.3, "shape": "a"}
    assert len({(c["params"]["x"], c["params"]["shape"]) for c in calls}) == 7
    # records carry metadata only; predictions and fold models are in the cache
    assert not hasattr(records[0], "oof") and not hasattr(records[0], "models")
    assert sorted(cache.keys()) == sorted(r.key for r in records)
    entry = cache.get(records[0].key)
    assert entry.oof.shape == (N_ROWS, 3) and len(entry.models) == 3
    assert entry.meta["loss"] == pytest.approx(records[0].loss)


def test_tpe_proposals_are_reproducible_and_learn(problem):
    a = _search(problem, MemoryCache(), Budget(14, None, None), portfolio=[])
    b = _search(problem, MemoryCache(), Budget(14, None, None), portfolio=[])
    assert [r.params for r in a] == [r.params for r in b]
    c = _search(
        problem, MemoryCache(), Budget(14, None, None), portfolio=[], random_state=1
    )
    assert [r.params for r in a] != [r.params for r in c]
    # TPE after its 10 random start-up trials moves towards the optimum x = 0.3
    late = np.mean([abs(r.params["x"] - 0.3) for r in a[10:]])
    early = np.mean([abs(r.params["x"] - 0.3) for r in a[:10]])
    assert late < early


def test_time_budget_stops_the_search(problem):
    start = time.monotonic()
    records = _search(problem, MemoryCache(), Budget(None, 8.0, None), delay=0.5)
    elapsed = time.monotonic() - start
    # the budget includes the workers' start-up (slow on a loaded machine), so the
    # count of 0.5 s trials is bounded above by the budget, not fixed
    assert elapsed < 8.0 + 10.0
    assert 1 <= len(records) <= 8.0 / 0.5 + 1
    assert {r.status for r in records} <= {"ok", "cancelled"}
    assert records[0].status == "ok"


def test_trial_time_limit_stops_a_slow_trial(problem):
    with pytest.warns(UserWarning, match="dropped from the search"):
        records = _search(problem, MemoryCache(), Budget(2, None, 1.0), delay=30.0)
    assert [r.status for r in records] == ["timeout", "timeout"]
    assert "trial_time_limit=1.0" in records[0].error


def test_duplicate_proposals_are_answered_without_a_worker(problem, tmp_path):
    log = tmp_path / "calls.jsonl"
    # the portfolio holds the same config twice over (x fixed); random search in a
    # space this small also repeats itself
    spec = quadratic_learner()
    spec = type(spec)(
        name=spec.name,
        build=spec.build,
        distributions={
            "shape": optuna.distributions.CategoricalDistribution(("a", "b"))
        },
        defaults={"shape": "a"},
    )
    storage = optuna.storages.InMemoryStorage()
    records = _search(
        problem,
        MemoryCache(),
        Budget(8, None, None),
        log=log,
        specs=[spec],
        portfolio=[],
        search="random",
        storage=storage,
    )
    calls = read_evaluator_log(log)
    assert len(calls) == len(records) <= 2
    study = optuna.load_study(
        study_name=storage.get_all_studies()[0].study_name, storage=storage
    )
    trials = study.get_trials()
    assert len(trials) == 8  # the budget counts every proposal
    duplicates = [t for t in trials if t.user_attrs.get("duplicate_of")]
    assert len(duplicates) == 8 - len(records) > 0
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in duplicates)


def test_resume_from_storage_and_disk_cache_recomputes_nothing(problem, tmp_path):
    log = tmp_path / "calls.jsonl"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cache_dir = tmp_path / "cache"
    _, _, _, folds = problem
    first = _search(
        problem,
        DiskCache(cache_dir, folds.fingerprint),
        Budget(4, None, None),
        log=log,
        storage=storage,
    )
    assert len(read_evaluator_log(log)) == 4
    again = _search(
        problem,
        DiskCache(cache_dir, folds.fingerprint),
        Budget(6, None, None),
        log=log,
        storage=storage,
    )
    assert len(read_evaluator_log(log)) == 6  # only the two new trials ran
    assert [r.source for r in again] == ["resumed"] * 4 + ["evaluated"] * 2
    assert [r.params for r in again[:4]] == [r.params for r in first]
    assert [r.loss for r in again[:4]] == [r.loss for r in first]


def test_resume_without_the_predictions_reevaluates_within_the_budget(
    problem, tmp_path
):
    log = tmp_path / "calls.jsonl"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    _search(problem, MemoryCache(), Budget(3, None, None), log=log, storage=storage)
    # a new in-memory cache: the study remembers the trials, their predictions are
    # gone, so they run again (once each) and the budget is not spent twice
    again = _search(
        problem, MemoryCache(), Budget(3, None, None), log=log, storage=storage
    )
    assert len(read_evaluator_log(log)) == 6
    assert len(again) == 3 and {r.status for r in again} == {"ok"}
