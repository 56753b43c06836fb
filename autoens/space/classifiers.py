"""The classification learners: preprocessing + model pipelines and their spaces.

Input contract of every built estimator: ``fit(X, y)`` with ``X`` a DataFrame whose
numeric columns are float (NaN = missing) and whose categorical columns hold strings
(NaN/None = missing; unseen values at predict time are fine), ``y`` integer labels.
A fold may lack a class: the model then exposes only the classes it saw in
``classes_`` and the caller aligns ``predict_proba`` columns with them.

Design decisions (one place, so they are easy to revisit; ``regressors.py`` follows
the same ones):

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
budgeted search (``ranges.py`` holds the ones shared with regression): defaults fit
in seconds on 10k rows, but the costliest corners (e.g. 500-tree RF with all
features, 1000 depth-10 XGBoost trees on 5 classes) take minutes there -- the
search's per-trial time limit is what bounds them.
"""

from __future__ import annotations

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
    categorical_indices,
    dense_preprocessor,
    tree_preprocessor,
)
from autoens.space.ranges import (
    FOREST_TREES,
    MAX_FEATURES_CHOICES,
    hist_gb_space,
    knn_space,
    lightgbm_space,
    mlp_space,
    xgboost_space,
)
from autoens.space.refit import fixed_iterations
from autoens.space.registry import FeatureTypes, LearnerSpec
from autoens.space.wrappers import SafeClassifier

__all__ = [
    "CLASSIFIERS",
    "build_extra_trees",
    "build_hist_gb",
    "build_knn",
    "build_lightgbm",
    "build_logreg",
    "build_mlp",
    "build_random_forest",
    "build_xgboost",
]


def _pipeline(
    preprocessor: ColumnTransformer,
    model: BaseEstimator,
    fit_params: dict[str, Any] | None = None,
    early_stopping: bool = False,
) -> Pipeline:
    wrapper = SafeClassifier(model, fit_params, early_stopping=early_stopping)
    return Pipeline([("prep", preprocessor), ("model", wrapper)])


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
        # "auto": the wrapper switches it on from HGB_EARLY_STOPPING_ROWS
        # training rows (wrappers.py: measured there).
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
    # Stopped early on a split of the fold's training rows (see wrappers.py).
    return _pipeline(
        tree_preprocessor(feature_types), model, fit_params, early_stopping=True
    )


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
    return _pipeline(tree_preprocessor(feature_types), model, early_stopping=True)


# ------------------------------------------------------------------------ the specs


def _forest_space() -> dict[str, BaseDistribution]:
    return {
        "n_estimators": FOREST_TREES,
        "max_features": CategoricalDistribution(MAX_FEATURES_CHOICES),
        "min_samples_leaf": IntDistribution(1, 20, log=True),
        "criterion": CategoricalDistribution(("gini", "entropy")),
    }


_FOREST_DEFAULTS = {
    "n_estimators": 200,
    "max_features": "sqrt",
    "min_samples_leaf": 1,
    "criterion": "gini",
}


def _spec(name: str, build: Any, space: Any, **kwargs: Any) -> LearnerSpec:
    distributions, defaults = space
    return LearnerSpec(name, build, distributions, defaults, **kwargs)


#: The classification learners, in the order the search offers them.
CLASSIFIERS: tuple[LearnerSpec, ...] = (
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
    _spec("hist_gb", build_hist_gb, hist_gb_space(), refit_params=fixed_iterations),
    _spec("knn", build_knn, knn_space()),
    _spec("mlp", build_mlp, mlp_space(), refit_params=fixed_iterations),
    _spec(
        "lightgbm",
        build_lightgbm,
        lightgbm_space(),
        requires=("lightgbm",),
        refit_params=fixed_iterations,
    ),
    _spec(
        "xgboost",
        build_xgboost,
        xgboost_space(),
        requires=("xgboost",),
        refit_params=fixed_iterations,
    ),
)
