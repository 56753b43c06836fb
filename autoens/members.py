"""How one library member predicts new rows: the mean of its fold models (bagging).

Shared by the search (which scores each fold model on its held-out fold) and by the
library and the fitted ensemble (which predict new rows), so that predicting never
needs the search package. What a model's prediction *is* (aligned class
probabilities, or values) is the task's business: ``task.predict(model, X)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["predict_member"]


def predict_member(models: Sequence[Any], X: pd.DataFrame, task: Any) -> np.ndarray:
    """(n_rows, n_outputs) float32: the mean of the fold models' predictions.

    Summed in float64 and cast once, so a member predicts the same whatever the
    number of fold models.
    """
    total = np.zeros((len(X), task.n_outputs), dtype=np.float64)
    for model in models:
        total += task.predict(model, X)
    return (total / len(models)).astype(np.float32)
