"""Selectors on regression libraries: the shared contract for every regression name,
the family API and refusals, and what each method promises for regression."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.optimize import nnls
from sklearn.base import clone

from autoens.metrics import get_metric
from autoens.selectors import (
    SELECTOR_NAMES,
    AffineQPSelector,
    BaseSelector,
    CMAESSelector,
    GreedyEnsembleSelection,
    LocalBest,
    LocalErrorWeighting,
    NNLSStacking,
    Oracle,
    QPSelector,
    QualityDiversityOptimizationES,
    SingleBest,
    StackingSelector,
    get_selector,
    selector_names,
)
from autoens.selectors.cmaes import raw_combine
from autoens.selectors.qdo_descriptors import residual_correlation
from autoens.selectors.qp import solve_simplex_qp
from autoens.selectors.registry import BUILTIN_SELECTORS
from autoens.testing import (
    check_selector,
    make_prediction_tensor,
    make_regression_tensor,
)

REGRESSION_NAMES = selector_names("regression")
CLASSIFICATION_ONLY = [n for n in SELECTOR_NAMES if n not in REGRESSION_NAMES]
REGRESSION_ONLY = [
    n for n in SELECTOR_NAMES if n not in selector_names("classification")
]

# Non-default settings of the regression-capable classes (the names run defaults).
VARIANTS: list[BaseSelector] = [
    GreedyEnsembleSelection(ensemble_size=8, init_sorted=2, use_best=False),
    CMAESSelector(n_iterations=10, normalize=None, random_state=0),
    StackingSelector(C=0.1, cv=3, random_state=0),
    AffineQPSelector(ridge=0.0),
    LocalErrorWeighting(k=5, power=3.0),
    LocalBest(k=3),
]


def _mse(y: np.ndarray, out: np.ndarray) -> float:
    return float(get_metric("mse").loss_single(y, out))


def local_experts(seed: int, n: int = 600, n_models: int = 6) -> tuple[Any, ...]:
    """Members accurate near their own point of X, worse with the distance to it: the
    library where competence is local."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, 2))
    f = np.sin(6 * X[:, 0]) + X[:, 1] ** 2
    y = 20 + 5 * (f + 0.2 * rng.normal(size=n))
    centres = rng.uniform(size=(n_models, 2))
    P = np.empty((n_models, n, 1), np.float32)
    for m in range(n_models):
        d = np.linalg.norm(X - centres[m], axis=1)
        P[m, :, 0] = 20 + 5 * (f + (0.1 + 1.5 * d) * rng.normal(size=n))
    return P, y, X


# --- the contract -----------------------------------------------------------------


@pytest.mark.parametrize("name", REGRESSION_NAMES)
def test_every_regression_name_passes_the_contract(name: str) -> None:
    check_selector(get_selector(name, random_state=0), task="regression")


@pytest.mark.parametrize("selector", VARIANTS, ids=repr)
def test_variants_pass_the_contract(selector: BaseSelector) -> None:
    check_selector(selector, task="regression")


class _IgnoresWeights(SingleBest):
    """Broken on purpose: combine() returns model 0 whatever was selected."""

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        return np.asarray(P, dtype=np.float32)[0]


def test_the_regression_contract_catches_a_broken_selector() -> None:
    with pytest.raises(AssertionError, match="combine"):
        check_selector(_IgnoresWeights(), task="regression")
    with pytest.raises(ValueError, match="task must be"):
        check_selector(SingleBest(), task="ranking")


# --- which names serve which family ---------------------------------------------------


def test_selector_names_per_family() -> None:
    assert selector_names() == SELECTOR_NAMES
    classification = selector_names("classification")
    assert set(classification) | set(REGRESSION_NAMES) == set(SELECTOR_NAMES)
    for name in ("ges", "qp", "stacking", "nnls-stacking", "cmaes-raw", "auto"):
        assert name in classification and name in REGRESSION_NAMES
    assert set(CLASSIFICATION_ONLY) == {
        "knora-e",
        "knora-u",
        "des-p",
        "knop",
        "ola",
        "meta-des",
        "qp-balanced",
        "qp-logloss",
    }
    assert set(REGRESSION_ONLY) == {"qp-affine", "des-local", "local-best"}
    assert BUILTIN_SELECTORS.names_for("regression") == tuple(
        n for n in REGRESSION_NAMES if n != "auto"
    )
    with pytest.raises(ValueError, match="Unknown task family 'ranking'"):
        selector_names("ranking")


