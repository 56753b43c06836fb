"""Column kinds learned by ``TableSchema.learn`` on real data with real-world columns:
dates (dtype, ISO strings, timezones), free text, IDs, all-missing and constant
columns, and what ``transform`` does with them at predict time."""

from __future__ import annotations

import datetime
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from autoens.columns import detect_kind
from autoens.datasets import read_csv
from autoens.tabular import REPORT_COLUMNS, TableSchema

N = 200
_WORDS = np.array(
    "the tumour looked small and round but the margin was irregular on the scan "
    "follow up in two weeks benign features noted by radiologist".split()
)


def _notes(rng: np.random.Generator, n: int) -> list[str]:
    """Sentences of 3-15 words: free text."""
    lengths = rng.integers(3, 16, size=n)
    words = rng.choice(_WORDS, size=(n, 15))
    return [" ".join(row[:k]) for row, k in zip(words, lengths, strict=True)]


@pytest.fixture(scope="module")
def real_world() -> pd.DataFrame:
    """Breast cancer rows plus one column of every kind a real table may hold."""
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:N, :4].reset_index(drop=True)
    rng = np.random.default_rng(0)
    X["visit"] = pd.date_range("2021-01-01 08:00", periods=N, freq="17h")
    X["visit_day"] = pd.date_range("2021-03-01", periods=N, freq="D").strftime(
        "%Y-%m-%d"
    )
    X["notes"] = _notes(rng, N)
    X["patient"] = [f"P-{i:05d}" for i in rng.permutation(N)]
    X["row"] = np.arange(N)
    X["unused"] = np.nan
    X["site"] = "Madison"
    X["smoker"] = rng.random(N) > 0.7
    X["year"] = rng.choice(["2019", "2020", "2021"], N)  # a code, not a date
    X["ward"] = rng.choice(["North Wing", "South Wing", "ICU"], N)
    return X


