"""Batch losses against scikit-learn, golden values, and properties."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)

from autoens.metrics import METRIC_NAMES, Metric, get_metric
from autoens.metrics import base as metrics_base
from autoens.metrics import classification as metrics_module

#: The vectorised classification losses (regression ones: test_metrics_regression.py).
CLASSIFICATION_NAMES = tuple(
    n for n in METRIC_NAMES if get_metric(n).task.family == "classification"
)


def sk_loss(name: str, y: np.ndarray, P: np.ndarray) -> float:
    """scikit-learn's value for one (N, C) matrix, as our loss (lower is better)."""
    n_classes = P.shape[1]
    labels = list(range(n_classes))
    with warnings.catch_warnings():
        # balanced_accuracy warns when a class is predicted but absent from y.
        warnings.simplefilter("ignore", UserWarning)
        if name == "roc_auc":
            if n_classes == 2:
                return 1.0 - roc_auc_score(y, P[:, 1])
            return 1.0 - roc_auc_score(y, P, multi_class="ovr", average="macro")
        if name == "log_loss":
            return log_loss(y, P, labels=labels)
        if name == "brier":
            return brier_score_loss(y, P, labels=labels)
        if name == "error_rate":
            return 1.0 - accuracy_score(y, P.argmax(axis=1))
        if name == "balanced_error_rate":
            return 1.0 - balanced_accuracy_score(y, P.argmax(axis=1))
    raise AssertionError(name)


