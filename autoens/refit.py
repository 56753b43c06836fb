"""``refit="members"``: each ensemble member retrained once on all training rows.

The search scores a configuration by k-fold cross-validation, so each member comes
with k fold models and predicts with their mean (bagging). Refitting trains the
member's configuration once on all rows: k times fewer models to run at predict
time, each trained on all rows instead of (k-1)/k of them. The ensemble's weights
stay those chosen on the fold models' out-of-fold predictions, and the fold models
stay in ``FittedEnsemble.fold_members`` (CV+ intervals, ``autoens.select`` and
distillation need them). A learner that stopped early inside its folds is refit
for the mean of their iterations (``LearnerSpec.refit_params``).

These functions work on a fitted estimator (``AutoEnsembleBase``), which calls them
from ``fit(refit="members")`` and ``refit_members``.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from autoens.ensemble import FittedEnsemble
from autoens.space import get_learners

__all__ = ["record_refit", "refit_ensemble", "refit_reserve", "refit_rows"]

logger = logging.getLogger("autoens")

# refit="members": share of ``time_limit`` the search leaves for refitting members;
# a member is refit when its estimate times the safety factor fits in what is
# left, minus a margin for the bookkeeping after it.
REFIT_RESERVE = 0.1
REFIT_SAFETY = 1.25
REFIT_MARGIN = 0.01
MAX_REFIT_MARGIN = 1.0
#: Columns of ``refit_``.
REFIT_COLUMNS = (
    "trial",
    "learner",
    "weight",
    "status",
    "n_models",
    "estimated_time",
    "refit_time",
    "refit_params",
    "note",
)


def refit_reserve(model: Any) -> float:
    """Seconds of ``time_limit`` the search leaves for ``refit="members"``."""
    if getattr(model, "refit", None) != "members" or model.time_limit is None:
        return 0.0
    return REFIT_RESERVE * model.time_limit


def refit_deadline(model: Any, fit_start: float) -> float | None:
    """When ``fit(refit="members")`` must stop refitting: the end of
    ``time_limit`` less a margin for the bookkeeping after it."""
    if model.time_limit is None:
        return None
    return (
        fit_start
        + model.time_limit
        - min(REFIT_MARGIN * model.time_limit, MAX_REFIT_MARGIN)
    )


def refit_rows(model: Any, status: str = "bagged", note: str = "") -> list[dict]:
    """One ``refit_`` row per ensemble member, most weight first."""
    lib, ens = model.library_, model.ensemble_
    order = sorted(
        (int(i) for i in ens.required),
        key=lambda i: (-float(model.weights_.iloc[i]), lib.trials[i]),
    )
    return [
        {
            "trial": lib.trials[i],
            "learner": lib.learners[i],
            "weight": float(model.weights_.iloc[i]),
            "status": status,
            "n_models": len(ens.members[i]),
            "estimated_time": math.nan,
            "refit_time": math.nan,
            "refit_params": {},
            "note": note,
            "_index": i,
        }
        for i in order
    ]


def record_refit(model: Any, rows: list[dict]) -> None:
    """Set ``refit_``, the leaderboard's ``refit`` column and the members' predict
    times from ``rows``.

    A member's predict time is its fold model's times the models it now runs (one
    when refit, k when it kept its fold models), so ``predict_time_1k_`` says what
    the ensemble costs as it is, not as it was planned.
    """
    table = pd.DataFrame(rows, columns=[*REFIT_COLUMNS, "_index"])
    model.refit_ = table.drop(columns="_index").reset_index(drop=True)
    done = set(table.loc[table["status"] == "refit", "trial"].tolist())
    board = model.leaderboard_.copy()
    board["refit"] = board["trial"].isin(done)
    per_model = getattr(model.library_, "predict_time_per_1k", None)
    if per_model is not None and len(table) and "predict_time_1k" in board:
        index = table["_index"].to_numpy(dtype=np.int64)
        costs = per_model[index] * table["n_models"].to_numpy(dtype=np.float64)
        member_cost = pd.Series(costs, index=table["trial"].to_numpy())
        is_member = board["trial"].isin(member_cost.index)
        board.loc[is_member, "predict_time_1k"] = board.loc[is_member, "trial"].map(
            member_cost
        )
        model.predict_time_1k_ = float(costs.sum())
    model.leaderboard_ = board


def refit_ensemble(
    model: Any,
    frame: pd.DataFrame,
    y: np.ndarray,
    weights: np.ndarray | None,
    *,
    deadline: float | None,
) -> None:
    """Refit the ensemble's members on ``frame, y`` before ``deadline``.

    Most weight first, each while its estimate (fold fit time over k-1, the
    size of one fold model's training set relative to all rows, with a safety
    factor) fits before the deadline; a failure keeps that member's fold
    models. The ensemble is copied before it changes, so a model sharing it
    (a copy made by ``autoens.select``) is not touched.
    """
    lib = model.library_
    ensemble = copy.copy(model.ensemble_)
    ensemble.members = dict(ensemble.fold_members)
    specs = {s.name: s for s in get_learners(model.learners, task=model.task_)}
    fit_times = model.leaderboard_.set_index("trial")["fit_time"]
    per_fit = 1.0 / max(1, int(model.n_folds_) - 1)
    rows = refit_rows(model)
    skipped, failed = [], []
    interrupted = False
    try:
        for row in rows:
            i = row["_index"]
            estimate = float(fit_times.get(row["trial"], 0.0)) * per_fit
            row["estimated_time"] = round(estimate, 3)
            if (
                deadline is not None
                and time.monotonic() + REFIT_SAFETY * estimate > deadline
            ):
                row["status"], row["note"] = "timeout", "no time left to refit"
                skipped.append(row["trial"])
                continue
            start = time.monotonic()
            try:
                refit, overrides = _refit_one(
                    model, specs.get(lib.learners[i]), i, ensemble, frame, y, weights
                )
            except Exception as exc:  # a crashing learner keeps its fold models
                row["status"] = "failed"
                row["note"] = f"{type(exc).__name__}: {exc}"
                failed.append(f"trial {row['trial']} ({row['learner']})")
                failed[-1] += f": {row['note']}"
                continue
            finally:
                row["refit_time"] = round(time.monotonic() - start, 3)
            ensemble.set_member_models(i, [refit])
            shown = {k.rsplit("__", 1)[-1]: v for k, v in overrides.items()}
            row.update(status="refit", refit_params=shown)
            logger.info(
                "refit trial %d (%s) on all rows in %.2fs",
                row["trial"],
                row["learner"],
                row["refit_time"],
            )
    except KeyboardInterrupt:  # a Ctrl-C ends the refit, not the fit's work
        interrupted = True
    for row in rows:
        row["n_models"] = len(ensemble.members[row["_index"]])
    model.ensemble_ = ensemble
    record_refit(model, rows)
    if interrupted:
        warnings.warn(
            "refit interrupted: the members not refit yet predict with their "
            "fold models (see refit_)",
            UserWarning,
            stacklevel=3,
        )
    if skipped:
        warnings.warn(
            f"refit: no time left within time_limit to refit {len(skipped)} of "
            f"{len(rows)} ensemble members (trials {skipped}); they predict with "
            "their fold models (see refit_)",
            UserWarning,
            stacklevel=3,
        )
    if failed:
        warnings.warn(
            f"refit failed for {'; '.join(failed)}; kept the fold models (see refit_)",
            UserWarning,
            stacklevel=3,
        )


def _refit_one(
    estimator: Any,
    spec: Any,
    index: int,
    ensemble: FittedEnsemble,
    frame: pd.DataFrame,
    y: np.ndarray,
    weights: np.ndarray | None,
) -> tuple[Any, dict[str, Any]]:
    """Library member ``index`` refit on all rows, and the overrides its
    learner's ``refit_params`` made."""
    from autoens.members import refit_member

    lib = estimator.library_
    if spec is None:
        raise ValueError(
            f"learner {lib.learners[index]!r} is not among learners="
            f"{estimator.learners!r}"
        )
    fold_models = ensemble.fold_members[index]
    overrides = spec.refit_params(fold_models) if spec.refit_params else {}
    model = refit_member(
        spec,
        lib.params[index],
        fold_models,
        frame,
        y,
        feature_types=estimator.schema_.feature_types,
        task=lib.task,
        random_state=estimator._seed,
        sample_weight=weights,
    )
    return model, overrides
