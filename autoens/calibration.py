"""Calibrate the ensemble's class probabilities on its out-of-fold predictions.

Ensemble selection optimises the metric (ROC AUC by default), which says nothing
about whether a predicted 0.9 comes true nine times in ten. A calibrator maps the
ensemble's combined probabilities to better calibrated ones; it is fit on the
ensemble's *out-of-fold* predictions (rows no member was trained on), never on
training-fold predictions, which are over-confident by construction.

* ``"temperature"`` (Guo et al. 2017, "On calibration of modern neural networks"):
  ``softmax(log p / T)`` with one ``T > 0`` fit by (weighted) log loss. It keeps the
  arg-max, hence accuracy, and for binary tasks every ranking, hence ROC AUC.
* ``"isotonic"`` (Zadrozny and Elkan 2002, "Transforming classifier scores into
  accurate multiclass probability estimates"): a monotone step function on ``p1``
  (binary) or one per class, one-vs-rest, then renormalised (multiclass). More
  flexible, so it needs more rows; its steps can tie scores, which may move ROC AUC.
* ``"auto"`` cross-validates both against no calibration on the OOF rows and keeps
  the one with the lowest mean held-out log loss, only when it clearly beats no
  calibration (by more than one standard error of the per-fold gain).

Calibration runs after selection on the ensemble's combined prediction, so it never
changes which members are selected or their weights.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold, StratifiedKFold

from autoens.metrics.calibration import expected_calibration_error

__all__ = [
    "CALIBRATION_METHODS",
    "IsotonicCalibrator",
    "TemperatureScaling",
    "fit_calibration",
    "get_calibrator",
]

#: Calibration methods by name (``calibration=`` also takes "auto" and None).
CALIBRATION_METHODS = ("temperature", "isotonic")

# Probabilities are clipped to [_EPS, 1 - _EPS] before taking logs (temperature) and
# after isotonic regression, whose steps reach exactly 0 and 1: one such row wrong
# on new data would cost an infinite log loss.
_EPS = 1e-6
_ISOTONIC_EPS = 1e-4
# Search range of log T: T in [1/100, 100] covers any practical miscalibration.
_LOG_T_BOUNDS = (-math.log(100.0), math.log(100.0))
# Inner cross-validation of "auto" (and of the report's held-out "after" figures).
_INNER_SPLITS = 5


def _weighted_log_loss(y: np.ndarray, proba: np.ndarray, w: np.ndarray | None) -> float:
    p = np.clip(proba[np.arange(len(y)), y], _EPS, 1.0)
    return float(-np.average(np.log(p), weights=w))


class TemperatureScaling:
    """``softmax(log p / T)``: one temperature for every class (``temperature_``)."""

    name = "temperature"

    def fit(
        self, proba: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> TemperatureScaling:
        """Fit ``T`` by minimising the (weighted) log loss over ``log T``."""
        logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))
        rows = np.arange(len(y))
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64)

        def loss(log_t: float) -> float:
            scaled = log_softmax(logp * math.exp(-log_t), axis=1)
            return float(-np.average(scaled[rows, y], weights=w))

        result = minimize_scalar(
            loss, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-5}
        )
        self.temperature_ = float(math.exp(result.x))
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probability rows (float64)."""
        logp = np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))
        out = np.exp(log_softmax(logp / self.temperature_, axis=1))
        return out / out.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        t = getattr(self, "temperature_", None)
        return "TemperatureScaling()" if t is None else f"TemperatureScaling(T={t:.4g})"


