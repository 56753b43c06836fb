"""The ensemble's own score: ``validation_score_`` and its leaderboard row."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_squared_error, roc_auc_score

import autoens
from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
from autoens.datasets import load_keel, load_sklearn


@pytest.fixture(scope="module")
def pima_model():
    X, y = load_keel("pima")
    return AutoEnsembleClassifier(
        n_trials=6,
        cv=3,
        learners=["logreg", "hist_gb", "knn"],
        keep_models="all",
        random_state=0,
        n_jobs=1,
    ).fit(X, y)


def test_validation_score_is_the_ensembles_oof_auc(pima_model):
    lib = pima_model.library_
    weights = pima_model.weights_.to_numpy()
    ensemble = np.tensordot(weights, lib.oof.astype(np.float64), axes=1)
    expected = roc_auc_score(lib.y, ensemble[:, 1])  # independent of autoens.metrics
    assert pima_model.validation_score_ == pytest.approx(expected, abs=1e-6)
    assert pima_model.validation_loss_ == pytest.approx(1 - expected, abs=1e-6)
    best = pima_model.leaderboard_["roc_auc"].max()
    assert pima_model.best_validation_score_ == pytest.approx(best)
    # GES starts from the best model, so on its own rows it is never worse
    assert pima_model.validation_score_ >= pima_model.best_validation_score_ - 1e-9


def test_leaderboard_method_puts_the_ensemble_on_top(pima_model):
    full = pima_model.leaderboard()
    trials = pima_model.leaderboard_
    assert len(full) == len(trials) + 1
    top = full.iloc[0]
    assert top["learner"] == "ensemble" and pd.isna(top["trial"])
    assert top["roc_auc"] == pytest.approx(pima_model.validation_score_)
    assert top["predict_time_1k"] == pytest.approx(pima_model.predict_time_1k_)
    members = top["params"]["members"]
    assert set(members) == set(trials.loc[trials["weight"] > 0, "trial"])
    assert sum(members.values()) == pytest.approx(1.0, abs=1e-3)
    rest = full.iloc[1:].reset_index(drop=True)
    assert rest["trial"].astype(int).tolist() == trials["trial"].tolist()
    pd.testing.assert_frame_equal(
        rest.drop(columns="trial"), trials.drop(columns="trial"), check_dtype=False
    )


def test_stacking_reports_its_cross_validated_score(pima_model):
    stacked = autoens.select(pima_model, "stacking")
    selector = stacked.selector_
    assert stacked.validation_loss_ == pytest.approx(selector.validation_loss_)
    assert stacked.leaderboard().iloc[0]["source"] == "selector"
    assert stacked.leaderboard().iloc[0]["params"]["selector"] == "stacking"


def test_score_in_the_selection_metric_after_select(pima_model):
    by_log_loss = autoens.select(pima_model, "ges", metric="log_loss")
    lib = by_log_loss.library_
    weights = by_log_loss.weights_.to_numpy()
    proba = np.tensordot(weights, lib.oof.astype(np.float64), axes=1)
    proba = np.clip(proba / proba.sum(axis=1, keepdims=True), 1e-15, 1)
    expected = -np.mean(np.log(proba[np.arange(len(lib.y)), lib.y]))
    assert by_log_loss.validation_loss_ == pytest.approx(expected, rel=1e-4)
    # the leaderboard stays in the model's metric
    assert "roc_auc" in by_log_loss.leaderboard().columns


def test_regressor_validation_score():
    X, y = load_sklearn("diabetes")
    model = AutoEnsembleRegressor(
        n_trials=4, cv=3, learners=["ridge", "hist_gb"], random_state=0, n_jobs=1
    ).fit(X, y)
    lib = model.library_
    prediction = model.weights_.to_numpy() @ lib.oof[:, :, 0].astype(np.float64)
    rmse = mean_squared_error(lib.y, prediction) ** 0.5
    assert model.validation_loss_ == pytest.approx(rmse, rel=1e-5)
    assert model.leaderboard().iloc[0]["rmse"] == pytest.approx(rmse, rel=1e-5)
