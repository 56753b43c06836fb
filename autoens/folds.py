"""The fixed cross-validation splits every candidate shares.

An out-of-fold (OOF) prediction of a configuration means: for each fold, a model fit on
the other folds predicts that fold. Selectors compare candidates row by row, so every
candidate must see exactly the same splits; that is why one ``Folds`` object is built
per ``fit`` (by the task, which knows whether to stratify) and why its fingerprint
(data + target + splits, and the row weights when a fit has them: weighted folds fit
different models) keys the prediction cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Folds"]


@dataclass(frozen=True)
class Folds:
    """Seeded k-fold splits plus a fingerprint of (data, target, splits)."""

    splits: tuple[tuple[np.ndarray, np.ndarray], ...]
    fingerprint: str

    @property
    def n_splits(self) -> int:
        return len(self.splits)

    @classmethod
    def from_splits(
        cls,
        X: pd.DataFrame,
        y: np.ndarray,
        splits: Iterable[tuple[np.ndarray, np.ndarray]],
        sample_weight: np.ndarray | None = None,
    ) -> Folds:
        """Freeze ``(train, test)`` index pairs of the rows of ``X`` and ``y``.

        ``sample_weight`` (validated float64 row weights, or None) only enters the
        fingerprint: without weights it is what it always was, so caches stay valid.
        """
        frozen = tuple(
            (np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64))
            for tr, te in splits
        )
        return cls(splits=frozen, fingerprint=_fingerprint(X, y, frozen, sample_weight))

    def test_fold_of(self, n_samples: int) -> np.ndarray:
        """Fold index of each row (the fold in which it is predicted)."""
        out = np.empty(n_samples, dtype=np.int64)
        for i, (_, te) in enumerate(self.splits):
            out[te] = i
        return out


def _fingerprint(
    X: pd.DataFrame,
    y: np.ndarray,
    splits: tuple[tuple[np.ndarray, np.ndarray], ...],
    sample_weight: np.ndarray | None = None,
) -> str:
    h = hashlib.sha256()
    h.update(repr([(c, str(X[c].dtype)) for c in X.columns]).encode())
    h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    y = np.asarray(y)
    if y.dtype.kind in "iub":
        # Class indices: hashed as int64, as every release so far did, so that
        # existing disk caches stay valid.
        h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    else:
        h.update(f"target:{y.dtype.str}".encode())
        h.update(np.ascontiguousarray(y).tobytes())
    for _, te in splits:
        h.update(te.tobytes())
        h.update(b"|")
    if sample_weight is not None:
        h.update(b"sample_weight:")
        h.update(np.ascontiguousarray(sample_weight, dtype=np.float64).tobytes())
    return h.hexdigest()