def _learn(X: pd.DataFrame) -> tuple[TableSchema, pd.DataFrame, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        schema, frame = TableSchema.learn(X)
    return schema, frame, [str(w.message) for w in caught]


def test_every_kind_is_detected_and_reported(real_world):
    schema, frame, messages = _learn(real_world)
    report = schema.report()
    assert tuple(report.columns) == REPORT_COLUMNS
    assert list(report["column"]) == list(real_world.columns)
    kinds = dict(zip(report["column"], report["kind"], strict=True))
    assert kinds == {
        "mean radius": "numeric",
        "mean texture": "numeric",
        "mean perimeter": "numeric",
        "mean area": "numeric",
        "visit": "datetime",
        "visit_day": "datetime",
        "notes": "text",
        "patient": "id",
        "row": "id",
        "unused": "empty",
        "site": "constant",
        "smoker": "boolean",
        "year": "numeric",
        "ward": "categorical",
    }
    row = report.set_index("column")
    assert row.loc["unused", "action"] == "dropped"
    assert row.loc["site", "action"] == "dropped"
    assert row.loc["patient", "action"] == "dropped"
    assert row.loc["row", "action"] == "kept"  # integer IDs stay, with a warning
    assert row.loc["visit", "action"] == "expanded"
    assert row.loc["visit", "features"] == tuple(
        f"visit__{p}"
        for p in (
            "year",
            "month",
            "day",
            "weekday",
            "dayofyear",
            "hour",
            "minute",
            "timestamp",
        )
    )
    # dates without a time of day get no hour/minute features
    assert "visit_day__hour" not in row.loc["visit_day", "features"]
    assert row.loc["notes", "features"] == ("notes__n_chars", "notes__n_words")
    assert row.loc["unused", "missing_fraction"] == 1.0
    assert row.loc["patient", "n_distinct"] == N
    assert row.loc["smoker", "n_distinct"] == 2
    # the learners' frame holds exactly the features, all numeric or string
    assert list(frame.columns) == schema.features
    assert set(schema.feature_types.categorical) == {"smoker", "ward"}
    assert not {"unused", "site", "patient", "notes"} & set(frame.columns)
    numeric = frame[list(schema.feature_types.numeric)]
    assert (numeric.dtypes == np.float64).all()
    # one warning per thing the user must know
    text = " | ".join(messages)
    for expected in [
        "all-missing column(s): 'unused'",
        "constant column(s) (one value in every row): 'site'",
        "free-text column(s)",
        "identifier-like column(s)",
        "'row' hold a different integer",
    ]:
        assert expected in text


def test_datetime_features_are_calendar_values(real_world):
    _schema, frame, _ = _learn(real_world)
    visit = real_world["visit"]
    np.testing.assert_array_equal(frame["visit__year"], visit.dt.year)
    np.testing.assert_array_equal(frame["visit__weekday"], visit.dt.day_of_week)
    np.testing.assert_array_equal(frame["visit__hour"], visit.dt.hour)
    np.testing.assert_array_equal(frame["visit__dayofyear"], visit.dt.day_of_year)
    days = (visit - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    np.testing.assert_allclose(frame["visit__timestamp"], days)
    # ISO strings give the same features as the datetime dtype
    parsed = pd.to_datetime(real_world["visit_day"])
    np.testing.assert_array_equal(frame["visit_day__month"], parsed.dt.month)
    np.testing.assert_array_equal(frame["visit_day__day"], parsed.dt.day)
    # text becomes its length and word count
    notes = real_world["notes"]
    np.testing.assert_array_equal(frame["notes__n_chars"], notes.str.len())
    np.testing.assert_array_equal(frame["notes__n_words"], notes.str.split().str.len())


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["2023", "2024", "2022"] * 10, "numeric"),  # years as codes
        (["12", "7", "3"] * 10, "numeric"),
        (["2023-05", "2023-06", "2023-07"] * 10, "categorical"),  # no day
        (["20230105", "20230106", "20230107"] * 10, "numeric"),  # compact form
        (["05/01/2023", "06/01/2023", "07/01/2023"] * 10, "categorical"),
        (["2023-01-05", "2023-01-06", "2023-01-07"] * 10, "datetime"),
        (["2023-01-05T10:00:00Z", "2023-01-06 11:30+02:00", None] * 10, "datetime"),
        (["New York", "Los Angeles", "San Francisco Bay"] * 10, "categorical"),
        ([True, False, None] * 10, "boolean"),
        ([1.5, 1.5, np.nan] * 10, "numeric"),  # one value + gaps: gaps inform
        ([np.nan] * 30, "empty"),
        ([None] * 30, "empty"),
        (["x"] * 30, "constant"),
        (list(np.linspace(0, 1, 30)), "numeric"),  # unique floats are measurements
        ([f"{i:03d}" for i in range(30)], "id"),  # numeric-looking string codes
        ([f"user{i}" for i in range(30)], "id"),
        ([f"user{i}" for i in range(19)], "categorical"),  # too few rows to tell
        ([f"user {i} likes the blue one" for i in range(30)], "text"),
        ([f"senior engineer grade {i}" for i in range(15)] * 2, "categorical"),
        ([f"user {i} likes it" for i in range(19)], "categorical"),  # 19 levels
        ([{"a": 1}, {"b": 2}, "x"] * 10, "categorical"),  # unhashable values
        (pd.Categorical([1, 2, 3] * 10), "categorical"),  # the dtype decides
        (pd.Categorical([f"c{i}" for i in range(30)]), "id"),
        (np.arange(30, dtype=np.int64), "id"),
        (np.arange(30.0), "numeric"),  # a float dtype is a measurement
        (pd.Series([1, 2, 3] * 10, dtype="Int64"), "numeric"),
        ([datetime.date(2023, 1, d) for d in range(1, 31)], "datetime"),
    ],
)
def test_kind_rules(values, kind):
    assert detect_kind(pd.Series(values, name="c")) == kind


def test_dates_must_be_mostly_iso_and_the_rest_become_missing():
    days = pd.date_range("2022-01-01", periods=40).strftime("%Y-%m-%d").tolist()
    assert detect_kind(pd.Series([*days[:-1], "unknown"])) == "datetime"  # 97.5 %
    assert detect_kind(pd.Series(days[:-3] + ["n/a"] * 3)) == "categorical"  # 92.5 %
    X = pd.DataFrame({"d": [*days[:-1], "unknown"], "v": np.arange(40.0) % 3})
    with pytest.warns(UserWarning, match=r"'d': 1 of 40 .*\['unknown'\].*missing"):
        _, frame = TableSchema.learn(X)
    assert frame["d__year"].isna().sum() == 1


def test_csv_round_trip_with_iso_dates(tmp_path, real_world):
    path = tmp_path / "table.csv"
    X = real_world.copy()
    X.loc[::9, "visit"] = pd.NaT
    X.to_csv(path, index=False)
    loaded = read_csv(path)
    assert not pd.api.types.is_datetime64_any_dtype(loaded["visit"])  # strings
    schema_csv, frame_csv, _ = _learn(loaded)
    schema_mem, frame_mem, _ = _learn(X)
    assert schema_csv.report()["kind"].tolist() == schema_mem.report()["kind"].tolist()
    visit = [c for c in frame_mem.columns if c.startswith("visit")]
    pd.testing.assert_frame_equal(frame_csv[visit], frame_mem[visit])
    assert frame_csv["visit__year"].isna().sum() == len(X.index[::9])
    # and the saved strings predict like the in-memory datetimes
    pd.testing.assert_frame_equal(
        schema_mem.transform(loaded.head(20))[visit], frame_mem.head(20)[visit]
    )


