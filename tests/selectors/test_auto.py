"""selector="auto": inner-CV choice among static and dynamic selectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoens.metrics import get_metric
from autoens.selectors import (
    SELECTOR_NAMES,
    AutoSelector,
    GreedyEnsembleSelection,
    get_selector,
)
from autoens.selectors.auto import default_candidates
from autoens.testing import check_selector, make_prediction_tensor

# Cheap candidates covering every simplicity tier (KNOP needs no X).
SMALL = ["ges", "qp", "nnls-stacking", ("knop", {"k": 5}), ("knora-u", {"k": 5})]
BOARD_COLUMNS = [
    "candidate",
    "params",
    "kind",
    "mean_loss",
    "se",
    "mean_score",
    "members",
    "chosen",
    "fit_time",
    "error",
]


def experts(n: int = 600, n_models: int = 4, seed: int = 0):
    """Members that are each expert on one half of a 1-D feature and guess elsewhere.

    No static weighting can follow the switch; a selector that looks at the
    neighbours of a row in ``X`` can.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    y = rng.integers(0, 2, n)
    P = np.empty((n_models, n, 2), dtype=np.float32)
    for m in range(n_models):
        home = (x < 0) if m % 2 == 0 else (x >= 0)
        sure = rng.uniform(0.6, 0.95, n)
        right = rng.random(n) < 0.92
        p_true = np.where(right, sure, 1.0 - sure)
        p_one = np.where(y == 1, p_true, 1.0 - p_true)
        p_one = np.where(home, p_one, rng.uniform(0.0, 1.0, n))
        P[m, :, 1] = p_one
        P[m, :, 0] = 1.0 - p_one
    return P, y, x[:, None].astype(np.float32)


def test_contract() -> None:
    check_selector(AutoSelector(candidates=SMALL, cv=3, random_state=0))


def test_registered_as_auto() -> None:
    assert "auto" in SELECTOR_NAMES
    sel = get_selector("auto", random_state=3)
    assert isinstance(sel, AutoSelector) and sel.random_state == 3


def test_identical_members_tie_and_ges_wins() -> None:
    """All candidates give the same ensemble: the one-SE rule takes the simplest."""
    P, y = make_prediction_tensor(1, 300, random_state=2)
    P = np.repeat(P, 4, axis=0)
    X = np.random.default_rng(0).normal(size=(300, 3))
    sel = AutoSelector(
        candidates=["qp", ("knora-e", {"k": 7}), "ges", "stacking"], random_state=0
    ).fit(P, y, metric="roc_auc", X=X)
    board = sel.selector_leaderboard_
    ranked = board.set_index("candidate")
    assert sel.chosen_name_ == "ges"
    assert isinstance(sel.chosen_, GreedyEnsembleSelection)
    assert ranked.loc["ges", "mean_loss"] == ranked.loc["qp", "mean_loss"]
    assert ranked.loc["ges", "mean_loss"] == ranked.loc["knora-e", "mean_loss"]
    assert board["chosen"].sum() == 1 and ranked.loc["ges", "chosen"]


def test_one_standard_error_rule() -> None:
    sel = AutoSelector()
    tiers = np.array([0, 3, 1, 2])
    usable = np.ones(4, dtype=bool)
    se = np.full(4, 0.01)
    # Dynamic is best, but GES is within one SE: GES.
    mean = np.array([0.105, 0.100, 0.200, 0.300])
    assert sel._choose(mean, se, tiers, usable) == 0
    # GES is out of the band, the weighted average (tier 1) is in it.
    mean = np.array([0.120, 0.100, 0.108, 0.109])
    assert sel._choose(mean, se, tiers, usable) == 2
    # Only the best is within one SE of itself.
    mean = np.array([0.2, 0.1, 0.2, 0.2])
    assert sel._choose(mean, se, tiers, usable) == 1
    # Rule off: the best mean loss; unusable candidates never chosen.
    assert (
        AutoSelector(one_standard_error=False)._choose(
            np.array([0.105, 0.100, 0.2, 0.3]), se, tiers, usable
        )
        == 1
    )
    usable[1] = False
    mean = np.array([0.2, 0.1, 0.2, 0.15])
    assert sel._choose(mean, se, tiers, usable) == 3


