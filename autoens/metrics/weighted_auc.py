"""The weighted ROC AUC: the Mann–Whitney statistic with row weights.

With weights, a (negative j, positive i) pair counts ``w_i w_j`` (half of it when the
scores tie), and the AUC is the counted weight over ``W_pos · W_neg``: exactly the
trapezoidal area under scikit-learn's weighted ROC curve
(``roc_auc_score(..., sample_weight=w)``), ties included.

The unweighted AUC (:mod:`autoens.metrics.classification`) sorts integer keys and
never needs to know which row landed where; weights do, so here the row index rides
in the low bits of an int64 key (score bits, then the label bit, then the index), and
one integer sort still orders every candidate's rows by score with negatives before
positives inside a tie. After the sort, per candidate and sorted
position, the cumulative negative weight ``U`` counts everything ranked at or below
(ties included, since a tie's negatives come first), so ``Σ_pos w_i U_i`` counts
every tied pair fully. Each *mixed* tie group (a negative and a positive of equal
score) then gives back half of ``W_neg,g · W_pos,g``: such a group shows as sorted
neighbours whose (score, label) keys differ by the label bit alone (its last negative
and first positive), and its extent is found by binary search, so the cost grows
with the number of mixed groups, not with the row length. All passes are vectorised
over candidates and rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["weighted_auc"]


def weighted_auc(scores: np.ndarray, label: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC of each row of ``scores`` (k, N) against 0/1 ``label`` (N,).

    ``scores`` are finite float32 (higher means positive), ``w`` (N,) non-negative
    float64 weights with positive total weight in both classes. Returns (k,) float64.
    """
    n_samples = scores.shape[1]
    index_bits = max(1, (n_samples - 1).bit_length())
    if index_bits > 30:
        raise ValueError("the weighted ROC AUC handles at most 2**30 rows.")
    # Order-preserving int32 image of any finite float32 (-0.0 joins +0.0).
    bits = (np.ascontiguousarray(scores, dtype=np.float32) + np.float32(0.0)).view(
        np.int32
    )
    bits ^= (bits >> 31) & 0x7FFFFFFF
    keys = bits.astype(np.int64) << (index_bits + 1)
    keys |= (label.astype(np.int64) << index_bits) | np.arange(
        n_samples, dtype=np.int64
    )
    keys.sort(axis=1)

    order = keys & ((1 << index_bits) - 1)
    is_pos = label.astype(bool)
    neg = np.where(is_pos, 0.0, w)[order]
    pos = np.where(is_pos, w, 0.0)[order]
    upto = np.cumsum(neg, axis=1)  # U: negative weight ranked at or below
    pairs = (pos * upto).sum(axis=1)
    score_label = keys >> index_bits  # sorted per row
    boundary = np.flatnonzero((score_label[:, 1:] ^ score_label[:, :-1]) == 1)
    if boundary.size:
        pairs -= 0.5 * _mixed_tie_pairs(score_label, neg, pos, upto, boundary)
    w_pos = float(w @ label)
    w_neg = float(w.sum()) - w_pos
    return pairs / (w_pos * w_neg)


def _mixed_tie_pairs(
    score_label: np.ndarray,
    neg: np.ndarray,
    pos: np.ndarray,
    upto: np.ndarray,
    boundary: np.ndarray,
) -> np.ndarray:
    """Per row: the sum over mixed tie groups of ``W_neg,g · W_pos,g``.

    ``boundary`` holds flat indices (into the (k, N - 1) neighbour pairs) of each
    group's last negative; its negatives are the run of that key ending there, its
    positives the run of key + 1 after it. One binary search over all rows laid end
    to end (each shifted past the key range of the previous one) finds both ends.
    """
    n_rows, n_samples = score_label.shape
    rows, last_neg = np.divmod(boundary, n_samples - 1)
    # Keys lie in [-2**32, 2**32): shifting row r by r * 2**35 + 2**34 sorts the whole.
    offset = (np.arange(n_rows, dtype=np.int64) << 35) + (1 << 34)
    flat = (score_label + offset[:, None]).ravel()
    query = score_label[rows, last_neg] + offset[rows]
    base = rows * n_samples
    first_neg = np.searchsorted(flat, query, side="left") - base
    stop = np.searchsorted(flat, query + 1, side="right") - base
    w_neg = upto[rows, last_neg] - upto[rows, first_neg] + neg[rows, first_neg]
    cum_pos = np.cumsum(pos, axis=1)
    w_pos = cum_pos[rows, stop - 1] - cum_pos[rows, last_neg]
    return np.bincount(rows, weights=w_neg * w_pos, minlength=n_rows)
