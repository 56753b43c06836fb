"""How long a trial will take: a per-learner cost model, corrected as the search runs.

A search with a time limit should not spend a third of it on one slow configuration
(a 500-tree random forest, a wide three-layer MLP) when ten cheaper ones would make a
better ensemble. :class:`CostModel` predicts the wall time of a trial (the fit and
held-out prediction of all ``k`` fold models) from the data's shape and the
hyper-parameters that drive cost, so proposers can skip configurations that cannot
finish in the time left and a warm-start portfolio can run its cheap entries first.

Each learner's prior is ``k * (c0 + c1 * W)``: a per-fold overhead ``c0`` (pipeline,
preprocessing) plus ``c1`` times the work ``W`` of one fold, a count that follows the
algorithm's complexity (trees x features tried x rows x log rows for forests, rounds x
rows x features x depth for boosters, epochs x rows x weights for the MLP, test rows x
training rows x features for kNN, ...). Linear, distance and neural learners see
one-hot columns: each categorical column counts as :data:`CATEGORICAL_WIDTH` columns.
The constants were fit once by ``benchmarks/cost_calibration.py`` (least squares on
the log of the time) from 5-fold trials of two or three configurations per learner
(defaults and costly corners) on KEEL pima, crx, satimage (2,000 rows) and spambase
(2,500 rows), plus the trials of 40-trial DivBO searches on pima, crx, phoneme,
spambase and satimage (653 to 6,435 rows, 5 to 57 columns, 2 to 6 classes; 272
trials). The prior's median error per learner is a factor 1.5 to 2.6 (see
``_CLASSIFICATION``): the machine's load moved the same trial's time up to 5x.

A machine is faster or slower than the dev one, and a config's real cost depends on
the data (early stopping, convergence), so :meth:`CostModel.update` corrects each
prior by the finished trials of the running search: a learner's factor is the
geometric mean of observed / predicted, shrunk towards the factor of all learners
together (which is itself shrunk towards 1), so one trial moves a prediction halfway
and a learner with no trial yet still inherits the machine's speed. A trial stopped at
its time limit (``timeout``, ``cancelled``) only says the config costs *at least* what
it ran: it counts when that is more than predicted. A ``pruned`` trial ran some of its
folds in full, so its time scaled to all folds counts as an observation (as a lower
bound when the record does not say how many folds ran).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from autoens.trials import TrialRecord

__all__ = ["CATEGORICAL_WIDTH", "CostModel", "order_by_cost"]

#: One-hot columns assumed per categorical column (levels after rare-level pooling).
CATEGORICAL_WIDTH = 4
# Statuses whose time is a lower bound of the config's cost.
_CENSORED = ("timeout", "cancelled", "pruned")
# Pseudo-observations at the prior: how strongly the online factors are shrunk.
_SHRINK = 1.0
# Clip of a factor: the prior is not off by more than this either way.
_MAX_FACTOR = 30.0

# (c0 seconds per fold, c1 seconds per unit of work) per learner, fit by
# benchmarks/cost_calibration.py (c0 bounded by 50 ms, a pipeline's overhead) on the
# dev machine while it ran other jobs: the same config's time varied up to 5x with the
# load, so the prior is a starting point and the online factor does the rest.
# The comment: trials fit on, and the median |log error| of the prior on them
# (0.7 = within a factor 2).
_CLASSIFICATION = {
    "logreg": (0.0132, 2.57e-07),  # n=30, 0.45
    "random_forest": (0.05, 4.73e-08),  # n=34, 0.64
    "extra_trees": (0.05, 1.92e-07),  # n=39, 0.75
    "hist_gb": (0.05, 6.31e-09),  # n=62, 0.88
    "knn": (0.0292, 4.36e-10),  # n=17, 0.94
    "mlp": (0.05, 1.22e-09),  # n=18, 0.53
    "lightgbm": (0.0433, 2.42e-09),  # n=47, 0.42
    "xgboost": (0.05, 5.17e-10),  # n=25, 0.46
}
# Regression was timed on diabetes alone (442 rows): too small to fit a slope, so the
# shared learners keep the classification constants, the forests x3 (regression trees
# grow to single-row leaves: 3.1x the classification slope on diabetes), and the linear
# models their own (ridge and elastic net take milliseconds at the sizes searched).
_REGRESSION = {
    **_CLASSIFICATION,
    "random_forest": (0.05, 3 * 4.73e-08),
    "extra_trees": (0.05, 3 * 1.92e-07),
    "ridge": (0.00392, 1.9e-06),
    "elastic_net": (0.00553, 3.98e-10),
}
_PRIORS: dict[str, dict[str, tuple[float, float]]] = {
    "classification": _CLASSIFICATION,
    "regression": _REGRESSION,
}
# A learner the model does not know: linear in rows x columns, corrected online.
_GENERIC = (0.05, 5.0e-8)

Params = Sequence[Mapping[str, Any]] | Mapping[str, Any]


class CostModel:
    """Predicted wall time (seconds, all folds) of a trial on one data set.

    Parameters
    ----------
    n_rows, n_columns : int
        Training rows and raw input columns.
    n_categorical : int, default=0
        How many of the columns are categorical (one-hot for the dense learners).
    n_outputs : int, default=2
        Classes (classification) or 1 (regression): multiclass boosters grow one tree
        per class and round.
    n_folds : int, default=5
        Folds of the CV: a trial fits ``n_folds`` models on ``(k-1)/k`` of the rows.
    family : {"classification", "regression"}, default="classification"
        Which learners the names mean (a regression forest grows deeper trees).
    """

    def __init__(
        self,
        n_rows: int,
        n_columns: int,
        n_categorical: int = 0,
        n_outputs: int = 2,
        n_folds: int = 5,
        *,
        family: str = "classification",
    ) -> None:
        if family not in _PRIORS:
            raise ValueError(f"family must be one of {sorted(_PRIORS)}, got {family!r}")
        for name, value, low in (
            ("n_rows", n_rows, 1),
            ("n_columns", n_columns, 1),
            ("n_categorical", n_categorical, 0),
            ("n_outputs", n_outputs, 1),
            ("n_folds", n_folds, 2),
        ):
            if int(value) != value or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if n_categorical > n_columns:
            raise ValueError(
                f"n_categorical ({n_categorical}) cannot exceed n_columns ({n_columns})"
            )
        self.n_rows, self.n_columns = int(n_rows), int(n_columns)
        self.n_categorical, self.n_outputs = int(n_categorical), int(n_outputs)
        self.n_folds, self.family = int(n_folds), family
        self._log_ratios: dict[str, list[float]] = {}
        self._seen: set[tuple[int, str]] = set()
        self._factors: dict[str, float] = {}
        self._global = 1.0

    @classmethod
    def from_data(
        cls, n_rows: int, feature_types: Any, task: Any, n_folds: int
    ) -> CostModel:
        """The cost model of a search: rows, the learners' ``FeatureTypes``, the task
        (its ``n_outputs`` and family) and the CV's folds."""
        from autoens.space.learners import task_family

        n_cat = len(feature_types.categorical)
        return cls(
            n_rows,
            max(1, len(feature_types.numeric) + n_cat),
            n_cat,
            int(task.n_outputs),
            n_folds,
            family=task_family(task),
        )

    def __repr__(self) -> str:
        return (
            f"CostModel(n_rows={self.n_rows}, n_columns={self.n_columns}, "
            f"n_categorical={self.n_categorical}, n_outputs={self.n_outputs}, "
            f"n_folds={self.n_folds}, family={self.family!r})"
        )

    # ------------------------------------------------------------------ predict
    def prior_many(self, learner: str, params: Params) -> np.ndarray:
        """The calibrated prior (no online correction), float64 seconds per config."""
        columns, n = _columns(params)
        c0, c1 = _PRIORS[self.family].get(learner, _GENERIC)
        work = self.work(learner, columns, n)
        return self.n_folds * (c0 + c1 * work)

    def predict_many(self, learner: str, params: Params) -> np.ndarray:
        """Predicted seconds of many configs of one learner (vectorised).

        ``params`` is a list of parameter dicts or one dict of equal-length arrays
        (one entry per config); a missing hyper-parameter takes the learner's default.
        """
        return self.prior_many(learner, params) * self.factor(learner)

    def predict(self, learner: str, params: Mapping[str, Any]) -> float:
        """Predicted seconds of one trial of ``learner`` with ``params``."""
        return float(self.predict_many(learner, [params])[0])

    def factor(self, learner: str) -> float:
        """The online correction of ``learner``'s prior (1 before any trial)."""
        return self._factors.get(learner, self._global)

    # ------------------------------------------------------------------ update
    def update(self, records: Iterable[TrialRecord]) -> CostModel:
        """Learn from finished trials; a record already seen (same number and key)
        is skipped, so the whole history may be passed at every call."""
        changed = False
        for r in records:
            if (r.number, r.key) in self._seen:
                continue
            if r.status != "ok" and r.status not in _CENSORED:
                continue  # a failure's time says nothing about a success's
            observed = float(r.fit_time) + float(r.predict_time)
            if not math.isfinite(observed) or observed <= 0:
                continue
            self._seen.add((r.number, r.key))
            censored = r.status in _CENSORED
            folds_run = int(getattr(r, "n_folds_run", 0) or 0)
            if r.status == "pruned" and 0 < folds_run < self.n_folds:
                # Its folds ran in full: the whole trial would have taken k / run x.
                observed *= self.n_folds / folds_run
                censored = False
            predicted = float(self.prior_many(r.learner, [r.params])[0])
            ratio = math.log(observed / predicted)
            if censored:
                # "At least this long": informative only above the current belief.
                if ratio <= math.log(self.factor(r.learner)):
                    continue
            self._log_ratios.setdefault(r.learner, []).append(ratio)
            changed = True
        if changed:
            self._refit_factors()
        return self

    def _refit_factors(self) -> None:
        """Shrunk geometric means: learner -> all learners -> 1."""
        bound = math.log(_MAX_FACTOR)
        every = [v for values in self._log_ratios.values() for v in values]
        log_global = sum(every) / (len(every) + _SHRINK)
        self._global = math.exp(float(np.clip(log_global, -bound, bound)))
        for learner, values in self._log_ratios.items():
            log_f = (sum(values) + _SHRINK * log_global) / (len(values) + _SHRINK)
            self._factors[learner] = math.exp(float(np.clip(log_f, -bound, bound)))

    # ------------------------------------------------------------------ work
    def work(
        self, learner: str, columns: Mapping[str, np.ndarray], n: int
    ) -> np.ndarray:
        """Work units of one fold for ``n`` configs (hyper-parameters as arrays)."""
        k = self.n_folds
        n_train = self.n_rows * (k - 1) / k
        n_test = self.n_rows / k
        p = float(self.n_columns)
        p_dense = self.n_columns - self.n_categorical * (1 - CATEGORICAL_WIDTH)
        classification = self.family == "classification"
        # Trees per boosting round: one per class beyond binary.
        per_round = self.n_outputs if classification and self.n_outputs > 2 else 1

        def get(name: str, default: Any) -> np.ndarray:
            value = columns.get(name)
            if value is None:
                return np.full(n, default, dtype=np.float64)
            value = np.asarray(value)
            if value.dtype == object:  # a list of dicts: None where a config lacks it
                value = np.where(np.equal(value, None), default, value)
            return value.astype(np.float64)

        log_n = math.log2(max(n_train, 2.0))
        if learner in ("random_forest", "extra_trees"):
            trees = get("n_estimators", 200)
            default_mf = (
                "sqrt"
                if classification
                else (0.5 if learner == "random_forest" else 1.0)
            )
            mf = _max_features(columns.get("max_features"), n, p, default_mf)
            leaf = get("min_samples_leaf", 1)
            depth = np.maximum(1.0, np.log2(np.maximum(n_train / leaf, 2.0)))
            crit = np.ones(n)
            if "criterion" in columns:
                crit = np.where(np.asarray(columns["criterion"]) == "entropy", 1.5, 1.0)
            if classification:
                crit = crit * (1 + 0.05 * self.n_outputs)
            # Sorting-based splits (RF) pay log n per node level; random ones do not.
            sort = log_n if learner == "random_forest" else 1.0
            return trees * mf * n_train * depth * crit * sort / 10.0
        if learner == "hist_gb":
            rounds = get("max_iter", 100)
            if n_train > 10_000:  # scikit-learn's early_stopping="auto" switches on
                rounds = np.minimum(rounds, 100 + 0.2 * rounds)
            leaves = np.minimum(
                get("max_leaf_nodes", 31), n_train / get("min_samples_leaf", 20)
            )
            leaves = np.maximum(leaves, 2)
            mf = get("max_features", 1.0) * p
            return (
                rounds
                * per_round
                * (n_train * mf * np.log2(leaves) + 256 * mf * leaves)
            )
        if learner == "lightgbm":
            rounds = get("n_estimators", 100)
            rows = n_train * get("subsample", 1.0)
            leaves = np.minimum(
                get("num_leaves", 31), rows / get("min_child_samples", 20)
            )
            leaves = np.maximum(leaves, 2)
            mf = get("colsample_bytree", 1.0) * p
            return rounds * per_round * (rows * mf * np.log2(leaves) + 64 * mf * leaves)
        if learner == "xgboost":
            rounds = get("n_estimators", 100)
            rows = n_train * get("subsample", 1.0)
            depth = np.minimum(get("max_depth", 6), log_n)
            mf = get("colsample_bytree", 1.0) * p
            return rounds * per_round * (rows * mf * depth + 256 * mf * 2.0**depth)
        if learner == "knn":
            # Brute force (or a tree that degenerates to it in many dimensions).
            return np.full(n, n_test * n_train * p_dense)
        if learner == "mlp":
            width = get("layer_size", 100)
            layers = get("n_layers", 1)
            weights = p_dense * width + (layers - 1) * width**2 + width * self.n_outputs
            # Up to 200 epochs; plus a per-batch (200 rows) overhead of ~2k weights.
            return 200 * n_train * (weights + 2_000 / 200 * 100)
        if learner == "logreg":
            # lbfgs iterations grow with C (weaker regularisation, slower convergence).
            c = get("C", 1.0)
            per_class = 1 if self.n_outputs <= 2 else self.n_outputs
            return n_train * p_dense * per_class * (1 + np.log10(1 + c))
        if learner == "ridge":
            return np.full(n, n_train * p_dense * (1 + p_dense / 50))
        if learner == "elastic_net":
            # Coordinate descent sweeps grow as the penalty shrinks (capped at 1000).
            alpha = get("alpha", 0.01)
            sweeps = np.minimum(1000.0, 10 * (1 + np.log10(1 + 1e-3 / alpha) * 30))
            return n_train * p_dense * sweeps
        return np.full(n, n_train * p)


