"""Baselines every benchmark table is anchored on: the single best model from below,
the per-row oracle from above (both for classification and regression).

Sample weights: SingleBest ranks models by the weighted loss; the Oracle's per-row
choice needs none (each row takes its best member whatever it weighs), its
``weights_`` are the weighted shares of rows each model wins, and its
``validation_loss_`` is weighted."""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from autoens.metrics import Metric, check_labels, get_metric
from autoens.selectors.base import (
    BOTH_FAMILIES,
    REGRESSION,
    ROW_EQUIVALENCES,
    BaseSelector,
    check_predictions,
)
from autoens.task import RegressionTask

__all__ = ["Oracle", "SingleBest", "single_best_model"]


class SingleBest(BaseSelector):
    """All weight on the model with the lowest validation loss (ties: lowest index).

    Fitted attributes: ``weights_`` (one-hot), ``best_index_``, ``losses_`` (the loss of
    every model, shape (n_models,), weighted when ``fit`` had ``sample_weight``).
    """

    _guarantees_single_best: ClassVar[bool] = True
    _task_families: ClassVar[frozenset[str]] = BOTH_FAMILIES
    _supports_sample_weight: ClassVar[bool] = True
    _sample_weight_equivalences: ClassVar[frozenset[str]] = ROW_EQUIVALENCES

    def __init__(self) -> None:
        pass

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        self.losses_ = self.metric_.loss(y, P, self._sample_weight)
        self.best_index_ = int(np.argmin(self.losses_))
        weights = np.zeros(P.shape[0], dtype=np.float64)
        weights[self.best_index_] = 1.0
        self.weights_ = weights


def single_best_model(
    metric: Metric,
    y: np.ndarray,
    P: np.ndarray,
    sample_weight: np.ndarray | None = None,
) -> tuple[int, float]:
    """(index, loss) of the model with the lowest (weighted) loss (ties: lowest
    index), as :class:`SingleBest` picks it; the loss is that of ``P[index]`` scored
    alone, i.e. exactly what a one-hot ensemble's ``combine`` is scored at. Costs K
    evaluations.

    Selectors that promise "never worse than the single best" compare against this.
    """
    index = int(np.argmin(metric.loss(y, P, sample_weight)))
    return index, metric.loss_single(y, P[index], sample_weight)


# Regression losses that only grow with each row's absolute error: for them the
# per-row oracle is at least as good as every member.
_ROWWISE_REGRESSION_LOSSES = frozenset({"rmse", "mse", "mae", "r2_loss"})


