"""Distilling a fitted ensemble into one fast model (autoens.distill)."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
from autoens.datasets import load_keel
from autoens.distill import DistilledClassifier, DistilledRegressor


@pytest.fixture(scope="module")
def crx_fit():
    X, y = load_keel("crx")  # mixed numeric / categorical columns
    model = AutoEnsembleClassifier(
        n_trials=4,
        cv=3,
        learners=["logreg", "hist_gb", "lightgbm"],
        calibration="temperature",
        random_state=0,
    )
    return model.fit(X, y), X, y


@pytest.fixture(scope="module")
def crx_student(crx_fit):
    model, X, _ = crx_fit
    return model.distill(X)


def test_binary_student_has_the_classifier_api(crx_fit, crx_student):
    model, X, y = crx_fit
    student = crx_student
    assert isinstance(student, DistilledClassifier)
    np.testing.assert_array_equal(student.classes_, model.classes_)
    assert student.n_features_in_ == model.n_features_in_
    np.testing.assert_array_equal(student.feature_names_in_, model.feature_names_in_)
    proba = student.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert set(student.predict(X)) <= set(model.classes_)
    # it learned the ensemble: agrees with it on most rows, and is accurate
    agree = np.mean(student.predict(X) == model.predict(X))
    assert agree > 0.85
    assert 0.8 < student.score(X, y) <= 1.0
    # its own cross-validated score is close to the ensemble's (ROC AUC)
    assert student.metric_.score_name == "roc_auc"
    assert abs(student.validation_score_ - student.teacher_validation_score_) < 0.05
    assert student.teacher_validation_score_ == pytest.approx(
        model.metric_.to_score(model.validation_loss_), abs=1e-6
    )


def test_student_refuses_other_rows(crx_fit):
    model, X, _ = crx_fit
    with pytest.raises(ValueError, match="rows of X given to fit"):
        model.distill(X.iloc[:-5])
    shuffled = X.sample(frac=1.0, random_state=0).reset_index(drop=True)
    with pytest.raises(ValueError, match="not the data this model was fit on"):
        model.distill(shuffled)


def test_student_saves_and_loads(crx_student, crx_fit, tmp_path):
    _, X, _ = crx_fit
    path = tmp_path / "student.joblib"
    joblib.dump(crx_student, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), crx_student.predict_proba(X))
    assert loaded.validation_score_ == crx_student.validation_score_


def test_multiclass_student(multiclass_data):
    X, y = multiclass_data
    model = AutoEnsembleClassifier(
        n_trials=3, cv=3, learners=["logreg", "hist_gb"], random_state=0
    ).fit(X, y)
    student = model.distill(X, learner="logreg", C=1.0)
    assert student.model_ is not None and student.params == {"C": 1.0}
    with pytest.warns(UserWarning, match="feature names"):  # as the ensemble does
        proba = student.predict_proba(X.to_numpy())
    assert proba.shape == (len(y), 3)
    np.testing.assert_array_equal(student.classes_, model.classes_)
    assert abs(student.validation_score_ - student.teacher_validation_score_) < 0.05
    with pytest.raises(ValueError, match="cannot weight rows"):
        model.distill(X, learner="knn")
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        model.distill(X, learner="logreg", not_a_param=1)


def test_regression_student():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = AutoEnsembleRegressor(
        n_trials=3, cv=3, learners=["ridge", "hist_gb"], calibration="auto"
    )
    model.fit(X, y)
    assert not hasattr(model, "calibration_")  # "auto" does nothing here
    student = model.distill(X)
    assert isinstance(student, DistilledRegressor)
    pred = student.predict(X)
    assert pred.shape == (len(y),) and pred.dtype == np.float64
    assert np.corrcoef(pred, model.predict(X))[0, 1] > 0.8
    assert student.metric_.score_name == "rmse"
    # RMSE: within 15 % of the ensemble's cross-validated error
    assert student.validation_score_ < 1.15 * student.teacher_validation_score_
    assert student.score(X, y) > 0.3  # R² on the fit rows (RegressorMixin)
