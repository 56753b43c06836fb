"""What an ensemble costs at predict time, and the score-vs-cost Pareto front.

A library member's cost is measured during the search at no extra price: each fold
model predicts its held-out fold, and the summed time over the summed rows gives the
seconds one fold model takes per 1,000 rows (``Library.predict_time_per_1k``). A
member predicts with ``models_per_member`` models (k fold models when bagged, one
when refit), so its cost is that time k (or 1) times; an ensemble's cost is the sum
of its members' (they predict one after another). These are *batch* figures, the
per-row cost of predicting many rows at once; predicting a single row is dominated
by per-call overhead (input checks, preprocessing, library dispatch), which this
figure does not include.

The front: AutoGluon's ``infer_limit`` (Erickson et al. 2020, "AutoGluon-Tabular")
returns one ensemble for one limit; :func:`pareto_front` returns every ensemble
along the validation-loss vs predict-time front, from budget-aware GES
(:class:`~autoens.selectors.budget.BudgetedGES`) run at a grid of budgets: the costs
of the single models no cheaper model beats, and the cumulative costs of the
members in the order unbudgeted GES adds them. Each row records the budget that
produced it, so ``autoens.select(model, "ges", max_predict_time=budget)`` rebuilds
exactly that ensemble.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from autoens.metrics import Metric
from autoens.selectors.budget import BudgetedGES, check_costs
from autoens.selectors.greedy import GreedyEnsembleSelection

__all__ = ["member_costs", "pareto_front"]

#: Largest number of budgets :func:`pareto_front` runs GES at (each is one GES fit).
MAX_BUDGETS = 24


def member_costs(per_model_1k: Any, models_per_member: int) -> np.ndarray:
    """Seconds per 1,000 rows of each member: a fold model's time times the number
    of models the member predicts with (NaN stays NaN: unknown)."""
    if models_per_member < 1:
        raise ValueError(f"models_per_member must be >= 1, got {models_per_member}")
    return np.asarray(per_model_1k, dtype=np.float64) * float(models_per_member)


def _columns(metric: Metric) -> list[str]:
    return [
        "predict_time_1k",
        "loss",
        metric.score_name,
        "n_members",
        "members",
        "weights",
        "max_predict_time",
    ]


def pareto_front(
    P: np.ndarray,
    y: np.ndarray,
    *,
    metric: Metric,
    costs: Any,
    trials: Any,
    ges: GreedyEnsembleSelection | None = None,
    sample_weight: np.ndarray | None = None,
    max_budgets: int = MAX_BUDGETS,
    time_limit: float | None = None,
) -> pd.DataFrame:
    """Non-dominated ensembles of validation loss vs predict time, fastest first.

    One row per ensemble no cheaper-or-equal ensemble matches on loss:
    ``predict_time_1k`` (sum of its members' ``costs``, NaN costs taken as the
    slowest known), ``loss`` (validation loss on ``P``, lower is better), the
    metric's score, ``n_members``, ``members`` (tuple of ``trials`` entries),
    ``weights`` (tuple, same order) and ``max_predict_time`` (the budget that builds
    it). Costs fall and scores worsen down to the first row, the fastest single
    model; the last row is the best ensemble found. ``ges`` gives the GES
    parameters (default: GES seeded 0); ``time_limit`` (seconds) stops adding
    budgets when spent (the unbudgeted and the fastest points come first). Empty
    when no cost is known.
    """
    n_models = P.shape[0]
    trials = np.asarray(trials)
    c = check_costs(costs, n_models)
    if c is None:
        return pd.DataFrame(columns=_columns(metric))
    deadline = math.inf if time_limit is None else time.monotonic() + time_limit
    if ges is None:
        ges = GreedyEnsembleSelection(random_state=0)
    params = ges.get_params()
    params = {k: v for k, v in params.items() if k not in ("costs", "max_cost")}

    def run(budget: float, **changed: Any) -> BudgetedGES:
        sel = BudgetedGES(**{**params, **changed}, costs=c, max_cost=budget)
        return sel.fit(P, y, metric=metric, sample_weight=sample_weight)

    # Budgets: where the single-model front steps, and where the unbudgeted greedy
    # path adds a new member.
    singles = metric.loss(y, P, sample_weight)
    order = np.lexsort((singles, c))
    ranked = singles[order]
    before = np.concatenate([[np.inf], np.minimum.accumulate(ranked)[:-1]])
    single_budgets = c[order][ranked < before]
    path = run(math.inf, use_best=False).indices_
    _, first = np.unique(path, return_index=True)
    path_budgets = np.cumsum(c[path[np.sort(first)]])
    budgets = np.unique(np.concatenate([single_budgets, path_budgets]))
    budgets = budgets[budgets < path_budgets[-1]]  # at or above: unbudgeted GES
    if budgets.size > max_budgets - 1:
        keep = np.linspace(0, budgets.size - 1, max(1, max_budgets - 1))
        budgets = budgets[np.unique(np.round(keep).astype(int))]
    rows = []
    for i, budget in enumerate([math.inf, *budgets.tolist()]):
        if i > 1 and time.monotonic() > deadline:
            break  # the unbudgeted and the fastest points are always there
        sel = run(budget)
        members = np.flatnonzero(sel.weights_)
        rows.append(
            {
                "predict_time_1k": float(c[members].sum()),
                "loss": float(sel.validation_loss_),
                metric.score_name: metric.to_score(sel.validation_loss_),
                "n_members": int(members.size),
                "members": tuple(trials[members].tolist()),
                "weights": tuple(np.round(sel.weights_[members], 6).tolist()),
                "max_predict_time": budget,
            }
        )
    board = pd.DataFrame(rows, columns=_columns(metric))
    board = board.sort_values(["predict_time_1k", "loss", "max_predict_time"])
    ranked_loss = board["loss"].to_numpy()
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(ranked_loss)[:-1]])
    front = board[ranked_loss < best_before]
    return front.reset_index(drop=True)
