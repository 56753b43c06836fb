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
* Every model is wrapped in :class:`~autoens.space.wrappers.SafeClassifier` (robust
  to one-class folds, tiny folds, capped iterations; one thread).
* Single-threaded models: the search parallelises over trials.  ``n_jobs=1`` where
  the model has it; HistGB has no such knob and its OpenMP threads made a 178-row
  fit 8x slower on 2 cores (70x with the cores busy), hence the wrapper's limit.
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

from collections.abc import Sequence
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from autoens.space.preprocessing import (
    MISSING_CATEGORY,
    categorical_indices,
    clean_categories,
    dense_preprocessor,
    tree_preprocessor,
)
from autoens.space.registry import FeatureTypes, LearnerSpec
from autoens.space.wrappers import SafeClassifier

__all__ = ["DEFAULT_LEARNERS", "MISSING_CATEGORY", "get_learners"]

# Fold models pickled by autoens 0.1 (in saved models and disk caches) refer to these
# names in this module; keep them importable here.
_SafeClassifier = SafeClassifier
_clean_categories = clean_categories

# Forests default to 200 trees and may reach 500 (AutoGluon uses 300).
_FOREST_TREES = IntDistribution(50, 500, step=50)
_MAX_FEATURES_CHOICES = ("sqrt", "log2", 0.1, 0.25, 0.5, 0.75, 1.0)


def _pipeline(
    preprocessor: ColumnTransformer,
    model: BaseEstimator,
    fit_params: dict[str, Any] | None = None,
) -> Pipeline:
    return Pipeline(
        [("prep", preprocessor), ("model", SafeClassifier(model, fit_params))]
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
    return _pipeline(dense_preprocessor(feature_types, sparse=True), model)


def build_random_forest(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(**params, n_jobs=1, random_state=random_state)
    # Imputed: scikit-learn's missing-value splitter makes RF ~1.7x slower for
    # the same accuracy (ExtraTrees is cheaper with native NaN, so it keeps them).
    return _pipeline(tree_preprocessor(feature_types, impute=True), model)


def build_extra_trees(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import ExtraTreesClassifier

    model = ExtraTreesClassifier(**params, n_jobs=1, random_state=random_state)
    return _pipeline(tree_preprocessor(feature_types), model)


def build_hist_gb(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import HistGradientBoostingClassifier

    categorical = categorical_indices(feature_types)
    model = HistGradientBoostingClassifier(
        **params,
        categorical_features=categorical or None,
        early_stopping="auto",
        random_state=random_state,
    )
    return _pipeline(tree_preprocessor(feature_types), model)


def build_knn(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.neighbors import KNeighborsClassifier

    del random_state  # deterministic
    model = KNeighborsClassifier(**params, n_jobs=1)
    return _pipeline(dense_preprocessor(feature_types), model)


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
    return _pipeline(dense_preprocessor(feature_types), model)


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
    categorical = categorical_indices(feature_types)
    fit_params = {"categorical_feature": categorical} if categorical else None
    return _pipeline(tree_preprocessor(feature_types), model, fit_params)


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
    return _pipeline(tree_preprocessor(feature_types), model)


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


def get_learners(
    learners: Sequence[str | LearnerSpec] | None = None,
) -> list[LearnerSpec]:
    """Resolve a user's ``learners=`` argument to a list of specs.

    ``None`` gives every default learner whose library imports; strings are looked
    up among the defaults; ``LearnerSpec`` objects pass through (custom learners).
    """
    if learners is None:
        return [spec for spec in DEFAULT_LEARNERS.values() if spec.available()]
    if isinstance(learners, str | LearnerSpec):
        raise TypeError(
            "learners must be a sequence of names or LearnerSpec objects, e.g. "
            f"[{learners!r}], not a single item"
        )
    specs: list[LearnerSpec] = []
    for item in learners:
        if isinstance(item, LearnerSpec):
            spec = item
        elif isinstance(item, str):
            if item not in DEFAULT_LEARNERS:
                raise ValueError(
                    f"unknown learner {item!r}; choose from {sorted(DEFAULT_LEARNERS)} "
                    "or pass a LearnerSpec"
                )
            spec = DEFAULT_LEARNERS[item]
            if not spec.available():
                raise ValueError(
                    f"learner {item!r} needs the package(s) {list(spec.requires)}, "
                    "which do not import; install them or drop the learner"
                )
        else:
            raise TypeError(
                "learners must hold learner names or LearnerSpec objects, got "
                f"{type(item).__name__}"
            )
        specs.append(spec)
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"duplicate learner names {duplicates}; give each a unique name"
        )
    if not specs:
        raise ValueError("learners is empty; give at least one learner")
    return specs
