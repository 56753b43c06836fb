"""Behaviour descriptors of QDO-ES: how diverse an ensemble's members are.

Two (K, K) matrices are computed once per fit, and an ensemble's descriptor is the
mean of a matrix over its member pairs (1 for a one-model ensemble; lower is more
diverse): the absolute Pearson correlation of the members' per-row losses, and the
Gower similarity of their configurations (Purucker, Schneider, Anastacio, Beel,
Bischl & Hoos 2023, "Q(D)O-ES: Population-based quality (diversity) optimisation
for post hoc ensemble selection in AutoML", AutoML Conf).

For regression the first descriptor is the **residual correlation**
(:func:`residual_correlation`): ``(1 + ρ) / 2`` with ρ the Pearson correlation of two
members' signed residuals ``ŷ_k − y``. The class-probability loss ``1 − p_k(y)`` does
not exist there, and residuals are what averaging acts on: by the ambiguity
decomposition (Krogh & Vedelsby 1995, "Neural network ensembles, cross validation,
and active learning", NIPS 7), the squared error of an average falls with the
covariance of its members' errors, and for two members with equal error variance σ²
the average's error variance is exactly ``σ² (1 + ρ) / 2``, the descriptor itself.
Signed, not absolute: anti-correlated residuals cancel and are the most diverse
pair (descriptor 0), while the classification descriptor's absolute value would
call them as alike as identical models. A model's correlation with itself is 1, so
the one-model convention (descriptor 1) holds by construction.

With sample weights both correlations are weighted (weighted means and covariances),
so a row of weight 0 plays no part and integer weights act as repeated rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse
from threadpoolctl import threadpool_limits

__all__ = [
    "config_similarity",
    "ensemble_descriptors",
    "loss_correlation",
    "residual_correlation",
]

# A loss vector whose standard deviation is below this is treated as constant (its
# correlations are undefined; they count as 0).
_CONSTANT_STD = 1e-6


def loss_correlation(
    P: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """|Pearson correlation| (K, K) of the models' per-row losses ``1 - p_k(y_i)``,
    weighted by ``sample_weight`` when given.

    Constant loss vectors correlate 0 with everything. The diagonal is 0 (unused: a
    one-model ensemble's descriptor is defined as 1).
    """
    losses = 1.0 - np.take_along_axis(P, y[None, :, None], axis=2)[..., 0]
    corr = np.abs(
        _correlation(losses.astype(np.float32, copy=False), weight=sample_weight)
    )
    np.clip(corr, 0.0, 1.0, out=corr)
    np.fill_diagonal(corr, 0.0)
    return corr


def residual_correlation(
    P: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """``(1 + ρ) / 2`` (K, K) for ρ the (weighted, with ``sample_weight``) Pearson
    correlation of the models' signed residuals ``P[k, :, 0] - y`` (regression; see
    the module docstring).

    Residuals are formed in float64 (the target may sit far from zero) and centred
    before the float32 product. A constant residual vector (a model off by a constant,
    or exact) correlates 0 with everything (descriptor 0.5). The diagonal is 0
    (unused: a one-model ensemble's descriptor is defined as 1).
    """
    residuals = P[:, :, 0].astype(np.float64) - y[None, :]
    if sample_weight is None:
        residuals -= residuals.mean(axis=1, keepdims=True)
        # "Constant" relative to the target's spread (residuals have its units).
        spread = float(np.std(y))
    else:
        a = sample_weight / sample_weight.sum()
        residuals -= (residuals @ a)[:, None]
        spread = float(np.sqrt(((y - y @ a) ** 2) @ a))
    floor = _CONSTANT_STD * (spread if spread > 0.0 else 1.0)
    corr = _correlation(residuals.astype(np.float32), floor, sample_weight)
    out = (1.0 + corr) / 2.0
    np.clip(out, 0.0, 1.0, out=out)
    np.fill_diagonal(out, 0.0)
    return out


def _correlation(
    losses: np.ndarray,
    floor: float = _CONSTANT_STD,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Pearson correlation (K, K) float64 of the rows of a float32 (K, N) array,
    weighted over the columns by ``weight`` when given; rows whose (weighted)
    standard deviation is at most ``floor`` correlate 0 with everything, themselves
    included."""
    if weight is None:
        mean = losses.mean(axis=1, dtype=np.float64)
        centred = losses - mean[:, None].astype(np.float32)
    else:
        # Columns scaled by sqrt(N * a_i): the norm is then sqrt(N) times the
        # weighted standard deviation, as the unweighted norm is.
        a = weight / weight.sum()
        mean = losses.astype(np.float64) @ a
        centred = losses - mean[:, None].astype(np.float32)
        centred *= np.sqrt(a * losses.shape[1]).astype(np.float32)
    norm = np.sqrt(np.einsum("ij,ij->i", centred, centred, dtype=np.float64))
    constant = norm <= floor * math.sqrt(max(1, losses.shape[1]))
    scale = np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, norm))
    centred *= scale[:, None].astype(np.float32)
    # One BLAS thread: on 2 cores OpenBLAS's threads made this product 15x slower.
    with threadpool_limits(1, user_api="blas"):
        return (centred @ centred.T).astype(np.float64)