class IsotonicCalibrator:
    """Isotonic regression of ``p1`` (binary) or of each class one-vs-rest, then
    renormalised (``regressors_``: one ``IsotonicRegression`` per calibrated column)."""

    name = "isotonic"

    def fit(
        self, proba: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> IsotonicCalibrator:
        proba = np.asarray(proba, dtype=np.float64)
        columns = [1] if proba.shape[1] == 2 else range(proba.shape[1])
        self.regressors_ = {
            k: IsotonicRegression(
                y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip"
            ).fit(proba[:, k], (y == k).astype(np.float64), sample_weight=sample_weight)
            for k in columns  # a few classes, not rows
        }
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probability rows (float64), none exactly 0 or 1."""
        proba = np.asarray(proba, dtype=np.float64)
        if proba.shape[1] == 2:
            p1 = np.clip(self.regressors_[1].predict(proba[:, 1]), _ISOTONIC_EPS, None)
            p1 = np.minimum(p1, 1.0 - _ISOTONIC_EPS)
            return np.column_stack([1.0 - p1, p1])
        out = np.column_stack(
            [self.regressors_[k].predict(proba[:, k]) for k in range(proba.shape[1])]
        )
        out = np.clip(out, _ISOTONIC_EPS, None)
        return out / out.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        return "IsotonicCalibrator()"


_CALIBRATORS = {"temperature": TemperatureScaling, "isotonic": IsotonicCalibrator}


def get_calibrator(method: str) -> TemperatureScaling | IsotonicCalibrator:
    """An unfitted calibrator by name."""
    if method not in _CALIBRATORS:
        raise ValueError(
            f"unknown calibration method {method!r}; choose one of "
            f"{list(CALIBRATION_METHODS)}, 'auto' or None"
        )
    return _CALIBRATORS[method]()


def _inner_splits(
    y: np.ndarray, n_splits: int, random_state: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, seeded splits of the OOF rows (plain k-fold when a class has a
    single row, which no stratification can spread)."""
    counts = np.bincount(y)
    # StratifiedKFold refuses more folds than the largest class has rows.
    n_splits = max(2, min(n_splits, len(y), int(counts.max())))
    if counts[counts > 0].min() >= 2:
        splitter: Any = StratifiedKFold(
            n_splits=n_splits, shuffle=True, random_state=random_state
        )
    else:
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        # Fewer rows in a class than folds is fine here: the folds only score.
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        return list(splitter.split(np.zeros(len(y)), y))


def _clearly_better(losses: list[float], baseline: list[float]) -> bool:
    """Whether the mean per-fold gain over ``baseline`` exceeds its standard error.

    Any calibrator wins a little on some folds by chance (a temperature of 0.95 on
    already calibrated rows); as ``selector="auto"`` prefers the simpler ensemble
    within one standard error, no calibration is kept unless the gain is clear.
    """
    gain = np.asarray(baseline) - np.asarray(losses)
    se = gain.std(ddof=1) / math.sqrt(len(gain)) if len(gain) > 1 else 0.0
    return bool(gain.mean() > se)


def fit_calibration(
    proba: np.ndarray,
    y: np.ndarray,
    *,
    method: str,
    sample_weight: np.ndarray | None = None,
    random_state: int = 0,
    n_splits: int = _INNER_SPLITS,
) -> tuple[Any, pd.DataFrame]:
    """Fit the calibration ``method`` ("auto", "temperature" or "isotonic") on OOF
    probability rows ``proba`` with class indices ``y``.

    Returns ``(calibrator or None, report)``. The report has one row per method
    considered ("none" first): the log loss and ECE of the uncalibrated rows
    (``*_before``), the same measured on the method's held-out predictions of a
    ``n_splits``-fold inner cross-validation on these rows (``*_after_inner_cv``:
    never on the rows a calibrator was fit on), and ``chosen``. "auto" keeps the
    method with the lowest mean held-out log loss over the inner folds, and only
    when its mean gain over no calibration exceeds the gain's standard error.
    """
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.intp)
    w = None if sample_weight is None else np.asarray(sample_weight, np.float64)
    if method == "auto":
        candidates = list(CALIBRATION_METHODS)
    else:
        get_calibrator(method)  # the error for an unknown name
        candidates = [method]
    splits = _inner_splits(y, n_splits, random_state)
    held_out = {m: np.empty_like(proba) for m in candidates}
    fold_loss = {m: [] for m in ["none", *candidates]}
    for train, test in splits:  # a few inner folds, each a vectorised fit
        wt = None if w is None else w[train]
        ws = None if w is None else w[test]
        fold_loss["none"].append(_weighted_log_loss(y[test], proba[test], ws))
        for m in candidates:
            pred = (
                get_calibrator(m).fit(proba[train], y[train], wt).transform(proba[test])
            )
            held_out[m][test] = pred
            fold_loss[m].append(_weighted_log_loss(y[test], pred, ws))
    mean_loss = {m: float(np.mean(v)) for m, v in fold_loss.items()}
    if method == "auto":
        best = min(candidates, key=lambda m: mean_loss[m])
        chosen = best if _clearly_better(fold_loss[best], fold_loss["none"]) else None
    else:
        chosen = method
    loss_before = _weighted_log_loss(y, proba, w)
    ece_before = expected_calibration_error(y, proba, sample_weight=w)
    rows = [
        {
            "method": "none",
            "log_loss_before": loss_before,
            "ece_before": ece_before,
            "log_loss_after_inner_cv": loss_before,
            "ece_after_inner_cv": ece_before,
            "chosen": chosen is None,
        }
    ]
    for m in candidates:
        rows.append(
            {
                "method": m,
                "log_loss_before": loss_before,
                "ece_before": ece_before,
                "log_loss_after_inner_cv": _weighted_log_loss(y, held_out[m], w),
                "ece_after_inner_cv": expected_calibration_error(
                    y, held_out[m], sample_weight=w
                ),
                "chosen": m == chosen,
            }
        )
    calibrator = None if chosen is None else get_calibrator(chosen).fit(proba, y, w)
    return calibrator, pd.DataFrame(rows)
