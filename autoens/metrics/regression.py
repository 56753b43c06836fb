"""Vectorised regression losses: MSE, RMSE, MAE and 1 - R².

A prediction tensor of a regression task is ``(K, n_samples, 1)`` float32; each loss is
computed in float64 against the float64 target, as scikit-learn does when it is given
float32 predictions, and agrees with its metric to float precision.
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


REGRESSION_METRICS: tuple[Metric, ...] = (
    Metric("rmse", "rmse", False, identity, _rmse, RegressionTask),
    Metric("mse", "mse", False, identity, _mse, RegressionTask),
    Metric("mae", "mae", False, identity, _mae, RegressionTask),
    Metric("r2_loss", "r2", True, identity, _r2_loss, RegressionTask),
)
