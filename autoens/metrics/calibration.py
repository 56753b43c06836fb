"""How well predicted probabilities match observed frequencies.

The expected calibration error (ECE; Naeini, Cooper and Hauskrecht 2015, "Obtaining
well calibrated probabilities using Bayesian binning"; the top-class form of Guo et al.
2017, "On calibration of modern neural networks") is not a selection loss: it does not
rank ensembles by how useful they are (a constant prior has ECE near 0), so it is a
report, not a :class:`~autoens.metrics.Metric`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["expected_calibration_error"]


def expected_calibration_error(
    y: Any, proba: Any, *, n_bins: int = 15, sample_weight: Any = None
) -> float:
    """ECE of class probabilities: the (weighted) mean gap between confidence and
    accuracy over ``n_bins`` equal-width bins of the top-class confidence.

    ``y``: (n,) class indices; ``proba``: (n, n_classes) probability rows. A row falls
    in bin ``m`` when its confidence lies in ``((m - 1) / n_bins, m / n_bins]`` (a
    confidence of 0 joins the first bin). ``ECE = sum_m (w_m / w) |acc_m - conf_m|``
    with ``w_m`` the weight of the rows in bin ``m`` (their count without weights).
    """
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != y.shape[0]:
        raise ValueError(
            f"proba must have shape (n_samples, n_classes) with one row per label; "
            f"got proba {proba.shape} for {y.shape[0]} labels"
        )
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    w = (
        np.ones(len(y))
        if sample_weight is None
        else np.asarray(sample_weight, dtype=np.float64)
    )
    if w.shape != y.shape or (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            "sample_weight must hold one non-negative weight per row with a "
            "positive sum"
        )
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    weight = np.bincount(bins, weights=w, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=w * confidence, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=w * correct, minlength=n_bins)
    # |acc_m - conf_m| * w_m = |acc_sum_m - conf_sum_m|: no division by empty bins.
    return float(np.abs(acc_sum - conf_sum).sum() / weight.sum())