@pytest.mark.parametrize("name", CLASSIFICATION_ONLY)
def test_classification_only_selectors_refuse_regression(name: str) -> None:
    P, y = make_regression_tensor(4, 60, random_state=0)
    X = np.random.default_rng(0).normal(size=(60, 2))
    selector = get_selector(name, random_state=0)
    assert "regression" not in selector.task_families
    with pytest.raises(ValueError) as info:
        selector.fit(P, y, metric="rmse", X=X)
    message = str(info.value)
    assert type(selector).__name__ in message
    assert "does not support regression" in message
    assert "des-local" in message and "qp" in message  # the alternatives
    assert "selector_names('regression')" in message


@pytest.mark.parametrize("name", REGRESSION_ONLY)
def test_regression_only_selectors_refuse_classification(name: str) -> None:
    P, y = make_prediction_tensor(4, 60)
    X = np.random.default_rng(0).normal(size=(60, 2))
    with pytest.raises(ValueError, match=r"does not support classification.*knora-e"):
        get_selector(name).fit(P, y, metric="log_loss", X=X)


def test_a_scorer_name_is_scored_for_the_family_of_P() -> None:
    P, y = make_regression_tensor(4, 80, random_state=2)
    sel = SingleBest().fit(P, y, metric="neg_median_absolute_error")
    assert sel.metric_.task.family == "regression"
    errors = np.abs(P[:, :, 0] - y)
    assert sel.best_index_ == int(np.argmin(np.median(errors, axis=1)))
    with pytest.raises(ValueError, match=r"n_classes >= 2.*regression metric: 'rmse'"):
        SingleBest().fit(P, y)  # the default metric, ROC AUC, scores classification


def test_auto_subsamples_regression_rows() -> None:
    P, y = make_regression_tensor(4, 300, random_state=14)
    sel = get_selector("auto", random_state=0)
    sel.set_params(candidates=["ges", "qp"], max_rows=100).fit(P, y, metric="rmse")
    rows = sel.cv_rows_
    assert rows.size == 100 and np.array_equal(rows, np.unique(rows))
    assert sel.cv_losses_.shape == (2, 5)


# --- GES, QO/QDO-ES, CMA-ES -----------------------------------------------------------


def test_ges_decisions_do_not_depend_on_the_target_units() -> None:
    # Powers of two scale float32 values and the RMSE exactly, so only the float-noise
    # guard can make decisions depend on the units: near-copies of the members tie
    # with them after rounding to 6 decimals, which an absolute guard does at scale
    # 1 but not at 2**-14 (losses below 1e-4 are not rounded); a relative one at
    # every scale.
    P, y = make_regression_tensor(6, 150, random_state=3)
    P = P - np.float32(np.mean(y))
    y = y - np.float32(np.mean(y))
    noise = np.random.default_rng(0).standard_normal(P.shape).astype(np.float32)
    P = np.concatenate([P, P * (1 + np.float32(3e-7) * noise)])
    fits = [
        GreedyEnsembleSelection(random_state=0).fit(P * s, y * s, metric="rmse")
        for s in (2.0**-14, 1.0, 2.0**14)
    ]
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.indices_, fits[0].indices_)


def test_qdo_uses_residual_correlation_for_regression() -> None:
    P, y = make_regression_tensor(6, 200, random_state=4)
    configs = [{"learner": f"l{k % 2}", "params": {"a": float(k)}} for k in range(6)]
    sel = QualityDiversityOptimizationES(n_iterations=5, random_state=0)
    sel.fit(P, y, metric="rmse", configs=configs)
    assert sel.descriptor_names_ == ("residual_correlation", "config_similarity")
    assert ((sel.archive_descriptors_ >= 0) & (sel.archive_descriptors_ <= 1)).all()


def test_residual_correlation_values() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=300) + 100.0
    e = rng.normal(size=(3, 300))
    P = np.stack([y + e[0], y - e[0], y + e[1], y + 0.5 * e[0]])[:, :, None]
    D = residual_correlation(P.astype(np.float32), y)
    assert D[0, 1] == pytest.approx(0.0, abs=1e-3)  # opposite errors: most diverse
    assert D[0, 3] == pytest.approx(1.0, abs=1e-3)  # same error, scaled
    rho = np.corrcoef(e[0], e[1])[0, 1]
    assert D[0, 2] == pytest.approx((1 + rho) / 2, abs=1e-3)
    assert np.all(np.diag(D) == 0) and np.allclose(D, D.T)


