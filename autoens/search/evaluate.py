"""Cross-validate one configuration: OOF predictions and the fold models.

This runs inside a worker process (see ``loop.py``), so it never raises: any failure of
the learner becomes a failed ``TrialResult`` with the error text, and the search goes
on. What a prediction is (class probabilities or values) is the task's business.
"""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoens.space import FeatureTypes, LearnerSpec, fit_model

__all__ = ["Evaluator", "TrialResult", "evaluate_config"]


@dataclass
class TrialResult:
    """What a worker sends back for one configuration.

    The loop hands ``oof`` and ``models`` to the prediction cache at once and keeps
    only the metadata (``autoens.trials.TrialRecord``).
    """

    status: str  # "ok" | "failed"
    oof: np.ndarray | None = None
    models: list[Any] = field(default_factory=list)
    fit_time: float = 0.0
    predict_time: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: Rows predicted in ``predict_time`` (the held-out folds): the library's
    #: per-row predict cost is ``predict_time / predict_rows``.
    predict_rows: int = 0


#: What the search loop runs in a worker per trial: ``evaluate_config``'s signature
#: (tests pass ``autoens.testing.FakeEvaluator``, which fits nothing). It travels to
#: the workers, so it must pickle.
Evaluator = Callable[..., TrialResult]


def evaluate_config(
    spec: LearnerSpec,
    params: dict[str, Any],
    X: pd.DataFrame,
    y: np.ndarray,
    splits: tuple[tuple[np.ndarray, np.ndarray], ...],
    feature_types: FeatureTypes,
    task: Any,
    random_state: int,
    sample_weight: np.ndarray | None = None,
) -> TrialResult:
    """Fit one model per fold and predict its held-out fold.

    ``sample_weight`` (one weight per row of ``X``, or None) weights each fold
    model's training rows when its learner accepts weights (the fit warned once
    about the learners that do not).
    """
    oof = np.zeros((len(y), task.n_outputs), dtype=np.float64)
    models: list[Any] = []
    fit_time = predict_time = 0.0
    predict_rows = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for train, test in splits:
                model = spec.make(params, feature_types, random_state)
                start = time.perf_counter()
                fit_model(
                    model,
                    X.iloc[train],
                    y[train],
                    None if sample_weight is None else sample_weight[train],
                )
                fit_time += time.perf_counter() - start
                start = time.perf_counter()
                oof[test] = task.check_outputs(task.predict(model, X.iloc[test]))
                predict_time += time.perf_counter() - start
                predict_rows += len(test)
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
        predict_rows=predict_rows,
        warnings=messages[:5],
    )
