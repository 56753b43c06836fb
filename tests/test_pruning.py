"""Pruning: hopeless configurations stop after their first folds.

Real fits on KEEL pima: a 1-nearest-neighbour config is far worse than logistic
regression and gradient boosting on every fold, so a percentile rule built from
their fold losses stops it after its first fold; a trial reaching its last fold
always finishes; pruned trials never reach the cache, the library or the ensemble.
"""

from __future__ import annotations

import inspect
import math
import pickle

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState
from sklearn.metrics import roc_auc_score

from autoens import AutoEnsembleClassifier
from autoens.cache import MemoryCache
from autoens.cli import build_parser
from autoens.cli.fit import pruning_value
from autoens.datasets import load_keel
from autoens.metrics import get_metric
from autoens.search import Budget, PercentilePruning, run_search, study_name
from autoens.search.evaluate import evaluate_config, fold_losses
from autoens.search.pruning import make_pruning
from autoens.space import FeatureTypes, get_learners
from autoens.tabular import TableSchema, check_table
from autoens.task import ClassificationTask
from autoens.testing import FakeEvaluator, quadratic_learner
from autoens.trials import TRIAL_STATUSES


def _hist_gb(**params):
    """A whole hist_gb config (a resumed trial needs every parameter)."""
    return ("hist_gb", {**get_learners(["hist_gb"])[0].defaults, **params})


GOOD = [
    ("logreg", {"C": 1.0, "class_weight": None}),
    ("logreg", {"C": 0.1, "class_weight": "balanced"}),
    _hist_gb(max_iter=50),
]
HOPELESS = ("knn", {"n_neighbors": 1, "weights": "uniform", "p": 1})
STAGES = {"queue", "preprocess", "fit", "predict", "cache_write"}


@pytest.fixture(scope="module")
def pima():
    X, y = load_keel("pima")
    task, y_enc = ClassificationTask.from_target(y)
    schema, frame = TableSchema.learn(check_table(X))
    folds = task.make_folds(frame, y_enc, n_splits=3, random_state=0)
    specs = {s.name: s for s in get_learners(["logreg", "hist_gb", "knn"], task=task)}
    return frame, y_enc, task, folds, schema.feature_types, specs


def _search(pima, pruning, *, cache=None, storage=None, n_trials=4):
    frame, y, task, folds, feature_types, specs = pima
    return run_search(
        X=frame,
        y=y,
        folds=folds,
        task=task,
        feature_types=feature_types,
        specs=list(specs.values()),
        portfolio=[*GOOD, HOPELESS],
        metric=get_metric("roc_auc"),
        cache=MemoryCache() if cache is None else cache,
        budget=Budget(n_trials, None, None),
        search="random",
        storage=storage,
        n_jobs=1,
        random_state=0,
        pruning=pruning,
    )


# --- the rule ------------------------------------------------------------------------


def test_thresholds_are_per_fold_percentiles_of_the_finished_trials():
    losses = [[0.1, 0.5, 0.3], [0.2, 0.6, 0.1], [0.3, 0.7, 0.2], [0.4, 0.8, 0.9]]
    # 90th percentile of 4 values, linear: 3 + 0.7 * (4th - 3rd) in sorted order
    assert PercentilePruning(90.0, n_startup=4).thresholds(losses, 3) == pytest.approx(
        [0.3 + 0.7 * 0.1, 0.7 + 0.7 * 0.1, math.inf]
    )
    assert PercentilePruning(50.0, n_startup=3).thresholds(losses, 3) == pytest.approx(
        [0.25, 0.65, math.inf]
    )
    # fewer finished trials than n_startup: never prune
    assert PercentilePruning(50.0, n_startup=5).thresholds(losses, 3) == [math.inf] * 3
    # NaN losses do not count; rows of another cv are ignored
    nan_rows = [[math.nan, 0.5, 0.3]] * 3 + [[0.1, 0.2]] * 5
    assert PercentilePruning(50.0, n_startup=3).thresholds(nan_rows, 3) == [
        math.inf,
        0.5,
        math.inf,
    ]
    # the last fold never prunes, whatever the percentile
    assert PercentilePruning(1.0, n_startup=1).thresholds(losses, 3)[-1] == math.inf


