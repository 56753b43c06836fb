"""Turn user tables into the one frame layout every learner receives.

Learners get a pandas DataFrame whose numeric columns are float64 (NaN = missing) and
whose categorical columns are ``object`` holding ``str`` (NaN = missing). What each
input column is and what it becomes (kept, dropped, expanded into date or text
features) is decided once, in ``fit``, by :meth:`TableSchema.learn` (the rules are in
:mod:`autoens.columns`). The schema is kept on the estimator, so ``predict`` converts
new rows the same way and can name a missing column or an unseen category instead of
failing deep inside a pipeline.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array, validate_data

from autoens.columns import (
    DROPPED_KINDS,
    TEXT_PARTS,
    ColumnInfo,
    count_distinct,
    datetime_features,
    datetime_parts,
    datetime_timezone,
    detect_kind,
    has_time_of_day,
    is_number_column,
    parse_datetimes,
    text_features,
)
from autoens.space import FeatureTypes

logger = logging.getLogger("autoens")

_MAX_CATEGORIES_SHOWN = 5
_MAX_VALUES_SHOWN = 3
#: Columns of :meth:`TableSchema.report` (``feature_report_``).
REPORT_COLUMNS = (
    "column",
    "kind",
    "action",
    "features",
    "missing_fraction",
    "n_distinct",
    "note",
)


def _as_category_block(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """:func:`_as_category_strings` of every column of ``frame`` at once."""
    values = frame.to_numpy(dtype=object)
    missing = pd.isna(values)
    strings = values.astype(str).astype(object)  # str() of each value, in C
    strings[missing] = np.nan
    return {
        name: pd.Series(strings[:, j], index=frame.index, name=name, dtype=object)
        for j, name in enumerate(frame.columns)
    }


def _as_category_strings(col: pd.Series) -> pd.Series:
    values = col.astype(object)
    missing = values.isna()
    out = values.map(str).astype(object)
    out[missing] = np.nan
    return out


def check_table(X: Any) -> Any:
    """Frames pass as they are (mixed dtypes); anything else must be a 2-D array."""
    if isinstance(X, pd.DataFrame):
        return X
    return check_array(X, dtype=None, ensure_all_finite=False)


def predict_input(estimator: Any, X: Any) -> pd.DataFrame:
    """New rows for a fitted ``estimator`` (with ``schema_``) laid out as in ``fit``.

    A frame fit on named columns goes through the schema, which names missing
    columns, ignores extra ones with a warning and accepts any column order (which
    scikit-learn's own check would reject); anything else is checked by
    scikit-learn against ``n_features_in_`` first.
    """
    X = check_table(X)
    if not (isinstance(X, pd.DataFrame) and hasattr(estimator, "feature_names_in_")):
        validate_data(estimator, X, reset=False, skip_check_array=True)
    return estimator.schema_.transform(X)


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


def _unique_name(base: str, taken: set[str]) -> str:
    """``base``, with underscores appended until no other column has that name."""
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _examples(values: pd.Series) -> list[Any]:
    return values.drop_duplicates().head(_MAX_VALUES_SHOWN).tolist()


def _describe(name: str, col: pd.Series, kind: str, taken: set[str]) -> ColumnInfo:
    """What ``fit`` does with one column of a detected kind."""
    present = col.dropna()
    common = {
        "name": name,
        "kind": kind,
        "missing_fraction": float(1.0 - len(present) / len(col)),
        "n_distinct": count_distinct(present),
    }
    if kind in DROPPED_KINDS:
        value = present.iloc[0] if kind == "constant" else None
        if isinstance(value, np.generic):
            value = value.item()
        note = (
            "every value missing: dropped"
            if kind == "empty"
            else f"the same value ({value!r}) in every row: dropped"
        )
        return ColumnInfo(features=(), note=note, **common)
    if kind == "datetime":
        tz = datetime_timezone(col)
        wall, _ = parse_datetimes(col, tz)
        has_time = has_time_of_day(wall)
        parts = datetime_parts(has_time)
        where = f" in {tz}" if tz is not None else ""
        return ColumnInfo(
            features=tuple(_unique_name(f"{name}__{p}", taken) for p in parts),
            note=f"dates{where} expanded into {', '.join(parts)}",
            tz=tz,
            has_time=has_time,
            **common,
        )
    if kind == "text":
        return ColumnInfo(
            features=tuple(_unique_name(f"{name}__{p}", taken) for p in TEXT_PARTS),
            note="free text (not modelled): replaced by its length and word count",
            **common,
        )
    if kind == "id":
        if is_number_column(col):
            note = "a different integer in every row (an ID?): kept as numeric"
            return ColumnInfo(features=(name,), note=note, **common)
        note = "a different value in every row (an ID): dropped, nothing to learn"
        return ColumnInfo(features=(), note=note, **common)
    notes = {
        "numeric": "kept as numeric",
        "categorical": "kept as categorical",
        "boolean": "kept as a two-level categorical (missing is its own level)",
    }
    return ColumnInfo(features=(name,), note=notes[kind], **common)


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=4)


@dataclass
class TableSchema:
    """Column kinds, what each input column became, and the categories seen in
    ``fit``.

    ``columns`` are the user's input columns, in order; ``infos`` says per column
    what was found and done (:meth:`report`); ``categories`` holds the levels of
    the categorical features.
    """

    columns: list[str]
    categories: dict[str, frozenset[str]] = field(default_factory=dict)
    infos: dict[str, ColumnInfo] = field(default_factory=dict)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Models saved before column kinds existed: numeric or categorical, all kept.
        if "infos" not in state:
            cats = state.get("categories", {})
            state["infos"] = {
                c: ColumnInfo(
                    name=c,
                    kind="categorical" if c in cats else "numeric",
                    features=(c,),
                    missing_fraction=float("nan"),
                    n_distinct=-1,
                    note="",
                )
                for c in state["columns"]
            }
        self.__dict__.update(state)

    @property
    def features(self) -> list[str]:
        """The columns the learners get, in order."""
        return [f for c in self.columns for f in self.infos[c].features]

    @property
    def used_columns(self) -> list[str]:
        """Input columns the learners use (``predict`` needs these; others are
        ignored)."""
        return [c for c in self.columns if self.infos[c].features]

    @property
    def feature_types(self) -> FeatureTypes:
        features = self.features
        cat = tuple(f for f in features if f in self.categories)
        num = tuple(f for f in features if f not in self.categories)
        return FeatureTypes(numeric=num, categorical=cat)

    @classmethod
    def learn(cls, X: Any) -> tuple[TableSchema, pd.DataFrame]:
        """Detect each column's kind in training data, warn about what the user must
        know (dropped columns, free text, IDs) and return the converted frame."""
        frame = _as_frame(X)
        taken = set(frame.columns)
        infos = {
            name: _describe(name, frame[name], detect_kind(frame[name]), taken)
            for name in frame.columns
        }
        schema = cls(columns=list(frame.columns), infos=infos)
        schema._warn_about_kinds()
        if not schema.used_columns:
            raise ValueError(
                "no column of X can be used: "
                + "; ".join(f"{i.name!r}: {i.note}" for i in infos.values())
            )
        converted = schema._convert(frame, stage="fit")
        schema.categories = {
            c: frozenset(converted[c].dropna().unique())
            for c, info in infos.items()
            if info.kind in ("categorical", "boolean")
        }
        return schema, converted

    def report(self) -> pd.DataFrame:
        """One row per input column: kind, action, features, missing share, distinct
        values and a note (the estimators' ``feature_report_``)."""
        rows = [
            {
                "column": i.name,
                "kind": i.kind,
                "action": i.action,
                "features": i.features,
                "missing_fraction": i.missing_fraction,
                "n_distinct": i.n_distinct,
                "note": i.note,
            }
            for i in self.infos.values()
        ]
        return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))

    def log_summary(self) -> None:
        """One INFO line per column kind on the ``autoens`` logger."""
        logger.info(
            "X: %d columns -> %d features for the learners",
            len(self.columns),
            len(self.features),
        )
        by_kind: dict[str, list[ColumnInfo]] = {}
        for info in self.infos.values():
            by_kind.setdefault(info.kind, []).append(info)
        for kind, infos in by_kind.items():
            actions = sorted({i.action for i in infos})
            detail = "; ".join(dict.fromkeys(i.note for i in infos))
            logger.info(
                "%s (%d, %s): %s -- %s",
                kind,
                len(infos),
                "/".join(actions),
                describe_columns([i.name for i in infos], limit=10),
                detail,
            )

    def transform(self, X: Any) -> pd.DataFrame:
        """Convert new data to the training layout; extra columns are ignored (with a
        warning), categories never seen and unparseable dates are warned about."""
        frame = _as_frame(X)
        if not isinstance(X, pd.DataFrame):
            frame.columns = self.columns[: frame.shape[1]] + list(
                frame.columns[len(self.columns) :]
            )
        self.check_columns(frame)
        converted = self._convert(frame, stage="predict")
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
        """Raise a ValueError naming the used columns ``frame`` lacks (and any it has
        that the model does not know); otherwise warn about, and so ignore, columns
        the model was not fit on, as AutoGluon does."""
        present = [str(c) for c in frame.columns]
        have, known = set(present), set(self.columns)
        missing = [c for c in self.used_columns if c not in have]
        extra = [c for c in present if c not in known]
        if missing:
            # The unexpected ones may be the missing ones renamed: name them too.
            unexpected = f"; unexpected {describe_columns(extra)}" if extra else ""
            raise ValueError(
                "the columns of X do not match the model: missing "
                f"{describe_columns(missing)}{unexpected}. The model expects: "
                f"{describe_columns(self.used_columns)}"
            )
        if extra:
            warnings.warn(
                f"X has columns the model was not fit on: {describe_columns(extra)}; "
                "they are ignored",
                UserWarning,
                stacklevel=4,
            )

    def _warn_about_kinds(self) -> None:
        """One warning per kind of column the user must know about."""
        groups = {
            "empty": "dropped all-missing column(s)",
            "constant": "dropped constant column(s) (one value in every row)",
            "text": "free-text column(s) replaced by their length and word count "
            "(autoens does not model text; encode it yourself to use more of it)",
        }
        for kind, message in groups.items():
            names = [c for c, i in self.infos.items() if i.kind == kind]
            if names:
                _warn(f"{message}: {describe_columns(names)}")
        ids = [i for i in self.infos.values() if i.kind == "id"]
        dropped = [i.name for i in ids if not i.features]
        kept = [i.name for i in ids if i.features]
        if dropped:
            _warn(
                "dropped identifier-like column(s) (a different string in every row, "
                f"nothing a learner can generalise from): {describe_columns(dropped)}"
            )
        if kept:
            _warn(
                f"column(s) {describe_columns(kept)} hold a different integer in "
                "every row and may be identifiers; kept as numeric (drop them "
                "before fit if they carry no meaning)"
            )

    def _convert(self, frame: pd.DataFrame, *, stage: str) -> pd.DataFrame:
        out: dict[str, pd.Series] = {}
        categories = [
            name
            for name in self.used_columns
            if self.infos[name].kind in ("categorical", "boolean")
        ]
        # All category columns in one block: per column, the pandas calls cost more
        # than the conversion on a single row (60 columns: ~20 ms per call).
        strings = _as_category_block(frame[categories]) if categories else {}
        for name in self.used_columns:
            info, col = self.infos[name], frame[name]
            if name in strings:
                out[name] = strings[name]
            elif info.kind == "datetime":
                out.update(_datetime_columns(info, col, stage))
            elif info.kind == "text":
                parts = text_features(col).values()
                out.update(zip(info.features, parts, strict=True))
            else:
                out[name] = _numeric_column(name, col)
        return pd.DataFrame(out, index=frame.index, columns=self.features)


def _numeric_column(name: str, col: pd.Series) -> pd.Series:
    try:
        values = pd.to_numeric(col, errors="raise").astype(np.float64)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"column {name!r} was numeric during fit but holds non-numeric "
            f"values now: {exc}"
        ) from None
    if np.isinf(values.to_numpy()).any():
        raise ValueError(
            f"Input X contains infinity in column {name!r}; replace inf values "
            "(missing values may be NaN)."
        )
    return values


def _datetime_columns(
    info: ColumnInfo, col: pd.Series, stage: str
) -> dict[str, pd.Series]:
    wall, bad = parse_datetimes(col, info.tz)
    if bad.any():
        where = "training " if stage == "fit" else ""
        _warn(
            f"column {info.name!r}: {int(bad.sum())} of {len(col)} {where}value(s) "
            f"are not ISO-8601 dates (e.g. {_examples(col[bad])}); treated as missing"
        )
    parts = datetime_features(wall, info.has_time).values()
    return dict(zip(info.features, parts, strict=True))
