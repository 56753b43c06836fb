"""The regression learners: preprocessing + model pipelines and their spaces.

Input contract of every built estimator: ``fit(X, y)`` with ``X`` as for the
classifiers (float numerics with NaN for missing, string categoricals with NaN/None
for missing, unseen levels fine at predict time) and ``y`` float values;
``predict(X)`` returns one float64 value per row.

The design decisions of ``classifiers.py`` hold here too (preprocessing follows the
model, one thread, boosters imported in their build functions), and a learner name
means the same model family in both catalogues, with the same search space (from
``ranges.py``) except where the task changes the model:

* ``ridge`` and ``elastic_net`` replace ``logreg``. Ridge (L2) is the cheap,
  closed-form linear baseline; elastic net adds L1 sparsity (``l1_ratio=1`` is the
  lasso), useful when many columns are noise.
* Forests split on squared error (the only cheap criterion: absolute error is
  quadratic in the node size, Poisson needs a positive target), so their space has
  no ``criterion``. Regression trees grow to single-row leaves, so they cost more
  than classification ones: random forest defaults to half the features per split
  (between Breiman's p/3 and scikit-learn's 1.0; on 8k rows x 30 columns as accurate
  as 1.0 in half the time, 14 s), extra trees to all features, as Geurts, Ernst and
  Wehenkel (2006) recommend for regression (8k x 30: 14 s).
* Every model is wrapped in :class:`~autoens.space.wrappers.SafeRegressor`, which
  standardises the target: that keeps the MLP trainable and makes elastic net's
  ``alpha`` (and the boosters' L1 penalty) scale-free, so one space fits all targets.

Not offered: kernel SVR, kernel ridge and Gaussian processes (time or memory
quadratic to cubic in the rows: minutes per fit past ~10k rows, unbounded by any
hyper-parameter), CatBoost (not a dependency), and a separate lasso (``elastic_net``
with ``l1_ratio=1``).
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
from autoens.space.wrappers import SafeRegressor

__all__ = [
    "REGRESSORS",
    "build_elastic_net",
    "build_extra_trees_regressor",
    "build_hist_gb_regressor",
    "build_knn_regressor",
    "build_lightgbm_regressor",
    "build_mlp_regressor",
    "build_random_forest_regressor",
    "build_ridge",
    "build_xgboost_regressor",
]

_FAMILY = "regression"


def _pipeline(
    preprocessor: ColumnTransformer,
    model: BaseEstimator,
    fit_params: dict[str, Any] | None = None,
    early_stopping: bool = False,
) -> Pipeline:
    wrapper = SafeRegressor(model, fit_params, early_stopping=early_stopping)
    return Pipeline([("prep", preprocessor), ("model", wrapper)])


# ------------------------------------------------------------------ build functions


def build_ridge(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.linear_model import Ridge

    # Dense input: the exact Cholesky solver (sparse input would switch to an
    # iterative one); one-hot widths are capped, so the matrix stays small.
    model = Ridge(alpha=params["alpha"], random_state=random_state)
    return _pipeline(dense_preprocessor(feature_types), model)


def build_elastic_net(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.linear_model import ElasticNet

    model = ElasticNet(
        alpha=params["alpha"],
        l1_ratio=params["l1_ratio"],
        max_iter=1000,  # capped on purpose: the wrapper silences ConvergenceWarning
        selection="cyclic",  # deterministic coordinate order
        random_state=random_state,
    )
    return _pipeline(dense_preprocessor(feature_types), model)


def build_random_forest_regressor(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import RandomForestRegressor

    model = RandomForestRegressor(**params, n_jobs=1, random_state=random_state)
    # Imputed, as the classifier (scikit-learn's missing-value splitter is slower).
    return _pipeline(tree_preprocessor(feature_types, impute=True), model)


def build_extra_trees_regressor(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import ExtraTreesRegressor

    model = ExtraTreesRegressor(**params, n_jobs=1, random_state=random_state)
    return _pipeline(tree_preprocessor(feature_types), model)


def build_hist_gb_regressor(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.ensemble import HistGradientBoostingRegressor

    categorical = categorical_indices(feature_types)
    model = HistGradientBoostingRegressor(
        **params,
        categorical_features=categorical or None,
        # "auto": the wrapper switches it on from HGB_EARLY_STOPPING_ROWS
        # training rows (wrappers.py: measured there).
        early_stopping="auto",
        random_state=random_state,
    )
    return _pipeline(tree_preprocessor(feature_types), model)


def build_knn_regressor(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.neighbors import KNeighborsRegressor

    del random_state  # deterministic
    model = KNeighborsRegressor(**params, n_jobs=1)
    return _pipeline(dense_preprocessor(feature_types), model)


def build_mlp_regressor(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from sklearn.neural_network import MLPRegressor

    model = MLPRegressor(
        hidden_layer_sizes=(params["layer_size"],) * params["n_layers"],
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate_init"],
        # As the classifier: no early stopping (a 10 % split of a small fold is a
        # noisy judge), fits stop when the training loss stalls or after 200 epochs.
        early_stopping=False,
        max_iter=200,
        random_state=random_state,
    )
    return _pipeline(dense_preprocessor(feature_types), model)


def build_lightgbm_regressor(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from lightgbm import LGBMRegressor

    model = LGBMRegressor(
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


def build_xgboost_regressor(
    params: dict[str, Any], feature_types: FeatureTypes, random_state: int
) -> Pipeline:
    from xgboost import XGBRegressor

    model = XGBRegressor(
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
    }


def _forest_defaults(max_features: float) -> dict[str, Any]:
    return {"n_estimators": 200, "max_features": max_features, "min_samples_leaf": 1}


def _spec(name: str, build: Any, space: Any, **kwargs: Any) -> LearnerSpec:
    distributions, defaults = space
    return LearnerSpec(name, build, distributions, defaults, family=_FAMILY, **kwargs)


#: The regression learners, in the order the search offers them.
REGRESSORS: tuple[LearnerSpec, ...] = (
    LearnerSpec(
        name="ridge",
        build=build_ridge,
        # On a standardised target with scaled features: 1e4 shrinks to the mean.
        distributions={"alpha": FloatDistribution(1e-4, 1e4, log=True)},
        defaults={"alpha": 1.0},
        family=_FAMILY,
    ),
    LearnerSpec(
        name="elastic_net",
        build=build_elastic_net,
        # On a standardised target every coefficient is zero once alpha * l1_ratio
        # exceeds the largest feature-target correlation (<= 1): alpha <= 1 covers
        # the useful path (glmnet's path spans 1e-4 of its top), and the default
        # keeps nearly every useful feature (scikit-learn's alpha=1 would drop most).
        distributions={
            "alpha": FloatDistribution(1e-5, 1.0, log=True),
            "l1_ratio": FloatDistribution(0.05, 1.0),
        },
        defaults={"alpha": 0.01, "l1_ratio": 0.5},
        family=_FAMILY,
    ),
    LearnerSpec(
        name="random_forest",
        build=build_random_forest_regressor,
        distributions=_forest_space(),
        defaults=_forest_defaults(0.5),
        family=_FAMILY,
    ),
    LearnerSpec(
        name="extra_trees",
        build=build_extra_trees_regressor,
        distributions=_forest_space(),
        defaults=_forest_defaults(1.0),
        family=_FAMILY,
    ),
    _spec(
        "hist_gb",
        build_hist_gb_regressor,
        hist_gb_space(),
        refit_params=fixed_iterations,
    ),
    _spec("knn", build_knn_regressor, knn_space()),
    _spec("mlp", build_mlp_regressor, mlp_space(), refit_params=fixed_iterations),
    _spec(
        "lightgbm",
        build_lightgbm_regressor,
        lightgbm_space(),
        requires=("lightgbm",),
        refit_params=fixed_iterations,
    ),
    _spec(
        "xgboost",
        build_xgboost_regressor,
        xgboost_space(),
        requires=("xgboost",),
        refit_params=fixed_iterations,
    ),
)
