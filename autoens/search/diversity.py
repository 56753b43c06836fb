"""Pairwise diversity of OOF predictions (the measure of DivBO, Shen et al. 2022).

Classification (class probabilities), the paper's measure:

    D(a, b) = mean over rows x of ||p_a(x) - p_b(x)||_2 / sqrt(2)

label-free and symmetric, zero for identical predictions and at most 1 for
probability rows (the L2 distance of two points of the simplex is at most sqrt(2)).

Regression (one value per row), on the residuals r = f - y over the rows:

    D(a, b) = (1 - cos(r_a, r_b)) / 2,   cos = <r_a, r_b> / (||r_a|| ||r_b||)

one minus the (uncentred) correlation of the residuals, scaled to [0, 1]: 0 when the
errors point the same way (identical or proportional models), 1/2 when they are
orthogonal, 1 when they cancel. Why this one: the squared error of the average of a
and b is (||r_a||^2 + ||r_b||^2 + 2 <r_a, r_b>) / (4 n), so for given accuracies the
cross term -- the covariance term of Ueda & Nakano's (1996) bias-variance-covariance
decomposition -- is all a pair's diversity changes, and cos is that term freed of the
two accuracies and of the target's scale (which EI already accounts for). Uncentred,
so opposite biases count as cancelling errors. The ambiguity term of Krogh & Vedelsby
(1995), mean (f_a - f_b)^2, would instead grow with either model's own error (a
far-off model looks diverse) and with the target's units. A perfect model (r = 0) is
orthogonal to every other (D = 1/2).

:class:`DiversityMatrix` grows one row per observation, so a search of N models pays
O(N * rows * outputs) per new model rather than recomputing N^2 pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

__all__ = ["DiversityMatrix", "diversity", "gaussian_rank", "residual_diversity"]

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


def residual_diversity(
    R: np.ndarray, r: np.ndarray, norms: np.ndarray | None = None
) -> np.ndarray:
    """D between the residuals of each model of ``R`` (n_models, n_rows) and ``r``
    (n_rows,): (1 - cos) / 2 as float64 (n_models,). ``norms`` may pass the rows'
    L2 norms of ``R`` when they are known (the matrix keeps them)."""
    R = np.asarray(R, dtype=np.float32)
    r = np.asarray(r, dtype=np.float32)
    if R.ndim != 2 or r.shape != R.shape[1:]:
        raise ValueError(
            f"residual_diversity needs R of shape (n_models, n_rows) and r of shape "
            f"(n_rows,); got {R.shape} and {r.shape}"
        )
    if norms is None:
        norms = np.sqrt(np.einsum("mr,mr->m", R, R, dtype=np.float64))
    denom = np.asarray(norms, dtype=np.float64) * np.linalg.norm(r.astype(np.float64))
    dots = (R @ r).astype(np.float64)
    cos = np.divide(dots, denom, out=np.zeros_like(denom), where=denom > 0)
    return np.clip((1.0 - cos) / 2.0, 0.0, 1.0)


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
    """Symmetric D over a growing set of models, on a fixed subset of OOF rows.

    Without ``target`` D is the probability measure :func:`diversity`; with the
    (full-length) regression ``target`` it is :func:`residual_diversity` of the
    residuals ``oof[:, 0] - target`` on the same rows.
    """

    def __init__(
        self, rows: np.ndarray | None = None, *, target: np.ndarray | None = None
    ) -> None:
        self.rows = rows  # indices of the OOF rows used, or None for all
        self._y: np.ndarray | None = None  # the target on those rows (regression)
        if target is not None:
            y = np.asarray(target, dtype=np.float64)
            self._y = y if rows is None else y[rows]
        self._P: np.ndarray | None = None  # (capacity, n_rows, n_outputs) float32
        self._R: np.ndarray | None = None  # (capacity, n_rows) residuals, float32
        self._norms = np.zeros(0, dtype=np.float64)  # their L2 norms
        self._D = np.zeros((0, 0), dtype=np.float64)
        self.n = 0

    @property
    def matrix(self) -> np.ndarray:
        """The (n, n) matrix of D between the models added so far (a view)."""
        return self._D[: self.n, : self.n]

    @property
    def predictions(self) -> np.ndarray:
        """The (n, n_rows, n_outputs) subsampled predictions added so far (a view)."""
        if self._P is None:
            return np.zeros((0, 0, 0), dtype=np.float32)
        return self._P[: self.n]

    def add(self, oof: np.ndarray) -> int:
        """Add one model's OOF predictions; return its index."""
        p = np.asarray(oof, dtype=np.float32)
        if self.rows is not None:
            p = p[self.rows]
        if self._y is not None and (p.ndim != 2 or p.shape != (len(self._y), 1)):
            raise ValueError(
                f"regression predictions must have shape ({len(self._y)}, 1) on the "
                f"target's rows; got {p.shape}"
            )
        if self._P is None:
            self._grow(p.shape, 8)
        elif p.shape != self._P.shape[1:]:
            raise ValueError(
                f"predictions of shape {p.shape} do not match the earlier "
                f"{self._P.shape[1:]}"
            )
        if self.n == len(self._P):  # grow by doubling: amortised O(1) copies
            self._grow(p.shape, 2 * self.n)
        i = self.n
        self._P[i] = p
        if self._y is None:
            d = diversity(self._P[:i], p) if i else np.zeros(0)
        else:
            residual = p[:, 0].astype(np.float64) - self._y
            self._R[i] = residual
            self._norms[i] = np.linalg.norm(residual)
            d = residual_diversity(self._R[:i], self._R[i], self._norms[:i])
        self._D[i, :i] = d
        self._D[:i, i] = d
        self._D[i, i] = 0.0
        self.n += 1
        return i

    def _grow(self, shape: tuple[int, ...], capacity: int) -> None:
        """Reallocate the buffers for ``capacity`` models, keeping the first n."""
        n = self.n
        P = np.empty((capacity, *shape), dtype=np.float32)
        D = np.zeros((capacity, capacity), dtype=np.float64)
        if self._P is not None:
            P[:n] = self._P[:n]
            D[:n, :n] = self._D[:n, :n]
        self._P, self._D = P, D
        if self._y is not None:
            R = np.empty((capacity, shape[0]), dtype=np.float32)
            norms = np.zeros(capacity, dtype=np.float64)
            if self._R is not None:
                R[:n] = self._R[:n]
                norms[:n] = self._norms[:n]
            self._R, self._norms = R, norms