class Oracle(BaseSelector):
    """Per-row oracle: each row takes the prediction of the model that gives its true
    class the highest probability (classification) or whose value is closest to the
    target (regression); ties go to the lowest model index.

    A **benchmark bound, not a deployable ensemble**: choosing needs the labels, so it
    cannot predict new rows. Use :meth:`score_upper_bound` (or
    :meth:`oracle_predictions`) on any labelled predictions, e.g. outer test folds.
    ``fit`` keeps the per-row choice so that ``combine`` reproduces the oracle on the
    fit data only (recognised by a fingerprint of the chosen members' predictions);
    any other data raises ``ValueError``.

    Because its row mixture puts all weight on the row's best member, it is a bound
    for every selector whose output is a per-row convex mixture of the members (GES,
    QP, CMA-ES with GES normalisation, NNLS, dynamic selection) under log loss and
    binary ROC AUC; under multiclass ROC AUC, error rates and Brier it is the usual
    oracle reference but not a guaranteed bound (the member most confident in the
    true class need not rank or classify best), nor against stacking, whose learned
    combiner can sharpen probabilities beyond every member.

    For regression it is the bound of per-row *selection* (one member per row, as
    ``local-best`` does) under RMSE, MSE, MAE and R², and it beats every member under
    those; it is not a bound for per-row *mixtures*: when members fall on both sides
    of a target, a mixture of them can hit it exactly.

    ``is_weighted_average`` is False (members weighted per row, so ``combine`` is not
    ``weights_ @ P``). Fitted attributes: ``choice_`` (n_samples,) model per row,
    ``weights_`` (share of rows each model wins, by weight with ``sample_weight``; on
    the simplex), ``validation_loss_`` (loss of the oracle on the fit data).
    """

    is_weighted_average: ClassVar[bool] = False
    can_predict: ClassVar[bool] = False  # it picks each row's member by its label
    _task_families: ClassVar[frozenset[str]] = BOTH_FAMILIES
    _supports_sample_weight: ClassVar[bool] = True
    _sample_weight_equivalences: ClassVar[frozenset[str]] = ROW_EQUIVALENCES

    def __init__(self) -> None:
        pass

    @property
    def required_members_(self) -> np.ndarray:
        """The models chosen on some row (a row of weight 0 still needs its model to
        be reproduced, even though it adds nothing to ``weights_``)."""
        check_is_fitted(self)
        return np.unique(self.choice_)

    @property
    def _guarantees_single_best(self) -> bool:  # type: ignore[override]
        # Only where the oracle provably dominates every member (see the docstring).
        metric = getattr(self, "metric_", None)
        if metric is None:
            return False
        if metric.task.family == REGRESSION:
            return metric.name in _ROWWISE_REGRESSION_LOSSES
        return metric.name == "log_loss" or (
            metric.name == "roc_auc" and self.n_classes_ == 2
        )

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        w = self._sample_weight
        self.choice_ = _oracle_choice(P, y)
        counts = np.bincount(self.choice_, weights=w, minlength=P.shape[0])
        self.weights_ = counts / counts.sum()
        self._check_weights()
        self.fingerprint_ = _fingerprint(P, self.required_members_)
        self.validation_loss_ = self.metric_.loss_single(y, self.combine(P), w)

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        """The oracle's predictions on the fit data; ``ValueError`` on other data."""
        check_is_fitted(self)
        P = self._check_combine_input(P)
        if P.shape[1] != self.choice_.shape[0] or (
            _fingerprint(P, self.required_members_) != self.fingerprint_
        ):
            raise ValueError(
                "Oracle can only reproduce the predictions it was fit on: it picks, "
                "per row, the model closest to the true label or value, which new "
                "data does not have. It is a benchmark bound, not a deployable "
                "ensemble; "
                "use Oracle.score_upper_bound(P, y, metric) or "
                "Oracle.oracle_predictions(P, y) on labelled predictions."
            )
        return P[self.choice_, np.arange(P.shape[1])]

    @staticmethod
    def oracle_predictions(P: Any, y: Any) -> np.ndarray:
        """The oracle's (n_samples, n_outputs) float32 predictions on labelled data
        (``P`` with one output column is read as regression values)."""
        P, y = _check_labelled(P, y)
        return P[_oracle_choice(P, y), np.arange(P.shape[1])]

    @staticmethod
    def score_upper_bound(P: Any, y: Any, metric: str | Metric = "roc_auc") -> float:
        """The oracle's user-facing score (``metric.score_name``: the highest ROC AUC,
        the lowest log loss or RMSE) on labelled predictions ``P``; see the class
        docstring for when it bounds a selector."""
        m = get_metric(metric)
        P, y = _check_labelled(P, y, m)
        return m.to_score(m.loss_single(y, Oracle.oracle_predictions(P, y)))


def _check_labelled(
    P: Any, y: Any, metric: Metric | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``P`` and ``y`` validated for the metric's family (without a metric: one
    output column means regression)."""
    regression = (
        metric.task.family == REGRESSION
        if metric is not None
        else np.ndim(P) == 3 and np.shape(P)[2] == 1
    )
    if regression:
        P = RegressionTask.check_predictions(P)
        return P, RegressionTask.check_target(y, P.shape[1], 1)
    P = check_predictions(P)
    return P, check_labels(y, P.shape[1], P.shape[2])


def _oracle_choice(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row, the model giving the true class the highest probability
    (classification), or whose value is closest to the target (regression, float
    ``y``)."""
    if y.dtype.kind == "f":
        error = np.abs(P[..., 0].astype(np.float64) - y[None, :])
        return error.argmin(axis=0).astype(np.intp)
    true_class = np.take_along_axis(P, y[None, :, None], axis=2)[..., 0]
    return true_class.argmax(axis=0).astype(np.intp)


def _fingerprint(P: np.ndarray, members: np.ndarray) -> str:
    """A digest of the members' predictions (the only slices ``combine`` reads)."""
    data = np.ascontiguousarray(P[members], dtype=np.float32)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(data.shape).encode())
    digest.update(data.tobytes())
    return digest.hexdigest()
