"""Stop hopeless configurations after their first folds.

A configuration is cross-validated fold by fold in a worker; after each fold but the
last, the worker compares the fold's loss with a threshold the loop gave it when the
trial was submitted, and stops the trial (status ``"pruned"``) when the loss is worse.
The rule is the percentile rule of Optuna's ``PercentilePruner`` (``MedianPruner`` at
50), applied per fold index: fold *k*'s threshold is the ``percentile``-th percentile
of the fold-*k* losses of the trials that finished, once ``n_startup`` of them have.

Pruning is opt-in, and ``"auto"`` is deliberately mild (the 90th percentile):
ensemble selection profits from diverse members, not only from the best ones
(Caruana et al. 2004, "Ensemble selection from libraries of models"), and a
configuration with a poor loss is often one of them (``docs/user_guide/search.md``
gives the measurement). A trial that reaches its last fold always finishes, and a
NaN fold loss never prunes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

__all__ = ["DEFAULT_PERCENTILE", "N_STARTUP", "PercentilePruning", "make_pruning"]

#: ``pruning="auto"``: stop a trial whose fold loss is worse than 90 % of the
#: finished trials' losses on that fold.
DEFAULT_PERCENTILE = 90.0
#: Finished trials needed on a fold before it can prune anything.
N_STARTUP = 8


@dataclass(frozen=True)
class PercentilePruning:
    """Prune fold *k* when its loss is worse than the ``percentile``-th percentile
    of the finished trials' fold-*k* losses (once ``n_startup`` have one)."""

    percentile: float = DEFAULT_PERCENTILE
    n_startup: int = N_STARTUP

    def __post_init__(self) -> None:
        if not 0.0 < self.percentile < 100.0:
            raise ValueError(
                f"the pruning percentile must be in (0, 100), got {self.percentile}; "
                "higher prunes less (90 stops only the worst tenth on each fold)"
            )
        if self.n_startup < 1:
            raise ValueError(
                f"n_startup must be at least 1, got {self.n_startup}: thresholds "
                "need finished trials to come from"
            )

    def thresholds(
        self, fold_losses: Sequence[Sequence[float]], n_folds: int
    ) -> list[float]:
        """One threshold per fold index for the next trial (``inf``: never prune).

        ``fold_losses`` holds the per-fold losses of the finished trials (rows of
        another length, e.g. from another ``cv``, are ignored; NaN entries do not
        count). The last fold's threshold is always ``inf``: a trial that reached
        it finishes.
        """
        rows = [list(r) for r in fold_losses if len(r) == n_folds]
        out = [math.inf] * n_folds
        if len(rows) < self.n_startup:
            return out
        losses = np.asarray(rows, dtype=np.float64)
        for k in range(n_folds - 1):  # a handful of folds, not a hot path
            column = losses[:, k]
            column = column[np.isfinite(column)]
            if len(column) >= self.n_startup:
                out[k] = float(np.percentile(column, self.percentile))
        return out


def make_pruning(pruning: Any) -> PercentilePruning | None:
    """The pruning rule of the estimator's ``pruning`` parameter.

    ``"auto"``: :class:`PercentilePruning` with its defaults; a number in (0, 100):
    that percentile; None: no pruning; a :class:`PercentilePruning` is used as is.
    """
    if pruning is None:
        return None
    if isinstance(pruning, PercentilePruning):
        return pruning
    if pruning == "auto":
        return PercentilePruning()
    if isinstance(pruning, Real) and not isinstance(pruning, bool):
        return PercentilePruning(percentile=float(pruning))
    raise ValueError(
        f"pruning must be 'auto', a percentile in (0, 100) or None, got {pruning!r}"
    )
