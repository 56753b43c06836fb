"""Cross-validate one configuration: OOF probabilities and the fold models.

This runs inside a worker process (see ``loop.py``), so it never raises: any failure of
the learner becomes a failed ``TrialResult`` with the error text, and the search goes
on.
"""

from __future__ import annotations

import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoens.space import FeatureTypes, LearnerSpec

# Rows must sum to one within this tolerance before we renormalise them; a learner whose
# probabilities are further off is broken rather than imprecise.
_ROW_SUM_TOLERANCE = 1e-3


@dataclass
class TrialResult:
    """What a worker sends back for one configuration."""

    status: str  # "ok" | "failed"
    oof: np.ndarray | None = None
    models: list[Any] = field(default_factory=list)
    fit_time: float = 0.0
    predict_time: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def aligned_proba(model: Any, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """``predict_proba`` with a column per encoded class, even classes a fold lacked."""
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = np.asarray(model.classes_)
    out = np.zeros((proba.shape[0], n_classes), dtype=np.float64)
    out[:, classes.astype(np.int64)] = proba
    return out


def member_proba(models: list[Any], X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """A library member predicts new data as the mean of its fold models (bagging)."""
    total = np.zeros((len(X), n_classes), dtype=np.float64)
    for model in models:
        total += aligned_proba(model, X, n_classes)
    return (total / len(models)).astype(np.float32)


def _clean(proba: np.ndarray) -> np.ndarray:
    if not np.isfinite(proba).all():
        raise ValueError("the learner predicted non-finite (NaN or inf) probabilities")
    sums = proba.sum(axis=1)
    if (proba < -_ROW_SUM_TOLERANCE).any() or np.abs(
        sums - 1
    ).max() > _ROW_SUM_TOLERANCE:
        raise ValueError(
            "the learner's probabilities are not a distribution "
            f"(row sums range {sums.min():.4g}..{sums.max():.4g})"
        )
    proba = np.clip(proba, 0.0, None)
    return proba / proba.sum(axis=1, keepdims=True)


def evaluate_config(
    spec: LearnerSpec,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    splits: tuple[tuple[np.ndarray, np.ndarray], ...],
    feature_types: FeatureTypes,
    n_classes: int,
    random_state: int,
) -> TrialResult:
    """Fit one model per fold and predict its held-out fold."""
    oof = np.zeros((len(y), n_classes), dtype=np.float64)
    models: list[Any] = []
    fit_time = predict_time = 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for train, test in splits:
                model = spec.make(params, feature_types, random_state)
                start = time.perf_counter()
                model.fit(X.iloc[train], y[train])
                fit_time += time.perf_counter() - start
                start = time.perf_counter()
                oof[test] = _clean(aligned_proba(model, X.iloc[test], n_classes))
                predict_time += time.perf_counter() - start
                models.append(model)
        except Exception as exc:  # any learner failure is a failed trial, not a crash
            last = traceback.extract_tb(exc.__traceback__)[-1]
            return TrialResult(
                status="failed",
                fit_time=fit_time,
                predict_time=predict_time,
                error=f"{type(exc).__name__}: {exc} ({last.filename}:{last.lineno})",
            )
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return TrialResult(
        status="ok",
        oof=oof.astype(np.float32),
        models=models,
        fit_time=fit_time,
        predict_time=predict_time,
        warnings=messages[:5],
    )
