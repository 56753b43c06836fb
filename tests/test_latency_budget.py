"""Predict time per member, the ``max_predict_time`` budget, the ``pareto_`` front."""

from __future__ import annotations

import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

import autoens
from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
from autoens.datasets import load_keel
from autoens.latency import pareto_front
from autoens.metrics import get_metric
from autoens.selectors import (
    KNORAU,
    BudgetedGES,
    BudgetedSelector,
    GreedyEnsembleSelection,
    QPSelector,
    StackingSelector,
)
from autoens.selectors.budget import check_costs
from autoens.testing import make_prediction_tensor, make_regression_tensor

_FIT = {"cv": 2, "learners": ["logreg", "hist_gb"], "random_state": 0}


@pytest.fixture(scope="module")
def pima_fit() -> tuple[AutoEnsembleClassifier, pd.DataFrame, pd.Series]:
    X, y = load_keel("pima")
    clf = AutoEnsembleClassifier(n_trials=6, keep_models="all", **_FIT).fit(X, y)
    return clf, X, y


def _tensor(kind: str, n_models: int = 7, seed: int = 0):
    if kind == "classification":
        P, y = make_prediction_tensor(n_models, 300, random_state=seed)
        return P, y, get_metric("roc_auc")
    P, y = make_regression_tensor(n_models, 300, random_state=seed)
    return P, y, get_metric("rmse")


def _costs(n_models: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 1.0, n_models)


# --- predict time per member --------------------------------------------------------


def test_predict_time_per_member_is_measured(pima_fit) -> None:
    clf, _, _ = pima_fit
    per_model = clf.library_.predict_time_per_1k
    assert per_model.shape == (len(clf.library_),)
    assert np.isfinite(per_model).all() and (per_model > 0).all()
    board = clf.leaderboard_.set_index("trial")
    ok = board[board["status"] == "ok"]
    expected = pd.Series(per_model * clf.n_folds_, index=clf.library_.trials)
    np.testing.assert_allclose(ok["predict_time_1k"], expected.loc[ok.index])
    required = clf.library_.trials
    costs = expected.loc[[required[i] for i in clf.ensemble_.required]]
    assert clf.predict_time_1k_ == pytest.approx(costs.sum())


def test_old_cache_entries_have_unknown_predict_time(tmp_path: Path) -> None:
    """Entries written before predict rows were recorded: NaN, and a budget is
    then ignored with a warning (nothing is known to budget with)."""
    X, y = load_keel("pima")
    AutoEnsembleClassifier(n_trials=3, cache_dir=tmp_path, **_FIT).fit(X, y)
    sidecars = list(tmp_path.rglob("*.json"))
    assert sidecars
    for path in sidecars:
        record = json.loads(path.read_text())
        record["meta"].pop("predict_rows")
        path.write_text(json.dumps(record))
    clf = AutoEnsembleClassifier(
        n_trials=3, cache_dir=tmp_path, max_predict_time=1e-6, **_FIT
    )
    with pytest.warns(UserWarning, match="no library member has a known predict"):
        clf.fit(X, y)
    assert (clf.leaderboard_["source"] == "cache").all()
    assert np.isnan(clf.library_.predict_time_per_1k).all()
    assert clf.leaderboard_["predict_time_1k"].isna().all()
    assert math.isnan(clf.predict_time_1k_)
    assert clf.pareto_.empty
    assert clf.predict_proba(X.iloc[:5]).shape == (5, 2)


def test_unknown_costs_count_as_the_slowest_known() -> None:
    out = check_costs([0.2, np.nan, 0.5, np.nan], 4)
    np.testing.assert_array_equal(out, [0.2, 0.5, 0.5, 0.5])
    assert check_costs([np.nan, np.nan], 2) is None
    with pytest.raises(ValueError, match="costs has 3 entries but P has 2"):
        check_costs([1.0, 2.0, 3.0], 2)
    with pytest.raises(ValueError, match="non-negative"):
        check_costs([1.0, -2.0], 2)


