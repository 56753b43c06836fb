"""Pairwise diversity of OOF predictions (the measure of DivBO, Shen et al. 2022).

    D(a, b) = mean over rows x of ||p_a(x) - p_b(x)||_2 / sqrt(2)

The measure is label-free and symmetric, zero for identical predictions and at most 1
for probability rows (the L2 distance of two points of the simplex is at most
sqrt(2)). :class:`DiversityMatrix` grows one row per observation, so a search of N
models pays O(N * rows * classes) per new model rather than recomputing N^2 pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

__all__ = ["DiversityMatrix", "diversity", "gaussian_rank"]

_SQRT2 = np.float32(np.sqrt(2.0))


def diversity(P: np.ndarray, q: np.ndarray) -> np.ndarray:
    """D between each model of ``P`` (n_models, n_rows, n_classes) and ``q``
    (n_rows, n_classes), as float64 (n_models,)."""
    P = np.asarray(P, dtype=np.float32)
    q = np.asarray(q, dtype=np.float32)
    if P.ndim != 3 or q.shape != P.shape[1:]:
        raise ValueError(
            f"diversity needs P of shape (n_models, n_rows, n_classes) and q of shape "
            f"(n_rows, n_classes); got {P.shape} and {q.shape}"
        )
    diff = P - q[None]
    dist = np.sqrt(np.einsum("mrc,mrc->mr", diff, diff))
    return (dist.mean(axis=1, dtype=np.float64) / _SQRT2).astype(np.float64)


def gaussian_rank(values: np.ndarray) -> np.ndarray:
    """Gaussian copula transform: Phi^-1 of the empirical CDF (ties share a rank).

    Makes the diversity surrogate's targets roughly normal whatever the scale of D.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return values
    ranks = rankdata(values, method="average")
    return ndtri(ranks / (values.size + 1.0))


class DiversityMatrix:
    """Symmetric D over a growing set of models, on a fixed subset of OOF rows."""

    def __init__(self, rows: np.ndarray | None = None) -> None:
        self.rows = rows  # indices of the OOF rows used, or None for all
        self._P: np.ndarray | None = None  # (capacity, n_rows, n_classes) float32
        self._D = np.zeros((0, 0), dtype=np.float64)
        self.n = 0

    @property
    def matrix(self) -> np.ndarray:
        """The (n, n) matrix of D between the models added so far (a view)."""
        return self._D[: self.n, : self.n]

    @property
    def predictions(self) -> np.ndarray:
        """The (n, n_rows, n_classes) subsampled predictions added so far (a view)."""
        if self._P is None:
            return np.zeros((0, 0, 0), dtype=np.float32)
        return self._P[: self.n]

    def add(self, oof: np.ndarray) -> int:
        """Add one model's OOF probabilities; return its index."""
        p = np.asarray(oof, dtype=np.float32)
        if self.rows is not None:
            p = p[self.rows]
        if self._P is None:
            self._P = np.empty((8, *p.shape), dtype=np.float32)
            self._D = np.zeros((8, 8), dtype=np.float64)
        elif p.shape != self._P.shape[1:]:
            raise ValueError(
                f"predictions of shape {p.shape} do not match the earlier "
                f"{self._P.shape[1:]}"
            )
        if self.n == len(self._P):  # grow by doubling: amortised O(1) copies
            grown = np.empty((2 * self.n, *p.shape), dtype=np.float32)
            grown[: self.n] = self._P
            self._P = grown
            D = np.zeros((2 * self.n, 2 * self.n), dtype=np.float64)
            D[: self.n, : self.n] = self._D[: self.n, : self.n]
            self._D = D
        i = self.n
        self._P[i] = p
        d = diversity(self._P[:i], p) if i else np.zeros(0)
        self._D[i, :i] = d
        self._D[:i, i] = d
        self._D[i, i] = 0.0
        self.n += 1
        return i
