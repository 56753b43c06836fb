"""AutoEnsembleRegressor end to end on real bundled data, intervals, replay, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.metrics import r2_score, root_mean_squared_error
from sklearn.model_selection import train_test_split

from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor, select
from autoens.task import RegressionTask

FAST = {"n_trials": 4, "cv": 3, "learners": ["ridge", "hist_gb"], "random_state": 0}


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.fixture(scope="module")
def fitted(diabetes):
    X_train, _, y_train, _ = diabetes
    return AutoEnsembleRegressor(**FAST, keep_models="all").fit(X_train, y_train)


def test_fits_predicts_and_scores_on_held_out_rows(fitted, diabetes):
    _, X_test, _, y_test = diabetes
    pred = fitted.predict(X_test)
    assert pred.shape == (len(X_test),) and pred.dtype == np.float64
    assert r2_score(y_test, pred) > 0.3  # diabetes: linear models reach ~0.45
    assert fitted.score(X_test, y_test) == pytest.approx(r2_score(y_test, pred))
    assert isinstance(fitted.task_, RegressionTask)
    assert fitted.metric_.name == "rmse"
    board = fitted.leaderboard_
    assert "rmse" in board.columns and (board["status"] == "ok").all()
    assert board["loss"].is_monotonic_increasing
    assert fitted.weights_.sum() == pytest.approx(1.0)
    # the ensemble's validation loss is the RMSE of its OOF predictions
    oof = fitted.selector_.combine(fitted.library_.oof)[:, 0]
    assert fitted.validation_loss_ == pytest.approx(
        root_mean_squared_error(fitted.library_.y, oof), rel=1e-6
    )
    assert fitted.validation_loss_ <= board["loss"].min() + 1e-9
    member = fitted.predict_member(X_test, fitted.best_trial_)
    assert member.shape == (len(X_test),)


def test_mixed_types_missing_values_and_pickle(diabetes):
    X_train, X_test, y_train, _ = diabetes
    X = X_train.copy()
    X["sex"] = np.where(X["sex"] > 0, "m", "f").astype(object)
    X.loc[X.index[::7], "bmi"] = np.nan
    X.loc[X.index[::11], "sex"] = None
    model = AutoEnsembleRegressor(**FAST).fit(X, y_train)
    new = X_test.copy()
    new["sex"] = np.where(new["sex"] > 0, "m", "f").astype(object)
    pred = model.predict(new)
    assert np.isfinite(pred).all()
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(new), pred)
    np.testing.assert_array_equal(
        restored.predict_interval(new), model.predict_interval(new)
    )


def test_intervals_are_ordered_around_the_prediction(fitted, diabetes):
    _, X_test, _, _ = diabetes
    bounds = fitted.predict_interval(X_test, alpha=0.1)
    assert bounds.shape == (len(X_test), 2)
    lower, upper = bounds.T
    assert (lower <= upper).all()
    narrow = fitted.predict_interval(X_test, alpha=0.5)
    assert (narrow[:, 1] - narrow[:, 0] <= upper - lower + 1e-9).all()
    with pytest.raises(ValueError, match="alpha"):
        fitted.predict_interval(X_test, alpha=1.5)
    # too few training rows for alpha: the bound is infinite, as CV+ says
    tiny = fitted.predict_interval(X_test[:3], alpha=0.001)
    assert np.isinf(tiny).all()


def test_select_replays_regression_selectors(fitted, diabetes):
    _, X_test, _, _ = diabetes
    qp = select(fitted, "qp")
    assert qp.selector_.metric_.name == "rmse"
    assert qp.validation_loss_ <= fitted.library_.losses.min() + 1e-9
    assert np.isfinite(qp.predict(X_test)).all()
    assert fitted.selector_ is not qp.selector_
    mae = select(fitted, "ges", metric="mae")
    assert mae.selector_.metric_.name == "mae"


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.full(40, 3.0), "constant"),
        (np.r_[np.arange(39.0), np.nan], "NaN"),
        (np.array(["a", "b"] * 20, dtype=object), "numeric"),
    ],
)
def test_bad_targets_get_clear_errors(y, match):
    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ValueError, match=match):
        AutoEnsembleRegressor(**FAST).fit(X, y)


def test_a_classification_metric_is_refused_by_name():
    X, y = load_diabetes(return_X_y=True)
    with pytest.raises(ValueError, match=r"'roc_auc' scores classification.*rmse"):
        AutoEnsembleRegressor(**FAST, metric="roc_auc").fit(X, y)
    with pytest.raises(ValueError, match="'rmse' scores regression"):
        AutoEnsembleClassifier(n_trials=2, metric="rmse").fit(X, y > 150)


def test_any_sklearn_regression_scorer_works_as_metric(diabetes):
    X_train, _, y_train, _ = diabetes
    model = AutoEnsembleRegressor(
        **{**FAST, "n_trials": 3}, metric="neg_median_absolute_error"
    ).fit(X_train, y_train)
    board = model.leaderboard_
    # scorers are higher-is-better: the column shows the scorer's own value
    assert (board["neg_median_absolute_error"] < 0).all()
    assert (board["neg_median_absolute_error"] == -board["loss"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cv_plus_coverage_on_held_out_rows(seed):
    """Empirical coverage of 90 % intervals: at least 1 - 2 alpha as CV+ guarantees
    (and in practice close to 1 - alpha)."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, random_state=seed
    )
    model = AutoEnsembleRegressor(
        n_trials=6, cv=5, learners=["ridge", "hist_gb", "knn"], random_state=seed
    ).fit(X_train, y_train)
    lower, upper = model.predict_interval(X_test, alpha=0.1).T
    coverage = np.mean((y_test.to_numpy() >= lower) & (y_test.to_numpy() <= upper))
    assert coverage >= 0.8
    # not vacuous: narrower than the spread of the target itself
    assert np.median(upper - lower) < np.quantile(y_train, 0.95) - np.quantile(
        y_train, 0.05
    )


def test_frame_row_mismatch_is_named():
    X = pd.DataFrame({"a": np.arange(10.0)})
    with pytest.raises(ValueError, match="10 rows but y has 9 values"):
        AutoEnsembleRegressor(**FAST).fit(X, np.arange(9.0))
