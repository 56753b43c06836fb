"""Any scikit-learn scorer as a :class:`~autoens.metrics.Metric` (the generic path).

The built-in losses are vectorised over candidate ensembles; a scorer name that is not
one of them (``"f1_macro"``, ``"matthews_corrcoef"``, ``"neg_median_absolute_error"``,
...) is scored through scikit-learn's own scorer, one candidate at a time, by handing
it a stand-in estimator whose predictions are the candidate's. Only the public scorer
API is used (``sklearn.metrics.get_scorer``), so the scorer decides which response
(labels, probabilities, decision values) it reads. Slower than the built-ins, exact by
construction. Sample weights go to the scorer (``scorer(..., sample_weight=w)``); a
scorer whose metric takes none is refused with a ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer, get_scorer_names

from autoens.metrics.base import Metric, identity

__all__ = ["is_scorer_name", "scorer_metric"]


def is_scorer_name(name: str) -> bool:
    """Whether scikit-learn knows a scorer of this name."""
    return name in get_scorer_names()


class _FixedClassifier(ClassifierMixin, BaseEstimator):
    """Answers a scorer's calls with fixed class probabilities; ``X`` is row indices."""

    def __init__(self, proba: np.ndarray) -> None:
        self.proba = proba
        self.classes_ = np.arange(proba.shape[1])

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.proba[np.asarray(X)[:, 0]]

    def decision_function(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return proba[:, 1] if proba.shape[1] == 2 else proba

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


class _FixedRegressor(RegressorMixin, BaseEstimator):
    """Answers a scorer's calls with fixed values; ``X`` is row indices."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def predict(self, X: Any) -> np.ndarray:
        return self.values[np.asarray(X)[:, 0]]


class _ScorerLoss:
    """``-scorer(candidate)`` for each candidate of a batch (picklable, unlike a
    closure, because fitted models keep their metric)."""

    def __init__(self, name: str, family: str) -> None:
        self.name, self.family = name, family

    def __call__(
        self, y: np.ndarray, R: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        scorer = get_scorer(self.name)
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        rows = np.arange(R.shape[1])[:, None]
        out = np.empty(R.shape[0], dtype=np.float64)
        for k in range(R.shape[0]):  # the generic path: one scorer call per candidate
            candidate = R[k].astype(np.float64)
            if self.family == "regression":
                stand_in: BaseEstimator = _FixedRegressor(candidate[:, 0])
            else:
                stand_in = _FixedClassifier(candidate)
            try:
                out[k] = -float(scorer(stand_in, rows, y, **kwargs))
            except TypeError as exc:
                if sample_weight is None or "sample_weight" not in str(exc):
                    raise
                raise ValueError(
                    f"the scikit-learn scorer {self.name!r} does not accept "
                    "sample_weight; choose a metric that does, or pass no weights."
                ) from None
        return out


def scorer_metric(name: str, task: Any) -> Metric:
    """A Metric that scores with scikit-learn's scorer ``name`` for ``task``'s family.

    The loss is the negated scorer value (scorers are higher-is-better), and the
    score users see is the scorer's own value.
    Weighted losses pass ``sample_weight`` to the scorer.
    """
    loss = _ScorerLoss(name, task.family)
    return Metric(
        name=name,
        score_name=name,
        greater_is_better=True,
        _reduce=identity,
        _loss=loss,
        task=task,
        score_offset=0.0,
        _weighted_loss=loss,
    )