def test_pruning_parameter_values():
    assert make_pruning("auto") == PercentilePruning()
    assert make_pruning(50) == PercentilePruning(50.0)
    assert make_pruning(None) is None
    for bad in (True, "median", 0, 100):
        with pytest.raises(ValueError, match=r"pruning|percentile"):
            make_pruning(bad)
    assert "pruned" in TRIAL_STATUSES
    assert pruning_value("auto") == "auto"
    assert pruning_value("off") is None
    assert pruning_value("75") == 75.0
    for bad in ("0", "100", "x"):
        with pytest.raises(Exception, match="percentile"):
            pruning_value(bad)


def test_pruning_is_opt_in():
    # off by default: on the KEEL benchmark it stopped configurations that GES used
    assert AutoEnsembleClassifier().pruning is None
    assert inspect.signature(run_search).parameters["pruning"].default is None
    args = build_parser().parse_args(["fit", "train.csv", "--target", "y"])
    assert args.pruning is None


@pytest.mark.parametrize("name", ["roc_auc", "log_loss", "balanced_accuracy", "brier"])
def test_metric_travels_to_the_worker(name):
    metric = get_metric(name)
    copy = pickle.loads(pickle.dumps(metric))
    rng = np.random.default_rng(0)
    y = rng.integers(2, size=50)
    p = rng.uniform(size=(50, 1)).astype(np.float32)
    proba = np.hstack([1 - p, p])
    assert copy.loss_single(y, proba) == metric.loss_single(y, proba)


# --- the worker ----------------------------------------------------------------------


def _evaluate(pima, learner, params, **kwargs):
    frame, y, task, folds, feature_types, specs = pima
    return evaluate_config(
        specs[learner], params, frame, y, folds.splits, feature_types, task, 0, **kwargs
    )


def test_worker_records_each_folds_weighted_loss(pima):
    _, y, _, folds, *_ = pima
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    result = _evaluate(
        pima, *GOOD[0], sample_weight=weights, metric=get_metric("roc_auc")
    )
    assert result.status == "ok" and result.n_folds_run == 3
    expected = [
        1.0 - roc_auc_score(y[test], result.oof[test, 1], sample_weight=weights[test])
        for _, test in folds.splits
    ]
    assert result.fold_losses == pytest.approx(expected, abs=1e-6)
    metric = get_metric("roc_auc")
    again = fold_losses(metric, y, result.oof, folds.splits, weights)
    assert again == pytest.approx(result.fold_losses, abs=1e-6)
    # timings: the pipeline's preprocessing and the learner split the fit time
    t = result.timings
    assert set(t) == {"preprocess", "fit", "predict"}
    assert all(v >= 0 for v in t.values()) and t["preprocess"] > 0
    assert t["preprocess"] + t["fit"] == pytest.approx(result.fit_time, rel=1e-6)
    assert t["predict"] == result.predict_time
    assert result.fold_iterations == [None, None, None]  # logistic regression
    # without a metric nothing is measured per fold (custom callers as before)
    assert _evaluate(pima, *GOOD[0]).fold_losses == []


def test_worker_stops_at_a_fold_worse_than_its_threshold(pima):
    metric = get_metric("roc_auc")
    full = _evaluate(pima, *HOPELESS, metric=metric)
    assert full.status == "ok"
    # just below fold 2's own loss: pruned after two folds, nothing sent back
    cut = [math.inf, full.fold_losses[1] - 1e-9, math.inf]
    pruned = _evaluate(pima, *HOPELESS, metric=metric, prune_thresholds=cut)
    assert pruned.status == "pruned" and pruned.n_folds_run == 2
    assert pruned.fold_losses == pytest.approx(full.fold_losses[:2])
    assert pruned.oof is None and pruned.models == []
    assert "pruned after fold 2 of 3" in pruned.error
    # at its own loss (not worse): goes on
    level = [full.fold_losses[0], full.fold_losses[1], math.inf]
    assert _evaluate(pima, *HOPELESS, metric=metric, prune_thresholds=level).status == (
        "ok"
    )
    # the last fold never prunes, and a NaN threshold list entry never does either
    last = [math.nan, math.nan, 0.0]
    kept = _evaluate(pima, *HOPELESS, metric=metric, prune_thresholds=last)
    assert kept.status == "ok" and len(kept.fold_losses) == 3


# --- the search ----------------------------------------------------------------------