def test_cmaes_raw_combines_values_linearly() -> None:
    P, y = make_regression_tensor(5, 200, random_state=5)
    sel = CMAESSelector(n_iterations=20, normalize=None, random_state=0)
    sel.fit(P, y, metric="rmse")
    assert not sel.used_single_best_
    expected = np.tensordot(sel.raw_weights_, P.astype(np.float64), axes=1)
    np.testing.assert_allclose(sel.combine(P), expected, rtol=1e-5)
    W = np.array([[2.0, -1.0, 0, 0, 0], [0.5, 0.5, 0, 0, 0]])
    E = raw_combine(W, P, linear=True)
    np.testing.assert_allclose(E[0], 2 * P[0] - P[1], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(E[1], 0.5 * (P[0] + P[1]), rtol=1e-6)


# --- QP and its affine variant -------------------------------------------------------


def test_qp_solves_the_paper_formulation() -> None:
    # Echtenbruck et al.: min ||F w - y||^2 over the simplex with G = FᵀF, b = Fᵀy.
    # The residual form must give the same optimum.
    P, y = make_regression_tensor(8, 300, random_state=6)
    sel = QPSelector(weight_cutoff=0.0).fit(P, y, metric="mse")
    F = P[:, :, 0].astype(np.float64)
    w_ref, _ = solve_simplex_qp(F @ F.T, F @ y)
    np.testing.assert_allclose(sel.qp_weights_, w_ref, atol=2e-4)
    assert sel.objective_value_ == pytest.approx(_mse(y, sel.combine(P)), rel=1e-5)
    assert sel.optimality_gap_ < 1e-6 * sel.objective_value_
    ges = GreedyEnsembleSelection(random_state=0).fit(P, y, metric="mse")
    assert sel.validation_loss_ <= ges.validation_loss_ * (1 + 1e-6)


def test_qp_weights_do_not_depend_on_scale_or_offset() -> None:
    P, y = make_regression_tensor(6, 300, random_state=7)
    base = QPSelector().fit(P, y, metric="rmse").weights_
    scaled = QPSelector().fit(P * 8.0, y * 8.0, metric="rmse").weights_
    np.testing.assert_allclose(scaled, base, atol=1e-6)
    shifted = QPSelector().fit(P + 500.0, y + 500.0, metric="rmse").weights_
    np.testing.assert_allclose(shifted, base, atol=5e-3)


def test_affine_weights_sum_to_one_and_fit_at_least_as_well_as_the_simplex() -> None:
    P, y = make_regression_tensor(10, 400, random_state=8)
    affine = AffineQPSelector(ridge=0.0).fit(P, y, metric="mse")
    simplex = QPSelector().fit(P, y, metric="mse")
    w = affine.affine_weights_
    assert w.sum() == pytest.approx(1.0) and (w < 0).any()
    assert not affine.is_weighted_average
    np.testing.assert_allclose(affine.weights_, np.abs(w) / np.abs(w).sum())
    expected = np.tensordot(w, P.astype(np.float64), axes=1)
    np.testing.assert_allclose(affine.combine(P), expected, rtol=1e-5)
    assert affine.validation_loss_ <= simplex.validation_loss_ * (1 + 1e-6)


# --- stacking -------------------------------------------------------------------------


def test_ridge_stacker_corrects_scale_and_offset() -> None:
    rng = np.random.default_rng(9)
    y = rng.normal(50.0, 10.0, size=400)
    # Members that shrink and shift the target: no convex mixture can undo that.
    P = np.stack(
        [0.5 * y + 3 + rng.normal(0, 1, 400), 0.3 * y - 7 + rng.normal(0, 1, 400)]
    )[:, :, None].astype(np.float32)
    sel = StackingSelector(random_state=0).fit(P, y, metric="rmse")
    single = SingleBest().fit(P, y, metric="rmse")
    assert sel.validation_loss_ < 0.2 * single.validation_loss_
    assert sel.train_loss_ <= sel.validation_loss_
    F = P[:, :, 0].T.astype(np.float64)
    expected = F @ sel.stacker_.coef_ + sel.stacker_.intercept_
    np.testing.assert_allclose(sel.combine(P)[:, 0], expected, rtol=1e-5)
    assert sel.cv_predictions_.shape == (400, 1)


def test_nnls_stacking_is_superlearner_nnls() -> None:
    P, y = make_regression_tensor(6, 300, random_state=10)
    sel = NNLSStacking().fit(P, y, metric="rmse")
    coef, _ = nnls(P[:, :, 0].T.astype(np.float64), y)
    np.testing.assert_allclose(sel.coef_, coef, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sel.weights_, coef / coef.sum(), rtol=1e-4, atol=1e-6)


# --- oracle ---------------------------------------------------------------------------


def test_oracle_picks_the_closest_member_per_row() -> None:
    P, y = make_regression_tensor(5, 100, random_state=11)
    sel = Oracle().fit(P, y, metric="rmse")
    choice = np.abs(P[:, :, 0] - y).argmin(axis=0)
    np.testing.assert_array_equal(sel.choice_, choice)
    np.testing.assert_array_equal(sel.combine(P), P[choice, np.arange(100)])
    assert sel.validation_loss_ <= get_metric("rmse").loss(y, P).min()
    assert Oracle.score_upper_bound(P, y, "rmse") == pytest.approx(sel.validation_loss_)
    np.testing.assert_array_equal(Oracle.oracle_predictions(P, y), sel.combine(P))
    with pytest.raises(ValueError, match="benchmark bound"):
        sel.combine(P + 1.0)


# --- dynamic selection ----------------------------------------------------------------


def test_des_local_beats_static_weights_where_competence_is_local() -> None:
    P, y, X = local_experts(0)
    fit, test = slice(0, 400), slice(400, None)
    rmse = get_metric("rmse")
    des = LocalErrorWeighting().fit(P[:, fit], y[fit], metric="rmse", X=X[fit])
    qp = QPSelector().fit(P[:, fit], y[fit], metric="rmse")
    des_loss = rmse.loss_single(y[test], des.combine(P[:, test], X=X[test]))
    qp_loss = rmse.loss_single(y[test], qp.combine(P[:, test]))
    assert des_loss < 0.95 * qp_loss


def test_local_errors_and_weights_match_a_brute_force_computation() -> None:
    P, y, X = local_experts(1, n=120)
    for metric, power in (("rmse", 1.0), ("mae", 2.0)):
        sel = LocalErrorWeighting(k=9, power=power).fit(P, y, metric=metric, X=X)
        best = LocalBest(k=9).fit(P, y, metric=metric, X=X)
        query = X[:7] + 0.01
        W = sel.sample_weights(P[:, :7], X=query)
        B = best.sample_weights(P[:, :7], X=query)
        for i in range(7):
            nbr = np.argsort(np.linalg.norm(X - query[i], axis=1), kind="stable")[:9]
            err = P[:, nbr, 0].astype(np.float64) - y[nbr]
            local = (np.abs(err) if metric == "mae" else err**2).mean(axis=1)
            expected = local**-power / (local**-power).sum()
            np.testing.assert_allclose(W[i], expected, rtol=1e-6)
            assert B[i].argmax() == local.argmin() and B[i].sum() == 1.0
        assert sel.error_kind_ == ("absolute" if metric == "mae" else "squared")


def test_dynamic_regression_needs_X_and_fit_rows_for_exclude_self() -> None:
    P, y, X = local_experts(2, n=80)
    with pytest.raises(ValueError, match="pass X"):
        LocalErrorWeighting().fit(P, y, metric="rmse")
    sel = LocalErrorWeighting(k=5).fit(P, y, metric="rmse", X=X)
    with pytest.raises(ValueError, match="exclude_self=True needs the fit rows"):
        sel.combine(P, X=X + 1.0, exclude_self=True)
    with pytest.raises(ValueError, match="features"):
        sel.combine(P, X=X[:, :1])
    with pytest.warns(UserWarning, match="using k=79"):
        clone(sel).set_params(k=200).fit(P, y, metric="rmse", X=X)


# --- auto -----------------------------------------------------------------------------


def test_auto_chooses_among_the_regression_candidates() -> None:
    P, y, X = local_experts(1)
    sel = get_selector("auto", random_state=0).fit(P, y, metric="rmse", X=X)
    board = sel.selector_leaderboard_
    assert set(board["candidate"]) == {"ges", "qp", "stacking", "des-local"}
    assert (board["error"] == "").all()
    assert sel.chosen_name_.startswith("des-local")
    assert sel.is_dynamic
    out = sel.combine(P, X=X)
    assert out.shape == (600, 1) and out.dtype == np.float32


def test_auto_skips_candidates_of_the_other_family() -> None:
    P, y = make_regression_tensor(5, 150, random_state=12)
    sel = get_selector("auto", random_state=0)
    sel.set_params(candidates=["ges", "knora-u", ("qp-logloss", {})]).fit(
        P, y, metric="mae"
    )
    board = sel.selector_leaderboard_.set_index("candidate")
    assert board.loc["knora-u", "error"] == "skipped: does not support regression"
    assert board.loc["qp-logloss", "error"] == "skipped: does not support regression"
    assert sel.chosen_name_ == "ges"


# --- the tensor generator -------------------------------------------------------------


def test_make_regression_tensor() -> None:
    P, y = make_regression_tensor(9, 300, random_state=13)
    assert P.shape == (9, 300, 1) and P.dtype == np.float32
    assert y.shape == (300,) and y.dtype == np.float64
    again, y_again = make_regression_tensor(9, 300, random_state=13)
    np.testing.assert_array_equal(P, again)
    np.testing.assert_array_equal(y, y_again)
    residuals = P[:, :, 0] - y
    corr = np.corrcoef(residuals)
    assert corr[np.triu_indices(9, 1)].min() > 0  # shared noise: correlated errors
    assert len(np.unique(P[2])) <= 12 < len(np.unique(P[0]))  # leaf-like model
    with pytest.raises(ValueError, match="n_models >= 1"):
        make_regression_tensor(0, 10)
