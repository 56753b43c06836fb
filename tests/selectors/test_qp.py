"""The exact QP selector: optimality against independent solvers, KKT, brute force."""

from __future__ import annotations

import numpy as np
import pytest
import qpsolvers
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize

from autoens.metrics import get_metric
from autoens.selectors import qp as qp_module
from autoens.selectors.qp import (
    QPSelector,
    brier_gap,
    gram_matrix,
    solve_mixture_log_loss,
    solve_simplex_qp,
)
from autoens.testing import check_selector, make_prediction_tensor

EPS32 = float(np.finfo(np.float32).eps)


def binary(*p1: list[float]) -> np.ndarray:
    p = np.asarray(p1, dtype=np.float32)
    return np.stack([1 - p, p], axis=2)


def row_weights(y: np.ndarray, n_classes: int, balanced: bool) -> np.ndarray:
    if not balanced:
        return np.full(y.size, 1.0 / y.size)
    counts = np.bincount(y, minlength=n_classes)
    a = 1.0 / (n_classes * counts[y])
    return a / a.sum()


# --- independent references: the objectives written directly on P --------------------


def brier_direct(P: np.ndarray, y: np.ndarray, a: np.ndarray, w: np.ndarray) -> float:
    """Σ_i a_i ‖Σ_k w_k P[k, i] − onehot(y_i)‖², in float64, no Gram matrix."""
    E = np.tensordot(w, P.astype(np.float64), axes=1)
    onehot = np.eye(P.shape[2])[y]
    return float(a @ ((E - onehot) ** 2).sum(axis=1))


def nll_direct(P: np.ndarray, y: np.ndarray, a: np.ndarray, w: np.ndarray) -> float:
    q = np.clip(P[:, np.arange(y.size), y].astype(np.float64), EPS32, None)
    return -float(a @ np.log(w @ q))


def slsqp(fun, n_models: int) -> np.ndarray:
    """scipy SLSQP over the simplex from several starts; the best point found."""
    best = None
    starts = [
        np.full(n_models, 1.0 / n_models),
        *np.eye(n_models) * 0.9 + 0.1 / n_models,
    ]
    for x0 in starts:
        res = minimize(
            fun,
            x0,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * n_models,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        x = np.clip(res.x, 0.0, None)
        x /= x.sum()
        if best is None or fun(x) < fun(best):
            best = x
    return best


# --- the shared contract --------------------------------------------------------------


@pytest.mark.parametrize(
    "selector",
    [
        QPSelector(),
        QPSelector(class_balanced=True),
        QPSelector(objective="log_loss"),
        QPSelector(objective="log_loss", class_balanced=True),
    ],
    ids=repr,
)
def test_contract(selector: QPSelector) -> None:
    check_selector(selector)


# --- the Gram matrix ------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 4])
def test_gram_matrix_matches_the_stacked_design_matrix(
    n_classes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    P, y = make_prediction_tensor(7, 90, n_classes, random_state=n_classes)
    a = np.random.default_rng(0).uniform(0.1, 2.0, size=90)
    A = (
        P.astype(np.float64).reshape(7, -1).T
        * np.repeat(np.sqrt(a), n_classes)[:, None]
    )
    target = np.eye(n_classes)[y].ravel() * np.repeat(np.sqrt(a), n_classes)
    G, b, const = gram_matrix(P, y, a)
    assert_allclose(G, A.T @ A, rtol=1e-12, atol=1e-12)
    assert_allclose(b, A.T @ target, rtol=1e-12, atol=1e-12)
    assert const == pytest.approx(target @ target, rel=1e-12)
    assert_array_equal(G, G.T)
    # row chunks of 2 rows give the same matrix
    monkeypatch.setattr(qp_module, "_GRAM_CHUNK_ELEMENTS", 2 * 7 * n_classes)
    G2, b2, _ = gram_matrix(P, y, a)
    assert_allclose(G2, G, rtol=1e-12, atol=1e-12)
    assert_allclose(b2, b, rtol=1e-12, atol=1e-12)
    # the quadratic form is the Brier objective
    w = np.random.default_rng(1).dirichlet(np.ones(7))
    assert w @ G @ w - 2 * b @ w + const == pytest.approx(
        brier_direct(P, y, a, w), rel=1e-10
    )


# --- Brier QP: optimality -------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(2, 6),
    n_classes=st.integers(2, 4),
    balanced=st.booleans(),
)
def test_brier_qp_is_the_optimum(
    seed: int, n_models: int, n_classes: int, balanced: bool
) -> None:
    P, y = make_prediction_tensor(n_models, 60, n_classes, random_state=seed)
    sel = QPSelector(class_balanced=balanced).fit(P, y, metric="brier")
    a = row_weights(y, n_classes, balanced)
    w = sel.qp_weights_
    f_qp = brier_direct(P, y, a, w)
    assert sel.objective_value_ == pytest.approx(f_qp, abs=1e-12)
    reference = slsqp(lambda v: brier_direct(P, y, a, v), n_models)
    f_ref = brier_direct(P, y, a, reference)
    assert f_qp <= f_ref + 1e-8
    # certified: the Frank–Wolfe gap bounds the distance to the optimum
    assert sel.optimality_gap_ < 1e-6
    assert f_qp - sel.optimality_gap_ <= f_ref + 1e-12
    # the optimum is unique when G is well conditioned: then the weights agree
    G, _, _ = gram_matrix(P, y, a)
    eig = np.linalg.eigvalsh(G)
    if eig[0] > 1e-3 * eig[-1]:
        assert_allclose(w, reference, atol=2e-4)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)