def test_search_prunes_a_hopeless_config_and_resume_keeps_it_pruned(pima, tmp_path):
    folds = pima[3]
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cache = MemoryCache()
    records = _search(
        pima, PercentilePruning(90.0, n_startup=3), cache=cache, storage=storage
    )
    assert [r.status for r in records] == ["ok", "ok", "ok", "pruned"]
    good, bad = records[:3], records[3]
    assert bad.learner == "knn" and bad.n_folds_run == 1 and math.isnan(bad.loss)
    worst_first_fold = max(r.fold_losses[0] for r in good)
    assert len(bad.fold_losses) == 1 and bad.fold_losses[0] > worst_first_fold
    # its partial predictions never reach the cache
    assert cache.get(bad.key) is None
    for r in good:
        entry = cache.get(r.key, load_models=False)
        assert entry.meta["fold_losses"] == pytest.approx(r.fold_losses)
        assert len(r.fold_losses) == r.n_folds_run == 3
        assert STAGES <= set(r.timings) and min(r.timings.values()) >= 0
    # boosting rounds per fold model (hist_gb, max_iter=50), in the cache too
    rounds = good[2].fold_iterations
    assert len(rounds) == 3 and all(0 < r <= 50 for r in rounds)
    assert cache.get(good[2].key, load_models=False).meta["fold_iterations"] == rounds
    assert {"startup", "proposal", "idle", *STAGES} <= set(records.timings)
    assert min(records.timings.values()) >= 0 and records.timings["startup"] > 0
    # Optuna: PRUNED, with the fold losses as intermediate values
    study = optuna.load_study(
        study_name=study_name(folds, get_metric("roc_auc")), storage=storage
    )
    trials = study.get_trials()
    assert trials[3].state == TrialState.PRUNED
    assert trials[3].intermediate_values == pytest.approx({0: bad.fold_losses[0]})
    assert trials[0].intermediate_values == pytest.approx(
        dict(enumerate(good[0].fold_losses))
    )

    # resumed from storage: shown again as pruned, not run again
    again = _search(
        pima, PercentilePruning(90.0, n_startup=3), cache=cache, storage=storage
    )
    assert [(r.status, r.source) for r in again] == [("ok", "resumed")] * 3 + [
        ("pruned", "resumed")
    ]
    assert again[3].fold_losses == pytest.approx(bad.fold_losses)
    assert (
        len(
            optuna.load_study(study_name=study.study_name, storage=storage).get_trials()
        )
        == 4
    )


def test_no_pruning_runs_every_fold(pima):
    records = _search(pima, None)
    assert [r.status for r in records] == ["ok"] * 4
    assert all(len(r.fold_losses) == 3 for r in records)


def test_an_evaluator_without_fold_losses_gets_them_from_the_loop():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=90)})
    task, y = ClassificationTask.from_target(rng.integers(2, size=90))
    folds = task.make_folds(X, y, n_splits=3, random_state=0)
    metric = get_metric("log_loss")
    cache = MemoryCache()
    records = run_search(
        X=X,
        y=y,
        folds=folds,
        task=task,
        feature_types=FeatureTypes(numeric=("a",)),
        specs=[quadratic_learner()],
        portfolio=[],
        metric=metric,
        cache=cache,
        budget=Budget(2, None, None),
        n_jobs=1,
        evaluate=FakeEvaluator(),
    )
    for r in records:
        oof = cache.get(r.key, load_models=False).oof
        assert r.fold_losses == pytest.approx(fold_losses(metric, y, oof, folds.splits))


def test_estimator_leaves_pruned_trials_out_of_the_ensemble(pima):
    X, y = load_keel("pima")
    portfolio = [
        *GOOD,
        ("logreg", {"C": 10.0, "class_weight": None}),
        ("logreg", {"C": 0.01, "class_weight": None}),
        _hist_gb(max_iter=50, learning_rate=0.05),
        _hist_gb(max_iter=50, max_leaf_nodes=8),
        ("logreg", {"C": 3.0, "class_weight": "balanced"}),
        HOPELESS,
    ]
    model = AutoEnsembleClassifier(
        n_trials=len(portfolio),
        cv=3,
        learners=["logreg", "hist_gb", "knn"],
        portfolio=portfolio,
        search="random",
        pruning="auto",
        n_jobs=1,
        random_state=0,
    ).fit(X, y)
    board = model.leaderboard_.set_index("trial")
    knn = board[board["learner"] == "knn"]
    assert list(knn["status"]) == ["pruned"] and knn["loss"].isna().all()
    pruned_trial = knn.index[0]
    assert pruned_trial not in model.library_.trials
    assert pruned_trial not in model.weights_.index
    assert (board["status"] == "ok").sum() == len(portfolio) - 1
    assert {"startup", "proposal", "idle", *STAGES} <= set(model.search_timings_)
