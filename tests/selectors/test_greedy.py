"""GES: golden cases, the rules of Caruana et al. (2004) as AutoGluon applies them,
and a slow sklearn-based reference."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.metrics import log_loss, roc_auc_score

from autoens.metrics import get_metric
from autoens.selectors import GreedyEnsembleSelection, SingleBest
from autoens.selectors import greedy as greedy_module
from autoens.testing import make_prediction_tensor


def binary(*p1: list[float]) -> np.ndarray:
    """(K, N, 2) from the positive-class probabilities of each model."""
    p = np.asarray(p1, dtype=np.float32)
    return np.stack([1 - p, p], axis=2)


# --- a plain reference (sklearn metric, Python loop over candidates) ------------------


def sk_loss(metric: str, y: np.ndarray, E: np.ndarray) -> float:
    if metric == "roc_auc":
        if E.shape[1] == 2:
            return 1.0 - roc_auc_score(y, E[:, 1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return 1.0 - roc_auc_score(y, E, multi_class="ovr")
    return log_loss(y, E, labels=list(range(E.shape[1])))


def reference_ges(
    P: np.ndarray,
    y: np.ndarray,
    metric: str,
    ensemble_size: int,
    init_sorted: int,
    use_best: bool,
    seed: int,
) -> tuple[list[int], list[float]]:
    """GES written plainly (forward selection with replacement, ties to members
    already in, 6-decimal rounding, best prefix); returns (kept members in order,
    trajectory)."""
    rng = np.random.default_rng(seed)
    K = P.shape[0]
    S = np.zeros(P.shape[1:], dtype=np.float32)
    counts = np.zeros(K, dtype=int)
    order: list[int] = []
    if init_sorted:
        single = [sk_loss(metric, y, P[k]) for k in range(K)]
        for k in np.argsort(single, kind="stable")[:init_sorted]:
            S = S + P[k]
            counts[k] += 1
            order.append(int(k))
    trajectory: list[float] = []
    rounding = False
    for t in range(ensemble_size):
        n = len(order)
        losses = np.array([sk_loss(metric, y, (S + P[j]) / (n + 1)) for j in range(K)])
        if t == 0:
            rounding = abs(losses.min()) > 1e-4
        if rounding:
            losses = np.round(losses, 6)
        best = np.flatnonzero(losses == losses.min())
        if len(best) > 1 and (counts[best] > 0).any():
            best = best[counts[best] > 0]
        j = int(best[0]) if len(best) == 1 else int(best[rng.integers(len(best))])
        S = S + P[j]
        counts[j] += 1
        order.append(j)
        trajectory.append(float(losses[j]))
        if K == 1:
            break
    n_init = len(order) - len(trajectory)
    cut = int(np.argmin(trajectory)) if use_best else len(trajectory) - 1
    return order[: n_init + cut + 1], trajectory


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize(
    ("init_sorted", "use_best"), [(0, True), (0, False), (3, True)]
)
def test_matches_slow_reference(
    metric: str, n_classes: int, init_sorted: int, use_best: bool
) -> None:
    for seed in range(2):
        P, y = make_prediction_tensor(
            9, 120, n_classes, random_state=seed + 10 * n_classes
        )
        ges = GreedyEnsembleSelection(
            ensemble_size=12,
            init_sorted=init_sorted,
            use_best=use_best,
            random_state=seed,
        ).fit(P, y, metric=metric)
        members, trajectory = reference_ges(
            P, y, metric, 12, init_sorted, use_best, seed
        )
        assert ges.indices_.tolist() == members
        assert ges.trajectory_ == pytest.approx(trajectory, abs=1e-12)


# --- golden cases computed by hand ----------------------------------------------------


def test_golden_log_loss_run() -> None:
    # y = [0, 1]; true-class probabilities: A (.9, .5), B (.5, .9), C (.7, .6).
    P = binary([0.1, 0.5], [0.5, 0.9], [0.3, 0.6])
    y = np.array([0, 1])
    ll = lambda q0, q1: -(math.log(q0) + math.log(q1)) / 2  # noqa: E731
    for seed in range(6):
        ges = GreedyEnsembleSelection(ensemble_size=3, random_state=seed)
        ges.fit(P, y, metric="log_loss")
        # 1: A and B tie (0.399247), neither used: random. 2: the other one joins,
        # (.7, .7) -> 0.356675. 3: adding A or B ties at (2.3/3, 1.9/3) -> both used,
        # random; C gives (.7, 2/3). use_best keeps the 2-member ensemble.
        assert ges.trajectory_ == pytest.approx(
            [
                round(ll(0.9, 0.5), 6),
                round(ll(0.7, 0.7), 6),
                round(ll(2.3 / 3, 1.9 / 3), 6),
            ],
            abs=1e-9,
        )
        assert sorted(ges.indices_.tolist()) == [0, 1]
        assert ges.best_iteration_ == 1
        assert_array_equal(ges.weights_, [0.5, 0.5, 0.0])
        assert ges.validation_loss_ == pytest.approx(ll(0.7, 0.7), rel=1e-6)
    firsts = {
        int(
            GreedyEnsembleSelection(ensemble_size=1, random_state=s)
            .fit(P, y, metric="log_loss")
            .indices_[0]
        )
        for s in range(20)
    }
    assert firsts == {0, 1}  # the first tie is broken at random, both ways


def test_golden_roc_auc_pair_beats_members() -> None:
    # y = [0, 0, 1, 1]. A ranks (.2, .6 | .4, .9): AUC 3/4; B ranks (.6, .2 | .9, .4):
    # also 3/4. (A + B)/2 = (.4, .4 | .65, .65): AUC 1.
    P = binary([0.2, 0.6, 0.4, 0.9], [0.6, 0.2, 0.9, 0.4], [0.5, 0.5, 0.5, 0.5])
    y = np.array([0, 0, 1, 1])
    ges = GreedyEnsembleSelection(ensemble_size=5, random_state=0).fit(P, y)
    assert ges.trajectory_[:2].tolist() == [0.25, 0.0]
    assert ges.best_iteration_ == 1
    assert_array_equal(ges.weights_, [0.5, 0.5, 0.0])
    assert ges.validation_loss_ == 0.0
    # Perfect AUC: the loss is 0, so the float-noise guard stays off.
    assert ges.trajectory_.min() == 0.0


# --- the rules ------------------------------------------------------------------------


def test_ties_prefer_models_already_in_the_ensemble() -> None:
    # Model 2 is an exact copy of the best model 0; averaging in anything else hurts.
    P, y = make_prediction_tensor(4, 200, random_state=3, quality_spread=3.0)
    best = int(np.argmin(get_metric("log_loss").loss(y, P)))
    P = np.concatenate([P, P[best : best + 1]])
    copy = P.shape[0] - 1
    chosen = set()
    for seed in range(12):
        ges = GreedyEnsembleSelection(
            ensemble_size=10, use_best=False, random_state=seed
        )
        ges.fit(P, y, metric="log_loss")
        # once one copy is in, the other copy only ties with it and never enters
        assert (ges.weights_[best] == 0) or (ges.weights_[copy] == 0)
        chosen.add(int(ges.indices_[0]))
    assert chosen == {best, copy}


def test_use_best_cuts_at_first_minimum() -> None:
    P, y = make_prediction_tensor(8, 300, 3, random_state=4)
    full = GreedyEnsembleSelection(ensemble_size=20, use_best=False, random_state=0)
    cut = GreedyEnsembleSelection(ensemble_size=20, use_best=True, random_state=0)
    full.fit(P, y, metric="log_loss")
    cut.fit(P, y, metric="log_loss")
    assert_array_equal(full.trajectory_, cut.trajectory_)
    t = int(np.argmin(full.trajectory_))
    assert cut.best_iteration_ == t
    assert full.best_iteration_ == 19 and len(full.indices_) == 20
    assert_array_equal(cut.indices_, full.indices_[: t + 1])
    assert_array_equal(cut.weights_, np.bincount(cut.indices_, minlength=8) / (t + 1))
    assert cut.validation_loss_ <= full.validation_loss_


def test_plateau_keeps_the_smallest_ensemble() -> None:
    # Three copies of one model: every iteration re-adds the used copy; flat losses.
    P, y = make_prediction_tensor(1, 200, random_state=5)
    ges = GreedyEnsembleSelection(ensemble_size=6, random_state=0)
    ges.fit(P[[0, 0, 0]], y, metric="log_loss")
    assert ges.best_iteration_ == 0 and len(ges.indices_) == 1
    assert ges.trajectory_.tolist() == [ges.trajectory_[0]] * 6


def test_sorted_initialisation() -> None:
    P, y = make_prediction_tensor(7, 200, random_state=6)
    single = get_metric("roc_auc").loss(y, P)
    ges = GreedyEnsembleSelection(ensemble_size=4, init_sorted=3, random_state=0)
    ges.fit(P, y)
    top3 = np.argsort(single, kind="stable")[:3].tolist()
    assert ges.indices_[:3].tolist() == top3
    assert len(ges.trajectory_) == 4
    assert len(ges.indices_) == 3 + ges.best_iteration_ + 1
    # more than K: every model once
    all_in = GreedyEnsembleSelection(ensemble_size=1, init_sorted=50, random_state=0)
    all_in.fit(P, y)
    assert sorted(all_in.indices_[:7].tolist()) == list(range(7))


def test_float_noise_guard_rounds_to_six_decimals() -> None:
    P, y = make_prediction_tensor(2, 400, random_state=7)
    # Model 1 = model 0 nudged by one float32 ulp here and there: its loss differs only
    # by float noise, far below 1e-6.
    nudged = P[0].copy()
    nudged[::7, 1] = np.nextafter(nudged[::7, 1], np.float32(1))
    nudged[::7, 0] = 1 - nudged[::7, 1]
    P = np.stack([P[0], nudged])
    losses = get_metric("log_loss").loss(y, P)
    assert losses[0] != losses[1] and abs(losses[0] - losses[1]) < 1e-7
    for seed in range(6):
        ges = GreedyEnsembleSelection(
            ensemble_size=8, use_best=False, random_state=seed
        )
        ges.fit(P, y, metric="log_loss")
        assert_array_equal(ges.trajectory_, np.round(ges.trajectory_, 6))
        assert np.count_nonzero(ges.weights_) == 1  # the two never both enter


def test_float_noise_guard_off_near_zero_loss() -> None:
    # Near-perfect predictions: log loss ~1e-6 < 1e-4, so losses stay unrounded and
    # differences far below 1e-6 still decide.
    y = np.array([0, 1] * 50)
    sharp = np.where(y == 1, 1 - 1e-6, 1e-6).astype(np.float32)
    sharper = np.where(y == 1, 1 - 5e-7, 5e-7).astype(np.float32)
    P = binary(sharp, sharper)
    ges = GreedyEnsembleSelection(ensemble_size=3, random_state=0)
    ges.fit(P, y, metric="log_loss")
    assert ges.indices_[0] == 1
    assert ges.trajectory_[0] < 1e-4
    assert not np.array_equal(ges.trajectory_, np.round(ges.trajectory_, 6))


def test_single_model_stops_after_one_iteration() -> None:
    P, y = make_prediction_tensor(1, 50)
    ges = GreedyEnsembleSelection(ensemble_size=30).fit(P, y)
    assert ges.indices_.tolist() == [0] and len(ges.trajectory_) == 1
    assert_array_equal(ges.weights_, [1.0])


def test_validation_loss_is_the_selection_loss_exactly() -> None:
    P, y = make_prediction_tensor(10, 300, 3, random_state=8)
    ges = GreedyEnsembleSelection(random_state=0).fit(P, y, metric="log_loss")
    # combine() repeats the selection arithmetic, so rounding it gives the trajectory.
    assert round(ges.validation_loss_, 6) == ges.trajectory_[ges.best_iteration_]
    assert_array_equal(
        ges.weights_, np.bincount(ges.indices_, minlength=10) / len(ges.indices_)
    )


def test_chunking_does_not_change_the_selection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    P, y = make_prediction_tensor(11, 150, 3, random_state=9)
    whole = GreedyEnsembleSelection(ensemble_size=15, random_state=0).fit(P, y)
    monkeypatch.setattr(greedy_module, "_CHUNK_ELEMENTS", 2 * 150 * 3)
    chunked = GreedyEnsembleSelection(ensemble_size=15, random_state=0).fit(P, y)
    assert_array_equal(whole.indices_, chunked.indices_)
    assert_array_equal(whole.trajectory_, chunked.trajectory_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"ensemble_size": 0}, r"'ensemble_size' .* must be an int in the range \[1"),
        ({"ensemble_size": 2.5}, r"'ensemble_size' .* must be an int"),
        ({"init_sorted": -1}, r"'init_sorted' .* must be an int in the range \[0"),
        ({"use_best": "yes"}, r"'use_best' .* must be an instance of 'bool'"),
        ({"random_state": "seed"}, r"'random_state' .* must be"),
        ({"random_state": -1}, r"'random_state' .* must be"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    P, y = make_prediction_tensor(3, 40)
    with pytest.raises(ValueError, match=match):
        GreedyEnsembleSelection(**params).fit(P, y)


def test_random_state_generator_and_determinism() -> None:
    P, y = make_prediction_tensor(6, 80, random_state=2)
    P = np.concatenate([P, P])  # many exact ties
    runs = [
        GreedyEnsembleSelection(random_state=np.random.default_rng(5)).fit(P, y)
        for _ in range(2)
    ]
    assert_array_equal(runs[0].indices_, runs[1].indices_)


# --- property: never worse than the single best ---------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_models=st.integers(1, 8),
    n_classes=st.integers(2, 4),
    metric=st.sampled_from(["roc_auc", "log_loss", "brier", "balanced_error_rate"]),
)
def test_property_never_worse_than_single_best(
    seed: int, n_models: int, n_classes: int, metric: str
) -> None:
    P, y = make_prediction_tensor(n_models, 60, n_classes, random_state=seed)
    ges = GreedyEnsembleSelection(ensemble_size=10, random_state=seed).fit(
        P, y, metric=metric
    )
    single = SingleBest().fit(P, y, metric=metric)
    # iteration 1 scores the single best model (rounded when the guard is on)
    sb = single.validation_loss_
    assert ges.trajectory_.min() <= max(sb, round(sb, 6))
    assert ges.validation_loss_ <= single.validation_loss_ + 1e-6
    assert ges.weights_.min() >= 0 and ges.weights_.sum() == pytest.approx(1.0)