def test_brier_qp_kkt_conditions() -> None:
    P, y = make_prediction_tensor(12, 400, 3, random_state=5)
    sel = QPSelector().fit(P, y, metric="brier")
    G, b, _ = gram_matrix(P, y, row_weights(y, 3, False))
    w = sel.qp_weights_
    g = 2 * (G @ w - b)  # gradient of the Brier objective
    support = w > 0
    assert 1 < support.sum() < 12  # a real mixture, sparse
    mu = g[support].mean()
    scale = np.abs(g).max()
    # stationarity on the support, dual feasibility off it
    assert np.abs(g[support] - mu).max() <= 1e-6 * scale
    assert (g[~support] >= mu - 1e-6 * scale).all()
    assert brier_gap(G, b, w) == pytest.approx(sel.optimality_gap_)
    # weights below the cut-off are gone
    assert (w[w > 0] >= 1e-6).all()


def test_binary_brier_qp_equals_positive_column_least_squares() -> None:
    # For binary problems the positive-class column alone has the same
    # argmin (both columns carry the same squared error).
    P, y = make_prediction_tensor(5, 200, 2, random_state=11)
    F = P[:, :, 1].astype(np.float64).T
    G, b = F.T @ F, F.T @ y
    w_ref, _ = solve_simplex_qp(G, b)
    w = QPSelector().fit(P, y, metric="brier").qp_weights_
    assert_allclose(w, w_ref, atol=1e-6)


def test_clarabel_and_daqp_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    P, y = make_prediction_tensor(15, 300, 3, random_state=2)
    default = QPSelector().fit(P, y, metric="brier")
    assert default.solver_ == "clarabel"
    real = qpsolvers.solve_qp

    def clarabel_fails(*args, solver=None, **kwargs):
        if solver == "clarabel":
            return None  # what qpsolvers returns when a solver does not converge
        return real(*args, solver=solver, **kwargs)

    monkeypatch.setattr(qp_module.qpsolvers, "solve_qp", clarabel_fails)
    fallback = QPSelector().fit(P, y, metric="brier")
    assert fallback.solver_ == "daqp"
    assert_allclose(fallback.qp_weights_, default.qp_weights_, atol=1e-5)
    assert fallback.objective_value_ == pytest.approx(
        default.objective_value_, abs=1e-9
    )


