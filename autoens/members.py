"""How one library member predicts new rows: the mean of its fold models (bagging),
or the one model refit on all training rows (``refit="members"``; a list of one
model, whose prediction is the member's as is).

Shared by the search (which scores each fold model on its held-out fold) and by the
library and the fitted ensemble (which predict new rows), so that predicting never
needs the search package. What a model's prediction *is* (aligned class
probabilities, or values) is the task's business: ``task.predict(model, X)``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["predict_member", "refit_member"]

logger = logging.getLogger("autoens")

# Training rows a refit model predicts once, to catch a broken model (NaN, rows
# that are no distribution) before it replaces the member's fold models.
_CHECK_ROWS = 64


def predict_member(
    models: Sequence[Any],
    X: pd.DataFrame,
    task: Any,
    shared: dict | None = None,
) -> np.ndarray:
    """(n_rows, n_outputs) float32: the mean of the fold models' predictions.

    Summed in float64 and cast once, so a member predicts the same whatever the
    number of fold models. ``shared`` (one dict per batch of rows, given to every
    member) keeps what all models' preprocessing computes alike, so it is done once.
    """
    from autoens.space.preprocessing import fast_predict_input

    shared = {} if shared is None else shared
    total = np.zeros((len(X), task.n_outputs), dtype=np.float64)
    for model in models:
        total += task.predict(*fast_predict_input(model, X, shared))
    return (total / len(models)).astype(np.float32)


def refit_member(
    spec: Any,
    params: dict[str, Any],
    fold_models: Sequence[Any],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    feature_types: Any,
    task: Any,
    random_state: int,
    sample_weight: np.ndarray | None = None,
) -> Any:
    """One model of ``spec`` with ``params``, fit on all of ``X, y``.

    ``spec.refit_params`` reads the fold models (e.g. how many iterations they
    stopped at) so the refit model trains as they did without a validation split.
    The learner's warnings are logged, not raised, as in the search; a learner
    that fails, or predicts garbage on a few training rows, raises.
    """
    from autoens.space import fit_model

    model = spec.make_refit(params, feature_types, random_state, fold_models)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_model(model, X, y, sample_weight)
        task.check_outputs(task.predict(model, X.iloc[:_CHECK_ROWS]))
    for message in sorted({f"{w.category.__name__}: {w.message}" for w in caught})[:5]:
        logger.debug("refit of %s: %s", spec.name, message)
    return model
