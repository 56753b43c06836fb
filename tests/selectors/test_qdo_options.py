"""QO-ES / QDO-ES options (issue 15): pair seeds with the single best, negative
steps, and GES-seeded search."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from autoens.metrics import get_metric
from autoens.selectors import GreedyEnsembleSelection
from autoens.selectors.qdo import (
    QualityDiversityOptimizationES,
    QualityOptimizationES,
)
from autoens.selectors.qdo_archives import _QualityArchive
from autoens.selectors.qdo_search import _Search
from autoens.testing import FAST_FIT, check_selector, make_prediction_tensor

CLASSES = [QualityOptimizationES, QualityDiversityOptimizationES]
OPTIONS: list[dict[str, Any]] = [
    {"init": "pairs_with_best"},
    {"negative_steps": True},
    {"ges_seed": True},
    {"init": "pairs_with_best", "negative_steps": True, "ges_seed": True},
]


@pytest.mark.parametrize("cls", CLASSES)
def test_defaults_are_the_paper_settings(cls: type) -> None:
    params = cls().get_params()
    assert params["init"] == "random_pairs"
    assert params["negative_steps"] is False
    assert params["ges_seed"] is False


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_options_pass_the_contract(cls: type, options: dict[str, Any]) -> None:
    check_selector(cls(n_iterations=10, random_state=0, **options))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("options", OPTIONS, ids=repr)
def test_options_are_deterministic(cls: type, options: dict[str, Any]) -> None:
    P, y = make_prediction_tensor(12, 200, 3, random_state=4)
    fits = [
        cls(n_iterations=8, random_state=7, **options).fit(P, y, metric="log_loss")
        for _ in range(2)
    ]
    assert_array_equal(fits[0].counts_, fits[1].counts_)
    assert_array_equal(fits[0].evaluated_losses_, fits[1].evaluated_losses_)


def test_invalid_init_is_rejected() -> None:
    P, y = make_prediction_tensor(4, 50)
    with pytest.raises(ValueError, match="init"):
        QualityOptimizationES(init="best_pairs").fit(P, y, metric="roc_auc")


def test_pairs_with_best_seeds_the_best_with_its_best_partners() -> None:
    # K=10, budget 20: 10 singles and 2 final evaluations leave 8 seeds, no search.
    P, y = make_prediction_tensor(10, 300, 2, random_state=1)
    sel = QualityOptimizationES(
        n_iterations=2, max_elites=10, init="pairs_with_best", random_state=0
    ).fit(P, y, metric="log_loss")
    single = get_metric("log_loss").loss(y, P)
    best = int(np.argmin(single))
    partners = [k for k in np.argsort(single, kind="stable") if k != best][:8]
    counts = sel.archive_counts_
    assert counts.shape == (8, 10)
    assert (counts.sum(axis=1) == 2).all()
    assert (counts[:, best] == 1).all()
    others = counts.copy()
    others[:, best] = 0
    assert sorted(np.flatnonzero(others.any(axis=0)).tolist()) == sorted(partners)


def test_random_pairs_default_seeds_disjoint_pairs() -> None:
    P, y = make_prediction_tensor(10, 300, 2, random_state=1)
    sel = QualityOptimizationES(n_iterations=2, max_elites=10, random_state=0).fit(
        P, y, metric="log_loss"
    )
    # 5 disjoint seed pairs, then 3 search children (all kept: 10 slots).
    counts = sel.archive_counts_
    assert counts.shape == (8, 10)
    assert (counts[:5].sum(axis=1) == 2).all()
    assert_array_equal(counts[:5].sum(axis=0), np.ones(10))


def _search(negative_steps: bool, n_models: int = 4) -> _Search:
    P, y = make_prediction_tensor(n_models, 60)
    metric = get_metric("log_loss")
    return _Search(
        metric,
        y,
        metric.reduce_all(y, P),
        _QualityArchive(4),
        [],
        two_point=False,
        rng=np.random.default_rng(0),
        negative_steps=negative_steps,
    )


def test_negative_directions_only_for_members_with_enough_copies() -> None:
    search = _search(True)
    search.members = [
        (np.array([0, 2]), np.array([3, 1])),  # counts (3, 0, 1, 0)
        (np.array([1]), np.array([2])),  # a one-model ensemble
    ]
    K = search.n_models
    assert sorted(search._directions(0, 1)) == [0, 1, 2, 3, K + 0, K + 2]
    assert sorted(search._directions(0, 3)) == [0, 1, 2, 3, K + 0]
    assert sorted(search._directions(0, 5)) == [0, 1, 2, 3]
    # A lone member is never removed (nor added to: same weights).
    assert sorted(search._directions(1, 1)) == [0, 2, 3]
    plain = _search(False)
    plain.members = search.members
    assert sorted(plain._directions(0, 1)) == [0, 1, 2, 3]


def _weak_member_tensor() -> tuple[np.ndarray, np.ndarray]:
    """Models 0 and 1 are complementary; model 2 is harmful."""
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    half = np.arange(n) < n // 2
    good0 = np.where(half, np.where(y == 1, 0.9, 0.1), 0.5)
    good1 = np.where(~half, np.where(y == 1, 0.9, 0.1), 0.5)
    noise = np.where(y == 1, 0.3, 0.7) + rng.uniform(-0.1, 0.1, n)  # mostly wrong
    p1 = np.stack([good0, good1, noise]).astype(np.float32)
    return np.stack([1 - p1, p1], axis=2), y


@pytest.mark.parametrize("seed", range(4))
def test_negative_steps_can_drop_a_seed_member(seed: int) -> None:
    # With K=3 there is one seed pair; without negative steps every solution is a
    # superset of it (mutations and average crossover only add), so its members
    # stay in every elite. Negative steps reach ensembles without one of them.
    P, y = _weak_member_tensor()
    kwargs = {"n_iterations": 20, "max_elites": 60, "random_state": seed}
    plain = QualityOptimizationES(**kwargs).fit(P, y, metric="log_loss")
    neg = QualityOptimizationES(negative_steps=True, **kwargs).fit(
        P, y, metric="log_loss"
    )
    assert (plain.archive_counts_ > 0).all(axis=0).sum() == 2
    assert (neg.archive_counts_ > 0).all(axis=0).sum() < 2
    assert (neg.archive_counts_.sum(axis=1) >= 1).all()
    assert neg.n_evaluations_ == plain.n_evaluations_ == 20 * 3


@pytest.mark.parametrize("cls", CLASSES)
def test_negative_steps_keep_the_budget(cls: type) -> None:
    P, y = make_prediction_tensor(16, 200, 2, random_state=3)
    for neg in (False, True):
        sel = cls(n_iterations=6, negative_steps=neg, random_state=0)
        sel.fit(P, y, metric="roc_auc")
        assert sel.n_evaluations_ == 6 * 16
        assert (sel.counts_ >= 0).all() and sel.counts_.sum() >= 1


# Relative float32 noise between GES's and the population's summation orders.
_TOL = 1e-6


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
@pytest.mark.parametrize(("n_classes", "seed"), [(2, 0), (2, 1), (3, 2), (4, 3)])
def test_ges_seed_matches_or_beats_ges(
    cls: type, metric: str, n_classes: int, seed: int
) -> None:
    P, y = make_prediction_tensor(16, 250, n_classes, random_state=seed)
    sel = cls(n_iterations=20, ges_seed=True, random_state=seed)
    sel.fit(P, y, metric=metric)
    ges = GreedyEnsembleSelection(ensemble_size=20, random_state=seed)
    ges.fit(P, y, metric=metric)
    assert sel.validation_loss_ <= ges.validation_loss_ + _TOL * max(
        1.0, abs(ges.validation_loss_)
    )
    assert sel.ges_validation_loss_ == pytest.approx(
        ges.validation_loss_, rel=1e-6, abs=1e-6
    )
    # GES's evaluations are counted on top of the population's budget.
    assert 20 * 16 < sel.n_evaluations_ <= 2 * 20 * 16


def test_ges_seed_on_a_real_library() -> None:
    from autoens import AutoEnsembleClassifier
    from autoens.datasets import load_keel

    X, y = load_keel("pima")
    model = AutoEnsembleClassifier(**{**FAST_FIT, "n_trials": 6}).fit(X, y)
    lib = model.library_
    assert len(lib.oof) >= 3
    for cls in CLASSES:
        ges = GreedyEnsembleSelection(random_state=0)
        ges.fit(lib.oof, lib.y, metric="roc_auc")
        sel = cls(ges_seed=True, random_state=0).fit(lib.oof, lib.y, metric="roc_auc")
        assert sel.validation_loss_ <= ges.validation_loss_ + _TOL
