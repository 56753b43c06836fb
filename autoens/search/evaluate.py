"""Cross-validate one configuration: OOF predictions and the fold models.

This runs inside a worker process (see ``loop.py``), so it never raises: any failure of
the learner becomes a failed ``TrialResult`` with the error text, and the search goes
on. What a prediction is (class probabilities or values) is the task's business.
"""

from __future__ import annotations

import math
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from autoens.metrics import Metric
from autoens.space import FeatureTypes, LearnerSpec, fit_model
from autoens.space.refit import fold_iterations

__all__ = ["Evaluator", "TrialResult", "evaluate_config", "fold_losses"]


@dataclass
class TrialResult:
    """What a worker sends back for one configuration.

    The loop hands ``oof`` and ``models`` to the prediction cache at once and keeps
    only the metadata (``autoens.trials.TrialRecord``). A ``"pruned"`` trial stopped
    after ``n_folds_run`` folds (see ``autoens.search.pruning``): it carries no
    predictions and no models, only its ``fold_losses``.
    """

    status: str  # "ok" | "failed" | "pruned" (the loop adds "timeout", "cancelled")
    oof: np.ndarray | None = None
    models: list[Any] = field(default_factory=list)
    #: Seconds fitting the fold models, preprocessing included.
    fit_time: float = 0.0
    predict_time: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: Rows predicted in ``predict_time`` (the held-out folds): the library's
    #: per-row predict cost is ``predict_time / predict_rows``.
    predict_rows: int = 0
    #: The metric on each fold's held-out rows (with their weights), in fold order;
    #: empty when the evaluator was given no metric.
    fold_losses: list[float] = field(default_factory=list)
    #: Folds fitted and predicted (fewer than ``cv`` for a pruned trial).
    n_folds_run: int = 0
    #: Boosting rounds (or epochs) each fold model predicts with, None for a
    #: model without iterations (``autoens.space.refit.fold_iterations``).
    fold_iterations: list[int | None] = field(default_factory=list)
    #: Worker-side seconds: ``"preprocess"`` (the pipeline's steps before the
    #: learner), ``"fit"`` (the learner), ``"predict"`` (the held-out folds).
    timings: dict[str, float] = field(default_factory=dict)
    #: ``time.time()`` when the worker started the evaluation (NaN: not recorded);
    #: the loop turns it into the trial's queue time.
    started_at: float = math.nan


