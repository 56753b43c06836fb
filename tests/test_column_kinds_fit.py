"""The estimators end to end on tables with real-world columns: what ``fit`` reports
(``feature_report_``, the log, warnings) and what ``predict`` accepts."""

from __future__ import annotations

import logging
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor

CLF = {"n_trials": 2, "cv": 2, "learners": ["logreg"], "random_state": 0}
REG = {"n_trials": 2, "cv": 2, "learners": ["ridge"], "random_state": 0}


def _add_real_world_columns(X: pd.DataFrame, seed: int) -> pd.DataFrame:
    """An ID, ISO date strings, free text, an all-missing and a constant column."""
    rng = np.random.default_rng(seed)
    n = len(X)
    words = np.array("pain mild severe since last week none reported at night".split())
    lengths = rng.integers(3, 10, size=n)
    notes = rng.choice(words, size=(n, 10))
    return X.assign(
        record_id=[f"R{i:06d}" for i in rng.permutation(n)],
        admitted=pd.date_range("2020-01-01", periods=n, freq="13h").strftime(
            "%Y-%m-%dT%H:%M:%S"
        ),
        notes=[" ".join(r[:k]) for r, k in zip(notes, lengths, strict=True)],
        empty=np.nan,
        country="NL",
    )


def _fit(model, X, y) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    return [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def classification() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:240, :6].reset_index(drop=True)
    return _add_real_world_columns(X, 0), data.target[:240].to_numpy()


@pytest.fixture(scope="module")
def fitted_classifier(classification):
    X, y = classification
    model = AutoEnsembleClassifier(**CLF)
    return model, _fit(model, X, y)


def test_classifier_reports_and_warns_what_it_did(fitted_classifier, classification):
    X, _ = classification
    model, messages = fitted_classifier
    report = model.feature_report_.set_index("column")
    assert list(report.index) == list(X.columns)
    assert report.loc["record_id", ["kind", "action"]].tolist() == ["id", "dropped"]
    assert report.loc["admitted", ["kind", "action"]].tolist() == [
        "datetime",
        "expanded",
    ]
    assert report.loc["notes", "kind"] == "text"
    assert report.loc["empty", "kind"] == "empty"
    assert report.loc["country", "kind"] == "constant"
    assert report.loc["mean radius", "action"] == "kept"
    assert report["missing_fraction"].between(0, 1).all()
    # scikit-learn's attributes keep naming the user's columns
    assert model.n_features_in_ == X.shape[1]
    assert list(model.feature_names_in_) == list(X.columns)
    text = " | ".join(messages)
    for name in ("record_id", "notes", "empty", "country"):
        assert f"'{name}'" in text
    assert "admitted" not in text  # dates are expected, not a problem
    # the learners saw the date and text features
    assert "admitted__month" in model.schema_.feature_types.numeric
    assert "notes__n_words" in model.schema_.feature_types.numeric
    assert (model.leaderboard_["status"] == "ok").all()


def test_predict_ignores_extra_and_reordered_columns(fitted_classifier, classification):
    X, _ = classification
    model, _ = fitted_classifier
    expected = model.predict_proba(X)
    moved = X[X.columns[::-1]].assign(batch="b7")
    with pytest.warns(UserWarning, match="not fit on: 'batch'; they are ignored"):
        got = model.predict_proba(moved)
    np.testing.assert_array_equal(got, expected)
    # the dropped columns (ID, empty, constant) are not needed to predict
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = model.predict_proba(X.drop(columns=["record_id", "empty", "country"]))
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="missing 'admitted'"):
        model.predict(X.drop(columns="admitted"))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X), expected)


def test_unparseable_dates_at_predict_time(fitted_classifier, classification):
    X, _ = classification
    model, _ = fitted_classifier
    new = X.head(3).assign(admitted=["2021-05-01T10:00:00", "yesterday", None])
    with pytest.warns(UserWarning, match=r"'admitted': 1 of 3 .*'yesterday'"):
        proba = model.predict_proba(new)
    assert np.isfinite(proba).all()


def test_verbose_logs_the_report(classification, caplog):
    X, y = classification
    model = AutoEnsembleClassifier(**{**CLF, "verbose": 1})
    with caplog.at_level(logging.INFO, logger="autoens"):
        _fit(model, X, y)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(line.startswith(f"X: {X.shape[1]} columns -> ") for line in lines)
    assert any(line.startswith("datetime (1, expanded): 'admitted'") for line in lines)
    assert any(line.startswith("id (1, dropped): 'record_id'") for line in lines)
    quiet = AutoEnsembleClassifier(**CLF)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="autoens"):
        _fit(quiet, X, y)
    assert not [r for r in caplog.records if r.getMessage().startswith("X: ")]


def test_regressor_with_real_world_columns():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = _add_real_world_columns(X.iloc[:200, :5].reset_index(drop=True), 1)
    X["visit"] = pd.date_range("2019-06-01", periods=200, freq="D", tz="UTC")
    y = y[:200].to_numpy()
    model = AutoEnsembleRegressor(**REG)
    messages = _fit(model, X, y)
    assert any("identifier-like" in m for m in messages)
    kinds = model.feature_report_.set_index("column")["kind"]
    assert kinds["visit"] == kinds["admitted"] == "datetime"
    shuffled = X.assign(extra=0)[["extra", *X.columns[::-1]]]
    with pytest.warns(UserWarning, match="not fit on: 'extra'"):
        pred = model.predict(shuffled)
    assert pred.shape == (200,) and np.isfinite(pred).all()
    np.testing.assert_array_equal(pred, model.predict(X))
    interval = model.predict_interval(X.head(5))
    assert interval.shape == (5, 2)


def test_numeric_numpy_input_is_unchanged(classification):
    X, y = classification
    numbers = X.select_dtypes("number").drop(columns="empty").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = AutoEnsembleClassifier(**CLF).fit(numbers, y)
    assert model.n_features_in_ == numbers.shape[1]
    assert not hasattr(model, "feature_names_in_")
    assert (model.feature_report_["kind"] == "numeric").all()
    assert model.predict(numbers[:5]).shape == (5,)
    with pytest.raises(ValueError, match="features"):
        model.predict(numbers[:, :-1])
