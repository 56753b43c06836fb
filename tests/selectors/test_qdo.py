"""QO-ES and QDO-ES: the shared contract, the paper's rules, archive invariants,
goldens."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from autoens.metrics import get_metric
from autoens.selectors import SingleBest
from autoens.selectors.qdo import (
    QualityDiversityOptimizationES,
    QualityOptimizationES,
    config_similarity,
    ensemble_descriptors,
    loss_correlation,
)
from autoens.testing import check_selector, make_prediction_tensor

CLASSES = [QualityOptimizationES, QualityDiversityOptimizationES]
METRICS = ["roc_auc", "log_loss", "brier", "balanced_error_rate"]


def configs_for(n_models: int) -> list[dict[str, Any]]:
    return [
        {
            "learner": ["knn", "tree", "logreg"][k % 3],
            "params": {"alpha": float(k), "depth": k % 4, "kind": "ab"[k % 2]},
        }
        for k in range(n_models)
    ]


def binary(*p1: list[float]) -> np.ndarray:
    """(K, N, 2) from the positive-class probabilities of each model."""
    p = np.asarray(p1, dtype=np.float32)
    return np.stack([1 - p, p], axis=2)


def canonical_loss(metric: str, y: np.ndarray, P: np.ndarray, counts: Any) -> float:
    """Loss of sum(c_k * P_k) / sum(c) in float32, members in index order (the
    arithmetic the selectors' combine() documents)."""
    S = np.zeros(P.shape[1:], dtype=np.float32)
    for k in np.flatnonzero(counts):
        S = S + np.float32(counts[k]) * P[k]
    return get_metric(metric).loss_single(y, S / np.float32(np.sum(counts)))


def better(loss: float, reference: float) -> bool:
    """The final step's comparison: strict after rounding to 6 decimals (GES's float
    noise guard), exact near zero."""
    if abs(reference) > 1e-4:
        return round(loss, 6) < round(reference, 6)
    return loss < reference


def grid_cells(desc: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    """Independent cell index: bin i of a dimension holds [e_i, e_i+1), outliers go
    to the outer bins."""
    index = np.zeros(len(desc), dtype=np.int64)
    for d, e in enumerate(edges):
        n_bins = len(e) - 1
        col = np.array(
            [sum(v >= edge for edge in e[1:-1]) for v in desc[:, d]], dtype=np.int64
        )
        assert col.min(initial=0) >= 0 and col.max(initial=0) < n_bins
        index = index * n_bins + col
    return index


# --- the shared contract --------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_selector_contract(cls: type) -> None:
    check_selector(cls(random_state=0))


@pytest.mark.parametrize("cls", CLASSES)
def test_deterministic_under_random_state(cls: type) -> None:
    P, y = make_prediction_tensor(12, 150, 3, random_state=5)
    fits = [
        cls(n_iterations=15, random_state=3).fit(
            P, y, metric="roc_auc", configs=configs_for(12)
        )
        for _ in range(2)
    ]
    assert_array_equal(fits[0].counts_, fits[1].counts_)
    assert_array_equal(fits[0].archive_counts_, fits[1].archive_counts_)
    assert_array_equal(fits[0].evaluated_losses_, fits[1].evaluated_losses_)
    rng = np.random.default_rng(3)
    by_generator = cls(n_iterations=15, random_state=rng).fit(
        P, y, metric="roc_auc", configs=configs_for(12)
    )
    assert by_generator.evaluated_losses_.size == fits[0].evaluated_losses_.size


# --- budget, fallback and the final step -------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(("n_models", "n_iterations"), [(2, 50), (7, 9), (15, 4)])
def test_budget_is_n_iterations_times_models(
    cls: type, n_models: int, n_iterations: int
) -> None:
    P, y = make_prediction_tensor(n_models, 80, 2, random_state=n_models)
    sel = cls(n_iterations=n_iterations, batch_size=7, random_state=0).fit(
        P, y, metric="log_loss", configs=configs_for(n_models)
    )
    budget = n_iterations * n_models
    assert sel.n_evaluations_ <= budget
    # K singles + every archive offer + 1 or 2 final evaluations
    finals = sel.n_evaluations_ - n_models - sel.evaluated_losses_.size
    assert finals in (1, 2)
    assert sel.n_evaluations_ >= budget - 1  # the search spends what it may
    assert sel.val_loss_history_.size == -(-(n_models // 2) // 7) + math.ceil(
        (budget - n_models - 2 - n_models // 2) / 7
    )


@pytest.mark.parametrize("cls", CLASSES)
def test_tiny_budgets_fall_back_to_single_best(cls: type) -> None:
    P, y = make_prediction_tensor(5, 60, 2, random_state=1)
    best = SingleBest().fit(P, y, metric="roc_auc").best_index_
    sel = cls(n_iterations=1).fit(P, y, metric="roc_auc")
    assert sel.n_evaluations_ == 5
    assert sel.final_choice_ == "single_best" and sel.archive_size_ == 0
    assert_array_equal(sel.weights_, np.eye(5)[best])
    one = cls().fit(P[:1], y, metric="roc_auc")
    assert one.n_evaluations_ == 1 and one.weights_.tolist() == [1.0]


@pytest.mark.parametrize("cls", CLASSES)
def test_final_step_is_merge_or_best_elite_then_single_best(cls: type) -> None:
    for seed in range(6):
        P, y = make_prediction_tensor(10, 100, 2 + seed % 2, random_state=seed)
        metric = ["log_loss", "roc_auc"][seed % 2]
        sel = cls(n_iterations=12, random_state=seed).fit(
            P, y, metric=metric, configs=configs_for(10)
        )
        losses = [canonical_loss(metric, y, P, c) for c in sel.archive_counts_]
        order = np.lexsort((np.arange(len(losses)), sel.archive_losses_))
        best = sel.archive_counts_[order[0]]
        merged = sel.archive_counts_.sum(axis=0)
        best_loss = canonical_loss(metric, y, P, best)
        merged_loss = canonical_loss(metric, y, P, merged)
        pick, pick_loss = ("best_elite", best), best_loss
        if better(merged_loss, best_loss):
            pick, pick_loss = ("merged", merged), merged_loss
        single = SingleBest().fit(P, y, metric=metric)
        if not better(pick_loss, single.validation_loss_):
            pick = ("single_best", np.eye(10, dtype=int)[single.best_index_])
        assert sel.final_choice_ == pick[0]
        assert_allclose(sel.weights_, pick[1] / pick[1].sum())
        # The archive's incrementally summed losses are the members' losses up to
        # float32 rounding, which can flip a near-tie between rows in ROC AUC.
        tol = 1e-5 if metric == "log_loss" else 2e-3
        assert_allclose(sel.archive_losses_, losses, atol=tol)


def test_quality_archive_keeps_the_best_solutions() -> None:
    P, y = make_prediction_tensor(20, 100, 2, random_state=2)
    sel = QualityOptimizationES(n_iterations=10, max_elites=16, random_state=0)
    sel.fit(P, y, metric="log_loss")
    assert sel.archive_size_ == 16
    assert_array_equal(
        np.sort(sel.archive_losses_), np.sort(sel.evaluated_losses_)[:16]
    )
    assert sel.descriptor_names_ == ()


@pytest.mark.parametrize("cls", CLASSES)
def test_operator_probabilities_stay_in_range(cls: type) -> None:
    P, y = make_prediction_tensor(16, 100, 2, random_state=4)
    sel = cls(n_iterations=30, batch_size=10, random_state=0).fit(
        P, y, metric="roc_auc", configs=configs_for(16)
    )
    probs = sel.operator_probabilities_
    assert 0.1 <= probs["crossover"] <= 0.9
    assert 0.1 <= probs["mutation"] <= 0.9
    assert 0.05 <= probs["explore"] <= 0.95
    assert probs != {"crossover": 0.5, "mutation": 0.5, "explore": 0.5}


# --- goldens --------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_golden_two_complementary_models_are_both_selected(cls: type) -> None:
    # A is right and sure on rows 0-3 and unsure on 4-7; B the mirror image. The log
    # loss of w*A + (1-w)*B is symmetric and convex in w: the optimum is 1:1.
    sure, unsure = [0.9] * 4, [0.5] * 4
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    flip = np.where(y == 1, 1.0, 0.0)
    true_a = np.array(sure + unsure)
    true_b = np.array(unsure + sure)
    P = binary(
        np.where(flip == 1, true_a, 1 - true_a), np.where(flip == 1, true_b, 1 - true_b)
    )
    sel = cls(random_state=0).fit(P, y, metric="log_loss", configs=configs_for(2))
    assert_array_equal(sel.weights_, [0.5, 0.5])
    ll = -(4 * math.log(0.7)) / 4
    assert sel.validation_loss_ == pytest.approx(ll, rel=1e-6)
    assert (
        sel.validation_loss_
        < SingleBest().fit(P, y, metric="log_loss").validation_loss_
    )


@pytest.mark.parametrize("cls", CLASSES)
def test_golden_perfect_or_identical_models_give_the_single_best(cls: type) -> None:
    P, y = make_prediction_tensor(6, 80, 2, random_state=0)
    P[3] = np.eye(2, dtype=np.float32)[y] * 0.8 + 0.1  # ranks every row right
    sel = cls(random_state=0).fit(P, y, metric="roc_auc", configs=configs_for(6))
    assert sel.validation_loss_ == 0.0
    assert sel.final_choice_ == "single_best"
    assert_array_equal(sel.weights_, np.eye(6)[3])
    same = np.repeat(P[:1], 4, axis=0)
    sel = cls(random_state=0).fit(same, y, metric="log_loss")
    assert_array_equal(sel.weights_, [1.0, 0, 0, 0])


# --- descriptors ----------------------------------------------------------------------


def test_loss_correlation_matches_numpy() -> None:
    P, y = make_prediction_tensor(7, 90, 3, random_state=8)
    P[4] = np.float32(1 / 3)  # constant loss: undefined correlation counts as 0
    losses = 1.0 - P[:, np.arange(90), y].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.abs(np.corrcoef(losses))
    expected[np.isnan(expected)] = 0.0
    np.fill_diagonal(expected, 0.0)
    assert_allclose(loss_correlation(P, y), expected, atol=1e-5)


def test_config_similarity_golden() -> None:
    configs = [
        {"learner": "tree", "params": {"depth": 2, "crit": "gini", "lr": 0.1}},
        {"learner": "tree", "params": {"depth": 6, "crit": "gini"}},
        {"learner": "tree", "params": {"depth": 10, "crit": "entropy", "w": [1]}},
        {"learner": "knn", "params": {"k": 5, "w": [1]}},
    ]
    sim = config_similarity(configs)
    # depth range 8; keys shared: learner, depth, crit (lr and w only in one/two)
    assert sim[0, 1] == pytest.approx((1 + (1 - 4 / 8) + 1) / 3)
    assert sim[0, 2] == pytest.approx((1 + 0 + 0) / 3)
    assert sim[1, 2] == pytest.approx((1 + 0.5 + 0) / 3)
    # tree vs knn share the learner key (0) and, for model 2, the list w (equal: 1)
    assert sim[0, 3] == 0.0
    assert sim[2, 3] == pytest.approx(0.5)
    assert_array_equal(sim, sim.T)
    assert np.all(np.diag(sim) == 0.0)
    with pytest.raises(ValueError, match=r"configs\[1\] must be a dict"):
        config_similarity([{"learner": "a", "params": {}}, ["not", "a", "dict"]])
    with pytest.raises(ValueError, match=r"configs\[0\]"):
        config_similarity([{"learner": "a", "params": 3}])


def test_ensemble_descriptors_are_pair_means_and_one_for_single_models() -> None:
    rng = np.random.default_rng(0)
    A = rng.uniform(size=(5, 5))
    A = (A + A.T) / 2
    np.fill_diagonal(A, 0.0)
    counts = np.array([[0, 3, 0, 0, 0], [1, 2, 0, 4, 0], [1, 1, 1, 1, 1]])
    got = ensemble_descriptors(counts, A)
    assert got[0] == 1.0
    assert got[1] == pytest.approx((A[0, 1] + A[0, 3] + A[1, 3]) / 3)
    assert got[2] == pytest.approx(A[np.triu_indices(5, 1)].mean())


def test_qdo_without_configs_uses_a_one_dimensional_grid() -> None:
    P, y = make_prediction_tensor(10, 100, 2, random_state=3)
    sel = QualityDiversityOptimizationES(n_iterations=20, random_state=0)
    sel.fit(P, y, metric="roc_auc")
    assert sel.descriptor_names_ == ("loss_correlation",)
    assert len(sel.archive_boundaries_) == 1 and sel.archive_boundaries_[0].size == 50
    assert sel.archive_descriptors_.shape == (sel.archive_size_, 1)
    with_configs = QualityDiversityOptimizationES(n_iterations=20, random_state=0)
    with_configs.fit(P, y, metric="roc_auc", configs=configs_for(10))
    assert [e.size for e in with_configs.archive_boundaries_] == [8, 8]
    with pytest.raises(ValueError, match="must be a dict"):
        QualityDiversityOptimizationES().fit(P, y, configs=list(range(10)))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_iterations": 0}, r"'n_iterations' .* must be an int in the range \[1"),
        ({"batch_size": 0}, r"'batch_size' .* must be an int in the range \[1"),
        ({"max_elites": 1.5}, r"'max_elites' .* must be an int"),
        ({"random_state": "x"}, r"'random_state' .* must be"),
    ],
)
def test_bad_parameters(cls: type, params: dict, match: str) -> None:
    P, y = make_prediction_tensor(3, 40)
    with pytest.raises(ValueError, match=match):
        cls(**params).fit(P, y)


# --- properties -----------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(2, 9),
    n_classes=st.integers(2, 3),
    with_configs=st.booleans(),
    max_elites=st.sampled_from([4, 9, 49]),
    metric=st.sampled_from(METRICS),
)
def test_property_grid_archive_invariants(
    seed: int,
    n_models: int,
    n_classes: int,
    with_configs: bool,
    max_elites: int,
    metric: str,
) -> None:
    P, y = make_prediction_tensor(n_models, 50, n_classes, random_state=seed)
    sel = QualityDiversityOptimizationES(
        n_iterations=12, batch_size=8, max_elites=max_elites, random_state=seed
    ).fit(P, y, metric=metric, configs=configs_for(n_models) if with_configs else None)
    desc, edges = sel.archive_descriptors_, sel.archive_boundaries_
    assert desc.min(initial=0) >= 0.0 and desc.max(initial=1) <= 1.0
    assert all(np.all(np.diff(e) >= 0) for e in edges)
    assert sel.archive_size_ <= max_elites
    cells = grid_cells(desc, edges)
    assert np.unique(cells).size == cells.size  # one solution per cell
    # local competition: every solution ever offered lost to (or is) its cell's elite
    offered = grid_cells(sel.evaluated_descriptors_, edges)
    elite_loss = dict(zip(cells.tolist(), sel.archive_losses_.tolist(), strict=True))
    for cell, loss in zip(offered.tolist(), sel.evaluated_losses_, strict=True):
        assert elite_loss[cell] <= loss
    # the remap schedule: after K + batch_size offers, then every K
    n, first = sel.evaluated_losses_.size, n_models + 8
    assert sel.n_remaps_ == (0 if n < first else 1 + (n - first) // n_models)
    # members' descriptors: single-model ensembles would be 1; pairs are pair values
    counts = sel.archive_counts_
    assert np.all((counts > 0).sum(axis=1) >= 2)
    corr = loss_correlation(P, y)
    assert_allclose(desc[:, 0], ensemble_descriptors(counts, corr), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(1, 8),
    n_classes=st.integers(2, 4),
    diverse=st.booleans(),
    metric=st.sampled_from(METRICS),
)
def test_property_never_worse_than_single_best(
    seed: int, n_models: int, n_classes: int, diverse: bool, metric: str
) -> None:
    P, y = make_prediction_tensor(n_models, 60, n_classes, random_state=seed)
    cls = CLASSES[diverse]
    sel = cls(n_iterations=8, batch_size=10, random_state=seed).fit(
        P, y, metric=metric, configs=configs_for(n_models)
    )
    single = SingleBest().fit(P, y, metric=metric)
    assert sel.validation_loss_ <= single.validation_loss_  # exact: no tolerance
    assert sel.n_evaluations_ <= 8 * n_models
    assert sel.weights_.min() >= 0 and sel.weights_.sum() == pytest.approx(1.0)
