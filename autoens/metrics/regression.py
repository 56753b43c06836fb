"""Vectorised regression losses: MSE, RMSE, MAE and 1 - R².

A prediction tensor of a regression task is ``(K, n_samples, 1)`` float32; each loss is
computed in float64 against the float64 target, as scikit-learn does when it is given
float32 predictions, and agrees with its metric to float precision. With
``sample_weight`` each is scikit-learn's weighted metric: weighted means of squared or
absolute errors, and for R² the weighted SSE over the weighted spread around the
weighted mean (``r2_score(..., sample_weight=w)``).
"""

from __future__ import annotations

import numpy as np

from autoens.metrics.base import Metric, identity
from autoens.task import RegressionTask

__all__ = ["REGRESSION_METRICS"]


def _errors(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(K, N) float64 residuals ``prediction - y``."""
    return R[..., 0].astype(np.float64) - y[None, :]


def _mse(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    e = _errors(y, R)
    return np.einsum("kn,kn->k", e, e) / y.shape[0]


def _rmse(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    return np.sqrt(_mse(y, R))


def _mae(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    return np.abs(_errors(y, R)).mean(axis=1)


def _r2_loss(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    # 1 - R² = SSE / SST. A constant target has SST = 0: scikit-learn (force_finite)
    # then scores a perfect prediction 1 and anything else 0.
    sse = _mse(y, R) * y.shape[0]
    centred = y - y.mean()
    sst = float(centred @ centred)
    if sst == 0.0:
        return np.where(sse == 0.0, 0.0, 1.0)
    return sse / sst


def _weighted_sum(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``values @ w`` as a per-row ``np.sum`` (its order does not depend on the
    batch's shape, as a BLAS product's can), so a candidate's loss does not depend
    on the batch it is scored in."""
    return (values * w).sum(axis=1)


def _weighted_mse(y: np.ndarray, R: np.ndarray, w: np.ndarray) -> np.ndarray:
    e = _errors(y, R)
    return _weighted_sum(e * e, w) / w.sum()


def _weighted_rmse(y: np.ndarray, R: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.sqrt(_weighted_mse(y, R, w))


def _weighted_mae(y: np.ndarray, R: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _weighted_sum(np.abs(_errors(y, R)), w) / w.sum()


def _weighted_r2_loss(y: np.ndarray, R: np.ndarray, w: np.ndarray) -> np.ndarray:
    e = _errors(y, R)
    sse = _weighted_sum(e * e, w)
    centred = y - (y @ w) / w.sum()
    sst = float((centred * centred) @ w)
    if sst == 0.0:
        return np.where(sse == 0.0, 0.0, 1.0)
    return sse / sst


REGRESSION_METRICS: tuple[Metric, ...] = (
    Metric(
        "rmse",
        "rmse",
        False,
        identity,
        _rmse,
        RegressionTask,
        _weighted_loss=_weighted_rmse,
    ),
    Metric(
        "mse",
        "mse",
        False,
        identity,
        _mse,
        RegressionTask,
        _weighted_loss=_weighted_mse,
    ),
    Metric(
        "mae",
        "mae",
        False,
        identity,
        _mae,
        RegressionTask,
        _weighted_loss=_weighted_mae,
    ),
    Metric(
        "r2_loss",
        "r2",
        True,
        identity,
        _r2_loss,
        RegressionTask,
        _weighted_loss=_weighted_r2_loss,
    ),
)
