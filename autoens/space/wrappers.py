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

With ``early_stopping=True`` (what the LightGBM and XGBoost learners build) both
also stop a booster early, on a validation split carved from the rows ``fit``
receives -- a CV fold's training part, so its held-out rows are never seen (see
:func:`validation_split`). The model that predicts is the one trained on the rest
of those rows, at its best round: no refit inside the fold, which would double
its cost. HistGradientBoosting's ``early_stopping="auto"`` is resolved here too.

The defaults were chosen with ``benchmarks/early_stopping.py`` (5-fold CV of one
config, OOF ROC AUC, time on vs off; the portfolio's LightGBM/XGBoost/HistGB
entries plus a 1000-round, learning-rate-0.05 ceiling; KEEL contraceptive,
splice, phoneme, spambase, and pima, german, wdbc for the row threshold):

* Time: the search's expensive corner shrinks most (ceiling configs x0.10-0.57
  of the time; geometric mean over all configs x0.64 LightGBM, x0.65 XGBoost,
  x0.43 HistGB on the first four sets).
* Quality: overfitting configs gain a lot (contraceptive ceiling: AUC 0.669 ->
  0.718, log loss 1.75 -> 0.94; pima, german alike), clean larger sets lose a
  little, from the 10 % fewer training rows (phoneme AUC -0.002 to -0.009,
  splice and spambase within +-0.002).
* Patience ``5 / learning_rate`` rounds (10..100): ``10 / learning_rate`` gave
  the same best rounds and AUC to the fourth decimal, only slower. For HistGB
  its own ``n_iter_no_change=10`` beat that patience (it keeps its extra
  rounds, so a longer patience keeps more overfit ones).
* Rows: on wdbc (455 training rows per fold, ~45 to stop on) early stopping
  cost every booster AUC (-0.003 to -0.009) and most of them log loss; on pima
  and german (614, 640 rows) it cut log loss for every config but one (e.g.
  0.66 -> 0.52) with AUC from -0.011 to +0.021 (HistGB +0.001 to +0.021).
  Hence :data:`ES_MIN_ROWS` = 500, and HistGB's ``"auto"`` switches on from the
  same count (on 1.2k-4.3k rows: AUC +0.02 to +0.035 on contraceptive, -0.001
  to -0.0075 on splice, phoneme, spambase; time x0.1-0.7).

Times were taken on a shared, busy 2-core machine: single ratios are noisy (a
config that stops near its ceiling shows x0.8-1.3 either way).

Both pass ``sample_weight`` on to the wrapped model when it accepts one;
:func:`fit_model` fits any candidate (a pipeline ending in a wrapper, or a bare model)
with row weights and says whether they were used.
"""

from __future__ import annotations

import sys
import warnings
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, has_fit_parameter
from threadpoolctl import ThreadpoolController

__all__ = [
    "SafeClassifier",
    "SafeRegressor",
    "accepts_sample_weight",
    "early_stopping_rounds",
    "fit_model",
    "validation_split",
]


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


# ------------------------------------------------------ early stopping of boosters

#: Share of a booster's training rows held out to stop it on.
ES_VALIDATION_FRACTION = 0.1
#: Fewer training rows than this: no split, the booster runs all its rounds.
ES_MIN_ROWS = 500
#: Patience in rounds: ``ES_PATIENCE_SCALE / learning_rate``, within these bounds.
ES_PATIENCE_SCALE = 5.0
ES_MIN_PATIENCE = 10
ES_MAX_PATIENCE = 100
#: HistGradientBoosting with ``early_stopping="auto"`` stops early (its own 10 %
#: split, ``n_iter_no_change=10``) from this many training rows, as the other
#: boosters do; scikit-learn's own ``"auto"`` waits for 10,000.
HGB_EARLY_STOPPING_ROWS = ES_MIN_ROWS


def early_stopping_rounds(learning_rate: float | None) -> int:
    """Rounds without improvement before a booster stops.

    A slower learner improves less per round, so its patience grows as
    ``1 / learning_rate`` (50 rounds at 0.1), bounded so a fast one is not
    stopped by noise and a slow one does not run on for hundreds of rounds.
    """
    rate = 0.1 if learning_rate is None or learning_rate <= 0 else learning_rate
    rounds = int(np.ceil(ES_PATIENCE_SCALE / rate))
    return int(np.clip(rounds, ES_MIN_PATIENCE, ES_MAX_PATIENCE))


def validation_split(
    n_samples: int,
    y: np.ndarray | None,
    random_state: int | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(train, validation)`` row indices into the ``n_samples`` rows ``fit``
    received, or None when those rows cannot support a split.

    Stratified on the encoded labels ``y`` for a classifier (None: a random split
    for a regressor), seeded by the model's ``random_state``. None when there are
    fewer than :data:`ES_MIN_ROWS` rows, a class has fewer than two rows, either
    side would have fewer rows than classes, or the training side would lack a
    class (XGBoost needs every label it was built for).
    """
    from sklearn.model_selection import train_test_split

    if n_samples < max(ES_MIN_ROWS, 4):
        return None
    n_val = int(np.ceil(ES_VALIDATION_FRACTION * n_samples))
    # The model's seed (a booster's random_state is an int or None).
    seed = int(random_state) % 2**32 if isinstance(random_state, Integral) else 0
    rows = np.arange(n_samples)
    if y is None:
        train, val = train_test_split(rows, test_size=n_val, random_state=seed)
        return np.sort(train), np.sort(val)
    counts = np.bincount(y)
    n_classes = int(np.count_nonzero(counts))
    if counts[counts > 0].min() < 2 or min(n_val, n_samples - n_val) < n_classes:
        return None
    train, val = train_test_split(rows, test_size=n_val, random_state=seed, stratify=y)
    if len(np.unique(y[train])) < n_classes:
        return None
    return np.sort(train), np.sort(val)