#: What the search loop runs in a worker per trial: ``evaluate_config``'s signature
#: (tests pass ``autoens.testing.FakeEvaluator``, which fits nothing). It travels to
#: the workers, so it must pickle. The loop passes ``metric=`` and
#: ``prune_thresholds=`` only to an evaluator whose signature names them.
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
    *,
    metric: Metric | None = None,
    prune_thresholds: Sequence[float] | None = None,
) -> TrialResult:
    """Fit one model per fold and predict its held-out fold.

    ``sample_weight`` (one weight per row of ``X``, or None) weights each fold
    model's training rows when its learner accepts weights (the fit warned once
    about the learners that do not).

    With ``metric``, each fold's loss is computed right after the fold is
    predicted (``fold_losses``); with ``prune_thresholds`` too (one per fold index,
    ``inf`` for none), a fold whose loss is worse than its threshold stops the
    trial as ``"pruned"``. The last fold never prunes, nor does a NaN loss.
    """
    started_at = time.time()
    oof = np.zeros((len(y), task.n_outputs), dtype=np.float64)
    models: list[Any] = []
    fit_time = predict_time = preprocess_time = 0.0
    predict_rows = 0
    losses: list[float] = []
    iterations: list[int | None] = []
    thresholds = list(prune_thresholds or ())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for k, (train, test) in enumerate(splits):
                model = spec.make(params, feature_types, random_state)
                start = time.perf_counter()
                prep = _fit_timed(
                    model,
                    X.iloc[train],
                    y[train],
                    None if sample_weight is None else sample_weight[train],
                )
                fit_time += time.perf_counter() - start
                preprocess_time += prep
                start = time.perf_counter()
                oof[test] = task.check_outputs(task.predict(model, X.iloc[test]))
                predict_time += time.perf_counter() - start
                predict_rows += len(test)
                models.append(model)
                iterations.append(_iterations(model))
                if metric is None:
                    continue
                losses.append(_fold_loss(metric, y, oof, test, sample_weight))
                last = k == len(splits) - 1
                if not last and k < len(thresholds) and losses[-1] > thresholds[k]:
                    return TrialResult(
                        status="pruned",
                        fit_time=fit_time,
                        predict_time=predict_time,
                        predict_rows=predict_rows,
                        fold_losses=losses,
                        n_folds_run=k + 1,
                        fold_iterations=iterations,
                        timings=_timings(preprocess_time, fit_time, predict_time),
                        started_at=started_at,
                        error=f"pruned after fold {k + 1} of {len(splits)}: loss "
                        f"{losses[-1]:.5g} worse than the threshold "
                        f"{thresholds[k]:.5g}",
                    )
        except Exception as exc:  # any learner failure is a failed trial, not a crash
            last_frame = traceback.extract_tb(exc.__traceback__)[-1]
            return TrialResult(
                status="failed",
                fit_time=fit_time,
                predict_time=predict_time,
                error=f"{type(exc).__name__}: {exc} "
                f"({last_frame.filename}:{last_frame.lineno})",
                fold_losses=losses,
                n_folds_run=len(models),
                fold_iterations=iterations,
                timings=_timings(preprocess_time, fit_time, predict_time),
                started_at=started_at,
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
        fold_losses=losses,
        n_folds_run=len(models),
        fold_iterations=iterations,
        timings=_timings(preprocess_time, fit_time, predict_time),
        started_at=started_at,
    )


def fold_losses(
    metric: Metric,
    y: np.ndarray,
    oof: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    sample_weight: np.ndarray | None = None,
) -> list[float]:
    """The metric on each fold's held-out rows of ``oof`` (NaN where undefined),
    as ``evaluate_config`` computes them fold by fold."""
    return [_fold_loss(metric, y, oof, test, sample_weight) for _, test in splits]


def _fold_loss(
    metric: Metric,
    y: np.ndarray,
    oof: np.ndarray,
    test: np.ndarray,
    sample_weight: np.ndarray | None,
) -> float:
    """One fold's loss; NaN when the metric is undefined there (e.g. ROC AUC on a
    fold holding one class), so that it never prunes."""
    weights = None if sample_weight is None else sample_weight[test]
    try:
        loss = float(metric.loss_single(y[test], oof[test], weights))
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return math.nan
    return loss if math.isfinite(loss) else math.nan


def _iterations(model: Any) -> int | None:
    """The fold model's iterations; None (not a failed trial) when unreadable."""
    try:
        return fold_iterations(model)
    except (AttributeError, TypeError, ValueError):
        return None


def _fit_timed(model: Any, X: Any, y: Any, sample_weight: Any) -> float:
    """Fit ``model`` as ``fit_model`` does; return the seconds spent on a
    pipeline's preprocessing steps (0 for a model that is not a pipeline).

    The steps before the learner are fitted with ``model[:-1].fit_transform`` (the
    slice shares the step objects, so ``model`` ends up fitted exactly as by
    ``Pipeline.fit``), then the learner alone, with the row weights routed to it
    as ``fit_model`` routes them to a pipeline's last step.
    """
    if not isinstance(model, Pipeline) or len(model.steps) < 2 or model.memory:
        # (a caching pipeline fits clones of its steps: fit it whole)
        fit_model(model, X, y, sample_weight)
        return 0.0
    start = time.perf_counter()
    Xt = model[:-1].fit_transform(X, y)
    preprocess = time.perf_counter() - start
    last = model.steps[-1][1]
    if last is not None and last != "passthrough":
        fit_model(last, Xt, y, sample_weight)
    return preprocess


def _timings(preprocess: float, fit: float, predict: float) -> dict[str, float]:
    return {"preprocess": preprocess, "fit": fit - preprocess, "predict": predict}