def test_near_duplicate_models_stay_solvable() -> None:
    P, y = make_prediction_tensor(6, 300, 3, random_state=3)
    P = np.concatenate([P, P, P])  # G has rank 6 of 18
    sel = QPSelector().fit(P, y, metric="brier")
    single = QPSelector().fit(P[:6], y, metric="brier")
    assert sel.objective_value_ == pytest.approx(single.objective_value_, abs=1e-7)
    assert sel.weights_.sum() == pytest.approx(1.0)


# --- log-loss variant -----------------------------------------------------------------


def simplex_grid(n_models: int, steps: int) -> np.ndarray:
    """All points of the simplex with coordinates in multiples of 1/steps."""
    if n_models == 2:
        t = np.arange(steps + 1) / steps
        return np.stack([t, 1 - t], axis=1)
    i, j = np.meshgrid(np.arange(steps + 1), np.arange(steps + 1), indexing="ij")
    keep = i + j <= steps
    i, j = i[keep], j[keep]
    return np.stack([i, j, steps - i - j], axis=1) / steps


@pytest.mark.parametrize("n_models", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_log_loss_variant_matches_brute_force(n_models: int, seed: int) -> None:
    P, y = make_prediction_tensor(n_models, 150, 3, random_state=seed)
    a = row_weights(y, 3, False)
    sel = QPSelector(objective="log_loss").fit(P, y, metric="log_loss")
    steps = 2000 if n_models == 2 else 400
    grid = simplex_grid(n_models, steps)
    q = np.clip(P[:, np.arange(y.size), y].astype(np.float64), EPS32, None)
    values = -(np.log(grid @ q) @ a)
    best = int(np.argmin(values))
    f_qp = nll_direct(P, y, a, sel.qp_weights_)
    assert sel.objective_value_ == pytest.approx(f_qp, abs=1e-12)
    assert f_qp <= values[best] + 1e-12  # never worse than any grid point
    # and the argmin is within a grid cell (the objective is strictly convex here)
    assert np.abs(sel.qp_weights_ - grid[best]).max() <= 2.0 / steps + 1e-9
    assert sel.optimality_gap_ <= 1e-7


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(2, 7),
    n_classes=st.integers(2, 4),
    balanced=st.booleans(),
)
def test_log_loss_variant_beats_slsqp(
    seed: int, n_models: int, n_classes: int, balanced: bool
) -> None:
    P, y = make_prediction_tensor(n_models, 80, n_classes, random_state=seed)
    a = row_weights(y, n_classes, balanced)
    sel = QPSelector(objective="log_loss", class_balanced=balanced).fit(
        P, y, metric="log_loss"
    )
    reference = slsqp(lambda v: nll_direct(P, y, a, v), n_models)
    f_qp = nll_direct(P, y, a, sel.qp_weights_)
    assert f_qp <= nll_direct(P, y, a, reference) + 1e-8
    # the certificate: f(w) − min f ≤ gap
    assert sel.optimality_gap_ <= 1e-7
    assert f_qp - sel.optimality_gap_ <= nll_direct(P, y, a, reference) + 1e-12


def test_log_loss_gap_certificate_is_a_true_bound() -> None:
    # Stopped early, the reported gap still bounds the distance to the optimum.
    P, y = make_prediction_tensor(8, 300, 3, random_state=9)
    Q = P[:, np.arange(300), y].T
    exact, _, gap_exact, _ = solve_mixture_log_loss(Q)
    a = np.full(300, 1 / 300)
    f_star = nll_direct(P, y, a, exact)
    for max_iter in (1, 2, 3):
        w, n_iter, gap, _ = solve_mixture_log_loss(Q, max_iter=max_iter, tol=0.0)
        assert n_iter == max_iter
        assert nll_direct(P, y, a, w) - f_star <= gap + 1e-12
    assert gap_exact <= 1e-9


