"""Ensemble selection within a predict-time budget.

Every library member has a *cost*: the seconds it takes to predict 1,000 rows (its
fold models' time per row measured during the search, times the number of models it
predicts with). An ensemble's cost is the sum of its required members' costs: members
predict one after another. A budget ``max_cost`` keeps the ensemble within it.

- :class:`BudgetedGES` is greedy ensemble selection (Caruana et al. 2004) whose greedy
  step only considers models already in the ensemble or whose addition keeps the
  distinct members' total cost within the budget (a NumPy mask over the candidates).
  With an infinite budget it *is* plain GES, step for step.
- :class:`BudgetedSelector` makes any other selector budget-aware: it fits the
  selector on the members :class:`BudgetedGES` picks within the budget, the subset
  the greedy search found worth their cost, so every ensemble the selector can form
  from them fits the budget (QP finds the best weights on that subset, stacking
  learns its combination from it, a dynamic selector selects per row among it).
- :func:`apply_budget` turns a selector into the budget-aware one of the two.

Unknown costs (NaN: a candidate from a cache written before predict times were
kept) are taken as the slowest known member's, a pessimistic guess, so an unknown
member enters a budgeted ensemble only where the slowest known one could. With no
known cost at all the budget cannot be applied: a warning says so and selection is
unbudgeted. A budget below the fastest member's cost cannot be met: the fastest
member alone is used, with a warning.
"""

from __future__ import annotations

import math
import warnings
from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from autoens._sklearn import HasMethods, Interval
from autoens.selectors.base import RANDOM_STATE_CONSTRAINT, BaseSelector
from autoens.selectors.greedy import GreedyEnsembleSelection

__all__ = [
    "BudgetedGES",
    "BudgetedSelector",
    "apply_budget",
    "check_costs",
    "within_budget",
]

_COST_CONSTRAINTS: dict[str, list[Any]] = {
    "costs": ["array-like", None],
    # [0, inf]: an infinite budget is no budget.
    "max_cost": [Interval(Real, 0, None, closed="both"), None],
}
# Relative slack when comparing a total cost with a budget: budgets are often sums
# of the same costs added in another order.
_SLACK = 1e-9


def check_costs(costs: Any, n_models: int) -> np.ndarray | None:
    """``costs`` as float64 (n_models,), unknown (NaN) ones set to the slowest known
    cost; None when no cost is known (the budget cannot be applied)."""
    c = np.asarray(costs, dtype=np.float64).ravel()
    if c.shape != (n_models,):
        raise ValueError(
            f"costs has {c.size} entries but P has {n_models} models; pass one "
            "predict cost per model (NaN where unknown)."
        )
    known = ~np.isnan(c)
    if (c[known] < 0).any():
        raise ValueError("costs must be non-negative (seconds per 1,000 rows)")
    if not known.any():
        return None
    if known.all():
        return c
    return np.where(known, c, c[known].max())


def within_budget(costs: np.ndarray, max_cost: float) -> tuple[np.ndarray, float]:
    """Models that fit ``max_cost`` alone, and the budget to use: when none does,
    the fastest models with a warning, and their cost as the budget."""
    inside = np.flatnonzero(costs <= max_cost * (1.0 + _SLACK))
    if inside.size:
        return inside, float(max_cost)
    fastest = float(costs.min())
    warnings.warn(
        f"max_predict_time={max_cost:.4g}s per 1,000 rows is below the fastest "
        f"member's predict time ({fastest:.4g}s); using that member alone. Raise the "
        "budget, or search faster learners.",
        UserWarning,
        stacklevel=3,
    )
    return np.flatnonzero(costs == fastest), fastest


def _unknown_costs_warning() -> None:
    warnings.warn(
        "no library member has a known predict time (a cache written by an older "
        "autoens?), so the predict-time budget is ignored",
        UserWarning,
        stacklevel=3,
    )