def test_timezone_aware_datetimes_use_the_fit_timezone():
    stamps = pd.date_range("2023-03-25 20:00", periods=48, freq="h", tz="Europe/Paris")
    X = pd.DataFrame({"t": stamps, "v": np.arange(48.0) % 5})
    schema, frame = TableSchema.learn(X)
    # Paris wall-clock time, across the daylight-saving change of 26 March
    np.testing.assert_array_equal(frame["t__hour"], stamps.hour)
    np.testing.assert_array_equal(frame["t__day"], stamps.day)
    assert (
        schema.report()
        .set_index("column")
        .loc["t", "note"]
        .startswith("dates in Europe/Paris")
    )
    # the same instants in another timezone, or as UTC strings, give the same rows
    in_utc = X.assign(t=X["t"].dt.tz_convert("UTC"))
    pd.testing.assert_frame_equal(schema.transform(in_utc), frame)
    as_text = X.assign(t=in_utc["t"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    pd.testing.assert_frame_equal(schema.transform(as_text), frame)
    # naive values are read as Paris wall-clock time
    naive = X.assign(t=X["t"].dt.tz_localize(None))
    pd.testing.assert_frame_equal(schema.transform(naive), frame)


def test_iso_strings_with_offsets_are_read_in_utc():
    X = pd.DataFrame(
        {
            "t": ["2023-06-01T23:30:00-05:00", "2023-06-02T01:00:00+02:00"] * 15,
            "v": np.arange(30.0),
        }
    )
    _, frame = TableSchema.learn(X)
    assert frame["t__day"].tolist()[:2] == [2.0, 1.0]  # 04:30Z on the 2nd, 23:00Z
    assert frame["t__hour"].tolist()[:2] == [4.0, 23.0]


def test_unparseable_dates_at_predict_time_become_missing_with_a_warning(real_world):
    schema, _frame, _ = _learn(real_world)
    new = real_world.head(4).copy()
    new["visit_day"] = ["2021-03-01", "01/03/2021", None, "soon"]
    with pytest.warns(UserWarning, match=r"'visit_day': 2 of 4 .*'01/03/2021'"):
        out = schema.transform(new)
    assert out["visit_day__year"].isna().tolist() == [False, True, True, True]
    assert out["visit_day__year"].iloc[0] == 2021


def test_predict_ignores_extra_columns_and_needs_the_used_ones(real_world):
    schema, frame, _ = _learn(real_world)
    shuffled = real_world[real_world.columns[::-1]].assign(order_id=7)
    with pytest.warns(UserWarning, match="not fit on: 'order_id'; they are ignored"):
        out = schema.transform(shuffled)
    pd.testing.assert_frame_equal(out, frame)
    # columns the model dropped are not needed at predict time
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = schema.transform(real_world.drop(columns=["patient", "unused", "site"]))
    pd.testing.assert_frame_equal(out, frame)
    with pytest.raises(ValueError, match="missing 'visit', 'ward'") as info:
        schema.transform(real_world.drop(columns=["ward", "visit"]))
    assert "'patient'" not in str(info.value)  # not asked for: it was dropped


def test_a_table_with_nothing_usable_is_rejected():
    X = pd.DataFrame({"a": [np.nan] * 30, "b": [1.0] * 30})
    with (
        pytest.warns(UserWarning, match="dropped"),
        pytest.raises(ValueError, match=r"no column of X can be used: 'a': every"),
    ):
        TableSchema.learn(X)


def test_single_row_keeps_its_columns():
    """One row is not "constant": scikit-learn's checks expect a one-sample error
    from the estimator, not an empty table."""
    _schema, frame = TableSchema.learn(np.array([[1.0, 2.0]]))
    assert list(frame.columns) == ["x0", "x1"]


def test_generated_names_do_not_clash_with_user_columns():
    days = pd.date_range("2022-01-01", periods=30)
    X = pd.DataFrame({"d": days, "d__year": np.arange(30.0) % 4})
    _schema, frame = TableSchema.learn(X)
    assert list(frame.columns).count("d__year") == 1
    assert "d__year_" in frame.columns
    np.testing.assert_array_equal(frame["d__year"], X["d__year"])


def test_schema_pickles_and_old_schemas_still_transform(real_world):
    schema, frame, _ = _learn(real_world)
    again = pickle.loads(pickle.dumps(schema))
    pd.testing.assert_frame_equal(again.transform(real_world), frame)
    # a schema saved before column kinds existed (only columns and categories)
    old = TableSchema.__new__(TableSchema)
    old.__setstate__(
        {"columns": ["a", "b"], "categories": {"b": frozenset({"x", "y"})}}
    )
    out = old.transform(pd.DataFrame({"b": ["x", None], "a": [1, 2]}))
    assert list(out.columns) == ["a", "b"]
    assert out["a"].dtype == np.float64 and out["b"].tolist()[0] == "x"
