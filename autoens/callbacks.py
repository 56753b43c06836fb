"""Progress and logging hooks, kept out of the search algorithm itself."""

from __future__ import annotations

import logging
import math
import time
from typing import Protocol, runtime_checkable

from autoens.trials import TrialRecord

logger = logging.getLogger("autoens")


@runtime_checkable
class Callback(Protocol):
    """Hooks the search loop calls; subclass ``BaseCallback`` to implement a subset."""

    def on_search_start(
        self, n_trials: int | None, time_limit: float | None
    ) -> None: ...

    def on_trial_end(self, record: TrialRecord) -> None: ...

    def on_search_end(self, records: list[TrialRecord]) -> None: ...


class BaseCallback:
    """No-op implementation of every hook."""

    def on_search_start(self, n_trials: int | None, time_limit: float | None) -> None:
        """Called once before the first trial."""

    def on_trial_end(self, record: TrialRecord) -> None:
        """Called after each trial is recorded (evaluated, cached, failed, stopped)."""

    def on_search_end(self, records: list[TrialRecord]) -> None:
        """Called once when the budget is spent."""


class LogCallback(BaseCallback):
    """One log line per trial on the ``autoens`` logger (INFO)."""

    def on_trial_end(self, record: TrialRecord) -> None:
        logger.info(
            "trial %d %s %s loss=%.5g fit=%.2fs %s",
            record.number,
            record.learner,
            record.status,
            record.loss,
            record.fit_time,
            record.error or "",
        )


class TqdmProgress(BaseCallback):
    """A tqdm bar over trials (or over seconds when only a time limit is set).

    Pruned trials count as trials (they spent budget) and are shown as a count
    beside the best loss, not as failures.
    """

    def __init__(self) -> None:
        self._bar = None
        self._by_time = False
        self._start = 0.0
        self._best = math.inf
        self._pruned = 0

    def on_search_start(self, n_trials: int | None, time_limit: float | None) -> None:
        from tqdm.auto import tqdm

        self._by_time = n_trials is None
        self._start = time.monotonic()
        self._pruned = 0
        total = math.ceil(time_limit) if self._by_time and time_limit else n_trials
        unit = "s" if self._by_time else "trial"
        self._bar = tqdm(total=total, unit=unit, desc="autoens search", leave=True)

    def on_trial_end(self, record: TrialRecord) -> None:
        if self._bar is None:
            return
        if record.status == "ok" and record.loss < self._best:
            self._best = record.loss
        self._pruned += record.status == "pruned"
        if self._by_time:
            elapsed = min(time.monotonic() - self._start, self._bar.total or math.inf)
            self._bar.update(max(0, int(elapsed) - self._bar.n))
        else:
            self._bar.update(1)
        postfix = {"best_loss": f"{self._best:.4f}", "last": record.learner}
        if self._pruned:
            postfix["pruned"] = str(self._pruned)
        self._bar.set_postfix(postfix)

    def on_search_end(self, records: list[TrialRecord]) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