class BudgetedGES(GreedyEnsembleSelection):
    """Greedy ensemble selection whose members fit a predict-time budget.

    Parameters
    ----------
    ensemble_size, init_sorted, use_best, random_state
        As in :class:`~autoens.selectors.GreedyEnsembleSelection`. The sorted
        initialisation takes the best single models while their total cost fits.
    costs : array-like of shape (n_models,), optional
        Predict cost of each model (seconds per 1,000 rows; NaN: unknown, taken as
        the slowest known cost). None: plain GES.
    max_cost : float, optional
        Budget for the sum of the distinct members' costs. None or ``inf``: plain
        GES, step for step (the same members, weights and trajectory).

    Attributes
    ----------
    predict_cost_ : float
        Sum of the members' costs (NaN without ``costs``).
    Other attributes as in GES; ``indices_`` and ``weights_`` index all models.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **GreedyEnsembleSelection._parameter_constraints,
        **_COST_CONSTRAINTS,
    }

    def __init__(
        self,
        *,
        ensemble_size: int = 50,
        init_sorted: int = 0,
        use_best: bool = True,
        costs: Any = None,
        max_cost: float | None = None,
        random_state: Any = None,
    ) -> None:
        super().__init__(
            ensemble_size=ensemble_size,
            init_sorted=init_sorted,
            use_best=use_best,
            random_state=random_state,
        )
        self.costs = costs
        self.max_cost = max_cost

    @property
    def _guarantees_single_best(self) -> bool:  # type: ignore[override]
        # The single best model may not fit the budget.
        return self.max_cost is None and super()._guarantees_single_best

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_models = P.shape[0]
        costs = None if self.costs is None else check_costs(self.costs, n_models)
        if costs is None or self.max_cost is None:
            if self.costs is not None and costs is None and self.max_cost is not None:
                _unknown_costs_warning()
            self._greedy(P, y)
        else:
            # Models that do not fit alone never can: score only the others.
            inside, budget = within_budget(costs, float(self.max_cost))
            if inside.size == n_models:
                self._greedy(P, y, costs, budget)
            else:
                self._greedy(P[inside], y, costs[inside], budget)
                self.indices_ = inside[self.indices_]
                self.weights_ = np.bincount(self.indices_, minlength=n_models) / len(
                    self.indices_
                )
        members = np.flatnonzero(self.weights_)
        self.predict_cost_ = math.nan if costs is None else float(costs[members].sum())


class BudgetedSelector(BaseSelector):
    """Any selector, fit on the members that fit a predict-time budget.

    The members are those :class:`BudgetedGES` picks within ``max_cost`` (seeded by
    ``random_state``); ``selector`` is then fit on their predictions only, so every
    ensemble it builds fits the budget.

    Parameters
    ----------
    selector : str or BaseSelector
        The selector to restrict (a name from ``autoens.selectors.SELECTOR_NAMES`` or
        an unfitted selector object, cloned).
    costs, max_cost
        As in :class:`BudgetedGES`.
    random_state : None, int or numpy Generator
        Seeds the greedy search for the members (and a selector named by string).

    Attributes
    ----------
    selector_ : BaseSelector
        ``selector`` fit on the budget's members; ``combine``, ``is_dynamic`` and
        ``is_weighted_average`` are its.
    members_ : ndarray of int
        The models it was fit on (indices into ``P``).
    weights_ : ndarray (n_models,)
        The inner selector's weights (uniform over its required members if it has
        none), zero outside ``members_``.
    predict_cost_ : float
        Sum of the required members' costs.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "selector": [str, HasMethods(["fit", "combine"])],
        **_COST_CONSTRAINTS,
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        selector: Any = "qp",
        costs: Any = None,
        max_cost: float | None = None,
        random_state: Any = None,
    ) -> None:
        self.selector = selector
        self.costs = costs
        self.max_cost = max_cost
        self.random_state = random_state

    def _template(self) -> BaseSelector:
        fitted = self.__dict__.get("selector_")
        if fitted is not None:
            return fitted
        from autoens.selectors.names import get_selector

        return get_selector(self.selector, random_state=self.random_state)

    # The inner selector decides how the ensemble is run.
    @property
    def is_dynamic(self) -> bool:  # type: ignore[override]
        return bool(self._template().is_dynamic)

    @property
    def is_weighted_average(self) -> bool:  # type: ignore[override]
        return bool(self._template().is_weighted_average)

    @property
    def can_predict(self) -> bool:  # type: ignore[override]
        return bool(getattr(self._template(), "can_predict", True))

    @property
    def task_families(self) -> frozenset[str]:
        return self._template().task_families

    @property
    def _supports_sample_weight(self) -> bool:  # type: ignore[override]
        return bool(getattr(self._template(), "_supports_sample_weight", False))

    @property
    def required_members_(self) -> np.ndarray:
        check_is_fitted(self)
        inner = np.asarray(self.selector_.required_members_, dtype=np.int64)
        return self.members_[inner]

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_models = P.shape[0]
        w = self._sample_weight
        costs = None if self.costs is None else check_costs(self.costs, n_models)
        if costs is None or self.max_cost is None:
            if self.costs is not None and costs is None and self.max_cost is not None:
                _unknown_costs_warning()
            members = np.arange(n_models)
        else:
            ges = BudgetedGES(
                costs=costs, max_cost=self.max_cost, random_state=self.random_state
            )
            ges.fit(P, y, metric=self.metric_, sample_weight=w)
            members = np.flatnonzero(ges.weights_)
        inner = clone(self._template())
        inner.fit(
            P[members],
            y,
            metric=self.metric_,
            X=X,
            configs=None if configs is None else [configs[i] for i in members],
            sample_weight=w,
        )
        self.selector_ = inner
        self.members_ = members.astype(np.int64)
        weights = np.zeros(n_models)
        inner_weights = getattr(inner, "weights_", None)
        if inner_weights is None:
            required = self.members_[np.asarray(inner.required_members_, dtype=int)]
            weights[required] = 1.0 / len(required)
        else:
            weights[self.members_] = np.asarray(inner_weights, dtype=np.float64)
        self.weights_ = weights
        self.validation_loss_ = float(getattr(inner, "validation_loss_", math.nan))
        self.selector_leaderboard_ = getattr(inner, "selector_leaderboard_", None)
        self.predict_cost_ = (
            math.nan if costs is None else float(costs[self.required_members_].sum())
        )

    def combine(self, P: Any, X: Any = None, **kwargs: Any) -> np.ndarray:
        """The inner selector's combination of the budget's members (``exclude_self``
        passes through to a dynamic one)."""
        check_is_fitted(self)
        P = self._check_combine_input(P)
        return self.selector_.combine(P[self.members_], X=X, **kwargs)

    def sample_weights(
        self, P: Any, X: Any = None, *, exclude_self: bool = False
    ) -> np.ndarray:
        """A dynamic inner selector's per-row weights over all models (n_samples,
        n_models), zero outside ``members_``."""
        check_is_fitted(self)
        P = self._check_combine_input(P)
        inner = self.selector_.sample_weights(
            P[self.members_], X=X, exclude_self=exclude_self
        )
        out = np.zeros((P.shape[1], self.n_models_), dtype=inner.dtype)
        out[:, self.members_] = inner
        return out


def apply_budget(
    selector: BaseSelector, costs: Any, max_cost: float | None
) -> BaseSelector:
    """The budget-aware version of an unfitted ``selector`` (itself when
    ``max_cost`` is None): :class:`BudgetedGES` with the same parameters for GES,
    :class:`BudgetedSelector` around any other."""
    if max_cost is None:
        return selector
    if isinstance(selector, BudgetedGES):
        return clone(selector).set_params(costs=costs, max_cost=max_cost)
    if type(selector) is GreedyEnsembleSelection:
        return BudgetedGES(**selector.get_params(), costs=costs, max_cost=max_cost)
    return BudgetedSelector(
        selector=selector,
        costs=costs,
        max_cost=max_cost,
        random_state=getattr(selector, "random_state", None),
    )
