"""Stacking: the honest inner-CV loss, the stacker's predictions, NNLS against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import nnls
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from autoens.metrics import get_metric
from autoens.selectors.stacking import NNLSStacking, StackingSelector
from autoens.testing import check_selector, make_prediction_tensor


def features(P: np.ndarray) -> np.ndarray:
    """The stacker's design matrix, written independently."""
    if P.shape[2] == 2:
        return P[:, :, 1].T.astype(np.float64)
    return np.concatenate([P[k] for k in range(P.shape[0])], axis=1).astype(np.float64)


@pytest.mark.parametrize(
    "selector",
    [StackingSelector(random_state=0), StackingSelector(C=0.1, cv=3), NNLSStacking()],
    ids=repr,
)
def test_contract(selector) -> None:
    check_selector(selector)


# --- logistic-regression stacking -----------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_inner_cv_loss_is_honest(n_classes: int) -> None:
    P, y = make_prediction_tensor(8, 300, n_classes, random_state=n_classes)
    sel = StackingSelector(C=0.5, cv=4, random_state=3).fit(P, y, metric="log_loss")
    # the same folds, fit with scikit-learn's own cross_val_predict
    seed = int(np.random.default_rng(3).integers(2**31 - 1))
    folds = StratifiedKFold(4, shuffle=True, random_state=seed)
    expected = cross_val_predict(
        LogisticRegression(C=0.5, max_iter=1000),
        features(P),
        y,
        cv=folds,
        method="predict_proba",
    )
    assert_allclose(sel.cv_predictions_, expected, atol=1e-6)
    metric = get_metric("log_loss")
    assert sel.validation_loss_ == metric.loss_single(y, sel.cv_predictions_)
    # in-sample is optimistic: the honest loss is the larger one
    assert sel.train_loss_ == metric.loss_single(y, sel.combine(P))
    assert sel.train_loss_ < sel.validation_loss_


@pytest.mark.parametrize("n_classes", [2, 4])
def test_combine_is_the_fitted_stacker(n_classes: int) -> None:
    P, y = make_prediction_tensor(6, 250, n_classes, random_state=7)
    sel = StackingSelector(random_state=0).fit(P, y)
    reference = LogisticRegression(max_iter=1000).fit(features(P), y)
    assert_allclose(sel.stacker_.coef_, reference.coef_, atol=1e-5)
    # new data: stacking (unlike the oracle) predicts rows it has never seen
    P_new, _ = make_prediction_tensor(6, 40, n_classes, random_state=8)
    assert_allclose(
        sel.combine(P_new), reference.predict_proba(features(P_new)), atol=1e-5
    )
    # binary drops the redundant column of each model: K features, one logit
    n_features = 6 if n_classes == 2 else 6 * n_classes
    assert sel.stacker_.coef_.shape[1] == n_features
    # weights_: each model's share of the absolute coefficient mass
    mass = np.abs(sel.stacker_.coef_).reshape(len(sel.stacker_.coef_), 6, -1)
    mass = mass.sum(axis=(0, 2))
    assert_allclose(sel.weights_, mass / mass.sum())
    assert_array_equal(sel.required_members_, np.arange(6))  # L2: nothing is zero


def test_a_class_missing_from_y_gets_probability_zero() -> None:
    P, y = make_prediction_tensor(5, 200, 3, random_state=1)
    y = np.where(y == 2, 1, y)
    sel = StackingSelector(random_state=0).fit(P, y, metric="log_loss")
    out = sel.combine(P)
    assert (out[:, 2] == 0).all()
    assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)
    assert (sel.cv_predictions_[:, 2] == 0).all()


def test_stacking_can_beat_every_weighted_average() -> None:
    # Two models that are each other's mirror image: averaging cancels them, while
    # the stacker learns the sign. The point of stacking (and its overfitting risk).
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.1, 400), 0.01, 0.99)
    P = np.stack([np.stack([1 - p, p], 1), np.stack([p, 1 - p], 1)]).astype(np.float32)
    sel = StackingSelector(random_state=0).fit(P, y, metric="roc_auc")
    nnls_sel = NNLSStacking().fit(P, y, metric="roc_auc")
    assert sel.validation_loss_ < 0.01
    assert nnls_sel.validation_loss_ >= sel.validation_loss_


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"C": 0.0}, r"'C' .* must be a float in the range \(0.0, inf\)"),
        ({"C": "1"}, "'C' parameter of StackingSelector must be a float"),
        ({"cv": 1}, r"'cv' .* must be an int in the range \[2, inf\)"),
        ({"random_state": "x"}, r"'random_state' .* must be"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    P, y = make_prediction_tensor(3, 40)
    with pytest.raises(ValueError, match=match):
        StackingSelector(**params).fit(P, y)


# --- NNLS stacking --------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(1, 8),
    n_classes=st.integers(2, 4),
)
def test_nnls_matches_scipy_on_the_design_matrix(
    seed: int, n_models: int, n_classes: int
) -> None:
    P, y = make_prediction_tensor(n_models, 70, n_classes, random_state=seed)
    A = P.astype(np.float64).reshape(n_models, -1).T  # (N·C, K), never built inside
    b = np.eye(n_classes)[y].ravel()
    coef, _ = nnls(A, b)
    sel = NNLSStacking().fit(P, y, metric="log_loss")
    residual = lambda x: np.sum((A @ x - b) ** 2)  # noqa: E731
    assert residual(sel.coef_) <= residual(coef) + 1e-9
    eig = np.linalg.eigvalsh(A.T @ A)
    if eig[0] > 1e-4 * eig[-1]:  # unique solution: the coefficients themselves agree
        assert_allclose(sel.coef_, coef, atol=1e-6)
        assert_allclose(sel.weights_, coef / coef.sum(), atol=1e-6)
    assert sel.weights_.sum() == pytest.approx(1.0) and sel.weights_.min() >= 0


def test_nnls_with_duplicated_models() -> None:
    # A rank-deficient Gram matrix: the minimum residual is still reached.
    P, y = make_prediction_tensor(4, 150, 3, random_state=5)
    P2 = np.concatenate([P, P])
    A = P2.astype(np.float64).reshape(8, -1).T
    b = np.eye(3)[y].ravel()
    coef, _ = nnls(A, b)
    sel = NNLSStacking().fit(P2, y)
    assert np.sum((A @ sel.coef_ - b) ** 2) == pytest.approx(
        np.sum((A @ coef - b) ** 2), rel=1e-9
    )
    assert_allclose(sel.combine(P2), np.tensordot(sel.weights_, P2, axes=1), atol=1e-6)


def test_nnls_all_zero_falls_back_to_single_best() -> None:
    # Every model gives the true class probability 0: NNLS coefficients are all 0.
    y = np.array([0, 1, 0, 1])
    P = np.zeros((2, 4, 2), dtype=np.float32)
    P[:, np.arange(4), 1 - y] = 1.0
    P[1, 0] = [0.0, 1.0]
    sel = NNLSStacking().fit(P, y, metric="log_loss")
    assert_array_equal(sel.coef_, [0.0, 0.0])
    assert sel.weights_.sum() == 1.0 and np.count_nonzero(sel.weights_) == 1
