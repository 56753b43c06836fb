"""How a configuration is retrained once on all training rows (``refit="members"``).

A fold model that stopped early chose its number of iterations on a validation
split of its fold; the model refit on all rows has no held-out rows left to stop
on, so it trains for a fixed number of iterations instead: the mean of what its
fold models used, with early stopping off (as AutoGluon's ``refit_full`` does).
A :class:`~autoens.space.registry.LearnerSpec` names that rule in its
``refit_params`` hook: ``refit_params(fold_models) -> set_params overrides`` for
the estimator ``spec.make`` builds. :func:`fixed_iterations` is the rule of the
default learners that can stop early: HistGradientBoosting and MLP (their own
validation split), LightGBM and XGBoost (the wrapper's split, see
``autoens.space.wrappers``). :func:`fold_iterations` says how many rounds one
fitted fold model uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from autoens.space.wrappers import SafeClassifier, SafeRegressor, _booster

__all__ = ["fitted_core", "fixed_iterations", "fold_iterations"]


def fitted_core(model: Any) -> tuple[str, Any]:
    """``(set_params prefix, fitted model)`` of what a candidate wraps.

    A candidate is a pipeline ending in a ``Safe*`` wrapper around the model; the
    prefix names the model's parameters on the *unfitted* candidate
    (``"model__estimator__"``). The fitted model is None when the wrapper answered
    a one-class fold with a constant.
    """
    prefix = ""
    while True:
        if isinstance(model, Pipeline):
            name, model = model.steps[-1]
            prefix += f"{name}__"
        elif isinstance(model, SafeClassifier | SafeRegressor):
            prefix += "estimator__"
            model = getattr(model, "estimator_", None)
        else:
            return prefix, model


def _best_iteration(model: Any) -> tuple[int, bool] | None:
    """``(iterations the fitted model uses, whether it stopped early)``, or None
    for a model that has no iteration count."""
    kind = _booster(model)
    if kind == "lightgbm":
        # best_iteration_ (1-based) is 0 unless an early-stopping callback ran.
        best = int(model.best_iteration_ or 0)
        return (best, True) if best > 0 else (int(model.n_iter_), False)
    if kind == "xgboost":
        # best_iteration (0-based) exists only after early stopping.
        best = getattr(model, "best_iteration", None)
        if best is not None:
            return int(best) + 1, True
        return int(model.get_booster().num_boosted_rounds()), False
    if hasattr(model, "do_early_stopping_"):  # HistGradientBoosting*
        # It keeps every iteration it ran (no rollback to the best one).
        return int(model.n_iter_), bool(model.do_early_stopping_)
    scores = getattr(model, "validation_scores_", None)
    if hasattr(model, "n_iter_") and hasattr(model, "coefs_"):  # MLP*
        if scores:
            # Early stopping restores the weights of the first best epoch.
            return int(np.argmax(scores)) + 1, True
        return int(model.n_iter_), False
    return None


def fold_iterations(model: Any) -> int | None:
    """Boosting rounds (or epochs) a fitted fold model predicts with.

    LightGBM's ``best_iteration_`` and XGBoost's ``best_iteration + 1`` when it
    stopped early (else every round it ran), HistGradientBoosting's ``n_iter_``,
    an MLP's best epoch when it stopped early (else ``n_iter_``); None for a
    model without iterations or a fold answered with a constant.
    """
    core = fitted_core(model)[1]
    found = None if core is None else _best_iteration(core)
    return None if found is None else found[0]


def fixed_iterations(fold_models: Sequence[Any]) -> dict[str, Any]:
    """Overrides that refit a model for the mean iterations of its fold models.

    Only models that stopped early in some fold change: ``max_iter`` becomes the
    mean (rounded, at least 1) of the fold models' iterations and early stopping
    is turned off (an MLP also stops on a stalled training loss, which
    ``n_iter_no_change = max_iter`` disables). A model that never stopped early
    ran its ``max_iter`` in every fold and is refit as it was; HistGradientBoosting
    still gets ``early_stopping=False``, since its ``"auto"`` switches on from a
    row count and the full data may cross that line where the folds did not.
    LightGBM and XGBoost get ``n_estimators`` = the mean of their folds' best
    iterations and the wrapper's ``early_stopping=False`` (always: the full data
    may support a validation split where the folds did not).
    """
    prefix, counts, stopped, kind = "", [], False, None
    for model in fold_models:
        path, core = fitted_core(model)
        found = None if core is None else _best_iteration(core)
        if found is None:
            continue
        prefix = path
        kind = _booster(core) or (
            "hgb" if hasattr(core, "do_early_stopping_") else "mlp"
        )
        counts.append(found[0])
        stopped |= found[1]
    if not counts:
        return {}
    if kind in ("lightgbm", "xgboost"):
        # The wrapper's switch: "model__estimator__" -> "model__".
        wrapper = prefix.removesuffix("estimator__")
        if not stopped:
            return {f"{wrapper}early_stopping": False}
        n_rounds = max(1, round(float(np.mean(counts))))
        return {
            f"{prefix}n_estimators": n_rounds,
            f"{wrapper}early_stopping": False,
        }
    if not stopped:
        return {f"{prefix}early_stopping": False} if kind == "hgb" else {}
    n_iter = max(1, round(float(np.mean(counts))))
    out: dict[str, Any] = {
        f"{prefix}max_iter": n_iter,
        f"{prefix}early_stopping": False,
    }
    if kind == "mlp":
        out[f"{prefix}n_iter_no_change"] = n_iter
    return out
