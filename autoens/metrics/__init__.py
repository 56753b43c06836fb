"""Losses over a batch of candidate ensembles, lower is better.

:func:`get_metric` resolves a user's ``metric=``: a canonical loss name, a
scikit-learn scorer name with a built-in equivalent (``"neg_log_loss"``,
``"neg_root_mean_squared_error"``, ...), or any other scikit-learn scorer name, which
is scored through scikit-learn itself (``scorer.py``). Every loss takes an optional
``sample_weight`` (:func:`check_sample_weight` says which weights are valid).
"""

from __future__ import annotations

from typing import Any

from autoens.metrics.base import Metric, check_labels, check_sample_weight
from autoens.metrics.calibration import expected_calibration_error
from autoens.metrics.classification import CLASSIFICATION_METRICS
from autoens.metrics.regression import REGRESSION_METRICS
from autoens.metrics.scorer import is_scorer_name, scorer_metric
from autoens.task import ClassificationTask

__all__ = [
    "METRIC_NAMES",
    "Metric",
    "check_labels",
    "check_sample_weight",
    "expected_calibration_error",
    "get_metric",
]

_METRICS: dict[str, Metric] = {
    m.name: m for m in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
}

#: Canonical metric names accepted by :func:`get_metric`.
METRIC_NAMES: tuple[str, ...] = tuple(_METRICS)

# scikit-learn scorer names (and common short names) with a vectorised built-in.
_ALIASES: dict[str, str] = {
    "roc_auc_ovr": "roc_auc",
    "neg_log_loss": "log_loss",
    "neg_brier_score": "brier",
    "accuracy": "error_rate",
    "balanced_accuracy": "balanced_error_rate",
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_squared_error": "mse",
    "neg_mean_absolute_error": "mae",
    "r2": "r2_loss",
}


def get_metric(metric: str | Metric, task: Any = None) -> Metric:
    """Return the :class:`Metric` for a name (or pass a Metric through).

    ``task`` (a task type or object) says which family the metric must serve; a
    scikit-learn scorer without a built-in equivalent is scored for that family
    (classification when ``task`` is None).
    """
    family = None if task is None else task.family
    if isinstance(metric, Metric):
        found = metric
    elif isinstance(metric, str):
        key = metric.strip().lower()
        key = _ALIASES.get(key, key)
        if key in _METRICS:
            found = _METRICS[key]
        elif is_scorer_name(metric.strip()):
            found = scorer_metric(metric.strip(), task or ClassificationTask)
        else:
            raise ValueError(_unknown(metric, family))
    else:
        raise ValueError(_unknown(metric, family))
    if family is not None and found.task.family != family:
        raise ValueError(
            f"metric {found.name!r} scores {found.task.family}, but this is a "
            f"{family} task; choose one of {', '.join(_names(family))}, or a "
            f"scikit-learn {family} scorer name."
        )
    return found


def _names(family: str | None) -> list[str]:
    names = [
        name
        for name in [*METRIC_NAMES, *_ALIASES]
        if family is None or _METRICS[_ALIASES.get(name, name)].task.family == family
    ]
    return sorted(names)


def _unknown(metric: Any, family: str | None) -> str:
    return (
        f"Unknown metric {metric!r}. Valid names: {', '.join(_names(family))}; or any "
        "scikit-learn scorer name (sklearn.metrics.get_scorer_names())."
    )