_MISSING = object()


def config_similarity(configs: list[dict[str, Any]]) -> np.ndarray:
    """Gower similarity (K, K) of the models' configurations.

    Per pair, over the hyperparameters both configs set, plus the learner name (a
    categorical shared by all, as the algorithm choice is in the paper's
    configuration space): a categorical value scores 1 if equal else 0, numeric
    values ``1 - |a - b| / range`` with the range over all K models (1 when the range
    is 0); the pair's similarity is the mean over those keys.
    """
    learners: list[Any] = []
    params: list[Mapping[str, Any]] = []
    for i, config in enumerate(configs):
        if not isinstance(config, Mapping) or not isinstance(
            config.get("params", {}), Mapping
        ):
            raise ValueError(
                f"configs[{i}] must be a dict like {{'learner': str, 'params': dict}}, "
                f"got {config!r}."
            )
        learners.append(config.get("learner"))
        params.append(config.get("params", {}))
    n_models = len(configs)
    keys = sorted({key for p in params for key in p}, key=str)
    columns = [learners] + [[p.get(key, _MISSING) for p in params] for key in keys]

    total = np.zeros((n_models, n_models), dtype=np.float64)
    shared = np.zeros((n_models, n_models), dtype=np.float64)
    for values in columns:
        present = np.array([v is not _MISSING for v in values])
        numeric = np.array([_is_number(v) for v in values])
        x = np.array(
            [float(v) if num else 0.0 for v, num in zip(values, numeric, strict=True)]
        )
        codes = _category_codes(values)
        sim = (codes[:, None] == codes[None, :]).astype(np.float64)
        if numeric.sum() >= 2:
            span = float(x[numeric].max() - x[numeric].min())
            both = numeric[:, None] & numeric[None, :]
            if span > 0:
                close = 1.0 - np.abs(x[:, None] - x[None, :]) / span
            else:
                close = np.ones_like(sim)
            sim = np.where(both, close, sim)
        pair = present[:, None] & present[None, :]
        total += np.where(pair, sim, 0.0)
        shared += pair
    out = total / np.maximum(shared, 1.0)
    np.clip(out, 0.0, 1.0, out=out)
    np.fill_diagonal(out, 0.0)
    return out


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(float(value))
    )


def _category_codes(values: list[Any]) -> np.ndarray:
    """Integer codes with equal codes for equal values (unhashable ones by repr)."""
    table: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        key: tuple[Any, ...] = ("v", type(value).__name__, value)
        try:
            hash(key)
        except TypeError:
            key = ("r", repr(value))
        codes[i] = table.setdefault(key, len(table))
    return codes


def ensemble_descriptors(counts: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Mean of ``matrix`` over the member pairs of each count vector; 1 for one member.

    ``counts`` (b, K), ``matrix`` (K, K) with a zero diagonal. Unweighted: only which
    models are members matters. Vectorised over the batch.
    """
    return _pair_means(counts > 0, [matrix])[:, 0]


def _pair_means(members: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """(b, len(matrices)) descriptors of the member masks ``members`` (b, K)."""
    mask = members.astype(np.float64)
    # Sparse: a small dense product would wake BLAS threads, which cost more here.
    sparse = _csr(mask)
    m = mask.sum(axis=1)
    pairs = m * (m - 1.0)
    many = pairs > 0
    out = np.ones((mask.shape[0], len(matrices)), dtype=np.float64)
    for j, matrix in enumerate(matrices):
        pair_sum = ((sparse @ matrix) * mask).sum(axis=1)
        out[many, j] = pair_sum[many] / pairs[many]
    return np.clip(out, 0.0, 1.0)


def _csr(dense: np.ndarray, dtype: type = np.float64) -> scipy.sparse.csr_array:
    """CSR copy of a small dense (b, K) matrix, built from its non-zero triples."""
    rows, cols = np.nonzero(dense)
    indptr = np.searchsorted(rows, np.arange(dense.shape[0] + 1))
    data = dense[rows, cols].astype(dtype)
    return scipy.sparse.csr_array((data, cols, indptr), shape=dense.shape)
