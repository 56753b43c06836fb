"""Turn user tables into the one frame layout every learner receives.

Learners get a pandas DataFrame whose numeric columns are float64 (NaN = missing) and
whose categorical columns are ``object`` holding ``str`` (NaN = missing). The schema
learned in ``fit`` is kept on the estimator, so ``predict`` can name a missing column or
an unseen category instead of failing deep inside a pipeline.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array

from autoens.space import FeatureTypes

_MAX_CATEGORIES_SHOWN = 5


def _is_categorical(col: pd.Series) -> bool:
    """Bool, category and string columns are categorical; object ones unless numbers."""
    if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col):
        return True
    if pd.api.types.is_numeric_dtype(col):
        return False
    try:
        pd.to_numeric(col.dropna(), errors="raise")
    except (ValueError, TypeError):
        return True
    return False


def _as_category_strings(col: pd.Series) -> pd.Series:
    values = col.astype(object)
    missing = values.isna()
    out = values.map(str).astype(object)
    out[missing] = np.nan
    return out


def describe_columns(names: Sequence[str], limit: int = 20) -> str:
    """Quoted, comma-separated column names, cut after ``limit``."""
    shown = ", ".join(repr(str(n)) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown


def _as_frame(X: Any) -> pd.DataFrame:
    """Arrays become a frame with columns x0..x{d-1}; frames keep their names."""
    if isinstance(X, pd.DataFrame):
        if X.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 "
                "is required."
            )
        if X.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 "
                "is required."
            )
        if X.columns.duplicated().any():
            dup = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
            raise ValueError(f"X has duplicate column names: {dup}")
        frame = X.copy()
        frame.columns = [str(c) for c in X.columns]
        return frame.reset_index(drop=True)
    arr = check_array(X, dtype=None, ensure_all_finite=False, ensure_2d=True)
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


@dataclass
class TableSchema:
    """Column kinds and the categories seen in ``fit``."""

    columns: list[str]
    categories: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def feature_types(self) -> FeatureTypes:
        cat = tuple(c for c in self.columns if c in self.categories)
        num = tuple(c for c in self.columns if c not in self.categories)
        return FeatureTypes(numeric=num, categorical=cat)

    @classmethod
    def learn(cls, X: Any) -> tuple[TableSchema, pd.DataFrame]:
        """Infer column kinds from training data and return the converted frame."""
        frame = _as_frame(X)
        categorical = [c for c in frame.columns if _is_categorical(frame[c])]
        schema = cls(columns=list(frame.columns))
        converted = schema._convert(frame, categorical)
        schema.categories = {
            c: frozenset(converted[c].dropna().unique()) for c in categorical
        }
        return schema, converted

    def transform(self, X: Any) -> pd.DataFrame:
        """Convert new data to the training layout; warn about categories never seen."""
        frame = _as_frame(X)
        if not isinstance(X, pd.DataFrame):
            frame.columns = self.columns[: frame.shape[1]] + list(
                frame.columns[len(self.columns) :]
            )
        self.check_columns(frame)
        converted = self._convert(frame[self.columns], list(self.categories))
        for col, seen in self.categories.items():
            values = converted[col].dropna()
            unseen = sorted(set(values.unique()) - seen)
            if unseen:
                shown = unseen[:_MAX_CATEGORIES_SHOWN]
                more = (
                    ""
                    if len(unseen) <= len(shown)
                    else f" (+{len(unseen) - len(shown)} more)"
                )
                warnings.warn(
                    f"column {col!r} has categories not seen during fit: "
                    f"{shown}{more}; the learners treat them as unknown values",
                    UserWarning,
                    stacklevel=3,
                )
        return converted

    def check_columns(self, frame: pd.DataFrame) -> None:
        """Raise a ValueError naming missing and unexpected columns, if any."""
        present = [str(c) for c in frame.columns]
        missing = [c for c in self.columns if c not in present]
        extra = [c for c in present if c not in set(self.columns)]
        if missing or extra:
            parts = [f"missing {describe_columns(missing)}"] if missing else []
            if extra:
                parts.append(f"unexpected {describe_columns(extra)}")
            raise ValueError(
                f"the columns of X do not match the model: {'; '.join(parts)}. "
                f"The model expects: {describe_columns(self.columns)}"
            )

    def _convert(self, frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
        out = {}
        for col in frame.columns:
            if col in categorical:
                out[col] = _as_category_strings(frame[col])
                continue
            try:
                values = pd.to_numeric(frame[col], errors="raise").astype(np.float64)
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"column {col!r} was numeric during fit but holds non-numeric "
                    f"values now: {exc}"
                ) from None
            if np.isinf(values.to_numpy()).any():
                raise ValueError(
                    f"Input X contains infinity in column {col!r}; replace inf values "
                    "(missing values may be NaN)."
                )
            out[col] = values
        return pd.DataFrame(out, index=frame.index)