# --- budget-aware GES ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["classification", "regression"])
@pytest.mark.parametrize("params", [{}, {"init_sorted": 2, "use_best": False}])
def test_budgeted_ges_with_infinite_budget_is_plain_ges(kind: str, params) -> None:
    P, y, metric = _tensor(kind, n_models=12, seed=3)
    w = np.random.default_rng(1).uniform(0.5, 2.0, P.shape[1])
    costs = _costs(12)
    costs[4] = np.nan
    for sample_weight in (None, w):
        plain = GreedyEnsembleSelection(random_state=0, **params).fit(
            P, y, metric=metric, sample_weight=sample_weight
        )
        budgeted = BudgetedGES(
            random_state=0, costs=costs, max_cost=math.inf, **params
        ).fit(P, y, metric=metric, sample_weight=sample_weight)
        np.testing.assert_array_equal(budgeted.indices_, plain.indices_)
        np.testing.assert_array_equal(budgeted.weights_, plain.weights_)
        np.testing.assert_array_equal(budgeted.trajectory_, plain.trajectory_)
        assert budgeted.validation_loss_ == plain.validation_loss_


@pytest.mark.parametrize("kind", ["classification", "regression"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_budget_below_the_unbudgeted_cost_against_brute_force(
    kind: str, seed: int
) -> None:
    n_models = 7
    P, y, metric = _tensor(kind, n_models, seed)
    costs = _costs(n_models, seed)
    plain = GreedyEnsembleSelection(random_state=0).fit(P, y, metric=metric)
    budget = 0.5 * costs[plain.weights_ > 0].sum()
    sel = BudgetedGES(random_state=0, costs=costs, max_cost=budget)
    sel.fit(P, y, metric=metric)
    assert sel.predict_cost_ == pytest.approx(costs[sel.weights_ > 0].sum())
    assert sel.predict_cost_ <= budget
    # Every subset of the library that fits the budget, GES-weighted.
    brute = min(
        GreedyEnsembleSelection(random_state=0)
        .fit(P[list(s)], y, metric=metric)
        .validation_loss_
        for r in range(1, n_models + 1)
        for s in itertools.combinations(range(n_models), r)
        if costs[list(s)].sum() <= budget
    )
    singles = metric.loss(y, P)
    path = GreedyEnsembleSelection(random_state=0, use_best=False)
    order = path.fit(P, y, metric=metric).indices_
    prefixes = [
        metric.loss_single(y, P[order[: k + 1]].mean(axis=0))
        for k in range(len(order))
        if costs[np.unique(order[: k + 1])].sum() <= budget
    ]
    candidates = np.concatenate([singles[costs <= budget], prefixes])
    # Best of the enumerable candidates it builds on (float-noise rounding aside),
    # and within a few percent of the exhaustive optimum (greedy, not exact).
    noise = 1e-6 * max(1.0, abs(brute))
    assert sel.validation_loss_ <= candidates.min() + noise
    assert brute - noise <= sel.validation_loss_ <= brute + 0.05 * abs(brute)


def test_budget_below_the_fastest_member_uses_it_and_warns() -> None:
    P, y, metric = _tensor("classification")
    costs = _costs(P.shape[0])
    with pytest.warns(UserWarning, match="below the fastest member"):
        sel = BudgetedGES(costs=costs, max_cost=0.01 * costs.min()).fit(
            P, y, metric=metric
        )
    np.testing.assert_array_equal(np.flatnonzero(sel.weights_), [costs.argmin()])


@pytest.mark.parametrize(
    "selector",
    [QPSelector(), StackingSelector(cv=3, random_state=0), KNORAU()],
    ids=["qp", "stacking", "knora-u"],
)
def test_other_selectors_respect_the_budget(selector) -> None:
    P, y, metric = _tensor("classification", n_models=9, seed=4)
    costs = _costs(9, seed=4)
    X = np.random.default_rng(0).normal(size=(P.shape[1], 3))
    free = type(selector)(**selector.get_params()).fit(P, y, metric=metric, X=X)
    budget = 0.4 * costs[free.required_members_].sum()
    sel = BudgetedSelector(selector=selector, costs=costs, max_cost=budget)
    sel.fit(P, y, metric=metric, X=X)
    assert costs[sel.required_members_].sum() <= budget
    assert sel.predict_cost_ <= budget
    full = np.zeros_like(P)
    full[sel.required_members_] = P[sel.required_members_]
    np.testing.assert_allclose(sel.combine(full, X=X), sel.combine(P, X=X))
    assert np.isfinite(metric.loss_single(y, sel.combine(P, X=X)))


# --- the Pareto front ---------------------------------------------------------------


def _check_front(front: pd.DataFrame, costs: np.ndarray, singles: np.ndarray) -> None:
    assert not front.empty
    t = front["predict_time_1k"].to_numpy()
    loss = front["loss"].to_numpy()
    assert (np.diff(t) > 0).all() and (np.diff(loss) < 0).all()  # sorted, no ties
    first = front.iloc[0]
    fastest = np.flatnonzero(costs == costs.min())
    assert first["n_members"] == 1 and first["predict_time_1k"] == costs.min()
    assert first["loss"] == pytest.approx(singles[fastest].min())
    assert front["loss"].iloc[-1] == loss.min()


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_pareto_front_is_non_dominated_and_reproducible(kind: str) -> None:
    P, y, metric = _tensor(kind, n_models=15, seed=5)
    costs = _costs(15, seed=5)
    ges = GreedyEnsembleSelection(random_state=0)
    front = pareto_front(
        P, y, metric=metric, costs=costs, trials=np.arange(100, 115), ges=ges
    )
    _check_front(front, costs, metric.loss(y, P))
    plain = ges.fit(P, y, metric=metric)
    assert front["loss"].iloc[-1] <= plain.validation_loss_
    # No candidate the front was built from dominates a front point: check against
    # every single model.
    for cost, loss in zip(costs, metric.loss(y, P), strict=True):
        assert not ((front["predict_time_1k"] >= cost) & (front["loss"] > loss)).any()
    for row in front.itertuples():
        again = BudgetedGES(random_state=0, costs=costs, max_cost=row.max_predict_time)
        again.fit(P, y, metric=metric)
        members = np.flatnonzero(again.weights_)
        assert tuple((members + 100).tolist()) == row.members
        assert again.validation_loss_ == row.loss


def test_estimator_budget_and_pareto(pima_fit) -> None:
    clf, X, _ = pima_fit
    costs = clf.library_.predict_time_per_1k * clf.n_folds_
    singles = clf.library_.losses
    _check_front(clf.pareto_, costs, singles)
    assert clf.metric_.score_name in clf.pareto_.columns
    # Take a point of the front: select rebuilds exactly it.
    row = clf.pareto_.iloc[len(clf.pareto_) // 2]
    picked = autoens.select(clf, "ges", max_predict_time=row["max_predict_time"])
    assert type(picked.selector_) is BudgetedGES
    assert tuple(picked.weights_[picked.weights_ > 0].index) == row["members"]
    assert picked.validation_loss_ == pytest.approx(row["loss"])
    assert picked.predict_time_1k_ == pytest.approx(row["predict_time_1k"])
    assert picked.pareto_ is clf.pareto_  # same library: not rebuilt
    budget = 0.5 * clf.predict_time_1k_
    for name in ("qp", "stacking"):
        other = autoens.select(clf, name, max_predict_time=budget)
        assert isinstance(other.selector_, BudgetedSelector)
        assert other.predict_time_1k_ <= budget
        proba = other.predict_proba(X.iloc[:20])
        assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert not hasattr(clf.selector_, "max_cost")  # the original is untouched
    with pytest.raises(ValueError, match="max_predict_time"):
        autoens.select(clf, "ges", max_predict_time=-1.0)


def test_regressor_with_a_budget() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    fit = {**_FIT, "learners": ["ridge", "hist_gb"], "n_trials": 5}
    free = AutoEnsembleRegressor(keep_models="all", **fit).fit(X, y)
    budget = 0.6 * free.predict_time_1k_
    for name in ("ges", "qp"):
        picked = autoens.select(free, name, max_predict_time=budget)
        assert 0 < picked.predict_time_1k_ <= budget
        assert picked.predict(X.iloc[:7]).shape == (7,)
    # A fit with the budget: its own timings may differ from the first fit's, so a
    # budget below its fastest member is allowed (that member alone, warned).
    reg = AutoEnsembleRegressor(max_predict_time=budget, **fit)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "max_predict_time=.*below the fastest")
        reg.fit(X, y)
    costs = reg.library_.predict_time_per_1k * reg.n_folds_
    if budget >= costs.min():
        assert reg.predict_time_1k_ <= budget
    else:
        assert reg.n_required_ == 1 and reg.predict_time_1k_ == costs.min()
    _check_front(reg.pareto_, costs, reg.library_.losses)
    assert reg.predict(X.iloc[:7]).shape == (7,)
    assert reg.predict_interval(X.iloc[:7]).shape == (7, 2)
