"""Greedy ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes 2004, "Ensemble
selection from libraries of models", ICML).

Forward selection with replacement: each iteration adds the model whose addition gives
the lowest validation loss, so integer counts become weights. The details that matter
are AutoGluon's: ties prefer models already in the ensemble, a float-noise guard rounds
losses to 6 decimals, and ``use_best`` cuts back to the best prefix of the trajectory.

Regression needs no change to the method: the mean of members' predicted values is the
ensemble GES scores (with a squared loss, averaging also provably never does worse
than the average member). Only the float-noise guard is made relative there: a
regression loss has the target's units, so losses are rounded to 6 significant digits
of the first iteration's best loss
(:func:`~autoens.selectors.base.loss_noise_unit`).

Every iteration scores all K candidates in one vectorised metric call per chunk of
models; the metric's ``reduce`` lets candidates be built only on the entries the loss
reads (the true-class column for log loss, the positive column for binary ROC AUC).
Memory: the reduced tensor (at most the size of P: multiclass ROC AUC keeps a
class-major copy) plus one 64 MB chunk of candidates.

Sample weights: every candidate (and the sorted initialisation) is scored by the
weighted loss; nothing else changes.
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from autoens._sklearn import Interval
from autoens.selectors.base import (
    BOTH_FAMILIES,
    RANDOM_STATE_CONSTRAINT,
    ROW_EQUIVALENCES,
    BaseSelector,
    check_generator,
    loss_noise_unit,
    round_losses,
)

__all__ = ["GreedyEnsembleSelection"]

# Candidate ensembles are built in chunks of models of at most this many float32
# elements (64 MB), so memory stays bounded whatever the number of models.
_CHUNK_ELEMENTS = 1 << 24
# AutoGluon's float-noise guard (autoens.selectors.base.loss_noise_unit): losses are
# rounded so near-identical models do not enter through float noise (and near-ties
# become exact ties that prefer used models).


class GreedyEnsembleSelection(BaseSelector):
    """Greedy ensemble selection with replacement (GES).

    Parameters
    ----------
    ensemble_size : int, default=50
        Greedy iterations (each adds one member). 50 is auto-sklearn's default;
        AutoGluon uses 25, citing TabRepo's finding that larger sizes bring no
        measurable gain. With ``use_best`` extra iterations never hurt validation loss;
        they cost K metric evaluations each.
    init_sorted : int, default=0
        Start from the ``init_sorted`` best single models (Caruana's sorted
        initialisation). Off by default, as in auto-sklearn and AutoGluon: the right
        value must be tuned on the validation data, which invites overfitting.
        These members are always kept; ``ensemble_size`` iterations follow them.
    use_best : bool, default=True
        Cut the ensemble back to the first iteration with the lowest (rounded) loss, as
        AutoGluon does; on plateaus this keeps the smaller ensemble.
    random_state : None, int or numpy Generator, default=None
        Breaks ties among equally good candidates that are not yet in the ensemble.

    Attributes
    ----------
    weights_ : ndarray (n_models,)
        Member counts divided by the ensemble size.
    indices_ : ndarray of int
        Members in selection order (sorted-initialisation members first), cut at
        ``best_iteration_``; ``weights_ == bincount(indices_) / len(indices_)``.
    trajectory_ : ndarray of float
        Loss of the ensemble after each greedy iteration, as used for the decisions
        (rounded to 6 decimals when the float-noise guard is on; for regression, 6
        decimals of the first iteration's best loss).
    best_iteration_ : int
        Index into ``trajectory_`` of the kept ensemble.
    validation_loss_ : float
        Unrounded loss of the kept ensemble; :meth:`combine` repeats the selection's
        float32 arithmetic, so this equals the loss seen during selection exactly.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "ensemble_size": [Interval(Integral, 1, None, closed="left")],
        "init_sorted": [Interval(Integral, 0, None, closed="left")],
        "use_best": ["boolean"],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }
    _task_families: ClassVar[frozenset[str]] = BOTH_FAMILIES
    _supports_sample_weight: ClassVar[bool] = True
    _sample_weight_equivalences: ClassVar[frozenset[str]] = ROW_EQUIVALENCES

    def __init__(
        self,
        *,
        ensemble_size: int = 50,
        init_sorted: int = 0,
        use_best: bool = True,
        random_state: Any = None,
    ) -> None:
        self.ensemble_size = ensemble_size
        self.init_sorted = init_sorted
        self.use_best = use_best
        self.random_state = random_state

    @property
    def _guarantees_single_best(self) -> bool:  # type: ignore[override]
        # Iteration 1 from an empty (or single-best) start picks the single best model,
        # and use_best can always cut back to it.
        return bool(self.use_best) and self.init_sorted <= 1

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        self._greedy(P, y)

    def _greedy(
        self,
        P: np.ndarray,
        y: np.ndarray,
        costs: np.ndarray | None = None,
        max_cost: float = math.inf,
    ) -> None:
        """The greedy loop; with ``costs`` (one finite cost per model, see
        :class:`~autoens.selectors.budget.BudgetedGES`) a step only considers models
        already in the ensemble or whose cost keeps the distinct members' total
        within ``max_cost``. Without ``costs`` it is plain GES."""
        ensemble_size = int(self.ensemble_size)
        init_sorted = int(self.init_sorted)
        rng = check_generator(self.random_state)
        metric = self.metric_
        n_models = P.shape[0]
        w = self._sample_weight

        R = metric.reduce_all(y, P)
        step = max(1, _CHUNK_ELEMENTS // max(1, R[0].size))
        S = np.zeros(R.shape[1:], dtype=np.float32)  # running sum of members
        counts = np.zeros(n_models, dtype=np.int64)
        order: list[int] = []

        # A hair of slack: budgets are often sums of the same costs in another order.
        budget = float(max_cost) * (1.0 + 1e-9)
        if init_sorted:
            single = _chunked_losses(metric, y, R, step, w)
            ranked = np.argsort(single, kind="stable")[:init_sorted]
            if costs is not None:  # the best singles while their total fits
                ranked = ranked[np.cumsum(costs[ranked]) <= budget]
            for k in ranked:
                S += R[k]
                counts[k] += 1
                order.append(int(k))
        spent = 0.0 if costs is None else float(costs[counts > 0].sum())

        buffer = np.empty((min(step, n_models), *R.shape[1:]), dtype=np.float32)
        trajectory: list[float] = []
        unit: float | None = None
        for iteration in range(ensemble_size):
            n = len(order)
            losses = np.empty(n_models, dtype=np.float64)
            for start in range(0, n_models, step):
                stop = min(start + step, n_models)
                E = buffer[: stop - start]
                np.add(S, R[start:stop], out=E)
                np.divide(E, np.float32(n + 1), out=E)
                losses[start:stop] = metric.loss_reduced(y, E, w)
            losses[~np.isfinite(losses)] = np.inf
            allowed = None
            if costs is not None:
                allowed = (counts > 0) | (spent + costs <= budget)
                if not allowed.any():  # nothing fits: the caller checks this first
                    allowed = costs == costs.min()
            if iteration == 0:
                unit = loss_noise_unit(
                    metric, losses.min() if allowed is None else losses[allowed].min()
                )
            losses = round_losses(losses, unit)
            if allowed is None:
                best = np.flatnonzero(losses == losses.min())
            else:
                best = np.flatnonzero(allowed & (losses == losses[allowed].min()))
            if best.size > 1:
                used = best[counts[best] > 0]
                if used.size:
                    best = used
            j = int(best[0] if best.size == 1 else best[rng.integers(best.size)])
            if costs is not None and counts[j] == 0:
                spent += float(costs[j])
            S += R[j]
            counts[j] += 1
            order.append(j)
            trajectory.append(float(losses[j]))
            if n_models == 1:
                break

        self.trajectory_ = np.asarray(trajectory, dtype=np.float64)
        self.best_iteration_ = (
            int(np.argmin(self.trajectory_)) if self.use_best else len(trajectory) - 1
        )
        n_init = len(order) - len(trajectory)
        self.indices_ = np.asarray(
            order[: n_init + self.best_iteration_ + 1], dtype=np.intp
        )
        self.weights_ = np.bincount(self.indices_, minlength=n_models) / len(
            self.indices_
        )

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        """Mean of the members' predictions, summed in selection order in float32.

        Mathematically ``weights_ @ P``; repeating the selection's arithmetic makes
        ``validation_loss_`` equal the loss GES saw for this ensemble, bit for bit.
        """
        check_is_fitted(self)
        P = self._check_combine_input(P)
        S = np.zeros(P.shape[1:], dtype=np.float32)
        for k in self.indices_:
            S += P[k]
        S /= np.float32(len(self.indices_))
        return S


def _chunked_losses(
    metric: Any,
    y: np.ndarray,
    R: np.ndarray,
    step: int,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    out = np.empty(R.shape[0], dtype=np.float64)
    for start in range(0, R.shape[0], step):
        stop = min(start + step, R.shape[0])
        out[start:stop] = metric.loss_reduced(y, R[start:stop], sample_weight)
    return out
