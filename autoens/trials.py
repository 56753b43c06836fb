"""What the search remembers of one trial: metadata only.

A trial's out-of-fold predictions and fold models live in the prediction cache, the one
carrier of predictions (``autoens.cache``), under ``key``; a record says where to find
them and what happened. Records flow from the search loop to callbacks, proposers, the
library and the leaderboard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["TRIAL_STATUSES", "TrialRecord"]

#: ``ok``: finished, its predictions are in the cache; ``failed``: the learner raised
#: or predicted garbage; ``timeout``: stopped at the per-trial limit; ``cancelled``:
#: stopped because the search's own time ran out (not the learner's fault).
TRIAL_STATUSES = ("ok", "failed", "timeout", "cancelled")


@dataclass
class TrialRecord:
    """One evaluated (or reused, failed, timed-out) configuration."""

    number: int
    learner: str
    params: dict[str, Any]
    key: str  # prediction-cache key of (learner, params, data + folds)
    status: str  # one of TRIAL_STATUSES
    source: str  # "evaluated" | "cache" | "resumed"
    loss: float = math.nan
    fit_time: float = 0.0
    predict_time: float = 0.0
    proposal_time: float = 0.0
    error: str | None = None
    #: Rows the fold models predicted in ``predict_time`` (0: not recorded).
    predict_rows: int = 0
