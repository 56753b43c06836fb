"""What kind each column of a user's table is, and the features each kind becomes.

:class:`~autoens.tabular.TableSchema` applies these rules once, in ``fit``, in this
order (the first that matches decides), and keeps the outcome so that ``predict``
converts new rows the same way:

* **empty**: every value missing. Dropped (nothing to learn; an all-NaN column also
  broke HistGB's binning).
* **constant**: one value in every row, none missing, at least two rows. Dropped. A
  column with one value *and* missing rows is kept: its missingness is information.
* **boolean**: ``bool``/``boolean`` dtype, or objects that are all ``True``/``False``
  (what ``read_csv`` gives when such a column has gaps). Kept as a two-level
  categorical, so a missing value is its own level instead of being imputed.
* **datetime**: a datetime or datetime-with-timezone dtype, ``date``/``datetime``
  objects, or strings of which at least :data:`DATE_MIN_SHARE` (95 %) of the present
  values are strict ISO-8601 dates: ``YYYY-MM-DD``, optionally followed by
  ``T``/space, ``hh:mm[:ss[.fff]]`` and an offset (``Z``, ``+hh``, ``+hhmm``,
  ``+hh:mm``). A full year-month-day with dashes is required, so codes such as
  ``"2023"``, ``"12"``, ``"2023-05"`` or ``"20230105"`` stay numeric or categorical.
  Expanded into numeric features: year, month, day, weekday (Monday = 0), day of
  year, hour and minute when some value has a time of day, and ``timestamp`` (days
  since 1970-01-01, fractional), so trees see the calendar and linear models a trend.
  Values are read as wall-clock time: a timezone-aware column is converted to the
  timezone it had in ``fit`` (UTC for strings with offsets), naive values are taken
  as already in it. Values that do not parse (the up to 5 % at fit, any at predict)
  become missing, with a warning.
* **numeric**: a numeric dtype, or objects/strings that all convert to numbers.
* **text** (free text): strings whose present values average at least
  :data:`TEXT_MIN_WORDS` (3) whitespace-separated words and are at least
  :data:`TEXT_MIN_DISTINCT_SHARE` (50 %) and :data:`TEXT_MIN_DISTINCT` (20)
  distinct (fewer levels stay categories). autoens has no text model, so the
  column is replaced by two numeric features, ``n_chars`` and ``n_words`` (missing
  stays missing), with a warning; it is never one-hot encoded.
* **id**: a different value in every row, none missing, at least
  :data:`MIN_ROWS_FOR_ID` (20) rows, and integer (numbers) or string/categorical
  values (floats are ordinary measurements). String IDs are dropped: every level is
  seen once, so a learner can only memorise them and every new row is an unseen
  level. Integer IDs are kept as numeric with a warning: such a column may carry
  order (e.g. a sequence in time) or be a genuine count, and trees and regularised
  linear models cope with a useless column better than a user with a silently
  missing one.
* **categorical**: everything else (strings, ``category`` dtype, mixed objects).
  The learners cap the width (one-hot at 32 columns, ordinal at 255 levels), so a
  high-cardinality column cannot explode either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DATE_MIN_SHARE",
    "KINDS",
    "MIN_ROWS_FOR_ID",
    "TEXT_MIN_DISTINCT",
    "TEXT_MIN_DISTINCT_SHARE",
    "TEXT_MIN_WORDS",
    "ColumnInfo",
    "count_distinct",
    "datetime_features",
    "detect_kind",
    "is_number_column",
    "parse_datetimes",
    "text_features",
]

#: Every kind a column can be detected as.
KINDS = (
    "numeric",
    "categorical",
    "boolean",
    "datetime",
    "text",
    "id",
    "empty",
    "constant",
)
#: Kinds always dropped (an ID is dropped when it holds strings, kept when integers).
DROPPED_KINDS = frozenset({"empty", "constant"})

#: Share of a string column's present values that must be ISO-8601 dates.
DATE_MIN_SHARE = 0.95
#: Mean whitespace-separated words per value from which strings count as free text.
TEXT_MIN_WORDS = 3.0
#: Share of distinct values among the present ones that free text must reach.
TEXT_MIN_DISTINCT_SHARE = 0.5
#: Fewest distinct values of free text: below, the categorical encoders see every
#: level (a short table's multi-word labels stay categories).
TEXT_MIN_DISTINCT = 20
#: Fewest rows for "a different value in every row" to mean an identifier.
MIN_ROWS_FOR_ID = 20

_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)"
_ISO = f"{_DATE}(?:{_TIME}{_OFFSET}?)?"
_ISO_AWARE = f"{_DATE}{_TIME}{_OFFSET}"
_EPOCH = pd.Timestamp("1970-01-01")
_DATE_PARTS = ("year", "month", "day", "weekday", "dayofyear")
_TIME_PARTS = ("hour", "minute")
# Feature suffix -> pandas ``.dt`` accessor.
_ACCESSORS = {"weekday": "day_of_week", "dayofyear": "day_of_year"}
#: Numeric features a free-text column becomes.
TEXT_PARTS = ("n_chars", "n_words")


@dataclass(frozen=True)
class ColumnInfo:
    """What ``fit`` found in one input column and what it does with it.

    ``features`` are the names of the columns the learners get from it (empty when
    dropped); ``tz`` and ``has_time`` are the datetime settings reused at predict.
    """

    name: str
    kind: str
    features: tuple[str, ...]
    missing_fraction: float
    n_distinct: int
    note: str
    tz: Any = None
    has_time: bool = False

    @property
    def action(self) -> str:
        """``"kept"``, ``"dropped"`` or ``"expanded"`` (into other features)."""
        if not self.features:
            return "dropped"
        return "kept" if self.features == (self.name,) else "expanded"


def _as_numbers(col: pd.Series) -> pd.Series | None:
    """The present values as float64, or None when the column is not numbers (bool,
    ``category`` and datetime columns never are)."""
    present = col.dropna()
    if (
        pd.api.types.is_bool_dtype(col.dtype)
        or isinstance(col.dtype, pd.CategoricalDtype)
        or _is_datetime_dtype(col)
    ):
        return None
    if pd.api.types.is_numeric_dtype(col.dtype):
        return present.astype(np.float64)
    try:
        return pd.to_numeric(present, errors="raise").astype(np.float64)
    except (ValueError, TypeError):
        return None


def is_number_column(col: pd.Series) -> bool:
    """Whether a column holds numbers (then an ID-like one is kept as numeric)."""
    return _as_numbers(col) is not None


def count_distinct(present: pd.Series) -> int:
    """Distinct values; unhashable ones (lists, dicts) are compared as text."""
    try:
        return int(present.nunique())
    except TypeError:
        return int(present.astype(str).nunique())


def _all_distinct(n_distinct: int, n_rows: int, n_missing: int) -> bool:
    return n_missing == 0 and n_rows >= MIN_ROWS_FOR_ID and n_distinct == n_rows


def detect_kind(col: pd.Series) -> str:
    """The kind of one training column (rules in the module docstring, in order).

    Raises ValueError for infinite numbers, which no learner accepts.
    """
    n_rows = len(col)
    present = col.dropna()
    n_missing = n_rows - len(present)
    if present.empty:
        return "empty"
    numbers = _as_numbers(col)
    if numbers is not None and np.isinf(numbers.to_numpy()).any():
        raise ValueError(
            f"Input X contains infinity in column {col.name!r}; replace inf values "
            "(missing values may be NaN)."
        )
    n_distinct = count_distinct(present)
    unique = _all_distinct(n_distinct, n_rows, n_missing)
    inferred = pd.api.types.infer_dtype(present, skipna=True)
    if n_rows >= 2 and n_missing == 0 and n_distinct == 1:
        return "constant"
    if pd.api.types.is_bool_dtype(col.dtype) or inferred == "boolean":
        return "boolean"
    if _is_datetime_dtype(col) or inferred in ("date", "datetime", "datetime64"):
        return "datetime"
    if numbers is not None:
        integers = pd.api.types.is_integer_dtype(col.dtype) or (
            not pd.api.types.is_numeric_dtype(col.dtype)
            and bool((numbers.to_numpy() % 1 == 0).all())
        )
        return "id" if integers and unique else "numeric"
    if inferred == "string" and not isinstance(col.dtype, pd.CategoricalDtype):
        strings = present.astype(str).str.strip()
        if strings.str.fullmatch(_ISO).mean() >= DATE_MIN_SHARE:
            return "datetime"
        words = strings.str.count(r"\S+").mean()
        if (
            words >= TEXT_MIN_WORDS
            and n_distinct >= TEXT_MIN_DISTINCT
            and n_distinct >= TEXT_MIN_DISTINCT_SHARE * len(present)
        ):
            return "text"
    return "id" if unique else "categorical"


def _is_datetime_dtype(col: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(col.dtype)


def datetime_timezone(col: pd.Series) -> Any:
    """The timezone of a timezone-aware datetime column, else None."""
    return getattr(col.dtype, "tz", None)


def parse_datetimes(col: pd.Series, tz: Any) -> tuple[pd.Series, pd.Series]:
    """Wall-clock datetimes (naive, microseconds) and a mask of unparseable values.

    Aware values are converted to ``tz`` (UTC when None) before their timezone is
    dropped; naive values are taken as wall-clock time already. Strings must be
    ISO-8601 (see the module docstring); anything else present is "unparseable".
    """
    out = pd.Series(pd.NaT, index=col.index, dtype="datetime64[us]")
    if _is_datetime_dtype(col):
        values = col
        if datetime_timezone(col) is not None:
            values = values.dt.tz_convert(tz or "UTC").dt.tz_localize(None)
        out[:] = values.astype("datetime64[us]")
        return out, pd.Series(False, index=col.index)
    present = col.notna()
    strings = col[present].astype(str).str.strip()
    iso = strings.str.fullmatch(_ISO)
    aware = strings.str.fullmatch(_ISO_AWARE)
    naive_part = pd.to_datetime(
        strings[iso & ~aware], format="ISO8601", errors="coerce"
    )
    aware_part = pd.to_datetime(
        strings[aware], format="ISO8601", errors="coerce", utc=True
    )
    aware_part = aware_part.dt.tz_convert(tz or "UTC").dt.tz_localize(None)
    out[naive_part.index] = naive_part.astype("datetime64[us]")
    out[aware_part.index] = aware_part.astype("datetime64[us]")
    return out, present & out.isna()


def has_time_of_day(wall: pd.Series) -> bool:
    """Whether any value is not at midnight (then hour and minute become features)."""
    present = wall.dropna()
    return bool((present != present.dt.normalize()).any())


def datetime_parts(has_time: bool) -> tuple[str, ...]:
    """Feature suffixes of a datetime column."""
    return _DATE_PARTS + (_TIME_PARTS if has_time else ()) + ("timestamp",)


def datetime_features(wall: pd.Series, has_time: bool) -> dict[str, pd.Series]:
    """Numeric calendar features of wall-clock datetimes, keyed by suffix (NaN for
    missing values)."""
    accessor = wall.dt
    parts: dict[str, pd.Series] = {
        part: getattr(accessor, _ACCESSORS.get(part, part))
        for part in _DATE_PARTS + (_TIME_PARTS if has_time else ())
    }
    parts["timestamp"] = (wall - _EPOCH) / pd.Timedelta(days=1)
    return {
        part: pd.Series(
            values.to_numpy(dtype=np.float64, na_value=np.nan), index=wall.index
        )
        for part, values in parts.items()
    }


def text_features(col: pd.Series) -> dict[str, pd.Series]:
    """Length in characters and number of words of each value (NaN if missing)."""
    present = col.notna()
    strings = col[present].astype(str)
    counts = {
        "n_chars": strings.str.len(),
        "n_words": strings.str.count(r"\S+"),
    }
    return {
        part: values.astype(np.float64).reindex(col.index)
        for part, values in counts.items()
    }
