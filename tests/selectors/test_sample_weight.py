"""Selectors fit with ``sample_weight``: the contract over every registered name, and
how each method uses the weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import nnls
from sklearn.linear_model import LogisticRegression

from autoens.metrics import get_metric
from autoens.selectors import (
    KNORAU,
    AutoSelector,
    BaseSelector,
    GreedyEnsembleSelection,
    LocalErrorWeighting,
    NNLSStacking,
    Oracle,
    QPSelector,
    SingleBest,
    StackingSelector,
    get_selector,
    selector_names,
)
from autoens.selectors import auto as auto_module
from autoens.selectors.qdo_descriptors import loss_correlation, residual_correlation
from autoens.selectors.qp import _row_weights, gram_matrix
from autoens.selectors.qp_regression import residual_gram
from autoens.selectors.stacking import _features
from autoens.selectors.stacking_regression import RidgeStacker, meta_weights
from autoens.testing import make_prediction_tensor, make_regression_tensor
from autoens.testing.selector_contract import check_sample_weights

FAST = {"n_iterations": 10}
SMALL_AUTO = ["ges", "qp", ("knora-u", {"k": 5})]


def _fast(name: str) -> BaseSelector:
    selector = get_selector(name, random_state=0)
    params = selector.get_params(deep=False)
    selector.set_params(**{k: v for k, v in FAST.items() if k in params})
    if isinstance(selector, AutoSelector):
        selector.set_params(cv=3)
    return selector


CASES = [
    (family, name)
    for family in ("classification", "regression")
    for name in selector_names(family)
]


@pytest.mark.parametrize(("family", "name"), CASES, ids=[f"{f}-{n}" for f, n in CASES])
def test_every_registered_selector_passes_the_weight_contract(
    family: str, name: str
) -> None:
    check_sample_weights(_fast(name), task=family)


# --- the contract catches broken selectors --------------------------------------------


class _DropsWeights(GreedyEnsembleSelection):
    """Broken: claims support, but its fit never passes the weights on."""

    def fit(self, P: Any, y: Any, *, sample_weight: Any = None, **kwargs: Any) -> Any:
        return super().fit(P, y, **kwargs)


class _SquaresWeights(QPSelector):
    """Broken: weights the Gram matrix by w² (not what repeated rows do)."""

    def _fit(self, P: Any, y: Any, X: Any = None, configs: Any = None) -> None:
        if self._sample_weight is not None:
            self._sample_weight = self._sample_weight**2
        super()._fit(P, y, X, configs)


class _Unsupported(SingleBest):
    _supports_sample_weight = False


def test_the_contract_catches_ignored_weights() -> None:
    with pytest.raises(AssertionError, match="weighted loss"):
        check_sample_weights(_DropsWeights(ensemble_size=5, random_state=0))


def test_the_contract_catches_weights_that_are_not_row_repeats() -> None:
    with pytest.raises(AssertionError, match="repeating rows"):
        check_sample_weights(_SquaresWeights())


def test_a_selector_without_weights_refuses_them() -> None:
    check_sample_weights(_Unsupported())  # refusing is part of the contract
    P, y = make_prediction_tensor(3, 40)
    with pytest.raises(ValueError, match="_Unsupported does not support sample_w"):
        _Unsupported().fit(P, y, sample_weight=np.arange(40.0))
    fitted = _Unsupported().fit(P, y, sample_weight=np.full(40, 3.0))  # equal: none
    assert_array_equal(fitted.weights_, SingleBest().fit(P, y).weights_)


# --- the base class -------------------------------------------------------------------


def test_fitted_selectors_do_not_keep_the_weights() -> None:
    P, y = make_prediction_tensor(4, 60)
    w = np.linspace(0.1, 2.0, 60)
    ges = GreedyEnsembleSelection(ensemble_size=5).fit(P, y, sample_weight=w)
    assert "_sample_weight" not in vars(ges) and ges._sample_weight is None
    broken = GreedyEnsembleSelection()
    with pytest.raises(ValueError, match="sample_weight must be 1-D"):
        broken.fit(P, y, sample_weight=w[:-1])
    assert "_sample_weight" not in vars(broken)
    with pytest.raises(ValueError, match="all zero"):
        broken.fit(P, y, sample_weight=np.zeros(60))


def test_weights_choose_the_model_that_is_best_where_the_weight_is() -> None:
    # Model 0 is right on the first half and a coin on the second; model 1 the reverse.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    good = np.where(y == 1, 0.9, 0.1)
    noise = rng.uniform(0, 1, 200)
    first = np.arange(200) < 100
    p1 = np.stack([np.where(first, good, noise), np.where(first, noise, good)])
    P = np.stack([1 - p1, p1], axis=2).astype(np.float32)
    for expert, w in enumerate([np.where(first, 5.0, 1.0), np.where(first, 1.0, 5.0)]):
        for metric in ("roc_auc", "log_loss", "error_rate", "brier"):
            sb = SingleBest().fit(P, y, metric=metric, sample_weight=w)
            assert sb.best_index_ == expert
            ges = GreedyEnsembleSelection(ensemble_size=1).fit(
                P, y, metric=metric, sample_weight=w
            )
            assert_array_equal(ges.weights_, np.eye(2)[expert])


# --- QP and NNLS: weighted Gram matrices ----------------------------------------------


def test_weighted_gram_matrices_equal_repeated_rows() -> None:
    P, y = make_prediction_tensor(5, 80, 3, random_state=1)
    counts = np.random.default_rng(1).integers(0, 4, 80)
    G, b, c = gram_matrix(P, y, counts.astype(float))
    Gr, br, cr = gram_matrix(np.repeat(P, counts, axis=1), np.repeat(y, counts))
    assert_allclose(G, Gr, rtol=1e-12)
    assert_allclose(b, br, rtol=1e-12)
    assert c == cr
    R, yr = make_regression_tensor(4, 70, random_state=2)
    counts = np.random.default_rng(2).integers(0, 4, 70)
    a = counts / counts.sum()
    G, _, _ = residual_gram(R, yr, a)
    Gr, _, _ = residual_gram(np.repeat(R, counts, axis=1), np.repeat(yr, counts))
    assert_allclose(G, Gr, rtol=1e-10)


def test_class_balanced_row_weights_give_each_class_an_equal_share() -> None:
    y = np.array([0, 0, 0, 1, 1, 2])
    w = np.array([1.0, 2.0, 0.0, 1.0, 1.0, 0.0])  # class 2 weighs nothing
    a = _row_weights(y, 3, True, w)
    assert_allclose([a[y == c].sum() for c in range(3)], [0.5, 0.5, 0.0])
    assert_allclose(a[:2], [1 / 6, 2 / 6])
    assert_array_equal(_row_weights(y, 3, True), _row_weights(y, 3, True, None))


def test_qp_log_loss_objective_is_the_weighted_mixture_likelihood() -> None:
    P, y = make_prediction_tensor(5, 120, 3, random_state=3)
    w = np.random.default_rng(3).uniform(0.0, 2.0, 120)
    qp = QPSelector(objective="log_loss").fit(P, y, metric="log_loss", sample_weight=w)
    Q = np.take_along_axis(P, y[None, :, None], axis=2)[..., 0].T.astype(float)
    nll = -(w @ np.log(np.clip(Q, np.finfo(np.float32).eps, None) @ qp.qp_weights_))
    assert qp.objective_value_ == pytest.approx(nll / w.sum(), rel=1e-12)
    assert qp.optimality_gap_ <= 1e-9


def test_nnls_solves_the_square_root_weighted_least_squares() -> None:
    P, y = make_prediction_tensor(4, 60, 2, random_state=4)
    w = np.random.default_rng(4).uniform(0.0, 3.0, 60)
    fitted = NNLSStacking().fit(P, y, sample_weight=w)
    A = P.transpose(1, 2, 0).reshape(-1, 4).astype(float)  # rows (sample, class)
    b = np.eye(2)[y].reshape(-1)
    root = np.sqrt(np.repeat(w, 2))
    expected, _ = nnls(A * root[:, None], b * root)
    assert_allclose(fitted.coef_, expected, atol=1e-8)


# --- stacking: the meta-learner gets the weights --------------------------------------


def test_meta_weights_are_mean_one_over_the_weighted_rows() -> None:
    assert meta_weights(None) is None
    assert meta_weights(np.zeros(3)) is None
    m = meta_weights(np.array([0.0, 2.0, 6.0, 0.0]))
    assert_allclose(m, [0.0, 0.5, 1.5, 0.0])


def test_stacking_fits_the_logistic_stacker_with_the_weights() -> None:
    P, y = make_prediction_tensor(4, 150, 3, random_state=5)
    w = np.random.default_rng(5).uniform(0.0, 3.0, 150)
    w[:10] = 0.0
    sel = StackingSelector(cv=3, random_state=0).fit(
        P, y, metric="log_loss", sample_weight=w
    )
    direct = LogisticRegression(C=1.0, max_iter=1000).fit(
        _features(P), y, sample_weight=meta_weights(w)
    )
    assert_allclose(sel.stacker_.coef_, direct.coef_, atol=1e-6)
    assert_allclose(sel.class_prior_, np.bincount(y, weights=w) / w.sum())
    metric = get_metric("log_loss")
    assert sel.validation_loss_ == metric.loss_single(y, sel.cv_predictions_, w)
    assert sel.train_loss_ == metric.loss_single(y, sel.combine(P), w)


def test_ridge_stacker_standardises_by_the_weighted_target() -> None:
    R, y = make_regression_tensor(4, 90, random_state=6)
    F = R[:, :, 0].T.astype(float)
    w = np.random.default_rng(6).uniform(0.0, 2.0, 90)
    keep = w > 0.5
    w[~keep] = 0.0
    weighted = RidgeStacker(1.0).fit(F, y, w)
    dropped = RidgeStacker(1.0).fit(F[keep], y[keep], w[keep])
    assert weighted.alpha_ == dropped.alpha_
    assert_allclose(weighted.coef_, dropped.coef_, rtol=1e-8)
    assert weighted.intercept_ == pytest.approx(dropped.intercept_, rel=1e-8)


# --- Oracle, dynamic, auto ------------------------------------------------------------


def test_oracle_weights_are_weighted_shares_and_it_still_reproduces_every_row() -> None:
    P, y = make_prediction_tensor(4, 50, 2, random_state=7)
    w = np.ones(50)
    plain = Oracle().fit(P, y, metric="log_loss")
    only = np.flatnonzero(np.bincount(plain.choice_, minlength=4) > 0)[-1]
    w[plain.choice_ == only] = 0.0  # the last winning model wins only weightless rows
    oracle = Oracle().fit(P, y, metric="log_loss", sample_weight=w)
    shares = np.bincount(oracle.choice_, weights=w, minlength=4) / w.sum()
    assert_allclose(oracle.weights_, shares)
    assert oracle.weights_[only] == 0.0 and only in oracle.required_members_
    assert_array_equal(oracle.combine(P), plain.combine(P))
    assert_array_equal(plain.required_members_, np.flatnonzero(plain.weights_))


def test_dynamic_competence_is_unweighted_and_its_loss_weighted() -> None:
    P, y = make_prediction_tensor(5, 100, 3, random_state=8)
    X = np.random.default_rng(8).normal(size=(100, 2))
    w = np.random.default_rng(9).uniform(0.0, 2.0, 100)
    plain = KNORAU().fit(P, y, metric="log_loss", X=X)
    weighted = KNORAU().fit(P, y, metric="log_loss", X=X, sample_weight=w)
    assert_array_equal(weighted.sample_weights(P, X), plain.sample_weights(P, X))
    loo = weighted.combine(P, X, exclude_self=True)
    assert weighted.validation_loss_ == get_metric("log_loss").loss_single(y, loo, w)
    R, yr = make_regression_tensor(5, 100, random_state=8)
    local = LocalErrorWeighting(k=10).fit(R, yr, metric="rmse", X=X, sample_weight=w)
    local_plain = LocalErrorWeighting(k=10).fit(R, yr, metric="rmse", X=X)
    assert_array_equal(local.sample_weights(R, X), local_plain.sample_weights(R, X))


def test_auto_weights_follow_the_subsample_and_the_inner_folds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    P, y = make_prediction_tensor(5, 160, 2, random_state=10)
    w = np.arange(1.0, 161.0)
    seen: list[tuple[np.ndarray, np.ndarray | None]] = []
    original = auto_module._fit_predict

    def recording(template, P_s, y_s, train, test, fold_X, configs, metric, sw=None):
        seen.append((train, sw))
        return original(template, P_s, y_s, train, test, fold_X, configs, metric, sw)

    monkeypatch.setattr(auto_module, "_fit_predict", recording)
    sel = AutoSelector(candidates=SMALL_AUTO[:2], cv=3, max_rows=90, random_state=0)
    sel.fit(P, y, metric="roc_auc", sample_weight=w)
    assert len(seen) == 6
    for _, sw in seen:
        assert_array_equal(sw, w[sel.cv_rows_])  # the subsample's weights
    # Refit on every row with every weight: the chosen selector's weighted loss.
    expected = get_metric("roc_auc").loss_single(y, sel.combine(P), w)
    assert sel.validation_loss_ == expected == sel.chosen_.validation_loss_


def test_auto_lists_a_candidate_that_refuses_weights_as_failed() -> None:
    P, y = make_prediction_tensor(4, 90, 2, random_state=11)
    w = np.random.default_rng(11).uniform(0.5, 2.0, 90)
    sel = AutoSelector(candidates=["ges", _Unsupported()], cv=3, random_state=0)
    sel.fit(P, y, metric="roc_auc", sample_weight=w)
    board = sel.selector_leaderboard_.set_index("candidate")
    assert "does not support sample_weight" in board.loc["_Unsupported", "error"]
    assert sel.chosen_name_ == "ges"


# --- QDO-ES descriptors ---------------------------------------------------------------


def test_weighted_descriptors_treat_weights_as_rows() -> None:
    P, y = make_prediction_tensor(5, 90, 3, random_state=12)
    counts = np.random.default_rng(12).integers(0, 4, 90)
    repeated = loss_correlation(np.repeat(P, counts, axis=1), np.repeat(y, counts))
    assert_allclose(loss_correlation(P, y, counts.astype(float)), repeated, atol=1e-6)
    R, yr = make_regression_tensor(5, 90, random_state=12)
    repeated = residual_correlation(np.repeat(R, counts, axis=1), np.repeat(yr, counts))
    assert_allclose(
        residual_correlation(R, yr, counts.astype(float)), repeated, atol=1e-6
    )
    assert_array_equal(loss_correlation(P, y, None), loss_correlation(P, y))