def test_log_loss_with_a_zero_probability_member() -> None:
    # A model that gives the true class probability 0 somewhere stays usable: member
    # probabilities are clipped at float32 eps, as the log-loss metric clips.
    P = binary([0.0, 0.9, 0.8, 0.1], [0.4, 0.6, 0.7, 0.3])
    y = np.array([1, 1, 1, 0])
    sel = QPSelector(objective="log_loss").fit(P, y, metric="log_loss")
    assert np.isfinite(sel.objective_value_)
    assert sel.qp_weights_[1] > 0


# --- the fallback and the plumbing ----------------------------------------------------


def test_falls_back_when_the_optimum_loses_on_the_target_metric() -> None:
    # A ranks perfectly but is barely confident; B is confident and mostly right. The
    # Brier optimum mixes in B (about 1/3), which costs ranking: by ROC AUC, A alone
    # is better.
    y = np.array([0, 0, 0, 1, 1, 1])
    A = [0.49, 0.495, 0.499, 0.501, 0.505, 0.51]
    B = [0.05, 0.1, 0.95, 0.9, 0.05, 0.95]
    P = binary(A, B)
    sel = QPSelector().fit(P, y, metric="roc_auc")
    assert 0.2 < sel.qp_weights_[1] < 0.5
    assert sel.used_single_best_
    assert_array_equal(sel.weights_, [1.0, 0.0])
    assert sel.validation_loss_ == 0.0
    assert sel.single_best_index_ == 0 and sel.single_best_loss_ == 0.0
    # by Brier the optimum is kept
    brier = QPSelector().fit(P, y, metric="brier")
    assert not brier.used_single_best_
    assert_allclose(brier.weights_, brier.qp_weights_)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(1, 6),
    metric=st.sampled_from(["roc_auc", "log_loss", "brier", "balanced_error_rate"]),
    objective=st.sampled_from(["brier", "log_loss"]),
)
def test_never_worse_than_single_best(
    seed: int, n_models: int, metric: str, objective: str
) -> None:
    P, y = make_prediction_tensor(n_models, 50, 3, random_state=seed)
    sel = QPSelector(objective=objective).fit(P, y, metric=metric)
    single = get_metric(metric).loss(y, P).min()
    assert sel.validation_loss_ <= single
    assert sel.used_single_best_ == (sel.validation_loss_ == sel.single_best_loss_)


def test_one_model() -> None:
    P, y = make_prediction_tensor(1, 40)
    for objective in ("brier", "log_loss"):
        sel = QPSelector(objective=objective).fit(P, y)
        assert_array_equal(sel.weights_, [1.0])


def test_class_balanced_weights_minority_rows() -> None:
    # Balanced weighting must change the optimum on imbalanced data: it is the
    # unweighted optimum of the data with the minority rows replicated.
    rng = np.random.default_rng(0)
    P, y = make_prediction_tensor(5, 120, 2, random_state=4)
    keep = np.flatnonzero((y == 1) | (rng.random(120) < 0.25))
    P, y = P[:, keep], y[keep]
    counts = np.bincount(y)
    assert counts[0] < counts[1]
    balanced = QPSelector(class_balanced=True).fit(P, y, metric="brier")
    # replicate each row of class c by n_other (so every class has equal total mass)
    reps = np.where(y == 0, counts[1], counts[0])
    idx = np.repeat(np.arange(y.size), reps)
    replicated = QPSelector().fit(P[:, idx], y[idx], metric="brier")
    assert_allclose(balanced.qp_weights_, replicated.qp_weights_, atol=1e-5)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"objective": "auc"}, r"'objective' .* must be a str among"),
        ({"ridge": -1.0}, r"'ridge' .* must be a float in the range \[0.0, 1.0\]"),
        ({"weight_cutoff": 0.9}, r"'weight_cutoff' .* in the range \[0.0, 0.5\]"),
        ({"ridge": "small"}, r"'ridge' .* must be a float"),
        ({"class_balanced": "yes"}, r"'class_balanced' .* an instance of 'bool'"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    P, y = make_prediction_tensor(3, 40)
    with pytest.raises(ValueError, match=match):
        QPSelector(**params).fit(P, y)