def _booster(estimator: Any) -> str | None:
    """``"lightgbm"`` or ``"xgboost"`` for a booster the wrapper can stop early."""
    module = type(estimator).__module__.split(".")[0]
    return module if module in ("lightgbm", "xgboost") else None


def _fit_early_stopped(
    estimator: Any,
    X: Any,
    y: np.ndarray,
    fit_params: dict[str, Any],
    sample_weight: Any,
    stratify: bool,
) -> int:
    """Fit ``estimator`` (a fresh clone) and return the validation rows used.

    A LightGBM or XGBoost model trains on a split of ``X, y`` and stops when
    its validation loss (the library's default metric: log loss, or squared
    error) has not improved for :func:`early_stopping_rounds`; it predicts
    with its best iteration. Any other model, or rows that cannot support a
    split, is fitted on all rows as it is (0 validation rows).
    """
    kind = _booster(estimator)
    weights = _weight_kwargs(estimator, sample_weight)
    split = None
    if kind is not None:
        params = estimator.get_params(deep=False)
        split = validation_split(
            len(y), y if stratify else None, params.get("random_state")
        )
    if split is None:
        estimator.fit(X, y, **fit_params, **weights)
        return 0
    from sklearn.utils import _safe_indexing

    train, val = split
    X_train, X_val = _safe_indexing(X, train), _safe_indexing(X, val)
    kwargs = dict(fit_params)
    rounds = early_stopping_rounds(params.get("learning_rate"))
    w = None if not weights else np.asarray(sample_weight, dtype=np.float64)
    if w is not None:
        kwargs["sample_weight"] = w[train]
    if kind == "lightgbm":
        from lightgbm import early_stopping

        if w is not None:
            kwargs["eval_sample_weight"] = [w[val]]
        stop = early_stopping(rounds, first_metric_only=True, verbose=False)
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or ()), stop]
        if has_fit_parameter(estimator, "eval_X"):  # LightGBM >= 4.7
            kwargs.update(eval_X=(X_val,), eval_y=(y[val],))
        else:
            kwargs["eval_set"] = [(X_val, y[val])]
    else:
        estimator.set_params(early_stopping_rounds=rounds)
        if w is not None:
            kwargs["sample_weight_eval_set"] = [w[val]]
        kwargs.setdefault("verbose", False)
        kwargs["eval_set"] = [(X_val, y[val])]
    estimator.fit(X_train, y[train], **kwargs)
    return len(val)


