"""The fixed cross-validation splits every candidate shares, and label encoding.

An out-of-fold (OOF) prediction of a configuration means: for each fold, a model fit on
the other folds predicts that fold. Selectors compare candidates row by row, so every
candidate must see exactly the same splits; that is why one ``Folds`` object is built
per ``fit`` and why its fingerprint (data + splits) keys the prediction cache.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import assert_all_finite
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

logger = logging.getLogger("autoens")


def encode_labels(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(classes, y_encoded)``: sorted classes, labels as int64 indices."""
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None")
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) == 0:
        raise ValueError("y is empty: fit needs at least one labelled row per class")
    if y.dtype.kind == "f":
        assert_all_finite(
            y, input_name="y"
        )  # sklearn's wording: "Input y contains NaN"
    elif pd.isna(pd.Series(y)).any():
        raise ValueError("Input y contains missing values (None/NaN); drop those rows")
    check_classification_targets(y)
    classes, encoded = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"y has only one class ({classes[0]!r}); a classifier needs at least "
            "2 classes"
        )
    return classes, encoded.astype(np.int64)


@dataclass(frozen=True)
class Folds:
    """Stratified, seeded k-fold splits plus a fingerprint of (data, labels, splits)."""

    splits: tuple[tuple[np.ndarray, np.ndarray], ...]
    fingerprint: str

    @property
    def n_splits(self) -> int:
        return len(self.splits)

    @classmethod
    def build(
        cls, X: pd.DataFrame, y: np.ndarray, *, n_splits: int, random_state: int
    ) -> Folds:
        """Build the splits.

        A class rarer than ``n_splits`` is fine (stratification spreads its rows, so
        every training fold still sees it); a class with a single row leaves one
        training fold without it, which the OOF alignment in ``evaluate.py`` handles,
        so we only log it.
        """
        counts = np.bincount(y)
        singletons = np.flatnonzero(counts == 1)
        if len(singletons):
            logger.warning(
                "class indices %s have a single sample: the fold that predicts it is "
                "trained without that class",
                singletons.tolist(),
            )
        splitter = StratifiedKFold(
            n_splits=n_splits, shuffle=True, random_state=random_state
        )
        with warnings.catch_warnings():
            # sklearn warns when a class has fewer members than folds; see above.
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            splits = tuple(
                (tr.astype(np.int64), te.astype(np.int64))
                for tr, te in splitter.split(np.zeros(len(y)), y)
            )
        return cls(splits=splits, fingerprint=_fingerprint(X, y, splits))

    def test_fold_of(self, n_samples: int) -> np.ndarray:
        """Fold index of each row (the fold in which it is predicted)."""
        out = np.empty(n_samples, dtype=np.int64)
        for i, (_, te) in enumerate(self.splits):
            out[te] = i
        return out


def _fingerprint(
    X: pd.DataFrame, y: np.ndarray, splits: tuple[tuple[np.ndarray, np.ndarray], ...]
) -> str:
    h = hashlib.sha256()
    h.update(repr([(c, str(X[c].dtype)) for c in X.columns]).encode())
    h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    for _, te in splits:
        h.update(te.tobytes())
        h.update(b"|")
    return h.hexdigest()
