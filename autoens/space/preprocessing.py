"""The preprocessing each kind of learner gets, shared by the learners and by the
competence space of the dynamic selectors (one notion of column kinds everywhere).

* Linear, distance and neural learners (and the competence space) get
  :func:`dense_preprocessor`: median imputation with missing indicators, standard
  scaling, one-hot encoding with rare levels pooled.
* Tree learners get :func:`tree_preprocessor`: ordinal codes, which HistGB and
  LightGBM treat as native categoricals, and the raw numeric values (they split on NaN
  natively), optionally imputed (random forest).
* Missing categories become their own level, :data:`MISSING_CATEGORY`; unseen ones map
  to the pooled infrequent level (one-hot) or to NaN (ordinal codes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from autoens.space.registry import FeatureTypes

__all__ = [
    "MISSING_CATEGORY",
    "categorical_indices",
    "clean_categories",
    "dense_preprocessor",
    "tree_preprocessor",
]

#: Level that replaces a missing categorical value before encoding.
MISSING_CATEGORY = "__missing__"

# One-hot: pool levels seen fewer than this many times, and cap the width.
_ONEHOT_MIN_FREQUENCY = 5
_ONEHOT_MAX_CATEGORIES = 32
# Ordinal codes: HistGB's native categorical support allows at most 255 levels.
_ORDINAL_MAX_CATEGORIES = 255


def clean_categories(X: Any) -> np.ndarray:
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
        clean_categories, feature_names_out="one-to-one", validate=False
    )


def dense_preprocessor(
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


def tree_preprocessor(
    feature_types: FeatureTypes, *, impute: bool = False
) -> ColumnTransformer:
    """Numerics (NaN kept unless ``impute``), then categoricals as ordinal codes.

    The output puts the numeric block first and the categorical columns last (see
    :func:`categorical_indices`).
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


def categorical_indices(feature_types: FeatureTypes) -> list[int]:
    """Output positions of the ordinal codes of a non-imputing tree preprocessor."""
    start = len(feature_types.numeric)
    return list(range(start, start + len(feature_types.categorical)))
