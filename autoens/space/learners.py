"""The default learners: preprocessing + model pipelines and their search spaces.

Input contract of every built estimator: ``fit(X, y)`` with ``X`` a DataFrame whose
numeric columns are float (NaN = missing) and whose categorical columns hold strings
(NaN/None = missing; unseen values at predict time are fine), ``y`` integer labels.
A fold may lack a class: the model then exposes only the classes it saw in
``classes_`` and the caller aligns ``predict_proba`` columns with them.

Design decisions (one place, so they are easy to revisit):

* Preprocessing follows the model.  Linear, distance and neural learners (logreg,
  knn, mlp) get median imputation with missing indicators, standard scaling and
  one-hot encoding (rare levels pooled).  Tree learners get ordinal codes, which
  HistGB and LightGBM treat as native categoricals, and the raw numeric values
  (they split on NaN natively) -- except random forest, which is imputed because
  scikit-learn's missing-value splitter made it ~1.7x slower at equal accuracy.
* Missing categories become their own level, ``"__missing__"``; unseen ones map to
  the pooled infrequent level (one-hot) or to NaN (ordinal codes).
* Every model is wrapped in :class:`_SafeClassifier`, which (1) label-encodes ``y``
  so XGBoost accepts a fold lacking a class, (2) answers a one-class fold with a
  constant, (3) shrinks settings the data cannot support (``n_neighbors`` above the
  row count, a stratified early-stopping split with too few rows per class) and
  (4) silences ``ConvergenceWarning``: the search caps iterations on purpose (MLP,
  logistic regression) and a capped fit is a legitimate candidate, not a fault,
  and (5) limits BLAS/OpenMP to one thread during fit and predict.
* Single-threaded models: the search parallelises over trials.  ``n_jobs=1`` where
  the model has it; HistGB has no such knob and its OpenMP threads made a 178-row
  fit 8x slower on 2 cores (70x with the cores busy), hence (5).
* Boosters are imported inside their build functions, so importing autoens does not
  pay for LightGBM/XGBoost.

Search spaces follow the ranges used by auto-sklearn and FLAML, trimmed for a
budgeted search: defaults fit in seconds on 10k rows, but the costliest corners
(e.g. 500-tree RF with all features, 1000 depth-10 XGBoost trees on 5 classes) take
minutes there -- the search's per-trial time limit is what bounds them.
Regularisation strengths are log-uniform with a tiny lower bound (1e-8) standing in
for the library default of 0.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from autoens.space.registry import FeatureTypes, LearnerSpec

__all__ = ["DEFAULT_LEARNERS", "MISSING_CATEGORY"]

#: Level that replaces a missing categorical value before encoding.
MISSING_CATEGORY = "__missing__"

# One-hot: pool levels seen fewer than this many times, and cap the width.
_ONEHOT_MIN_FREQUENCY = 5
_ONEHOT_MAX_CATEGORIES = 32
# Ordinal codes: HistGB's native categorical support allows at most 255 levels.
_ORDINAL_MAX_CATEGORIES = 255
# Forests default to 200 trees and may reach 500 (AutoGluon uses 300).
_FOREST_TREES = IntDistribution(50, 500, step=50)
_MAX_FEATURES_CHOICES = ("sqrt", "log2", 0.1, 0.25, 0.5, 0.75, 1.0)


# --------------------------------------------------------------------------- wrapper


class _SafeClassifier(ClassifierMixin, BaseEstimator):
    """Make a classifier robust to what CV folds of real data throw at it.

    See the module docstring for the five things it does.  ``fit_params`` are
    passed to the wrapped ``fit`` (LightGBM takes its categorical columns there).
    """

    def __init__(
        self, estimator: BaseEstimator, fit_params: dict[str, Any] | None = None
    ) -> None:
        self.estimator = estimator
        self.fit_params = fit_params

    def fit(self, X: Any, y: Any) -> _SafeClassifier:
        y = np.asarray(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        self.n_features_in_ = X.shape[1]
        if len(self.classes_) < 2:
            # Nothing to learn; predict_proba answers 1 for the only class.
            self.estimator_ = None
            return self
        estimator = clone(self.estimator)
        _fit_to_data(estimator, np.bincount(y_encoded))
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y_encoded, **(self.fit_params or {}))
        self.estimator_ = estimator
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if self.estimator_ is None:
            return np.ones((X.shape[0], 1))
        with threadpool_limits(limits=1):
            return self.estimator_.predict_proba(X)

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


# ---------------------------------------------------------------- preprocessing


def _clean_categories(X: Any) -> np.ndarray:
    """Object array of strings with every kind of missing value as one level."""
    values = np.asarray(X, dtype=object)
    missing = pd.isna(values)
    return np.where(missing, MISSING_CATEGORY, values.astype(str)).astype(object)


def _median_imputer() -> SimpleImputer:
    # keep_empty_features: an all-NaN column in a fold becomes 0 instead of being
    # dropped with a warning.
    return SimpleImputer(
        strategy="median", add_indicator=True, keep_empty_features=True
    )


def _category_cleaner() -> FunctionTransformer:
    return FunctionTransformer(
        _clean_categories, feature_names_out="one-to-one", validate=False
    )


def _dense_preprocessor(
    feature_types: FeatureTypes, *, sparse: bool = False
) -> ColumnTransformer:
    """Impute + indicators + scale numerics, one-hot categoricals (linear/KNN/MLP)."""
    transformers = []
    if feature_types.numeric:
        numeric = Pipeline(
            [
                ("impute", _median_imputer()),
                ("scale", StandardScaler()),
            ]
        )
        transformers.append(("num", numeric, list(feature_types.numeric)))
    if feature_types.categorical:
        categorical = Pipeline(
            [
                ("clean", _category_cleaner()),
                (
                    "onehot",
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        min_frequency=_ONEHOT_MIN_FREQUENCY,
                        max_categories=_ONEHOT_MAX_CATEGORIES,
                        sparse_output=sparse,
                    ),
                ),
            ]
        )
        transformers.append(("cat", categorical, list(feature_types.categorical)))
    return ColumnTransformer(
        transformers, remainder="drop", sparse_threshold=0.3 if sparse else 0.0
    )


def _tree_preprocessor(
    feature_types: FeatureTypes, *, impute: bool = False
) -> ColumnTransformer:
    """Numerics (NaN kept unless ``impute``), then categoricals as ordinal codes.

    The output puts the numeric block first and the categorical columns last (see
    :func:`_categorical_indices`).
    """
    transformers = []
    if feature_types.numeric:
        numeric = _median_imputer() if impute else "passthrough"
        transformers.append(("num", numeric, list(feature_types.numeric)))
    if feature_types.categorical:
        categorical = Pipeline(
            [
                ("clean", _category_cleaner()),
                (
                    "ordinal",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        max_categories=_ORDINAL_MAX_CATEGORIES,
                    ),
                ),
            ]
        )
        transformers.append(("cat", categorical, list(feature_types.categorical)))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def _categorical_indices(feature_types: FeatureTypes) -> list[int]:
    """Output positions of the ordinal codes of a non-imputing tree preprocessor."""
    start = len(feature_types.numeric)
    return list(range(start, start + len(feature_types.categorical)))


def _pipeline(
    preprocessor: ColumnTransformer,
    model: BaseEstimator,
    fit_params: dict[str, Any] | None = None,
) -> Pipeline:
    return Pipeline(
        [("prep", preprocessor), ("model", _SafeClassifier(model, fit_params))]
    )


# ------------------------------------------------------------------ build functions


def build_logreg(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=params["C"],
        class_weight=params["class_weight"],
        max_iter=1000,
        random_state=random_state,
    )
    return _pipeline(_dense_preprocessor(feature_types, sparse=True), model)


def build_random_forest(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(**params, n_jobs=1, random_state=random_state)
    # Imputed: scikit-learn's missing-value splitter makes RF ~1.7x slower for
    # the same accuracy (ExtraTrees is cheaper with native NaN, so it keeps them).
    return _pipeline(_tree_preprocessor(feature_types, impute=True), model)


def build_extra_trees(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import ExtraTreesClassifier

    model = ExtraTreesClassifier(**params, n_jobs=1, random_state=random_state)
    return _pipeline(_tree_preprocessor(feature_types), model)


def build_hist_gb(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import HistGradientBoostingClassifier

    categorical = _categorical_indices(feature_types)
    model = HistGradientBoostingClassifier(
        **params,
        categorical_features=categorical or None,
        early_stopping="auto",
        random_state=random_state,
    )
    return _pipeline(_tree_preprocessor(feature_types), model)


def build_knn(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.neighbors import KNeighborsClassifier

    del random_state  # deterministic
    model = KNeighborsClassifier(**params, n_jobs=1)
    return _pipeline(_dense_preprocessor(feature_types), model)


def build_mlp(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=(params["layer_size"],) * params["n_layers"],
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate_init"],
        # No early stopping: scikit-learn stops on validation *accuracy*, which
        # plateaus early; it cost log loss in our checks (5-fold breast cancer
        # 0.26 vs 0.07; 10k synthetic rows 0.16 vs 0.13).  Fits stop when the
        # training loss stalls or after 200 epochs (~10 s on 10k rows).
        early_stopping=False,
        max_iter=200,
        random_state=random_state,
    )
    return _pipeline(_dense_preprocessor(feature_types), model)


def build_lightgbm(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(
        **params,
        subsample_freq=1,  # without it LightGBM ignores `subsample`
        n_jobs=1,
        random_state=random_state,
        verbose=-1,
    )
    categorical = _categorical_indices(feature_types)
    fit_params = {"categorical_feature": categorical} if categorical else None
    return _pipeline(_tree_preprocessor(feature_types), model, fit_params)


def build_xgboost(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from xgboost import XGBClassifier

    model = XGBClassifier(
        **params,
        tree_method="hist",
        n_jobs=1,
        random_state=random_state,
        verbosity=0,
    )
    return _pipeline(_tree_preprocessor(feature_types), model)


# ------------------------------------------------------------------------ the specs


def _forest_space() -> dict[str, BaseDistribution]:
    return {
        "n_estimators": _FOREST_TREES,
        "max_features": CategoricalDistribution(_MAX_FEATURES_CHOICES),
        "min_samples_leaf": IntDistribution(1, 20, log=True),
        "criterion": CategoricalDistribution(("gini", "entropy")),
    }


_FOREST_DEFAULTS = {
    "n_estimators": 200,
    "max_features": "sqrt",
    "min_samples_leaf": 1,
    "criterion": "gini",
}

_SPECS = (
    LearnerSpec(
        name="logreg",
        build=build_logreg,
        distributions={
            "C": FloatDistribution(1e-4, 1e4, log=True),
            "class_weight": CategoricalDistribution((None, "balanced")),
        },
        defaults={"C": 1.0, "class_weight": None},
    ),
    LearnerSpec(
        name="random_forest",
        build=build_random_forest,
        distributions=_forest_space(),
        defaults=_FOREST_DEFAULTS,
    ),
    LearnerSpec(
        name="extra_trees",
        build=build_extra_trees,
        distributions=_forest_space(),
        defaults=_FOREST_DEFAULTS,
    ),
    LearnerSpec(
        name="hist_gb",
        build=build_hist_gb,
        distributions={
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "max_iter": IntDistribution(50, 500, log=True),
            "max_leaf_nodes": IntDistribution(4, 128, log=True),
            "min_samples_leaf": IntDistribution(2, 200, log=True),
            "l2_regularization": FloatDistribution(1e-8, 10.0, log=True),
            "max_features": FloatDistribution(0.3, 1.0),
        },
        defaults={
            "learning_rate": 0.1,
            "max_iter": 100,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 1e-8,
            "max_features": 1.0,
        },
    ),
    LearnerSpec(
        name="knn",
        build=build_knn,
        distributions={
            "n_neighbors": IntDistribution(1, 50, log=True),
            "weights": CategoricalDistribution(("uniform", "distance")),
            "p": IntDistribution(1, 2),
        },
        defaults={"n_neighbors": 5, "weights": "uniform", "p": 2},
    ),
    LearnerSpec(
        name="mlp",
        build=build_mlp,
        distributions={
            "n_layers": IntDistribution(1, 3),
            "layer_size": IntDistribution(16, 256, log=True),
            "alpha": FloatDistribution(1e-7, 1e-1, log=True),
            "learning_rate_init": FloatDistribution(1e-4, 1e-1, log=True),
        },
        defaults={
            "n_layers": 1,
            "layer_size": 100,
            "alpha": 1e-4,
            "learning_rate_init": 1e-3,
        },
    ),
    LearnerSpec(
        name="lightgbm",
        build=build_lightgbm,
        distributions={
            "n_estimators": IntDistribution(50, 1000, log=True),
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "num_leaves": IntDistribution(4, 256, log=True),
            "min_child_samples": IntDistribution(2, 100, log=True),
            "subsample": FloatDistribution(0.5, 1.0),
            "colsample_bytree": FloatDistribution(0.3, 1.0),
            "reg_alpha": FloatDistribution(1e-8, 10.0, log=True),
            "reg_lambda": FloatDistribution(1e-8, 10.0, log=True),
        },
        defaults={
            "n_estimators": 100,
            "learning_rate": 0.1,
            "num_leaves": 31,
            "min_child_samples": 20,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
            "reg_alpha": 1e-8,
            "reg_lambda": 1e-8,
        },
        requires=("lightgbm",),
    ),
    LearnerSpec(
        name="xgboost",
        build=build_xgboost,
        distributions={
            "n_estimators": IntDistribution(50, 1000, log=True),
            "learning_rate": FloatDistribution(0.01, 0.3, log=True),
            "max_depth": IntDistribution(2, 10),
            "min_child_weight": FloatDistribution(1e-2, 20.0, log=True),
            "subsample": FloatDistribution(0.5, 1.0),
            "colsample_bytree": FloatDistribution(0.3, 1.0),
            "reg_alpha": FloatDistribution(1e-8, 10.0, log=True),
            "reg_lambda": FloatDistribution(1e-3, 100.0, log=True),
        },
        defaults={
            "n_estimators": 100,
            "learning_rate": 0.3,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 1.0,
            "colsample_bytree": 1.0,
            "reg_alpha": 1e-8,
            "reg_lambda": 1.0,
        },
        requires=("xgboost",),
    ),
)

#: The default learners by name, in the order the search offers them.
DEFAULT_LEARNERS: dict[str, LearnerSpec] = {spec.name: spec for spec in _SPECS}
