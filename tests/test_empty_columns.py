"""Bug: a frame with an all-missing column made every ``hist_gb`` trial fail
("window shape cannot be larger than input array shape": HistGB cannot bin a column
with no value). Fixed twice: the schema drops columns empty in the whole training set,
and the tree preprocessor zeroes columns empty in one CV fold's training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
from autoens.space import get_learners
from autoens.task import ClassificationTask, RegressionTask

HIST_GB = {"n_trials": 2, "cv": 2, "learners": ["hist_gb"], "portfolio": None}


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_breast_cancer(as_frame=True)
    return data.data.iloc[:160, :6].reset_index(drop=True), data.target[:160].to_numpy()


def test_an_all_missing_column_no_longer_fails_hist_gb(cancer):
    X, y = cancer
    X = X.assign(lab_result=np.nan)
    model = AutoEnsembleClassifier(**HIST_GB, random_state=0)
    with pytest.warns(UserWarning, match="dropped all-missing column.*'lab_result'"):
        model.fit(X, y)
    assert (model.leaderboard_["status"] == "ok").all()
    report = model.feature_report_.set_index("column")
    assert report.loc["lab_result", ["kind", "action"]].tolist() == ["empty", "dropped"]
    assert model.n_features_in_ == X.shape[1]
    assert np.isfinite(model.predict_proba(X.assign(lab_result=1.0))).all()


def test_a_column_empty_in_one_fold_no_longer_fails_hist_gb():
    """One value in 120 rows: with 2 folds, one fold trains without it."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X, y = X.iloc[:120, :5].copy(), y[:120]
    X["rare"] = np.nan
    X.loc[7, "rare"] = 3.0
    model = AutoEnsembleRegressor(**HIST_GB, random_state=0).fit(X, y)
    assert model.feature_report_.set_index("column").loc["rare", "kind"] == "numeric"
    assert (model.leaderboard_["status"] == "ok").all()
    assert np.isfinite(model.predict(X)).all()


def _tiny(params: dict) -> dict:
    """Defaults with few trees, so every learner fits in well under a second."""
    small = {"n_estimators": 10, "max_iter": 10}
    return {k: small.get(k, v) for k, v in params.items()}


@pytest.mark.parametrize(
    "task",
    [ClassificationTask(classes=np.array([0, 1])), RegressionTask()],
    ids=["classification", "regression"],
)
def test_every_learner_copes_with_columns_empty_in_its_training_rows(cancer, task):
    """What a fold can look like after the schema: numeric and categorical columns
    with no value in the training rows, values again at predict time."""
    from autoens.tabular import TableSchema

    X, y = cancer
    X = X.assign(
        sparse=np.where(np.arange(len(X)) == 0, 1.0, np.nan),
        group=np.where(np.arange(len(X)) % 2, "a", None),
    )
    schema, frame = TableSchema.learn(X)
    train, test = frame.iloc[1:], frame.iloc[:40]
    train = train.assign(group=np.nan)  # every categorical value missing too
    assert train["sparse"].isna().all()
    target = y[1:] if task.family == "classification" else X["mean area"][1:]
    for spec in get_learners(None, task=task):
        model = spec.make(_tiny(spec.defaults), schema.feature_types, 0)
        model.fit(train, np.asarray(target))
        out = task.predict(model, test)
        assert np.isfinite(out).all(), spec.name
