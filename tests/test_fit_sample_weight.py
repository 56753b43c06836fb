"""``fit(X, y, sample_weight=w)``: the weights reach every learner that accepts them,
every trial's loss, the selector and the cache keys; equal weights are no weights."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.metrics import mean_squared_error, roc_auc_score

import autoens
from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
from autoens.cache import MemoryCache
from autoens.metrics import get_metric
from autoens.search import Budget, run_search
from autoens.selectors import BaseSelector
from autoens.space import FeatureTypes, accepts_sample_weight, fit_model, get_learners
from autoens.tabular import TableSchema
from autoens.task import ClassificationTask, RegressionTask
from autoens.testing import FakeEvaluator, quadratic_learner, read_evaluator_log

# Learners whose fit has no sample_weight (they fit unweighted, with a warning).
UNWEIGHTED = {"knn"}
# Fully grown trees on random thresholds: pure leaves predict the same whatever the
# weights, which only move the splits, so the direction of the change is not fixed.
NO_DIRECTION = {"extra_trees"}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:, :10], y.to_numpy()


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def _halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.random.default_rng(0).permutation(n)
    return rows[: n // 2], rows[n // 2 :]


@pytest.mark.parametrize("name", [s.name for s in get_learners(None)])
def test_each_classifier_learns_from_the_weights(name, cancer):
    """Weighing class 1 down (0.05) raises class 0's predicted probability on
    held-out rows, for every learner that accepts weights; the others say they do
    not and predict as unweighted."""
    X, y = cancer
    [spec] = get_learners([name])
    schema, frame = TableSchema.learn(X)
    train, test = _halves(len(y))
    w = np.where(y[train] == 0, 1.0, 0.05)
    plain = spec.make({}, schema.feature_types, 0)
    weighted = spec.make({}, schema.feature_types, 0)
    assert accepts_sample_weight(weighted) == (name not in UNWEIGHTED)
    assert fit_model(plain, frame.iloc[train], y[train])
    used = fit_model(weighted, frame.iloc[train], y[train], w)
    assert used == (name not in UNWEIGHTED)
    p0 = plain.predict_proba(frame.iloc[test])[:, 0]
    p1 = weighted.predict_proba(frame.iloc[test])[:, 0]
    if not used:
        np.testing.assert_array_equal(p1, p0)
    elif name in NO_DIRECTION:
        assert np.abs(p1 - p0).max() > 1e-3
    else:
        assert p1.mean() > p0.mean()


@pytest.mark.parametrize(
    "name", [s.name for s in get_learners(None, task=RegressionTask())]
)
def test_each_regressor_learns_from_the_weights(name, diabetes):
    """Weighing the rows with a low target down (0.05) raises the predictions."""
    X, y = diabetes
    [spec] = get_learners([name], task=RegressionTask())
    schema, frame = TableSchema.learn(X)
    train, test = _halves(len(y))
    w = np.where(y[train] > np.median(y), 1.0, 0.05)
    plain = spec.make({}, schema.feature_types, 0)
    weighted = spec.make({}, schema.feature_types, 0)
    fit_model(plain, frame.iloc[train], y[train])
    used = fit_model(weighted, frame.iloc[train], y[train], w)
    assert used == (name not in UNWEIGHTED)
    m0 = plain.predict(frame.iloc[test])
    m1 = weighted.predict(frame.iloc[test])
    if not used:
        np.testing.assert_array_equal(m1, m0)
    elif name in NO_DIRECTION:
        assert np.abs(m1 - m0).max() > 1e-3
    else:
        assert m1.mean() > m0.mean()


def test_the_workers_get_the_weights_and_the_losses_are_weighted(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=90), "b": rng.normal(size=90)})
    task, y = ClassificationTask.from_target(rng.integers(3, size=90))
    w = rng.uniform(0.1, 3.0, size=90)
    metric = get_metric("log_loss")
    runs = {}
    for label, weights in (("plain", None), ("weighted", w)):
        log = tmp_path / f"{label}.jsonl"
        folds = task.make_folds(X, y, n_splits=3, random_state=0, sample_weight=weights)
        cache = MemoryCache()
        records = run_search(
            X=X,
            y=y,
            folds=folds,
            task=task,
            feature_types=FeatureTypes(numeric=("a", "b")),
            specs=[quadratic_learner()],
            portfolio=[("quadratic", {"x": 0.3, "shape": "a"})],
            metric=metric,
            cache=cache,
            budget=Budget(4, None, None),
            n_jobs=2,
            random_state=0,
            evaluate=FakeEvaluator(log=str(log)),
            sample_weight=weights,
        )
        sums = [call["sample_weight_sum"] for call in read_evaluator_log(log)]
        runs[label] = (folds, records, cache, sums)
    folds_plain, _, _, sums = runs["plain"]
    assert sums == [None] * 4
    folds_w, records, cache, sums = runs["weighted"]
    assert sums == pytest.approx([w.sum()] * 4)
    # weighted folds are other cache keys: same splits, another fingerprint
    assert folds_w.fingerprint != folds_plain.fingerprint
    assert all(
        (a[1] == b[1]).all()
        for a, b in zip(folds_w.splits, folds_plain.splits, strict=True)
    )
    for record in records:
        oof = cache.get(record.key, load_models=False).oof.astype(np.float64)
        p = np.clip(oof[np.arange(90), y], 1e-15, None)
        assert record.loss == pytest.approx(-(w * np.log(p)).sum() / w.sum())


def _fit(cls, X, y, **kwargs):
    params = {"n_trials": 4, "cv": 3, "random_state": 0, "n_jobs": 2, **kwargs}
    return cls(**params)


def test_a_weighted_classifier_scores_trials_and_ensemble_with_the_weights(cancer):
    X, y = cancer
    w = np.random.default_rng(1).uniform(0.1, 3.0, size=len(y))
    learners = ["logreg", "lightgbm"]
    model = _fit(AutoEnsembleClassifier, X, y, learners=learners, keep_models="all")
    model.fit(X, y, sample_weight=w)
    plain = _fit(AutoEnsembleClassifier, X, y, learners=learners).fit(X, y)
    lib = model.library_
    np.testing.assert_array_equal(lib.sample_weight, w)
    for i in range(len(lib)):  # each trial: 1 - weighted ROC AUC of its OOF
        auc = roc_auc_score(y, lib.oof[i][:, 1], sample_weight=w)
        assert lib.losses[i] == pytest.approx(1 - auc, abs=1e-6)
    ensemble = np.tensordot(model.weights_.to_numpy(), lib.oof, axes=1)
    auc = roc_auc_score(y, ensemble[:, 1], sample_weight=w)
    assert model.validation_loss_ == pytest.approx(1 - auc, abs=1e-6)
    # the models themselves were fit with the weights
    assert np.abs(model.predict_proba(X) - plain.predict_proba(X)).max() > 1e-3
    # replaying a selector uses them again
    again = autoens.select(model, "qp")
    ensemble = np.tensordot(again.weights_.to_numpy(), lib.oof, axes=1)
    loss = again.metric_.loss_single(lib.y, ensemble, sample_weight=w)
    assert again.validation_loss_ == pytest.approx(loss, abs=1e-6)


def test_a_weighted_regressor_scores_with_the_weights(diabetes):
    X, y = diabetes
    w = np.linspace(0.2, 3.0, len(y))
    model = _fit(AutoEnsembleRegressor, X, y, learners=["ridge", "lightgbm"])
    model.fit(X, y, sample_weight=w)
    lib = model.library_
    for i in range(len(lib)):
        mse = mean_squared_error(y, lib.oof[i][:, 0], sample_weight=w)
        assert lib.losses[i] == pytest.approx(np.sqrt(mse), rel=1e-5)
    assert np.isfinite(model.predict_interval(X.iloc[:5])).all()


def test_equal_weights_are_no_weights(cancer):
    X, y = cancer
    kwargs = {"learners": ["logreg", "lightgbm"]}
    plain = _fit(AutoEnsembleClassifier, X, y, **kwargs).fit(X, y)
    equal = _fit(AutoEnsembleClassifier, X, y, **kwargs)
    equal.fit(X, y, sample_weight=np.full(len(y), 2.5))
    assert equal.library_.sample_weight is None
    timings = ["fit_time", "predict_time", "predict_time_1k", "proposal_time"]
    pd.testing.assert_frame_equal(
        equal.leaderboard_.drop(columns=timings, errors="ignore"),
        plain.leaderboard_.drop(columns=timings, errors="ignore"),
    )
    np.testing.assert_array_equal(equal.predict_proba(X), plain.predict_proba(X))


def test_learners_that_ignore_weights_are_named_once(cancer):
    X, y = cancer
    model = _fit(AutoEnsembleClassifier, X, y, learners=["knn", "logreg"], n_trials=3)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    with pytest.warns(UserWarning, match=r"learners \['knn'\] cannot weight rows"):
        model.fit(X, y, sample_weight=w)
    assert (model.leaderboard_["status"] == "ok").all()


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (np.ones(5), "one weight per row"),
        (-np.ones(569), "non-negative"),
        (np.r_[np.nan, np.ones(568)], "finite"),
        (np.zeros(569), "positive"),
    ],
    ids=["length", "negative", "nan", "all-zero"],
)
def test_bad_weights_fail_before_the_search(weights, match, cancer, tmp_path):
    X, y = cancer
    model = _fit(AutoEnsembleClassifier, X, y, cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, sample_weight=weights)
    assert not list((tmp_path / "cache").rglob("*.json"))  # no trial ran


class _UnweightedSelector(BaseSelector):
    """A user's selector that does not declare sample_weight support."""

    def _fit(self, P, y, X=None, configs=None):
        raise RuntimeError("fit called without sample_weight")


def test_a_selector_without_weights_is_refused_before_the_search(cancer, tmp_path):
    X, y = cancer
    model = _fit(
        AutoEnsembleClassifier,
        X,
        y,
        selector=_UnweightedSelector(),
        cache_dir=tmp_path / "cache",
    )
    with pytest.raises(ValueError, match="does not support sample_weight"):
        model.fit(X, y, sample_weight=np.linspace(1, 2, len(y)))
    assert not list((tmp_path / "cache").rglob("*.json"))
    # unweighted, such a selector is still called without the argument
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="called without sample_weight"):
            model.fit(X, y)


def test_divbo_searches_with_weights(cancer):
    X, y = cancer
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    model = _fit(
        AutoEnsembleClassifier,
        X,
        y,
        learners=["logreg", "lightgbm"],
        search="divbo",
        portfolio=None,
        n_trials=6,
    ).fit(X, y, sample_weight=w)
    assert (model.leaderboard_["status"] == "ok").sum() == 6
