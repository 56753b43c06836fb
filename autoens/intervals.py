"""Prediction intervals from the cross-validation a search already did (CV+).

Barber, Candès, Ramdas, Tibshirani (2021). "Predictive inference with the
jackknife+." Annals of Statistics 49(1). CV+ turns K-fold cross-validation into
intervals with coverage at least 1 - 2α (and about 1 - α in practice) at no extra
training: for a training row i in fold k(i), ``R_i = |y_i - μ_{-k(i)}(x_i)|`` is the
out-of-fold residual of the model fit without that fold; for a new row x,

    lower(x) = the ⌊α(n+1)⌋-th smallest of  μ_{-k(i)}(x) - R_i  over i,
    upper(x) = the ⌈(1-α)(n+1)⌉-th smallest of  μ_{-k(i)}(x) + R_i  over i.

In autoens μ_{-k} is the ensemble built from its members' fold-k models (each member
was cross-validated on the same folds), so the residuals are the ensemble's own
out-of-fold residuals. The selector's weights were chosen on all out-of-fold rows,
fold k's included, which CV+ does not assume; the coverage tests measure what that
costs in practice.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["cv_plus_interval"]

# Test rows handled at once: each needs a row of n_train values (float64).
_CHUNK_ELEMENTS = 1 << 22


def cv_plus_interval(
    fold_predictions: np.ndarray,
    residuals: np.ndarray,
    fold_of_row: np.ndarray,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray]:
    """CV+ lower and upper bounds for each test row.

    ``fold_predictions``: (n_folds, n_test) predictions of each fold's model;
    ``residuals``: (n_train,) absolute out-of-fold residuals; ``fold_of_row``:
    (n_train,) the fold each training row was predicted in; ``alpha`` in (0, 1). A
    bound that needs more rows than there are (small n, small α) is infinite, as the
    method says.
    """
    mu = np.asarray(fold_predictions, dtype=np.float64)
    residuals = np.asarray(residuals, dtype=np.float64)
    fold_of_row = np.asarray(fold_of_row, dtype=np.intp)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    n_train = residuals.shape[0]
    n_test = mu.shape[1]
    k_low = math.floor(alpha * (n_train + 1))  # 1-based rank, 0 means -inf
    k_high = math.ceil((1.0 - alpha) * (n_train + 1))  # > n_train means +inf
    lower = np.full(n_test, -np.inf)
    upper = np.full(n_test, np.inf)
    step = max(1, _CHUNK_ELEMENTS // max(1, n_train))
    for start in range(0, n_test, step):
        rows = slice(start, min(start + step, n_test))
        centre = mu[fold_of_row, rows].T  # (chunk, n_train): μ_{-k(i)}(x)
        if k_low >= 1:
            low = centre - residuals
            lower[rows] = np.partition(low, k_low - 1, axis=1)[:, k_low - 1]
        if k_high <= n_train:
            high = centre + residuals
            upper[rows] = np.partition(high, k_high - 1, axis=1)[:, k_high - 1]
    return lower, upper
