"""The per-row oracle: golden choices, fit-data-only combine, and the bound it gives."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from autoens.metrics import get_metric
from autoens.selectors import GreedyEnsembleSelection, SingleBest
from autoens.selectors.baselines import Oracle, single_best_model
from autoens.selectors.cmaes import CMAESSelector
from autoens.selectors.qp import QPSelector
from autoens.selectors.stacking import NNLSStacking
from autoens.testing import check_selector, make_prediction_tensor


def test_contract() -> None:
    check_selector(Oracle())


def test_golden_choice() -> None:
    # y = [0, 2, 1]; true-class probabilities: model 0 (.5, .1, .3), model 1
    # (.2, .6, .3), model 2 (.5, .2, .1). Row 0: 0 and 2 tie -> 0; row 2: 0 and 1
    # tie -> 0.
    P = np.array(
        [
            [[0.5, 0.3, 0.2], [0.4, 0.5, 0.1], [0.3, 0.3, 0.4]],
            [[0.2, 0.4, 0.4], [0.1, 0.3, 0.6], [0.6, 0.3, 0.1]],
            [[0.5, 0.5, 0.0], [0.5, 0.3, 0.2], [0.8, 0.1, 0.1]],
        ],
        dtype=np.float32,
    )
    y = np.array([0, 2, 1])
    oracle = Oracle().fit(P, y, metric="log_loss")
    assert_array_equal(oracle.choice_, [0, 1, 0])
    assert_array_equal(oracle.weights_, [2 / 3, 1 / 3, 0.0])
    assert_array_equal(oracle.required_members_, [0, 1])
    assert_array_equal(oracle.combine(P), P[[0, 1, 0], [0, 1, 2]])
    expected = -np.mean(np.log([0.5, 0.6, 0.3]))
    assert oracle.validation_loss_ == pytest.approx(expected, rel=1e-6)
    assert Oracle.score_upper_bound(P, y, "log_loss") == oracle.validation_loss_
    assert_array_equal(Oracle.oracle_predictions(P, y), oracle.combine(P))


def test_combine_refuses_other_data() -> None:
    P, y = make_prediction_tensor(5, 100, 3, random_state=0)
    oracle = Oracle().fit(P, y)
    # the fit data, with unused members zeroed, is still the fit data
    masked = np.zeros_like(P)
    masked[oracle.required_members_] = P[oracle.required_members_]
    assert_array_equal(oracle.combine(masked), oracle.combine(P))
    P_new, _ = make_prediction_tensor(5, 100, 3, random_state=1)
    with pytest.raises(ValueError, match="benchmark bound, not a deployable"):
        oracle.combine(P_new)
    with pytest.raises(ValueError, match="score_upper_bound"):
        oracle.combine(P[:, :50])
    changed = P.copy()
    changed[oracle.required_members_[0], 0, 0] += 1e-3
    with pytest.raises(ValueError, match="Oracle can only reproduce"):
        oracle.combine(changed)


def test_declares_its_guarantee_only_where_it_holds() -> None:
    P2, y2 = make_prediction_tensor(4, 60, 2)
    P3, y3 = make_prediction_tensor(4, 60, 3)
    assert Oracle().fit(P2, y2, metric="roc_auc")._guarantees_single_best
    assert Oracle().fit(P3, y3, metric="log_loss")._guarantees_single_best
    assert not Oracle().fit(P3, y3, metric="roc_auc")._guarantees_single_best
    assert not Oracle().fit(P3, y3, metric="error_rate")._guarantees_single_best
    assert not Oracle()._guarantees_single_best


@pytest.mark.parametrize(
    ("n_classes", "metric"), [(2, "roc_auc"), (2, "log_loss"), (4, "log_loss")]
)
@pytest.mark.parametrize("seed", range(3))
def test_bounds_every_mixture_selector_on_fit_data(
    n_classes: int, metric: str, seed: int
) -> None:
    P, y = make_prediction_tensor(12, 200, n_classes, random_state=seed)
    bound = Oracle().fit(P, y, metric=metric).validation_loss_
    selectors = [
        SingleBest(),
        GreedyEnsembleSelection(random_state=seed),
        QPSelector(),
        QPSelector(class_balanced=True),
        QPSelector(objective="log_loss"),
        CMAESSelector(n_iterations=10, random_state=seed),
        NNLSStacking(),
    ]
    m = get_metric(metric)
    for sel in selectors:
        sel.fit(P, y, metric=metric)
        assert bound <= sel.validation_loss_, type(sel).__name__
        assert bound <= m.loss_single(y, sel.combine(P))
    # and every single model, with the best one matching single_best_model
    assert (bound <= m.loss(y, P)).all()
    assert single_best_model(m, y, P)[1] == m.loss(y, P).min()
    score = Oracle.score_upper_bound(P, y, metric)
    assert score == m.to_score(bound)


def test_multiclass_roc_auc_is_not_a_guaranteed_bound() -> None:
    # Why the guarantee is limited to log loss and binary ROC AUC. B ranks every class
    # perfectly. A is more confident in the true class of every row, so the oracle
    # takes A everywhere, but A also gives the class-1 row a higher class-0 score
    # (.49) than the class-0 row gets (.45): one-vs-rest AUC of class 0 drops to 1/2.
    y = np.array([0, 1, 2])
    A = [[0.45, 0.1, 0.45], [0.49, 0.51, 0.0], [0.1, 0.1, 0.8]]
    B = [[0.3, 0.4, 0.3], [0.1, 0.5, 0.4], [0.1, 0.1, 0.8]]
    P = np.array([A, B], dtype=np.float32)
    m = get_metric("roc_auc")
    # A by hand: class 0's positive (.45) beats one of its two negatives (.1, not
    # .49), classes 1 and 2 are ranked perfectly: AUC (1/2 + 1 + 1) / 3.
    np.testing.assert_allclose(m.loss(y, P), [1.0 - 2.5 / 3.0, 0.0], atol=1e-12)
    oracle = Oracle().fit(P, y, metric="roc_auc")
    assert_array_equal(oracle.choice_, [0, 0, 0])
    assert oracle.validation_loss_ == pytest.approx(1.0 - (0.5 + 1.0 + 1.0) / 3)
    assert oracle.validation_loss_ > 0.0  # worse than model B
    assert not oracle._guarantees_single_best
