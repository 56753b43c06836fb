"""Weighted losses (``sample_weight``) against scikit-learn, and their properties."""

from __future__ import annotations

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
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from autoens.metrics import METRIC_NAMES, Metric, check_sample_weight, get_metric
from autoens.metrics import base as metrics_base
from autoens.metrics import classification as metrics_module
from autoens.metrics.base import identity
from autoens.metrics.weighted_auc import weighted_auc
from autoens.task import RegressionTask

CLASSIFICATION_NAMES = tuple(
    n for n in METRIC_NAMES if get_metric(n).task.family == "classification"
)
REGRESSION_NAMES = tuple(
    n for n in METRIC_NAMES if get_metric(n).task.family == "regression"
)


def sk_loss(name: str, y: np.ndarray, P: np.ndarray, w: np.ndarray | None) -> float:
    """scikit-learn's weighted value for one (N, C) matrix, as our loss."""
    n_classes = P.shape[1]
    labels = list(range(n_classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if name == "roc_auc":
            if n_classes == 2:
                return 1.0 - roc_auc_score(y, P[:, 1], sample_weight=w)
            return 1.0 - roc_auc_score(
                y, P, multi_class="ovr", average="macro", sample_weight=w
            )
        if name == "log_loss":
            return log_loss(y, P, labels=labels, sample_weight=w)
        if name == "brier":
            return brier_score_loss(y, P, labels=labels, sample_weight=w)
        if name == "error_rate":
            return 1.0 - accuracy_score(y, P.argmax(axis=1), sample_weight=w)
        if name == "balanced_error_rate":
            return 1.0 - balanced_accuracy_score(y, P.argmax(axis=1), sample_weight=w)
    raise AssertionError(name)


def sk_regression(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    if name == "rmse":
        return root_mean_squared_error(y, p, sample_weight=w)
    if name == "mse":
        return mean_squared_error(y, p, sample_weight=w)
    if name == "mae":
        return mean_absolute_error(y, p, sample_weight=w)
    return 1.0 - r2_score(y, p, sample_weight=w)


def random_batch(
    rng: np.random.Generator, K: int, N: int, C: int, *, ties: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rows on the simplex; with ``ties``, counts out of 10 (many tied scores)."""
    y = rng.integers(0, C, size=N)
    y[:C] = np.arange(C)
    alpha = np.full(C, 0.7)
    if ties:
        E = rng.multinomial(10, rng.dirichlet(alpha), size=(K, N)) / 10.0
    else:
        E = rng.dirichlet(alpha, size=(K, N))
    return E.astype(np.float32), y


def random_weights(rng: np.random.Generator, N: int, *, zeros: bool) -> np.ndarray:
    w = rng.uniform(0.0, 3.0, N)
    if zeros:
        w[rng.random(N) < 0.25] = 0.0
    w[:4] = 1.0  # the rows that hold every class keep a positive weight
    return w


# --- against scikit-learn -------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSIFICATION_NAMES)
@pytest.mark.parametrize("n_classes", [2, 3, 4])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("zeros", [False, True])
def test_weighted_losses_match_sklearn(
    name: str, n_classes: int, ties: bool, zeros: bool
) -> None:
    rng = np.random.default_rng([n_classes, ties, zeros, len(name)])
    E, y = random_batch(rng, 7, 251, n_classes, ties=ties)
    w = random_weights(rng, 251, zeros=zeros)
    ours = get_metric(name).loss(y, E, sample_weight=w)
    expected = [sk_loss(name, y, E[k], w) for k in range(7)]
    assert ours.shape == (7,) and ours.dtype == np.float64
    assert_allclose(ours, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", REGRESSION_NAMES)
def test_weighted_regression_losses_match_sklearn(name: str) -> None:
    rng = np.random.default_rng(len(name))
    y = rng.normal(300.0, 20.0, 180)
    E = (y[None, :, None] + rng.normal(0.0, 7.0, (5, 180, 1))).astype(np.float32)
    w = random_weights(rng, 180, zeros=True)
    ours = get_metric(name).loss(y, E, sample_weight=w)
    expected = [sk_regression(name, y, E[k, :, 0], w) for k in range(5)]
    assert_allclose(ours, expected, rtol=1e-12)


def test_weighted_r2_of_a_constant_target_follows_sklearn() -> None:
    # The rows of positive weight hold one value: the weighted spread is 0, and
    # scikit-learn (force_finite) scores a perfect prediction 1, anything else 0.
    y = np.array([5.0, 5.0, 5.0, 9.0])
    w = np.array([1.0, 2.0, 3.0, 0.0])
    E = np.array([[5, 5, 5, 0], [5, 5, 6, 9]], dtype=np.float32)[:, :, None]
    ours = get_metric("r2").loss(y, E, sample_weight=w)
    expected = [1.0 - r2_score(y, E[k, :, 0], sample_weight=w) for k in range(2)]
    assert_array_equal(ours, expected)
    assert_array_equal(ours, [0.0, 1.0])


def test_weighted_balanced_error_drops_classes_of_zero_weight() -> None:
    rng = np.random.default_rng(3)
    E, y = random_batch(rng, 4, 90, 3, ties=False)
    w = rng.uniform(0.5, 2.0, 90)
    w[y == 2] = 0.0  # class 2 has rows, but they weigh nothing
    ours = get_metric("balanced_error_rate").loss(y, E, sample_weight=w)
    assert_allclose(ours, [sk_loss("balanced_error_rate", y, e, w) for e in E])


def test_weighted_auc_of_arbitrary_scores_matches_sklearn() -> None:
    # Negative values, -0.0 against 0.0 (a tie), huge values: any finite float32.
    rng = np.random.default_rng(1)
    values = np.array([-1e30, -3.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 2.0, 1e30])
    label = rng.integers(0, 2, 400)
    scores = rng.choice(values.astype(np.float32), size=(5, 400))
    scores[0] = np.where(label == 1, -0.0, 0.0)  # only the sign of zero differs
    w = rng.uniform(0.0, 2.0, 400)
    ours = weighted_auc(scores, label, w)
    expected = [roc_auc_score(label, s, sample_weight=w) for s in scores]
    assert_allclose(ours, expected, rtol=0, atol=1e-12)
    assert ours[0] == 0.5


def test_weighted_auc_heavy_ties_many_models_matches_sklearn() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, size=3000)
    scores = np.round(rng.random((40, 3000)) * 0.6 + 0.4 * y, 1).astype(np.float32)
    E = np.stack([1 - scores, scores], axis=2)
    w = rng.exponential(1.0, 3000)
    ours = get_metric("roc_auc").loss(y, E, sample_weight=w)
    expected = [1 - roc_auc_score(y, s, sample_weight=w) for s in scores]
    assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_scorer_metric_passes_sample_weight() -> None:
    rng = np.random.default_rng(0)
    E, y = random_batch(rng, 3, 120, 3, ties=False)
    w = rng.uniform(0.0, 2.0, 120)
    ours = get_metric("f1_macro").loss(y, E, sample_weight=w)
    expected = [
        -f1_score(y, e.argmax(axis=1), average="macro", sample_weight=w) for e in E
    ]
    assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_scorer_without_sample_weight_is_refused() -> None:
    metric = get_metric("neg_max_error", task=RegressionTask)
    E = np.zeros((1, 5, 1), dtype=np.float32)
    y = np.arange(5.0)
    assert metric.loss(y, E)[0] == 4.0
    with pytest.raises(ValueError, match="does not accept sample_weight"):
        metric.loss(y, E, sample_weight=np.ones(5))


# --- weights as rows ------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSIFICATION_NAMES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_integer_weights_equal_repeated_rows(name: str, n_classes: int) -> None:
    rng = np.random.default_rng([n_classes, len(name)])
    E, y = random_batch(rng, 5, 150, n_classes, ties=True)
    counts = rng.integers(0, 4, 150)
    counts[:n_classes] = 1
    metric = get_metric(name)
    weighted = metric.loss(y, E, sample_weight=counts)
    repeated = metric.loss(np.repeat(y, counts), np.repeat(E, counts, axis=1))
    # Log loss and Brier average in float32 without weights, in float64 with them.
    rtol = 1e-6 if name in ("log_loss", "brier") else 0.0
    assert_allclose(weighted, repeated, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name", REGRESSION_NAMES)
def test_regression_integer_weights_equal_repeated_rows(name: str) -> None:
    rng = np.random.default_rng(len(name))
    y = rng.normal(0.0, 3.0, 100)
    E = (y[None, :, None] + rng.normal(0.0, 1.0, (4, 100, 1))).astype(np.float32)
    counts = rng.integers(0, 4, 100)
    metric = get_metric(name)
    weighted = metric.loss(y, E, sample_weight=counts)
    repeated = metric.loss(np.repeat(y, counts), np.repeat(E, counts, axis=1))
    assert_allclose(weighted, repeated, rtol=1e-12)


@pytest.mark.parametrize("name", [*CLASSIFICATION_NAMES, *REGRESSION_NAMES])
def test_equal_weights_equal_no_weights(name: str) -> None:
    metric = get_metric(name)
    rng = np.random.default_rng(len(name))
    if metric.task.family == "regression":
        y = rng.normal(size=80)
        E = rng.normal(size=(4, 80, 1)).astype(np.float32)
    else:
        E, y = random_batch(rng, 4, 80, 3, ties=True)
    plain = metric.loss(y, E)
    assert_array_equal(metric.loss(y, E, sample_weight=None), plain)
    rtol = 1e-6 if name in ("log_loss", "brier") else 1e-12
    for value in (1.0, 0.01, 7.0):
        assert_allclose(
            metric.loss(y, E, sample_weight=np.full(80, value)), plain, rtol=rtol
        )


@pytest.mark.parametrize("name", [*CLASSIFICATION_NAMES, *REGRESSION_NAMES])
def test_a_weighted_loss_does_not_depend_on_its_batch(name: str) -> None:
    # Selectors compare a candidate scored in a batch with the same ensemble scored
    # alone (validation_loss_, the single-best fallback): they must be identical.
    metric = get_metric(name)
    rng = np.random.default_rng(8)
    if metric.task.family == "regression":
        y = rng.normal(size=101)
        E = rng.normal(size=(6, 101, 1)).astype(np.float32)
    else:
        E, y = random_batch(rng, 6, 101, 3, ties=True)
    w = random_weights(rng, 101, zeros=True)
    batch = metric.loss(y, E, sample_weight=w)
    reduced = metric.loss_reduced(y, metric.reduce_all(y, E), sample_weight=w)
    singles = [metric.loss_single(y, e, sample_weight=w) for e in E]
    assert_array_equal(batch, reduced)
    assert_array_equal(batch, singles)
    assert_array_equal(batch[2:5], metric.loss(y, E[2:5], sample_weight=w))


def test_weighted_auc_chunking_and_threads_do_not_change_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(2)
    E, y = random_batch(rng, 23, 400, 4, ties=True)
    w = random_weights(rng, 400, zeros=True)
    metric = get_metric("roc_auc")
    whole = metric.loss(y, E, sample_weight=w)
    monkeypatch.setattr(metrics_module, "_TASK_ELEMENTS", 1000)  # 2 rows per task
    monkeypatch.setattr(metrics_base, "_CHUNK_ELEMENTS", 5000)  # 3 models per chunk
    assert_array_equal(metric.loss(y, E, sample_weight=w), whole)
    monkeypatch.setattr(metrics_module, "_N_THREADS", 1)
    assert_array_equal(metric.loss(y, E, sample_weight=w), whole)


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("w", "match"),
    [
        (np.ones(9), "one weight per row"),
        (np.ones((10, 1)), "one weight per row"),
        (np.ones(()), "one weight per row"),
        (np.r_[np.ones(9), -1.0], "non-negative"),
        (np.r_[np.ones(9), np.nan], "NaN or infinite"),
        (np.r_[np.ones(9), np.inf], "NaN or infinite"),
        (np.zeros(10), "all zero"),
        (np.array(["a"] * 10), "numeric"),
    ],
)
def test_invalid_weights_raise(w: np.ndarray, match: str) -> None:
    rng = np.random.default_rng(0)
    E, y = random_batch(rng, 2, 10, 2, ties=False)
    for name in CLASSIFICATION_NAMES:
        with pytest.raises(ValueError, match=match):
            get_metric(name).loss(y, E, sample_weight=w)
    with pytest.raises(ValueError, match=match):
        check_sample_weight(w, 10)


def test_check_sample_weight_returns_float64_or_none() -> None:
    assert check_sample_weight(None, 3) is None
    w = check_sample_weight([1, 0, 2], 3)
    assert w.dtype == np.float64 and w.tolist() == [1.0, 0.0, 2.0]


def test_weighted_auc_needs_weight_in_both_classes() -> None:
    y = np.array([0, 1, 0, 1])
    E = np.tile(np.array([[0.6, 0.4]], np.float32), (1, 4, 1))
    with pytest.raises(ValueError, match="class 1 has no positive sample"):
        get_metric("roc_auc").loss(y, E, sample_weight=[1.0, 0.0, 1.0, 0.0])
    E3 = np.full((1, 4, 3), 1 / 3, np.float32)
    y3 = np.array([0, 1, 2, 2])
    with pytest.raises(ValueError, match="class 0 has no positive sample"):
        get_metric("roc_auc").loss(y3, E3, sample_weight=[0.0, 1.0, 1.0, 1.0])


def test_a_metric_without_weighted_loss_refuses_weights() -> None:
    metric = Metric("mine", "mine", False, identity, lambda y, R: R.mean(axis=(1, 2)))
    E = np.full((1, 4, 2), 0.5, np.float32)
    y = np.array([0, 1, 0, 1])
    assert not metric.supports_sample_weight
    assert get_metric("log_loss").supports_sample_weight
    assert metric.loss(y, E)[0] == 0.5
    with pytest.raises(ValueError, match="does not support sample_weight"):
        metric.loss(y, E, sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="does not support sample_weight"):
        metric.loss_reduced(y, E, sample_weight=np.ones(4))


# --- properties -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(2, 40),
    levels=st.sampled_from([2, 3, 5, 1000]),
)
def test_property_weighted_auc_matches_sklearn(
    data: st.DataObject, n: int, levels: int
) -> None:
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[:2] = [0, 1]
    scores = np.array(
        data.draw(st.lists(st.integers(0, levels - 1), min_size=n, max_size=n)),
        dtype=np.float32,
    ) / np.float32(levels)
    w = np.array(
        data.draw(
            st.lists(
                st.one_of(st.just(0.0), st.floats(0.01, 100.0)), min_size=n, max_size=n
            )
        )
    )
    w[:2] = np.maximum(w[:2], 0.5)
    E = np.stack([1 - scores, scores], axis=1)[None]
    ours = get_metric("roc_auc").loss(y, E, sample_weight=w)[0]
    assert ours == pytest.approx(
        1 - roc_auc_score(y, scores, sample_weight=w), abs=1e-12
    )
    # Scaling every weight changes nothing.
    scaled = get_metric("roc_auc").loss(y, E, sample_weight=w * 1000.0)[0]
    assert scaled == pytest.approx(ours, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_classes=st.integers(2, 5),
    name=st.sampled_from(CLASSIFICATION_NAMES),
)
def test_property_weights_act_as_repeated_rows(
    seed: int, n_classes: int, name: str
) -> None:
    rng = np.random.default_rng(seed)
    E, y = random_batch(rng, 3, 50, n_classes, ties=bool(seed % 2))
    counts = rng.integers(0, 3, 50)
    counts[:n_classes] = 1
    metric = get_metric(name)
    weighted = metric.loss(y, E, sample_weight=counts)
    repeated = metric.loss(np.repeat(y, counts), np.repeat(E, counts, axis=1))
    rtol = 1e-6 if name in ("log_loss", "brier") else 0.0
    assert_allclose(weighted, repeated, rtol=rtol, atol=1e-12)
    assert_allclose(
        weighted, [sk_loss(name, y, e, counts) for e in E], rtol=0, atol=1e-12
    )
