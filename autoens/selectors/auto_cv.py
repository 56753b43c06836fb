"""Inner cross-validation of ``selector="auto"`` on the out-of-fold rows: the row
subsample, the folds, one candidate's held-out predictions, and the mean and
standard error of its losses."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from autoens.metrics import Metric
from autoens.selectors.base import BaseSelector

__all__: list[str] = []


def _subsample(
    y: np.ndarray, max_rows: int | None, seed: int, *, regression: bool = False
) -> np.ndarray:
    """Sorted indices of a random subset of ``max_rows`` rows (or all), stratified by
    class for classification."""
    n = y.shape[0]
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    stratify = None
    if not regression:
        counts = np.bincount(y)
        stratify = y if counts[counts > 0].min() >= 2 else None
    subset, _ = train_test_split(
        np.arange(n), train_size=max_rows, stratify=stratify, random_state=seed
    )
    return np.sort(subset)


def _inner_folds(
    y: np.ndarray, n_splits: int, seed: int, *, regression: bool = False
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified shuffled folds, fewer when a class is rarer than ``n_splits``; for
    regression shuffled folds (fewer when there are fewer rows)."""
    n = y.shape[0]
    if n < 2:
        return []
    if regression:
        splitter = KFold(min(n_splits, n), shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(n)))
    counts = np.bincount(y)
    smallest = int(counts[counts > 0].min())
    if smallest >= 2:
        splitter: Any = StratifiedKFold(
            min(n_splits, smallest), shuffle=True, random_state=seed
        )
    else:
        splitter = KFold(min(n_splits, n), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(n), y))


def _fit_predict(
    template: BaseSelector,
    P: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    fold_X: tuple[np.ndarray, np.ndarray] | None,
    configs: list[dict[str, Any]] | None,
    metric: Metric,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Fit a fresh copy on the training rows (with their weights); predict the
    held-out rows."""
    selector = clone(template)
    X_train, X_test = (None, None) if fold_X is None else fold_X
    selector.fit(
        P[:, train],
        y[train],
        metric=metric,
        X=X_train,
        configs=configs,
        sample_weight=None if sample_weight is None else sample_weight[train],
    )
    pred = selector.combine(P[:, test], X=X_test if selector.is_dynamic else None)
    return np.asarray(pred, dtype=np.float32), len(selector.required_members_)


def _mean_se(losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row mean and standard error over the scored folds (NaN when unscored)."""
    n = losses.shape[1]
    if n == 0:
        nan = np.full(losses.shape[0], np.nan)
        return nan, nan.copy()
    mean = losses.mean(axis=1)
    se = losses.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, se