def random_batch(
    rng: np.random.Generator, K: int, N: int, C: int, *, ties: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rows on the simplex; with ``ties``, counts out of 10 (one decimal, many ties)."""
    y = rng.integers(0, C, size=N)
    y[:C] = np.arange(C)  # every class present (OvR AUC needs it)
    alpha = np.full(C, 0.7)
    if ties:
        E = rng.multinomial(10, rng.dirichlet(alpha), size=(K, N)) / 10.0
    else:
        E = rng.dirichlet(alpha, size=(K, N))
    return E.astype(np.float32), y


def tolerance(name: str) -> dict[str, float]:
    # Log loss and Brier repeat sklearn's float32 arithmetic; the others are float64
    # (AUC: exact count vs trapezoid; error rates: 1 - (1 - acc) rounding).
    if name in ("log_loss", "brier"):
        return {"rtol": 1e-6, "atol": 0.0}
    return {"rtol": 0.0, "atol": 1e-12}


@pytest.mark.parametrize("name", CLASSIFICATION_NAMES)
@pytest.mark.parametrize("n_classes", [2, 3, 6])
@pytest.mark.parametrize("K", [1, 9])
@pytest.mark.parametrize("ties", [False, True])
def test_matches_sklearn(name: str, n_classes: int, K: int, ties: bool) -> None:
    rng = np.random.default_rng([K, n_classes, ties])
    E, y = random_batch(rng, K, 211, n_classes, ties=ties)
    ours = get_metric(name).loss(y, E)
    expected = np.array([sk_loss(name, y, E[k]) for k in range(K)])
    assert ours.shape == (K,) and ours.dtype == np.float64
    assert_allclose(ours, expected, **tolerance(name))


@pytest.mark.parametrize("name", ["log_loss", "brier"])
@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_float32_losses_are_bit_identical_to_sklearn(name: str, n_classes: int) -> None:
    # GES compares candidates to 6 decimals; matching sklearn bit for bit means a
    # reference built on sklearn selects exactly the same members.
    rng = np.random.default_rng(n_classes)
    E, y = random_batch(rng, 5, 5003, n_classes, ties=False)
    ours = get_metric(name).loss(y, E)
    assert_array_equal(ours, [sk_loss(name, y, E[k]) for k in range(5)])


def test_roc_auc_heavy_ties_many_models_matches_sklearn() -> None:
    # Scores rounded to one decimal: every row has large mixed tie groups.
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, size=3000)
    scores = np.round(rng.random((40, 3000)) * 0.6 + 0.4 * y, 1).astype(np.float32)
    E = np.stack([1 - scores, scores], axis=2)
    ours = get_metric("roc_auc").loss(y, E)
    expected = [1 - roc_auc_score(y, scores[k]) for k in range(40)]
    assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_roc_auc_arbitrary_scores_negative_zero_and_large() -> None:
    # Not probabilities: negative values, -0.0 vs 0.0 (a tie), values >= 2 take the
    # general 64-bit key path.
    rng = np.random.default_rng(1)
    values = np.array([-3.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 2.0, 7e5], np.float32)
    y = rng.integers(0, 2, size=500)
    scores = rng.choice(values, size=(6, 500))
    scores[0] = np.where(y == 1, -0.0, 0.0)  # only the sign of zero differs: AUC 0.5
    E = np.stack([np.zeros_like(scores), scores], axis=2)
    ours = get_metric("roc_auc").loss(y, E)
    expected = [1 - roc_auc_score(y, scores[k]) for k in range(6)]
    assert_allclose(ours, expected, rtol=0, atol=1e-12)
    assert ours[0] == 0.5


def test_roc_auc_negative_zero_in_probabilities() -> None:
    y = np.array([0, 1, 0, 1, 1])
    p1 = np.array([-0.0, 0.0, 0.5, 0.5, 1.0], np.float32)
    E = np.stack([1 - p1, p1], axis=1)[None]
    # pairs (neg, pos): (0,0) tie, (0,.5), (0,1), (.5,0) lost, (.5,.5) tie, (.5,1)
    assert get_metric("roc_auc").loss(y, E)[0] == pytest.approx(1 - 4.0 / 6.0)


@pytest.mark.parametrize(("few_ties", "int32_positions"), [(0, 10), (10**9, 65536)])
def test_roc_auc_both_tie_paths_match_sklearn(
    few_ties: int, int32_positions: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # few_ties 0: long tie groups sized by the vectorised search, 10**9: one search per
    # group; int32_positions 10: position sums in float64 (the path for > 65536 rows).
    monkeypatch.setattr(metrics_module, "_FEW_TIES", few_ties)
    monkeypatch.setattr(metrics_module, "_INT32_POSITIONS", int32_positions)
    rng = np.random.default_rng(4)
    E, y = random_batch(rng, 6, 700, 3, ties=True)
    E[:, :, 0] = np.round(E[:, :, 0] * 3) - 1.5  # negative scores: 64-bit keys
    ours = get_metric("roc_auc").loss(y, E)
    expected = [
        1 - np.mean([roc_auc_score(y == c, E[k, :, c]) for c in range(3)])
        for k in range(6)
    ]
    assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_roc_auc_chunking_and_threads_do_not_change_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(2)
    E, y = random_batch(rng, 23, 400, 4, ties=True)
    metric = get_metric("roc_auc")
    whole = metric.loss(y, E)
    monkeypatch.setattr(metrics_module, "_TASK_ELEMENTS", 1000)  # 2 rows per task
    monkeypatch.setattr(metrics_base, "_CHUNK_ELEMENTS", 5000)  # 3 models per chunk
    assert_array_equal(metric.loss(y, E), whole)


# --- golden values computed by hand ---------------------------------------------------


def as_binary(p1: list[float]) -> np.ndarray:
    p = np.asarray(p1, dtype=np.float32)
    return np.stack([1 - p, p], axis=1)


def test_golden_binary_values() -> None:
    y = np.array([0, 0, 1, 1])
    P = as_binary([0.1, 0.4, 0.35, 0.8])
    # positives .35 and .8 against negatives .1 and .4: 3 of 4 pairs in order.
    assert get_metric("roc_auc").loss_single(y, P) == pytest.approx(0.25)
    # ties: negatives {.5, .2}, positives {.5, .9}: 3 wins + one tie = 3.5 / 4.
    y2 = np.array([0, 1, 0, 1])
    auc_loss = get_metric("roc_auc").loss_single(y2, as_binary([0.5, 0.5, 0.2, 0.9]))
    assert auc_loss == pytest.approx(1 - 3.5 / 4)

    y3 = np.array([0, 1])
    P3 = as_binary([0.2, 0.6])
    expected_ll = -(math.log(0.8) + math.log(0.6)) / 2
    assert get_metric("log_loss").loss_single(y3, P3) == pytest.approx(expected_ll)
    # binary Brier is halved: ((0.2)^2 + (0.4)^2) / 2
    assert get_metric("brier").loss_single(y3, P3) == pytest.approx(0.1)


def test_golden_multiclass_values() -> None:
    y = np.array([0])
    P = np.array([[0.5, 0.3, 0.2]], np.float32)
    # multiclass Brier is not halved: .25 + .09 + .04
    assert get_metric("brier").loss_single(y, P) == pytest.approx(0.38)

    y = np.array([0, 1, 2, 2])
    P = np.array(
        [[0.4, 0.4, 0.2], [0.1, 0.8, 0.1], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6]],
        np.float32,
    )
    # argmax: 0 (tie 0/1 -> lowest), 1, 0, 2 -> 3 of 4 right
    assert get_metric("error_rate").loss_single(y, P) == pytest.approx(0.25)
    # recalls: class 0: 1/1, class 1: 1/1, class 2: 1/2 -> mean 5/6
    assert get_metric("balanced_error_rate").loss_single(y, P) == pytest.approx(1 / 6)
    # perfect ranking for every class -> OvR AUC 1
    P_perfect = np.eye(3, dtype=np.float32)[y] * 0.8 + 0.2 / 3
    assert get_metric("roc_auc").loss_single(y, P_perfect) == pytest.approx(0.0)


def test_balanced_error_ignores_classes_absent_from_y() -> None:
    y = np.array([0, 0, 0, 1])
    P = np.array([[0.1, 0.2, 0.7], [0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.7, 0.2, 0.1]])
    # class 2 is predicted but absent: recalls 2/3 (class 0) and 0 (class 1).
    loss = get_metric("balanced_error_rate").loss_single(y, P)
    assert loss == pytest.approx(1 - (2 / 3 + 0) / 2)


def test_log_loss_clips_zero_probabilities_like_sklearn() -> None:
    y = np.array([0, 1, 1])
    P = as_binary([0.0, 0.0, 1.0])  # a confident miss on row 2
    eps = np.finfo(np.float32).eps
    expected = -(0.0 + math.log(eps) + math.log(1 - eps)) / 3
    ours = get_metric("log_loss").loss_single(y, P)
    assert ours == pytest.approx(expected, rel=1e-6)
    assert ours == pytest.approx(log_loss(y, P, labels=[0, 1]), rel=1e-7)


# --- names, scores, errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("roc_auc", "roc_auc"),
        ("roc_auc_ovr", "roc_auc"),
        ("neg_log_loss", "log_loss"),
        ("neg_brier_score", "brier"),
        ("accuracy", "error_rate"),
        ("balanced_accuracy", "balanced_error_rate"),
        ("Log_Loss", "log_loss"),
    ],
)
def test_aliases(alias: str, canonical: str) -> None:
    assert get_metric(alias).name == canonical
    assert get_metric(get_metric(alias)) is get_metric(canonical)


def test_metric_names_and_scores() -> None:
    assert METRIC_NAMES == (
        "roc_auc",
        "log_loss",
        "brier",
        "error_rate",
        "balanced_error_rate",
        "rmse",
        "mse",
        "mae",
        "r2_loss",
    )
    assert get_metric("roc_auc").to_score(0.25) == 0.75
    assert get_metric("error_rate").to_score(0.1) == pytest.approx(0.9)
    assert get_metric("balanced_error_rate").score_name == "balanced_accuracy"
    assert get_metric("log_loss").to_score(0.3) == 0.3
    assert get_metric("brier").to_score(0.2) == 0.2
    greater = {n: get_metric(n).greater_is_better for n in CLASSIFICATION_NAMES}
    assert greater == {
        "roc_auc": True,
        "log_loss": False,
        "brier": False,
        "error_rate": True,
        "balanced_error_rate": True,
    }


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown metric 'f2'.*neg_log_loss.*roc_auc"):
        get_metric("f2")
    with pytest.raises(ValueError, match="Unknown metric"):
        get_metric(3)  # type: ignore[arg-type]


def test_metric_pickles_and_compares_by_name() -> None:
    m = get_metric("log_loss")
    assert pickle.loads(pickle.dumps(m)) == m
    assert isinstance(m, Metric) and m != get_metric("brier")


@pytest.mark.parametrize(
    ("y", "E", "match"),
    [
        (np.zeros(4, int), np.full((1, 4, 2), 0.5), "only class 0"),
        (
            np.array([0, 1, 1, 0]),
            np.full((1, 4, 3), 1 / 3),
            "class 2: it has no samples",
        ),
        (np.array([0, 1]), np.full((2, 2), 0.5), "n_candidates, n_samples"),
        (np.array([0, 2]), np.full((1, 2, 2), 0.5), r"y must lie in \[0, 2\)"),
        (np.array([0, 1, 1]), np.full((1, 2, 2), 0.5), "3 labels but"),
        (np.array([0.0, 1.0]), np.full((1, 2, 2), 0.5), "integer class indices"),
        (np.array([0, 1]), np.full((1, 2, 2), np.nan), "NaN"),
    ],
)
def test_bad_input_raises(y: np.ndarray, E: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        get_metric("roc_auc").loss(y, E)


# --- hot-path API ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSIFICATION_NAMES)
@pytest.mark.parametrize("n_classes", [2, 4])
def test_reduce_commutes_with_candidate_arithmetic(name: str, n_classes: int) -> None:
    rng = np.random.default_rng(3)
    P, y = random_batch(rng, 7, 150, n_classes, ties=True)
    S = P[:3].sum(axis=0)
    metric = get_metric(name)
    candidates = (S + P) / np.float32(4)
    R = metric.reduce(y, P)
    S_reduced = metric.reduce(y, S[None])[0]
    reduced_candidates = (S_reduced + R) / np.float32(4)
    assert_array_equal(metric.reduce(y, candidates), reduced_candidates)
    assert_array_equal(
        metric.loss_reduced(y, reduced_candidates), metric.loss(y, candidates)
    )


# --- properties -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(2, 40),
    levels=st.sampled_from([2, 3, 5, 1000]),
)
def test_property_binary_auc_matches_sklearn(data: st.DataObject, n: int, levels: int):
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    if y.min() == y.max():
        y[0] = 1 - y[0]
    scores = np.array(
        data.draw(st.lists(st.integers(0, levels - 1), min_size=n, max_size=n)),
        dtype=np.float32,
    ) / np.float32(levels)
    E = np.stack([1 - scores, scores], axis=1)[None]
    ours = get_metric("roc_auc").loss(y, E)[0]
    assert ours == pytest.approx(1 - roc_auc_score(y, scores), abs=1e-12)
    # Reversing the ranking (exact negation) mirrors the AUC, ties included.
    flipped = np.stack([scores, -scores], axis=1)[None]
    assert get_metric("roc_auc").loss(y, flipped)[0] == pytest.approx(
        1 - ours, abs=1e-12
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_classes=st.integers(2, 5),
    K=st.integers(1, 6),
    name=st.sampled_from(CLASSIFICATION_NAMES),
)
def test_property_batch_equals_singles(seed: int, n_classes: int, K: int, name: str):
    rng = np.random.default_rng(seed)
    E, y = random_batch(rng, K, 60, n_classes, ties=bool(seed % 2))
    metric = get_metric(name)
    batch = metric.loss(y, E)
    singles = [metric.loss_single(y, E[k]) for k in range(K)]
    assert_array_equal(batch, singles)
    assert_allclose(
        batch, [sk_loss(name, y, E[k]) for k in range(K)], **tolerance(name)
    )
    if name in ("roc_auc", "error_rate", "balanced_error_rate", "brier"):
        assert ((batch >= 0) & (batch <= 2)).all()
