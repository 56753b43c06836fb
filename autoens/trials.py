"""What the search remembers of one trial: metadata only.

A trial's out-of-fold predictions and fold models live in the prediction cache, the one
carrier of predictions (``autoens.cache``), under ``key``; a record says where to find
them and what happened. Records flow from the search loop to callbacks, proposers, the
library and the leaderboard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TRIAL_STATUSES", "TrialRecord"]

#: ``ok``: finished, its predictions are in the cache; ``failed``: the learner raised
#: or predicted garbage; ``timeout``: stopped at the per-trial limit; ``cancelled``:
#: stopped because the search's own time ran out (not the learner's fault);
#: ``pruned``: stopped after its first folds because a fold's loss was clearly worse
#: than the finished trials' on that fold (``autoens.search.pruning``): not a
#: failure, but it has no predictions (loss NaN; see ``fold_losses``).
TRIAL_STATUSES = ("ok", "failed", "timeout", "cancelled", "pruned")


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
    #: The loss on each fold's held-out rows, for the folds that ran (empty: not
    #: recorded). A pruned trial's last entry is the loss that stopped it.
    fold_losses: list[float] = field(default_factory=list)
    #: Folds fitted and predicted: ``cv`` for a finished trial, fewer when pruned
    #: (0: not recorded).
    n_folds_run: int = 0
    #: Boosting rounds (or epochs) each fold model predicts with, None entries
    #: for models without iterations (empty: not recorded).
    fold_iterations: list[int | None] = field(default_factory=list)
    #: Seconds by stage, for throughput analyses (keys present when measured):
    #: ``"queue"`` (submit to the worker starting, data transfer included),
    #: ``"preprocess"`` (the pipeline's steps before the learner), ``"fit"`` (the
    #: learner), ``"predict"`` (the held-out folds), ``"cache_write"``.
    timings: dict[str, float] = field(default_factory=dict)
