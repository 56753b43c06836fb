"""CMA-ES: GES normalisation (golden cases, properties), budget, fallback, raw mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from autoens.metrics import get_metric
from autoens.selectors.cmaes import CMAESSelector, normalize_ges, raw_combine
from autoens.testing import check_selector, make_prediction_tensor


def binary(*p1: list[float]) -> np.ndarray:
    p = np.asarray(p1, dtype=np.float32)
    return np.stack([1 - p, p], axis=2)


def counts(w: list[float], T: int) -> list[int]:
    """normalize_ges of the point whose softmax is w, as integer counts."""
    out = normalize_ges(np.log(np.asarray(w)), T) * T
    assert_allclose(out, np.round(out), atol=1e-9)
    return np.round(out).astype(int).tolist()


# --- normalize_ges: golden cases (worked by hand from its docstring's rules) ----------


def test_normalize_no_fixup_needed() -> None:
    # T = 10: counts rint(4.4, 3.3, 1.6, 0.7) = (4, 3, 2, 1), already 10.
    assert counts([0.44, 0.33, 0.16, 0.07], 10) == [4, 3, 2, 1]


def test_normalize_trim_then_deficit_goes_to_the_largest() -> None:
    # 0.04 <= 0.5/10 is trimmed; rint(6.2, 3.4) = (6, 3) = 9; the missing count goes
    # to the largest member.
    assert counts([0.62, 0.34, 0.04], 10) == [7, 3, 0]
    # ties for the largest: the lowest index
    assert counts([0.34, 0.34, 0.32], 10) == [4, 3, 3]
    # half-way counts round to even: rint(2.5) = 2, so 8 of 10; deficit 2 -> +1 to
    # each of the two largest (all tie: the two lowest indices)
    assert counts([0.25, 0.25, 0.25, 0.25], 10) == [3, 3, 2, 2]


def test_normalize_deficit_remainder_goes_to_the_r_largest() -> None:
    # T = 20: rint(1.4, 6.4, 4.4, 6.4, 1.4) = (1, 6, 4, 6, 1) = 18; deficit 2 < 5
    # survivors -> +1 to each of the two largest (indices 1 and 3), not +2 to one.
    assert counts([0.07, 0.32, 0.22, 0.32, 0.07], 20) == [1, 7, 4, 7, 1]
    # T = 20, trim at 0.025: the 0.02s go; rint(5.4, 4.4, 3.4) = (5, 4, 3) = 12;
    # deficit 8 over 3 survivors: +2 each, remainder 2 -> +1 to the two largest.
    w = [0.27, 0.22, 0.17] + [0.02] * 17
    assert counts(w, 20) == [8, 7, 5] + [0] * 17
    # the largest need not come first: T = 12, rint(2.4, 3.4, 1.4, 3.4, 1.4) =
    # (2, 3, 1, 3, 1) = 10, deficit 2 -> indices 1 and 3 (the two 3s)
    assert counts([v / 12 for v in (2.4, 3.4, 1.4, 3.4, 1.4)], 12) == [2, 4, 1, 4, 1]
    # vectorised: the same rows in one batch give the same counts
    X = np.log(
        np.array([[0.07, 0.32, 0.22, 0.32, 0.07], [0.25, 0.25, 0.25, 0.25, 1e-9]])
    )
    assert_array_equal(np.rint(normalize_ges(X, 20) * 20)[0], [1, 7, 4, 7, 1])


def test_normalize_large_deficit_is_spread_evenly() -> None:
    # T = 20, trim at 0.025: fifteen members at 0.02 go; (6, 6, 2) = 14, deficit 6
    # -> +2 each.
    w = [0.3, 0.3, 0.1] + [0.02] * 15
    assert counts(w, 20) == [8, 8, 4] + [0] * 15
    # (6, 6, 1) = 13, deficit 7: +2 each, the remainder 1 to the largest (the first
    # of the tie)
    w = [0.3, 0.3, 0.06] + [0.02] * 17
    assert counts(w, 20) == [9, 8, 3] + [0] * 17


def test_normalize_excess_is_taken_from_the_smallest() -> None:
    # rint(3.6, 3.6, 2.8) = (4, 4, 3) = 11: the smallest loses one.
    assert counts([0.36, 0.36, 0.28], 10) == [4, 4, 2]
    # (2, 2, 2, 2, 2, 2) = 12: equal counts, the first two (stable order) lose one
    assert counts([0.17, 0.17, 0.17, 0.17, 0.16, 0.16], 10) == [1, 1, 2, 2, 2, 2]
    # rint(4.6, 4.6, 0.8) = (5, 5, 1) = 11: the single count goes, and its member
    assert counts([0.46, 0.46, 0.08], 10) == [5, 5, 0]


def test_normalize_zero_coordinates_are_unused() -> None:
    # The one-hot start point of CMA-ES is exactly that model.
    assert_array_equal(normalize_ges(np.array([0.0, 1.0, 0.0, 0.0])), [0, 1, 0, 0])
    # exactly-zero coordinates get no softmax mass even when the rest is negative
    x = np.array([0.0, -3.0, -3.0])
    assert_array_equal(normalize_ges(x, 10), [0.0, 0.5, 0.5])


def test_normalize_uniform_fallbacks() -> None:
    # all coordinates zero, or every weight trimmed: uniform 1/K
    assert_allclose(normalize_ges(np.zeros(4)), [0.25] * 4)
    x = np.full(200, 0.3)  # softmax 1/200 <= 0.5/50 everywhere
    assert_allclose(normalize_ges(x, 50), np.full(200, 1 / 200))


def test_normalize_is_vectorised_row_by_row() -> None:
    X = np.random.default_rng(0).normal(0, 1.5, size=(30, 12))
    X[3] = 0.0
    X[4, :6] = 0.0
    batch = normalize_ges(X, 7)
    assert_array_equal(batch, np.stack([normalize_ges(x, 7) for x in X]))


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    n_models=st.integers(1, 40),
    T=st.integers(1, 60),
    scale=st.floats(0.01, 10.0),
)
def test_normalize_properties(seed: int, n_models: int, T: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(0, scale, size=(5, n_models))
    X[rng.random(X.shape) < 0.2] = 0.0
    W = normalize_ges(X, T)
    assert W.shape == X.shape and (W >= 0).all()
    assert_allclose(W.sum(axis=1), 1.0, atol=1e-12)
    soft = np.where(
        X != 0, np.exp(X - np.where(X != 0, X, -np.inf).max(axis=1)[:, None]), 0
    )
    soft = soft / np.maximum(soft.sum(axis=1, keepdims=True), 1e-300)
    for w, x, s in zip(W, X, soft, strict=True):
        if np.allclose(w, 1.0 / n_models) and (
            (x == 0).all() or (s <= 0.5 / T + 1e-12).all()
        ):
            continue  # the uniform fallback
        # multiples of 1/T, summing to T counts
        c = w * T
        assert_allclose(c, np.round(c), atol=1e-9)
        # never uses an unused (exactly zero) coordinate or a trimmed weight
        assert (w[x == 0] == 0).all()
        assert (w[s <= 0.5 / T - 1e-12] == 0).all()


# --- the selector ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "selector",
    [
        CMAESSelector(n_iterations=8, random_state=0),
        CMAESSelector(n_iterations=8, normalize=None, random_state=0),
    ],
    ids=["ges", "raw"],
)
def test_contract(selector: CMAESSelector) -> None:
    check_selector(selector)


def test_finds_the_pair_that_beats_both_members() -> None:
    # y = [0, 0, 1, 1]: A and B each rank at AUC 3/4, any mix with 2/9 < a < 7/9 of
    # A against B ranks perfectly; C is constant.
    P = binary([0.2, 0.6, 0.4, 0.9], [0.6, 0.2, 0.9, 0.4], [0.5, 0.5, 0.5, 0.5])
    y = np.array([0, 0, 1, 1])
    for normalize in ("ges", None):
        sel = CMAESSelector(normalize=normalize, random_state=0).fit(P, y)
        assert not sel.used_single_best_
        assert sel.validation_loss_ == 0.0
        assert sel.weights_[0] > 0 and sel.weights_[1] > 0
    # ExplicitGES weights lie on the lattice of T = 50
    sel = CMAESSelector(random_state=0).fit(P, y)
    assert_allclose(sel.weights_ * 50, np.round(sel.weights_ * 50), atol=1e-9)
    assert_allclose(sel.weights_, normalize_ges(sel.raw_weights_, 50))


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(1, 8),
    n_classes=st.integers(2, 4),
    metric=st.sampled_from(["roc_auc", "log_loss", "brier", "balanced_error_rate"]),
    normalize=st.sampled_from(["ges", None]),
)
def test_never_worse_than_single_best(
    seed: int, n_models: int, n_classes: int, metric: str, normalize: str | None
) -> None:
    P, y = make_prediction_tensor(n_models, 60, n_classes, random_state=seed)
    sel = CMAESSelector(n_iterations=5, normalize=normalize, random_state=seed)
    sel.fit(P, y, metric=metric)
    single = get_metric(metric).loss(y, P).min()
    assert sel.validation_loss_ <= single
    if sel.used_single_best_:
        assert_array_equal(sel.weights_, np.eye(n_models)[sel.single_best_index_])
        assert sel.validation_loss_ == sel.single_best_loss_
    else:
        assert sel.validation_loss_ < single


@pytest.mark.parametrize(
    ("n_models", "n_iterations"), [(2, 6), (7, 6), (30, 6), (7, 2)]
)
def test_budget_is_spent_to_the_last_evaluation(
    n_models: int, n_iterations: int
) -> None:
    # (6·K − K) is never a multiple of λ here: a last partial generation spends the
    # remainder; (7, 2) has fewer evaluations left than one generation.
    P, y = make_prediction_tensor(n_models, 80, random_state=1)
    sel = CMAESSelector(n_iterations=n_iterations, random_state=0).fit(P, y)
    popsize = int(4 + 3 * math.log(n_models))
    left = n_iterations * n_models - n_models
    assert left % popsize != 0
    assert len(sel.trajectory_) == -(-left // popsize)  # ceil
    assert sel.n_evaluations_ == n_iterations * n_models


def test_one_model_spends_nothing() -> None:
    P, y = make_prediction_tensor(1, 50)
    sel = CMAESSelector(random_state=0).fit(P, y)
    assert sel.n_evaluations_ == 1 and sel.trajectory_.size == 0
    assert_array_equal(sel.weights_, [1.0])


def test_deterministic_silent_and_leaves_global_random_state_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    P, y = make_prediction_tensor(10, 150, 3, random_state=2)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = CMAESSelector(n_iterations=10, random_state=7).fit(P, y)
    b = CMAESSelector(n_iterations=10, random_state=7).fit(P, y)
    assert_array_equal(np.random.get_state()[1], before)
    assert_array_equal(a.raw_weights_, b.raw_weights_)
    assert_array_equal(a.trajectory_, b.trajectory_)
    c = CMAESSelector(n_iterations=10, random_state=8).fit(P, y)
    assert not np.array_equal(a.trajectory_, c.trajectory_)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # (and pytest turns warnings into errors)


def test_trajectory_is_what_the_objective_saw() -> None:
    # The best generation loss (float32 products of lattice weights) matches the
    # loss of the kept ensemble up to float32 rounding.
    P, y = make_prediction_tensor(12, 300, 2, random_state=3)
    sel = CMAESSelector(n_iterations=15, random_state=0).fit(P, y, metric="log_loss")
    assert not sel.used_single_best_
    assert sel.validation_loss_ == pytest.approx(sel.trajectory_.min(), abs=1e-6)


# --- raw weights ----------------------------------------------------------------------


def test_raw_combine_golden() -> None:
    P = np.array([[[0.8, 0.2], [0.4, 0.6]], [[0.5, 0.5], [0.1, 0.9]]], dtype=np.float32)
    # non-negative weights: the renormalised mixture
    out = raw_combine(np.array([[2.0, 2.0], [0.0, 0.0]]), P)
    assert_allclose(out[0], [[0.65, 0.35], [0.25, 0.75]], atol=1e-7)
    assert_allclose(out[1], [[0.65, 0.35], [0.25, 0.75]], atol=1e-7)  # zero: uniform
    # a negative weight: softmax over classes of the weighted sum
    out = raw_combine(np.array([[3.0, -1.0]]), P)[0]
    s = 3.0 * P[0] - P[1]
    expected = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    assert_allclose(out, expected, atol=1e-6)
    assert out.dtype == np.float32


def test_raw_mode_with_negative_weights() -> None:
    P, y = make_prediction_tensor(10, 300, 3, random_state=4)
    sel = CMAESSelector(n_iterations=20, normalize=None, random_state=0)
    sel.fit(P, y, metric="log_loss")
    raw = sel.raw_weights_
    assert not sel.is_weighted_average and not sel.used_single_best_
    assert (raw < 0).any()  # the case the contract's weights_ cannot express
    assert_allclose(sel.weights_, np.abs(raw) / np.abs(raw).sum())
    out = sel.combine(P)
    assert_allclose(out, raw_combine(raw[None], P)[0], atol=1e-6)
    assert sel.validation_loss_ == get_metric("log_loss").loss_single(y, out)
    # raw weights are a search, not a weighted average: combine is not weights_ @ P
    assert not np.allclose(out, np.tensordot(sel.weights_, P, axes=1), atol=1e-3)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_iterations": 0}, r"'n_iterations' .* an int in the range \[1, inf\)"),
        ({"ensemble_size": 0}, r"'ensemble_size' .* must be an int in the range \[1"),
        ({"normalize": "softmax"}, r"'normalize' .* must be a str among \{'ges'\}"),
        ({"sigma0": 0.0}, r"'sigma0' .* must be a float in the range \(0.0, inf\)"),
        ({"sigma0": math.inf}, r"'sigma0' .* a float in the range \(0.0, inf\)"),
        ({"random_state": "x"}, "'random_state' parameter of CMAESSelector must be"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    P, y = make_prediction_tensor(3, 40)
    with pytest.raises(ValueError, match=match):
        CMAESSelector(**params).fit(P, y)
