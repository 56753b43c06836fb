"""Shared fixtures: small real datasets from scikit-learn's bundled sets."""

from __future__ import annotations

import signal

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

# A test run started in the background of a non-interactive shell (`cmd &`) inherits
# SIGINT ignored (POSIX), and so would the child processes that the Ctrl-C tests
# interrupt: they would never see their Ctrl-C. Handle it as a terminal does; a
# handled signal is back to its default in a child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# A fit that takes a few seconds: two fast learners, three trials, two folds.


@pytest.fixture(scope="session")
def binary_data() -> tuple[pd.DataFrame, pd.Series]:
    """Breast cancer (numeric), 300 rows, labels as strings."""
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:300, :8].reset_index(drop=True)
    y = pd.Series(np.where(data.target[:300] == 1, "benign", "malignant"), name="y")
    return X, y


@pytest.fixture(scope="session")
def mixed_data() -> tuple[pd.DataFrame, pd.Series]:
    """Breast cancer with categorical (str, bool) columns and missing values."""
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:300, :6].reset_index(drop=True)
    rng = np.random.default_rng(0)
    X["size"] = pd.cut(X["mean area"], 4, labels=["s", "m", "l", "xl"]).astype(object)
    X["smooth"] = X["mean smoothness"] > X["mean smoothness"].median()
    X.loc[rng.choice(300, 30, replace=False), "mean radius"] = np.nan
    X.loc[rng.choice(300, 20, replace=False), "size"] = None
    y = pd.Series(data.target[:300].to_numpy(), name="y")
    return X, y


@pytest.fixture(scope="session")
def multiclass_data() -> tuple[pd.DataFrame, np.ndarray]:
    """Wine: 178 rows, 3 classes."""
    data = load_wine(as_frame=True)
    return data.data, data.target.to_numpy()
