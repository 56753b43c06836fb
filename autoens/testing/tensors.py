"""Synthetic prediction tensors that look like a real search library (no model fit)."""

from __future__ import annotations

import numpy as np

__all__ = ["make_prediction_tensor", "make_regression_tensor"]


def make_prediction_tensor(
    n_models: int = 10,
    n_samples: int = 200,
    n_classes: int = 2,
    *,
    random_state: int | np.random.Generator | None = 0,
    quality_spread: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic OOF predictions: ``P`` float32 (n_models, n_samples, n_classes), ``y``.

    The models look like a real search library: they share the task's irreducible noise
    and, within a "family" of three, a family error (so they are correlated), differ in
    strength by a factor up to ``exp(quality_spread)`` and in calibration, and every
    third model outputs a few distinct, smoothed leaf-like values (so scores tie, as
    trees' do). Classes are imbalanced but all present. Rows sum to one.
    """
    if n_models < 1 or n_classes < 2 or n_samples < n_classes:
        raise ValueError(
            "need n_models >= 1, n_classes >= 2 and n_samples >= n_classes; got "
            f"{n_models}, {n_classes}, {n_samples}."
        )
    rng = np.random.default_rng(random_state)
    priors = rng.dirichlet(np.full(n_classes, 4.0))
    y = rng.choice(n_classes, size=n_samples, p=priors)
    y[:n_classes] = np.arange(n_classes)
    y = rng.permutation(y)

    signal = 2.0 * np.eye(n_classes)[y]
    shared = rng.normal(0.0, 1.0, size=(n_samples, n_classes))
    n_families = -(-n_models // 3)
    family = rng.normal(0.0, 1.0, size=(n_families, n_samples, n_classes))
    strength = np.exp(-quality_spread * rng.uniform(0.0, 1.0, size=n_models))
    temperature = rng.uniform(0.6, 1.6, size=n_models)

    P = np.empty((n_models, n_samples, n_classes), dtype=np.float32)
    for k in range(n_models):
        own = rng.normal(0.0, 1.0, size=(n_samples, n_classes))
        logits = strength[k] * signal + shared + 0.7 * family[k // 3] + 0.7 * own
        logits /= temperature[k]
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        if k % 3 == 2:  # leaf-like: counts out of 10 with Laplace smoothing
            proba = np.round(proba * 10.0) + 1.0
            proba /= proba.sum(axis=1, keepdims=True)
        P[k] = proba
    return P, y.astype(np.int64)


def make_regression_tensor(
    n_models: int = 10,
    n_samples: int = 200,
    *,
    random_state: int | np.random.Generator | None = 0,
    quality_spread: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic OOF regression predictions: ``P`` float32 (n_models, n_samples, 1)
    and ``y`` float64 (n_samples,).

    Like a real search library: the target is a signal plus irreducible noise, on a
    random offset and scale (the numbers are not standardised); every model misses
    the noise (so residuals are correlated) and, within a "family" of three, shares a
    family error; models differ in accuracy by a factor up to ``exp(quality_spread)``,
    in shrinkage towards the mean (regularised models under-predict extremes) and in
    bias; every third model predicts a few distinct leaf-like values (piecewise
    constant, as trees do), so predictions tie.
    """
    if n_models < 1 or n_samples < 2:
        raise ValueError(
            f"need n_models >= 1 and n_samples >= 2; got {n_models}, {n_samples}."
        )
    rng = np.random.default_rng(random_state)
    offset = rng.normal(0.0, 50.0)
    scale = float(np.exp(rng.uniform(-1.0, 3.0)))
    signal = rng.normal(0.0, 1.0, size=n_samples)
    noise = 0.4 * rng.normal(0.0, 1.0, size=n_samples)
    y = offset + scale * (signal + noise)

    n_families = -(-n_models // 3)
    family = rng.normal(0.0, 1.0, size=(n_families, n_samples))
    error = 0.3 * np.exp(quality_spread * rng.uniform(0.0, 1.0, size=n_models))
    shrink = rng.uniform(0.7, 1.05, size=n_models)
    bias = rng.normal(0.0, 0.1, size=n_models)
    P = np.empty((n_models, n_samples, 1), dtype=np.float32)
    for k in range(n_models):
        own = rng.normal(0.0, 1.0, size=n_samples)
        z = shrink[k] * signal + error[k] * (0.7 * family[k // 3] + 0.7 * own)
        if k % 3 == 2:  # leaf-like: the mean of z over 12 quantile bins
            edges = np.quantile(z, np.linspace(0.0, 1.0, 13)[1:-1])
            leaf = np.searchsorted(edges, z)
            means = np.bincount(leaf, weights=z, minlength=12)
            z = (means / np.maximum(np.bincount(leaf, minlength=12), 1))[leaf]
        P[k, :, 0] = offset + scale * (z + bias[k])
    return P, y