class SafeClassifier(ClassifierMixin, BaseEstimator):
    """Make a classifier robust to what CV folds of real data throw at it.

    See the module docstring for the five things it does.  ``fit_params`` are
    passed to the wrapped ``fit`` (LightGBM takes its categorical columns there).
    ``early_stopping`` stops a LightGBM/XGBoost model on a stratified split of the
    rows ``fit`` receives (``n_validation_`` of them; 0 when it fell back to all
    rows and all rounds); a refit on all rows turns it off.
    """

    # What an instance pickled before this parameter existed (a fold model in an
    # older cache) reads: get_params, clone and repr need it.
    early_stopping: bool = False

    def __init__(
        self,
        estimator: BaseEstimator,
        fit_params: dict[str, Any] | None = None,
        early_stopping: bool = False,
    ) -> None:
        self.estimator = estimator
        self.fit_params = fit_params
        self.early_stopping = early_stopping

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SafeClassifier:
        y = np.asarray(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        self.n_features_in_ = X.shape[1]
        self.n_validation_ = 0
        if len(self.classes_) < 2:
            # Nothing to learn; predict_proba answers 1 for the only class.
            self.estimator_ = None
            return self
        estimator = clone(self.estimator)
        _fit_to_data(estimator, np.bincount(y_encoded))
        with warnings.catch_warnings(), one_thread():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.early_stopping:
                self.n_validation_ = _fit_early_stopped(
                    estimator,
                    X,
                    y_encoded,
                    self.fit_params or {},
                    sample_weight,
                    stratify=True,
                )
            else:
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
    # A stratified validation split (HistGB from HGB_EARLY_STOPPING_ROWS, MLP if
    # ever built with early stopping) needs two rows per
    # class and at least one row per class on each side.
    if _resolve_auto(estimator, params, n_samples):
        n_val = int(np.ceil(params["validation_fraction"] * n_samples))
        n_classes = len(class_counts)
        if class_counts.min() < 2 or min(n_val, n_samples - n_val) < n_classes:
            estimator.set_params(early_stopping=False)


def _resolve_auto(estimator: BaseEstimator, params: dict[str, Any], n: int) -> bool:
    """Whether the model's own early stopping is on for ``n`` training rows.

    HistGradientBoosting's ``early_stopping="auto"`` is decided here: on from
    :data:`HGB_EARLY_STOPPING_ROWS` rows (scikit-learn's ``"auto"`` waits for
    10,000), and set to that answer on the clone.
    """
    early = params.get("early_stopping")
    if early == "auto" and "validation_fraction" in params:
        early = n >= HGB_EARLY_STOPPING_ROWS
        estimator.set_params(early_stopping=early)
    return early is True


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
    its categorical columns there). ``early_stopping`` stops a LightGBM/XGBoost
    model on a random split of the rows ``fit`` receives, as in
    :class:`SafeClassifier`.
    """

    # What an instance pickled before this parameter existed (a fold model in an
    # older cache) reads: get_params, clone and repr need it.
    early_stopping: bool = False

    def __init__(
        self,
        estimator: BaseEstimator,
        fit_params: dict[str, Any] | None = None,
        standardize_target: bool = True,
        early_stopping: bool = False,
    ) -> None:
        self.estimator = estimator
        self.fit_params = fit_params
        self.standardize_target = standardize_target
        self.early_stopping = early_stopping

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SafeRegressor:
        y = np.asarray(y, dtype=np.float64).ravel()
        self.n_features_in_ = X.shape[1]
        self.n_validation_ = 0
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
            if self.early_stopping:
                self.n_validation_ = _fit_early_stopped(
                    estimator,
                    X,
                    target,
                    self.fit_params or {},
                    sample_weight,
                    stratify=False,
                )
            else:
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
    # An early-stopping validation split (HistGB from HGB_EARLY_STOPPING_ROWS, an
    # MLP built with early stopping) needs two rows on each side to score anything.
    fraction = params.get("validation_fraction")
    if _resolve_auto(estimator, params, n_samples) and fraction is not None:
        n_val = int(fraction) if fraction >= 1 else int(np.ceil(fraction * n_samples))
        if min(n_val, n_samples - n_val) < 2:
            estimator.set_params(early_stopping=False)