def test_picks_dynamic_when_local_competence_matters() -> None:
    P, y, X = experts()
    sel = AutoSelector(random_state=0).fit(P, y, metric="roc_auc", X=X)
    board = sel.selector_leaderboard_
    assert sel.is_dynamic and not sel.is_weighted_average
    assert board.loc[board["chosen"], "kind"].item() == "dynamic"
    best_static = board.loc[board["kind"] != "dynamic", "mean_loss"].min()
    assert sel.cv_loss_ < best_static - 0.05  # clearly, not within noise
    np.testing.assert_array_equal(sel.required_members_, np.arange(4))
    # combine delegates to the chosen selector, including leave-one-out scoring.
    np.testing.assert_array_equal(
        sel.combine(P, X=X, exclude_self=True),
        sel.chosen_.combine(P, X=X, exclude_self=True),
    )
    auc = get_metric("roc_auc")
    assert auc.loss_single(y, sel.combine(P, X=X, exclude_self=True)) < best_static


def test_selector_leaderboard_contents() -> None:
    P, y, X = experts(300)
    sel = AutoSelector(random_state=0).fit(P, y, metric="log_loss", X=X)
    board = sel.selector_leaderboard_
    expected = default_candidates("log_loss")
    assert list(board.columns) == BOARD_COLUMNS
    assert len(board) == len(expected) == sel.cv_losses_.shape[0]
    assert sorted(map(str, zip(board["candidate"], board["params"], strict=True))) == (
        sorted(map(str, expected))
    )
    assert board["mean_loss"].is_monotonic_increasing
    assert (board["error"] == "").all()
    assert (board["se"] > 0).all() and (board["fit_time"] > 0).all()
    np.testing.assert_allclose(board["mean_score"], board["mean_loss"])  # log loss
    assert board["chosen"].sum() == 1
    row = board[board["chosen"]].iloc[0]
    assert sel.cv_loss_ == row["mean_loss"]
    assert sel.chosen_name_.startswith(row["candidate"])
    # Dynamic rows need every member; GES fewer.
    assert (board.loc[board["kind"] == "dynamic", "members"] == 4).all()
    assert set(board["kind"]) == {"ges", "weighted average", "stacking", "dynamic"}
    # Soft voting only for a probability metric; hard voting too for accuracy.
    assert {p.get("voting") for p in board["params"]} == {None, "soft"}
    votings = {p.get("voting") for _, p in default_candidates("accuracy")}
    assert votings == {None, "soft", "hard"}


def test_deterministic_under_random_state() -> None:
    P, y, X = experts(200, seed=1)
    # The seeded candidates (GES, QO-ES, stacking's folds, META-DES) and a kNN one.
    cands = ["ges", "qo-es", "stacking", ("knora-e", {"k": 5}), "meta-des"]
    a = AutoSelector(candidates=cands, random_state=5).fit(P, y, X=X)
    b = AutoSelector(candidates=cands, random_state=5).fit(P, y, X=X)
    drop = ["fit_time"]
    pd.testing.assert_frame_equal(
        a.selector_leaderboard_.drop(columns=drop),
        b.selector_leaderboard_.drop(columns=drop),
    )
    np.testing.assert_array_equal(a.combine(P, X=X), b.combine(P, X=X))
    np.testing.assert_array_equal(a.cv_losses_, b.cv_losses_)


def test_without_X_dynamic_candidates_are_listed_as_skipped() -> None:
    P, y, _ = experts(200)
    sel = AutoSelector(random_state=0).fit(P, y, metric="roc_auc")
    board = sel.selector_leaderboard_.set_index("candidate")
    skipped = board[board["error"] != ""]
    assert set(skipped.index) == {"knora-e", "knora-u", "des-p", "ola", "meta-des"}
    assert skipped["error"].str.contains("needs X").all()
    assert skipped["mean_loss"].isna().all() and not skipped["chosen"].any()
    assert board.loc["knop", "error"].eq("").all()  # output profiles need no X
    with pytest.raises(ValueError, match="no candidate can be scored"):
        AutoSelector(candidates=[("knora-e", {"k": 5})]).fit(P, y)


def test_k_larger_than_an_inner_fold_is_skipped() -> None:
    P, y = make_prediction_tensor(3, 40, random_state=0)
    X = np.random.default_rng(0).normal(size=(40, 2))
    sel = AutoSelector(random_state=0).fit(P, y, X=X)  # 32 rows per inner fold
    board = sel.selector_leaderboard_
    assert board["error"].str.startswith("skipped: k=").sum() == 0
    sel = AutoSelector(cv=2, random_state=0).fit(P[:, :24], y[:24], X=X[:24])
    board = sel.selector_leaderboard_
    too_big = board["params"].map(lambda p: p.get("k", 0) > 11)
    assert board.loc[too_big, "error"].str.startswith("skipped: k=").all()
    assert board.loc[~too_big, "error"].eq("").all()


