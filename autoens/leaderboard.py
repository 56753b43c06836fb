"""The leaderboard: one row per trial, and the ensemble's own row beside them.

``leaderboard_`` (a fitted attribute) keeps one row per evaluated configuration, so
that counting or filtering trials stays simple; :func:`with_ensemble` puts the
ensemble's row on top of it (what ``model.leaderboard()`` and the CLI show), so a
user reads the ensemble's validation score next to its members' and sees what
selection gained over the best single model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from autoens.metrics import Metric
from autoens.trials import TrialRecord

__all__ = [
    "ensemble_validation_loss",
    "selector_name",
    "trial_leaderboard",
    "with_ensemble",
]


def trial_leaderboard(records: Sequence[TrialRecord], metric: Metric) -> pd.DataFrame:
    """One row per trial, finished ones best first, then the others."""
    to_score = metric.to_score
    rows = [
        {
            "trial": r.number,
            "learner": r.learner,
            "loss": r.loss,
            metric.score_name: to_score(r.loss) if r.status == "ok" else math.nan,
            "weight": 0.0,
            "status": r.status,
            "source": r.source,
            "fit_time": round(r.fit_time, 3),
            "predict_time_1k": math.nan,  # set with the ensemble
            "proposal_time": round(r.proposal_time, 4),
            "params": r.params,
            "error": r.error,
        }
        for r in records
    ]
    board = pd.DataFrame(rows)
    board = board.sort_values(
        ["status", "loss", "trial"],
        key=lambda s: (s != "ok") if s.name == "status" else s,
        na_position="last",
    )
    return board.reset_index(drop=True)


def ensemble_validation_loss(model: Any, metric: Metric, selector: Any) -> float:
    """The ensemble's loss on the out-of-fold rows, in ``metric``.

    The selector's own figure when it reports one in this metric (stacking and
    ``"auto"`` report a cross-validated one, more honest than scoring the
    combination on the rows it was fit on); otherwise the metric of the selector's
    combination of the OOF predictions (a dynamic selector leaves each row out of
    its own neighbourhood). NaN when neither exists (e.g. the oracle cannot
    combine rows it was not fit on).
    """
    reported = float(getattr(selector, "validation_loss_", math.nan))
    selector_metric = getattr(selector, "metric_", None)
    if math.isfinite(reported) and (
        selector_metric is None or selector_metric.name == metric.name
    ):
        return reported
    try:
        outputs = model._oof_outputs()
    except (ValueError, NotImplementedError):
        return math.nan
    lib = model.library_
    return metric.loss_single(lib.y, outputs, lib.sample_weight)


def with_ensemble(model: Any) -> pd.DataFrame:
    """``leaderboard_`` with the ensemble's row on top (``trial`` is <NA> there).

    The row: learner ``"ensemble"``, the ensemble's validation loss and score in
    the leaderboard's metric, weight NaN (it is not a member), its predict time
    per 1,000 rows, ``source`` ``"selector"``, and ``params`` the selector's name
    and the members' trial numbers and weights.
    """
    board = model.leaderboard_
    metric = model.metric_
    loss = ensemble_validation_loss(model, metric, model.selector_)
    weights = model.weights_[model.weights_ > 0]
    row: dict[str, Any] = {column: np.nan for column in board.columns}
    row.update(
        trial=pd.NA,
        learner="ensemble",
        loss=loss,
        weight=np.nan,  # the members' weights sum to 1; not a member itself
        status="ok",
        source="selector",
        fit_time=round(float(getattr(model, "selection_time_", np.nan)), 3),
        params={
            "selector": selector_name(model),
            "members": {int(t): round(float(w), 4) for t, w in weights.items()},
        },
        error=None,
    )
    row[metric.score_name] = metric.to_score(loss) if math.isfinite(loss) else np.nan
    if "predict_time_1k" in board.columns:
        row["predict_time_1k"] = getattr(model, "predict_time_1k_", np.nan)
    if "required" in board.columns:
        row["required"] = True
    if "refit" in board.columns:
        row["refit"] = bool(board["refit"].any())
    top = pd.DataFrame([row], columns=board.columns)
    trials = pd.array(board["trial"], dtype="Int64")
    board = board.assign(trial=trials)
    top["trial"] = pd.array([pd.NA], dtype="Int64")
    return pd.concat([top, board], ignore_index=True)


def selector_name(model: Any) -> str:
    """The selector as the user named it; for ``"auto"``, also the one it chose."""
    selector = getattr(model, "selector_", None)
    given = model.selector if isinstance(model.selector, str) else None
    name = given or type(selector).__name__
    chosen = getattr(selector, "chosen_name_", None)
    return f"{name} -> {chosen}" if chosen else name