def _columns(params: Params) -> tuple[dict[str, np.ndarray], int]:
    """Parameters as equal-length arrays, and how many configs they describe."""
    if isinstance(params, Mapping):
        columns = {k: np.asarray(v) for k, v in params.items()}
        lengths = {len(v) for v in columns.values() if v.ndim == 1}
        if len(lengths) > 1 or any(v.ndim != 1 for v in columns.values()):
            raise ValueError(
                "params as a mapping must hold one 1-D array per hyper-parameter, all "
                f"of the same length; got lengths {sorted(lengths)}"
            )
        return columns, lengths.pop() if lengths else 0
    names = {k for p in params for k in p}
    # A missing value stays missing (NaN or None) and takes the default below.
    columns = {
        k: np.array([p.get(k) for p in params], dtype=object) for k in sorted(names)
    }
    for k, v in columns.items():
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
            columns[k] = v.astype(np.float64)
    return columns, len(params)


def _max_features(
    values: np.ndarray | None, n: int, p: float, default: str | float
) -> np.ndarray:
    """Features tried per split for scikit-learn's ``max_features`` values."""
    if values is None:
        values = np.full(n, default, dtype=object)
    values = np.asarray(values, dtype=object)
    values = np.where(np.equal(values, None), default, values)  # missing: the default
    out = np.empty(n, dtype=np.float64)
    named = {"sqrt": math.sqrt(p), "log2": math.log2(max(p, 2.0))}
    for choice in set(values.tolist()):
        mask = values == choice
        if choice in named:
            out[mask] = named[choice]
        else:
            out[mask] = max(1.0, float(choice) * p)
    return np.maximum(out, 1.0)