def test_max_rows_scores_on_a_stratified_subset_and_refits_on_all() -> None:
    P, y, X = experts(400)
    sel = AutoSelector(
        candidates=["ges", ("knora-u", {"k": 5})], max_rows=100, random_state=0
    ).fit(P, y, X=X)
    rows = sel.cv_rows_
    assert len(rows) == 100 and np.array_equal(rows, np.unique(rows))
    assert abs(y[rows].mean() - y.mean()) < 0.01  # stratified
    assert sel.chosen_name_ == "knora-u(k=5)"
    assert sel.chosen_.X_fit_.shape[0] == 400  # refit on every row
    full = AutoSelector(max_rows=None, candidates=["ges"]).fit(P, y, X=X)
    assert len(full.cv_rows_) == 400


def test_time_limit_skips_the_rest_but_scores_the_first() -> None:
    P, y, X = experts(200)
    sel = AutoSelector(time_limit=1e-9, random_state=0).fit(P, y, X=X)
    board = sel.selector_leaderboard_
    scored = board[board["error"] == ""]
    assert list(scored["candidate"]) == ["ges"]
    assert sel.chosen_name_ == "ges"
    assert board["error"].str.startswith("skipped: time_limit").sum() == len(board) - 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"candidates": []}, "candidates is empty"),
        ({"candidates": [42]}, "must be a selector name"),
        ({"candidates": ["nope"]}, "Unknown selector 'nope'"),
        ({"candidates": [("ges", {"bogus": 1})]}, "candidate"),
        ({"candidates": ["auto"]}, "its own candidate"),
        ({"cv": 1}, r"'cv' parameter of AutoSelector must be an int in the range \[2"),
        ({"time_limit": 0}, r"'time_limit' .* a float in the range \(0.0, inf\]"),
        ({"max_rows": 1}, r"'max_rows' .* must be an int in the range \[2, inf\)"),
        ({"candidates": "ges"}, r"'candidates' .* must be an instance of 'list'"),
        ({"one_standard_error": "yes"}, r"'one_standard_error' .* must be an instance"),
    ],
)
def test_bad_parameters(params, message) -> None:
    P, y = make_prediction_tensor(3, 60)
    with pytest.raises(ValueError, match=message):
        AutoSelector(**params).fit(P, y)


def test_X_must_be_numeric() -> None:
    P, y = make_prediction_tensor(3, 60)
    with pytest.raises(ValueError, match="competence space"):
        AutoSelector(candidates=SMALL).fit(P, y, X=np.array([["a", "b"]] * 60))
    X = np.zeros((60, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="impute"):
        AutoSelector(candidates=SMALL).fit(P, y, X=X)


def test_stacking_shares_ges_tier_only_for_a_label_metric() -> None:
    """Stacking beat GES on balanced accuracy (benchmarks/RESULTS.md): for a label
    metric the one-standard-error rule takes the lower loss of the two."""
    from autoens.selectors.auto_candidates import _tier

    ges, qp, stacking = (get_selector(n) for n in ("ges", "qp", "stacking"))
    assert _tier(stacking, label_metric=True) == _tier(ges) < _tier(qp)
    assert _tier(stacking) > _tier(qp)
    sel, usable, se = AutoSelector(), np.ones(3, dtype=bool), np.full(3, 0.01)
    mean = np.array([0.105, 0.100, 0.102])  # GES, stacking, QP: all within one SE
    label = np.array([_tier(s, label_metric=True) for s in (ges, stacking, qp)])
    assert sel._choose(mean, se, label, usable) == 1
    proba = np.array([_tier(s) for s in (ges, stacking, qp)])
    assert sel._choose(mean, se, proba, usable) == 0


@pytest.mark.parametrize("metric", ["balanced_error_rate", "roc_auc"])
def test_leaderboard_kind_is_the_selector_kind_whatever_its_tier(metric) -> None:
    P, y = make_prediction_tensor(n_models=4, n_samples=200, random_state=0)
    sel = AutoSelector(candidates=["ges", "qp", "stacking"], cv=3, random_state=0)
    board = sel.fit(P, y, metric=metric).selector_leaderboard_.set_index("candidate")
    assert board["kind"].to_dict() == {
        "ges": "ges",
        "qp": "weighted average",
        "stacking": "stacking",
    }
