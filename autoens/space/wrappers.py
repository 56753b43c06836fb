"""The wrappers that make any model survive what CV folds of real data throw at it.

Every default classifier's model is wrapped in :class:`SafeClassifier`, which

1. label-encodes ``y`` so XGBoost accepts a fold lacking a class,
2. answers a one-class fold with a constant,
3. shrinks settings the data cannot support (``n_neighbors`` above the row count, a
   stratified early-stopping split with too few rows per class),
4. silences ``ConvergenceWarning``: the search caps iterations on purpose (MLP,
   logistic regression) and a capped fit is a legitimate candidate, not a fault,
5. limits BLAS/OpenMP to one thread during fit and predict: the search parallelises
   over trials, and HistGB's OpenMP threads made a 178-row fit 8x slower on 2 cores
   (70x with the cores busy).

Every default regressor's model is wrapped in :class:`SafeRegressor`, which does 3-5
for regression and, instead of 1-2, standardises the target (see its docstring) and
answers a fold with a constant target (or a single row) with that constant.

Both pass ``sample_weight`` on to the wrapped model when it accepts one;
:func:`fit_model` fits any candidate (a pipeline ending in a wrapper, or a bare model)
with row weights and says whether they were used.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, has_fit_parameter
from threadpoolctl import ThreadpoolController

__all__ = ["SafeClassifier", "SafeRegressor", "accepts_sample_weight", "fit_model"]


# (number of imported modules, controller of the thread pools loaded by then)
_THREADPOOLS: tuple[int, ThreadpoolController] | None = None


def one_thread() -> Any:
    """A context limiting BLAS/OpenMP thread pools to one thread.

    As ``threadpool_limits(limits=1)``, which reads ``/proc/self/maps`` and
    inspects every loaded library on each call: about 4 ms, more than a fold
    model's whole one-row prediction. The controller is kept and rebuilt only
    when a module was imported since (a native thread pool arrives with an
    import), so a call costs microseconds.
    """
    global _THREADPOOLS
    n_modules = len(sys.modules)
    cached = _THREADPOOLS
    if cached is None or cached[0] != n_modules:
        cached = _THREADPOOLS = (n_modules, ThreadpoolController())
    return cached[1].limit(limits=1)


# scikit-learn's forests, by exact type: a subclass may predict its own way.
_FORESTS = frozenset(
    {
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "RandomForestRegressor",
        "ExtraTreesRegressor",
    }
)


def _forest_output(forest: Any, X: Any, method: str) -> np.ndarray | None:
    """A single-output forest's ``predict_proba`` or ``predict`` summed tree by tree
    here, or None for any other model.

    The forest itself sums the same trees in the same order through joblib, whose
    per-tree task setup (config and warning filters) costs more than predicting a
    few rows, even with ``n_jobs=1``; the result is the same bit for bit.
    """
    kind = type(forest)
    if (
        kind.__module__ != "sklearn.ensemble._forest"
        or kind.__name__ not in _FORESTS
        or forest.n_outputs_ != 1
    ):
        return None
    X = forest._validate_X_predict(X)
    if method == "predict_proba":
        out = np.zeros((X.shape[0], forest.n_classes_), dtype=np.float64)
    else:
        out = np.zeros(X.shape[0], dtype=np.float64)
    for tree in forest.estimators_:
        out += getattr(tree, method)(X, check_input=False)
    out /= len(forest.estimators_)
    return out


def accepts_sample_weight(model: Any) -> bool:
    """Whether fitting ``model`` can weight its rows (the last step of a pipeline
    decides; a wrapper asks the model it wraps)."""
    if isinstance(model, Pipeline):
        model = model.steps[-1][1]
    if isinstance(model, SafeClassifier | SafeRegressor):
        model = model.estimator
        if isinstance(model, Pipeline):
            return accepts_sample_weight(model)
    return model is not None and has_fit_parameter(model, "sample_weight")


def fit_model(model: Any, X: Any, y: Any, sample_weight: Any = None) -> bool:
    """Fit ``model`` with ``sample_weight`` when it accepts them; True when used.

    A model that cannot weight rows is fitted unweighted (the caller warns once per
    learner); None fits exactly as ``model.fit(X, y)``.
    """
    kwargs = _weight_kwargs(model, sample_weight)
    model.fit(X, y, **kwargs)
    return sample_weight is None or bool(kwargs)


def _weight_kwargs(estimator: Any, sample_weight: Any) -> dict[str, Any]:
    """``sample_weight=`` for the wrapped model's ``fit`` (a pipeline routes it to
    its last step); nothing without weights."""
    if sample_weight is None or not accepts_sample_weight(estimator):
        return {}
    if isinstance(estimator, Pipeline):
        return {f"{estimator.steps[-1][0]}__sample_weight": sample_weight}
    return {"sample_weight": sample_weight}


class SafeClassifier(ClassifierMixin, BaseEstimator):
    """Make a classifier robust to what CV folds of real data throw at it.

    See the module docstring for the five things it does.  ``fit_params`` are
    passed to the wrapped ``fit`` (LightGBM takes its categorical columns there).
    """

    def __init__(
        self, estimator: BaseEstimator, fit_params: dict[str, Any] | None = None
    ) -> None:
        self.estimator = estimator
        self.fit_params = fit_params

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SafeClassifier:
        y = np.asarray(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        self.n_features_in_ = X.shape[1]
        if len(self.classes_) < 2:
            # Nothing to learn; predict_proba answers 1 for the only class.
            self.estimator_ = None
            return self
        estimator = clone(self.estimator)
        _fit_to_data(estimator, np.bincount(y_encoded))
        with warnings.catch_warnings(), one_thread():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(
                X,
                y_encoded,
                **(self.fit_params or {}),
                **_weight_kwargs(estimator, sample_weight),
            )
        self.estimator_ = estimator
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if self.estimator_ is None:
            return np.ones((X.shape[0], 1))
        with one_thread():
            out = _forest_output(self.estimator_, X, "predict_proba")
            return self.estimator_.predict_proba(X) if out is None else out

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _fit_to_data(estimator: BaseEstimator, class_counts: np.ndarray) -> None:
    """Shrink settings the training data cannot support (clone already made)."""
    params = estimator.get_params(deep=False)
    n_samples = int(class_counts.sum())
    if params.get("n_neighbors", 0) > n_samples:
        estimator.set_params(n_neighbors=n_samples)
    # A stratified validation split (HistGB past 10k rows, MLP if ever built with
    # early stopping) needs two rows per
    # class and at least one row per class on each side.
    early = params.get("early_stopping")
    uses_split = early is True or (early == "auto" and n_samples > 10_000)
    if uses_split:
        n_val = int(np.ceil(params["validation_fraction"] * n_samples))
        n_classes = len(class_counts)
        if class_counts.min() < 2 or min(n_val, n_samples - n_val) < n_classes:
            estimator.set_params(early_stopping=False)


class SafeRegressor(RegressorMixin, BaseEstimator):
    """Make a regressor robust to what CV folds of real data throw at it.

    With ``standardize_target`` (the default) the model learns ``(y - mean) / std``
    of its training fold and predictions are mapped back, as
    ``TransformedTargetRegressor(transformer=StandardScaler())`` does: an MLP
    diverges or stalls on a target in the thousands, elastic net's ``alpha`` and the
    boosters' L1 penalty are in units of the target, and LightGBM/XGBoost store labels
    as float32. On a unit-scale target one search space fits every dataset; for
    forests, kNN and ridge the map changes nothing but float rounding.

    A fold whose target is constant (or that has a single row) is answered with
    that constant. ``fit_params`` are passed to the wrapped ``fit`` (LightGBM takes
    its categorical columns there).
    """

    def __init__(
        self,
        estimator: BaseEstimator,
        fit_params: dict[str, Any] | None = None,
        standardize_target: bool = True,
    ) -> None:
        self.estimator = estimator
        self.fit_params = fit_params
        self.standardize_target = standardize_target

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SafeRegressor:
        y = np.asarray(y, dtype=np.float64).ravel()
        self.n_features_in_ = X.shape[1]
        if sample_weight is not None and not np.sum(sample_weight) > 0:
            sample_weight = None  # a fold whose rows all weigh 0: weigh them alike
        # Weighted, the centre and scale of the target are the weighted ones (the
        # constant answer of a constant fold is then the weighted mean).
        self.y_mean_ = float(np.average(y, weights=sample_weight)) if len(y) else 0.0
        if len(y) < 2 or np.ptp(y) == 0.0:
            # Nothing to learn; predict answers the (only) value.
            self.y_scale_ = 1.0
            self.estimator_ = None
            return self
        if self.standardize_target:
            if sample_weight is None:
                self.y_scale_ = float(y.std())
            else:
                spread = np.average((y - self.y_mean_) ** 2, weights=sample_weight)
                self.y_scale_ = float(np.sqrt(spread))
                if self.y_scale_ == 0.0:  # the rows that weigh agree: a constant
                    self.y_scale_, self.estimator_ = 1.0, None
                    return self
            target = (y - self.y_mean_) / self.y_scale_
        else:
            self.y_mean_, self.y_scale_ = 0.0, 1.0
            target = y
        estimator = clone(self.estimator)
        _fit_to_rows(estimator, len(y))
        with warnings.catch_warnings(), one_thread():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(
                X,
                target,
                **(self.fit_params or {}),
                **_weight_kwargs(estimator, sample_weight),
            )
        self.estimator_ = estimator
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if self.estimator_ is None:
            return np.full(X.shape[0], self.y_mean_)
        with one_thread():
            out = _forest_output(self.estimator_, X, "predict")
            pred = self.estimator_.predict(X) if out is None else out
            pred = np.asarray(pred, dtype=np.float64)
        return pred.reshape(-1) * self.y_scale_ + self.y_mean_


def _fit_to_rows(estimator: BaseEstimator, n_samples: int) -> None:
    """Shrink settings ``n_samples`` training rows cannot support (on the clone)."""
    params = estimator.get_params(deep=False)
    if params.get("n_neighbors", 0) > n_samples:
        estimator.set_params(n_neighbors=n_samples)
    # An early-stopping validation split (HistGB past 10k rows, an MLP built with
    # early stopping) needs two rows on each side to score anything.
    early = params.get("early_stopping")
    uses_split = early is True or (early == "auto" and n_samples > 10_000)
    fraction = params.get("validation_fraction")
    if uses_split and fraction is not None:
        n_val = int(fraction) if fraction >= 1 else int(np.ceil(fraction * n_samples))
        if min(n_val, n_samples - n_val) < 2:
            estimator.set_params(early_stopping=False)