def order_by_cost(
    portfolio: Sequence[tuple[str, Mapping[str, Any]]],
    cost: CostModel,
    time_limit: float | None,
    *,
    n_jobs: int = 1,
    max_share: float = 0.1,
) -> list[tuple[str, dict[str, Any]]]:
    """The portfolio in its own order, except configs predicted to take more than
    ``max_share`` of the budget (``time_limit`` x ``n_jobs`` worker-seconds), which
    move to the end, cheapest first.

    Why: a warm start is a list of strong, diverse configs, in an order chosen for
    small data; on big data its slow entries would eat the budget before the cheap
    ones run. Without a time limit the order is kept.
    """
    items = [(learner, dict(params)) for learner, params in portfolio]
    if time_limit is None or not items:
        return items
    if time_limit <= 0 or n_jobs < 1 or not 0 < max_share <= 1:
        raise ValueError(
            "order_by_cost needs time_limit > 0, n_jobs >= 1 and 0 < max_share <= 1; "
            f"got {time_limit}, {n_jobs}, {max_share}"
        )
    predicted = np.array([cost.predict(learner, params) for learner, params in items])
    expensive = predicted > max_share * time_limit * n_jobs
    cheap = [item for item, e in zip(items, expensive, strict=True) if not e]
    late = np.flatnonzero(expensive)
    late = late[np.argsort(predicted[late], kind="stable")]
    return cheap + [items[i] for i in late]
