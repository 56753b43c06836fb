"""What a proposer is: it sees the search so far and names the next configuration.

The proposer only decides *what next*; the loop (``loop.py``) owns the budget and
Optuna owns the trial bookkeeping and storage. The loop hands a proposer a
:class:`SearchHistory`, enqueues its :class:`Proposal` and asks for it, so Optuna still
records (and an RDB storage resumes) every trial. Short names (``"tpe"``,
``"divbo"``, ...) are resolved in ``strategies.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from autoens.cache import PredictionCache
from autoens.metrics import Metric
from autoens.search.cost import CostModel
from autoens.space.registry import LearnerSpec
from autoens.trials import TrialRecord

__all__ = ["Proposal", "Proposer", "SearchHistory"]


@dataclass
class SearchHistory:
    """What a proposer may learn from, as of one proposal.

    ``records`` are the finished trials in the order they finished (append-only during
    a search: a proposer may remember how many it has seen). Their OOF predictions are
    in ``cache`` (:meth:`oof` reads one). ``pending`` are the configurations submitted
    but unfinished. ``sample_weight`` are the fit's row weights (None without), for
    losses computed as the trials' were.

    The budget, for proposers that weigh a configuration's cost: ``time_left`` is the
    search's time left in seconds and ``trial_time_limit`` the per-trial limit (each
    None without one); ``cost`` predicts a configuration's trial time (None: unknown).
    """

    specs: Sequence[LearnerSpec]
    records: Sequence[TrialRecord]
    pending: Sequence[tuple[str, dict[str, Any]]]
    y: np.ndarray
    metric: Metric
    cache: PredictionCache
    sample_weight: np.ndarray | None = None
    time_left: float | None = None
    trial_time_limit: float | None = None
    cost: CostModel | None = None

    def time_available(self) -> float | None:
        """Seconds a trial started now may run: the smaller of ``time_left`` and
        ``trial_time_limit`` (None when neither is set)."""
        limits = [t for t in (self.time_left, self.trial_time_limit) if t is not None]
        return min(limits) if limits else None

    def oof(self, record: TrialRecord) -> np.ndarray | None:
        """The OOF predictions of a finished ``ok`` record (None if not cached)."""
        if record.status != "ok":
            return None
        entry = self.cache.get(record.key, load_models=False)
        return None if entry is None else entry.oof


@dataclass
class Proposal:
    """A configuration to evaluate and the user_attrs stored on its Optuna trial."""

    learner: str
    params: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Proposer(Protocol):
    """Anything with ``propose(history) -> Proposal`` (one instance per search)."""

    def propose(self, history: SearchHistory) -> Proposal: ...
