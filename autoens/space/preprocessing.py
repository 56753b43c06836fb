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
* A numeric column with no value in a training fold carries nothing the model can
  learn, and HistGB cannot even bin it (its threshold search fails with "window shape
  cannot be larger than input array shape"). The schema drops columns that are empty
  in the whole training set, but a fold can still miss every value of a sparse
  column: the imputer then fills it with zeros (``keep_empty_features``) and the
  non-imputing tree preprocessor with :class:`EmptyColumnFiller`, so every learner
  sees a constant it ignores, at fit and at predict time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
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
    "EmptyColumnFiller",
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


class EmptyColumnFiller(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Numbers as a float64 array, with the columns that had no value in ``fit`` set
    to 0 (at fit and predict time), so that no learner sees an all-NaN column; other
    values, NaN included, pass through unchanged."""

    def fit(self, X: Any, y: Any = None) -> EmptyColumnFiller:
        """Remember which columns have no value."""
        values = np.asarray(X, dtype=np.float64)
        self.empty_ = np.isnan(values).all(axis=0)
        self.n_features_in_ = values.shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The values, empty-at-fit columns replaced by zeros."""
        values = np.array(X, dtype=np.float64)
        values[:, self.empty_] = 0.0
        return values


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

    Numeric columns empty in the training data become zeros either way (see the
    module docstring). The output puts the numeric block first and the categorical
    columns last (see :func:`categorical_indices`).
    """
    transformers = []
    if feature_types.numeric:
        numeric = _median_imputer() if impute else EmptyColumnFiller()
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


def fast_predict_input(model: Any, X: pd.DataFrame, shared: dict) -> tuple[Any, Any]:
    """``(estimator, input)`` such that ``estimator``'s predictions on ``input`` are
    ``model``'s on ``X``, skipping the fixed per-call cost of a candidate's
    ``ColumnTransformer``.

    A fitted candidate is ``Pipeline([("prep", ColumnTransformer), ("model", ...)])``
    built by :func:`dense_preprocessor` or :func:`tree_preprocessor`. Predicting
    one row through it costs about 8 ms, mostly scikit-learn's generic machinery
    (column indexing, joblib, output containers), not arithmetic. Here each fitted
    transformer gets exactly the input the ``ColumnTransformer`` would give it and
    the blocks are stacked as it would stack them, so the predictions are the same
    bit for bit. ``shared`` (one dict per batch of rows) holds the cleaned category
    strings, which every fold model of every member needs. Anything else (other
    layouts, ``set_output``) goes the ordinary way: ``(model, X)``.
    """
    if not (isinstance(model, Pipeline) and len(model.steps) == 2):
        return model, X
    prep, final = model.steps[0][1], model.steps[1][1]
    if not (
        isinstance(prep, ColumnTransformer)
        and prep.remainder == "drop"
        and getattr(prep, "_sklearn_output_config", {}).get("transform", "default")
        == "default"
        and _global_output_is_default()
        and hasattr(prep, "transformers_")
    ):
        return model, X
    blocks = []
    for name, transformer, columns in prep.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if isinstance(transformer, str) or not isinstance(columns, list):
            return model, X  # passthrough or a column selector: not ours
        if (
            isinstance(transformer, Pipeline)
            and len(transformer.steps) > 1
            and isinstance(transformer.steps[0][1], FunctionTransformer)
            and transformer.steps[0][1].func is clean_categories
        ):
            key = ("clean", tuple(columns))
            if key not in shared:
                shared[key] = clean_categories(X[columns])
            block = shared[key]
            for _, step in transformer.steps[1:]:
                block = step.transform(block)
        else:
            block = transformer.transform(X[columns])
        blocks.append(block)
    if not blocks:
        return model, X
    if prep.sparse_output_:
        from scipy import sparse
        from sklearn.utils.validation import check_array

        converted = [
            check_array(b, accept_sparse=True, ensure_all_finite=False) for b in blocks
        ]
        return final, sparse.hstack(converted).tocsr()
    from scipy import sparse

    dense = [b.toarray() if sparse.issparse(b) else b for b in blocks]
    return final, np.hstack(dense)


def _global_output_is_default() -> bool:
    from sklearn import get_config

    return get_config().get("transform_output", "default") == "default"
