"""Vectorised classification losses: log loss, Brier, error rates, ROC AUC.

Each loss agrees with scikit-learn's metric on the same float32 input: log loss and
Brier repeat its float32 arithmetic step for step (bit-identical), error rates are
exactly 1 - its (balanced) accuracy, and ROC AUC is an exact Mann–Whitney count (a tie
counts one half) that matches its trapezoidal area to ~1e-15.

Each has a weighted twin (``sample_weight``, as scikit-learn's metric with
``sample_weight=``): weighted means for log loss, Brier and the error rate, weighted
per-class recall for the balanced error rate (a class whose rows weigh 0 drops out, as
scikit-learn drops it), and for ROC AUC the weighted Mann–Whitney statistic in
:mod:`autoens.metrics.weighted_auc`. The unweighted functions are not touched by it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from autoens.metrics.base import Metric, identity
from autoens.metrics.weighted_auc import weighted_auc

__all__ = ["CLASSIFICATION_METRICS"]

# Elements per sort task of ROC AUC: 256K keys (about 13 rows of 20,000), so that a
# task's keys and scratch buffers (~3 MB) stay in cache between the passes that follow
# the sort; tasks twice as large ran twice as slowly per element.
_TASK_ELEMENTS = 1 << 18
# Up to this many mixed tie groups per task are sized by one binary search each.
_FEW_TIES = 64
# Largest row count whose position sums fit in int32.
_INT32_POSITIONS = 65536
# Two threads: the machines we target have 2 cores and numpy releases the GIL in sort.
_N_THREADS = max(1, min(2, os.cpu_count() or 1))

# --- shared helpers -------------------------------------------------------------------

_POOL: ThreadPoolExecutor | None = None
_POOL_PID = -1
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """A small process-wide thread pool, recreated after a fork (threads do not
    survive one)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            _POOL = ThreadPoolExecutor(_N_THREADS, thread_name_prefix="autoens-metric")
            _POOL_PID = os.getpid()
        return _POOL


def _run_tasks(tasks: list[Callable[[], None]]) -> None:
    """Run tasks on the pool (inline when there is a single task or a single core)."""
    if len(tasks) <= 1 or _N_THREADS == 1:
        for task in tasks:
            task()
        return
    futures = [_pool().submit(task) for task in tasks]
    for future in futures:
        future.result()


def _true_class(y: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Probability of the true class per candidate and sample: (K, N)."""
    return np.ascontiguousarray(np.take_along_axis(E, y[None, :, None], axis=2)[..., 0])


def _argmax_labels(R: np.ndarray) -> np.ndarray:
    """Predicted labels (K, N); ties go to the lowest class index, as np.argmax."""
    return R.argmax(axis=2)


# --- log loss and Brier ---------------------------------------------------------------


def _log_loss(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    # sklearn.metrics.log_loss on float32 input: clip to [eps, 1 - eps] with the
    # float32 eps, log in float32, mean in float32 (numpy pairwise sum). It no longer
    # renormalises rows (since 1.5 it only warns when they do not sum to one), so only
    # the true-class column matters.
    eps = np.finfo(np.float32).eps
    p = np.clip(R, eps, np.float32(1.0) - eps)
    np.log(p, out=p)
    return -p.mean(axis=1).astype(np.float64)


def _brier(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    # sklearn.metrics.brier_score_loss with an (N, C) probability matrix: the mean over
    # rows of sum_c (onehot - p)^2, halved for binary (scale_by_half="auto" halves only
    # when C < 3), in the input's float32 precision.
    n_classes = R.shape[2]
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    d = onehot[None] - R
    np.multiply(d, d, out=d)
    out = d.sum(axis=2).mean(axis=1)
    if n_classes < 3:
        out *= np.float32(0.5)
    return out.astype(np.float64)


def _weighted_mean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Row-weighted means (K,) float64 of (K, N) values, as ``numpy.average`` (which
    scikit-learn uses): the product and sum in float64, then divided by ``sum(w)``.

    Weighted losses reduce with ``np.sum`` per row, never ``@`` or ``einsum`` (whose
    order of summation can depend on the batch's shape), so a candidate's loss does
    not depend on the batch it is scored in."""
    return (values.astype(np.float64) * w).sum(axis=1) / w.sum()


def _weighted_log_loss(y: np.ndarray, R: np.ndarray, w: np.ndarray) -> np.ndarray:
    # As the unweighted loss (float32 clip and log), then scikit-learn's weighted mean.
    eps = np.finfo(np.float32).eps
    p = np.clip(R, eps, np.float32(1.0) - eps)
    np.log(p, out=p)
    return -_weighted_mean(p, w)


def _weighted_brier(y: np.ndarray, R: np.ndarray, w: np.ndarray) -> np.ndarray:
    n_classes = R.shape[2]
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    d = onehot[None] - R
    np.multiply(d, d, out=d)
    out = _weighted_mean(d.sum(axis=2), w)
    return out * 0.5 if n_classes < 3 else out


# --- label metrics --------------------------------------------------------------------


def _error_rate(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    accuracy = (_argmax_labels(R) == y).mean(axis=1)
    return 1.0 - accuracy


def _balanced_error_rate(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    # Mean recall over the classes present in y (sklearn drops the others, with a
    # warning when they are predicted).
    n_classes = R.shape[2]
    counts = np.bincount(y, minlength=n_classes)
    present = np.flatnonzero(counts)
    onehot = np.zeros((y.shape[0], present.size), dtype=np.float64)
    onehot[np.arange(y.shape[0]), np.searchsorted(present, y)] = 1.0
    correct = (_argmax_labels(R) == y).astype(np.float64)
    recall = (correct @ onehot) / counts[present]
    return 1.0 - recall.mean(axis=1)


def _weighted_error_rate(y: np.ndarray, R: np.ndarray, w: np.ndarray) -> np.ndarray:
    return 1.0 - _weighted_mean(_argmax_labels(R) == y, w)


def _weighted_balanced_error_rate(
    y: np.ndarray, R: np.ndarray, w: np.ndarray
) -> np.ndarray:
    # Weighted recall per class, averaged over the classes whose rows weigh more than
    # 0 (scikit-learn's confusion matrix then has a zero row, and it drops the class).
    n_classes = R.shape[2]
    class_weight = np.bincount(y, weights=w, minlength=n_classes)
    correct = _argmax_labels(R) == y
    recall = [
        _weighted_mean(correct, np.where(y == c, w, 0.0))
        for c in np.flatnonzero(class_weight > 0)  # a few classes, not rows
    ]
    return 1.0 - np.mean(recall, axis=0)


# --- ROC AUC --------------------------------------------------------------------------


def _roc_auc_reduce(y: np.ndarray, E: np.ndarray) -> np.ndarray:
    """(K, 1, N) positive-class scores (binary); (K, C, N) class-major (multiclass)."""
    if E.shape[2] == 2:
        return np.ascontiguousarray(E[:, None, :, 1])
    return np.ascontiguousarray(E.transpose(0, 2, 1))


def _roc_auc_loss(y: np.ndarray, R: np.ndarray) -> np.ndarray:
    _, n_columns, n_samples = R.shape
    classes = [1] if n_columns == 1 else list(range(n_columns))
    counts = np.bincount(y, minlength=max(2, n_columns))
    if n_columns == 1 and counts[:2].min() == 0:
        raise ValueError(
            f"ROC AUC is undefined: y holds only class {int(np.argmax(counts))}; it "
            "needs samples of both classes."
        )
    bad = [c for c in classes if counts[c] in (0, n_samples)]
    if n_columns > 1 and bad:
        raise ValueError(
            f"One-vs-rest ROC AUC is undefined for class {bad[0]}: it has "
            f"{'no' if counts[bad[0]] == 0 else 'only'} samples in y. Every class "
            "needs at least one positive and one negative sample."
        )
    auc = _per_class_auc(R, y, classes, _AucTask, np.int32)
    # sklearn's macro average: the mean of the per-class AUCs.
    return 1.0 - auc.mean(axis=1)


def _per_class_auc(
    R: np.ndarray,
    y: np.ndarray,
    classes: list[int],
    make_task: Callable[..., Any],
    label_dtype: type,
) -> np.ndarray:
    """AUC of each model (rows of ``R``) for each class of ``classes``: (n_models,
    n_classes), computed by ``make_task(R_chunk, is_class, out_chunk)`` tasks over
    chunks of models, spread over the threads."""
    n_models, _, n_samples = R.shape
    auc = np.empty((n_models, len(classes)), dtype=np.float64)
    rows = max(1, _TASK_ELEMENTS // max(1, n_samples))
    if len(classes) * -(-n_models // rows) < _N_THREADS and n_models >= _N_THREADS:
        rows = -(-n_models // _N_THREADS)
    tasks = []
    for j, c in enumerate(classes):
        label = (y == c).astype(label_dtype)
        for start in range(0, n_models, rows):
            stop = min(start + rows, n_models)
            tasks.append(make_task(R[start:stop, j], label, auc[start:stop, j]))
    _run_tasks(tasks)
    return auc


def _weighted_roc_auc_loss(y: np.ndarray, R: np.ndarray, w: np.ndarray) -> np.ndarray:
    """1 - weighted ROC AUC (binary, or one-vs-rest macro over class-major ``R``)."""
    n_columns = R.shape[1]
    classes = [1] if n_columns == 1 else list(range(n_columns))
    class_weight = np.bincount(y, weights=w, minlength=max(2, n_columns))
    total = float(class_weight.sum())
    for c in classes:
        if class_weight[c] == 0.0 or class_weight[c] >= total:
            which = "positive" if class_weight[c] == 0.0 else "negative"
            raise ValueError(
                f"ROC AUC is undefined: class {c} has no {which} sample with a "
                "positive sample_weight (the weighted AUC needs both)."
            )
    auc = _per_class_auc(
        R,
        y,
        classes,
        lambda r, label, out: _WeightedAucTask(r, label, w, out),
        np.int64,
    )
    return 1.0 - auc.mean(axis=1)


class _WeightedAucTask:
    """:func:`~autoens.metrics.weighted_auc.weighted_auc` of a block of rows, written
    into ``out`` (a pool task, as :class:`_AucTask`)."""

    def __init__(
        self, scores: np.ndarray, label: np.ndarray, w: np.ndarray, out: np.ndarray
    ) -> None:
        self.scores, self.label, self.w, self.out = scores, label, w, out

    def __call__(self) -> None:
        self.out[:] = weighted_auc(self.scores, self.label, self.w)


class _AucTask:
    """ROC AUC of each row of ``scores`` (k, N) against one 0/1 label vector.

    Sort keys are the float32 scores mapped to order-preserving integers with the label
    in the lowest bit, so a plain integer sort (much faster than argsort) orders by
    score with negatives before positives inside a tie. With 0-based positions, the
    number of (negative, positive) pairs ranked in order or tied is
    ``sum(positions of positives) - n_pos * (n_pos - 1) / 2``; each tie group then gives
    back half of its ``pos_g * neg_g`` pairs. All sums are exact integers in float64.
    """

    def __init__(self, scores: np.ndarray, label: np.ndarray, out: np.ndarray) -> None:
        self.scores, self.label, self.out = scores, label, out

    def __call__(self) -> None:
        scores, label = self.scores, self.label
        n_rows, n_samples = scores.shape
        n_pos = int(label.sum())
        bits = scores.view(np.uint32)
        # Scores in [0, 2) (all probabilities) have bit patterns below 2**30, so score
        # and label fit in an int32 key; -0.0 (pattern 2**31) shifts to the key of +0.0.
        if bits.max() < 0x40000000 or _only_zero_sign(bits):
            keys = _scratch("keys", (n_rows, n_samples), np.int32)
            np.left_shift(scores.view(np.int32), 1, out=keys)
            np.bitwise_or(keys, label, out=keys)
        else:
            keys = _int64_keys(scores, label)
        keys.sort(axis=1)
        # einsum, not matmul: BLAS would start its own threads inside ours (on two
        # cores a 1-row product then cost 10x its work in spinning threads). int32
        # sums are exact while n(n-1)/2 < 2**31, and twice as fast as float64.
        dtype = np.int32 if n_samples <= _INT32_POSITIONS else np.float64
        lab = _scratch("work", (n_rows, n_samples), dtype)
        np.bitwise_and(keys, 1, out=lab, casting="unsafe")
        positions = np.arange(n_samples, dtype=dtype)
        position_sum = np.einsum("ij,j->i", lab, positions).astype(np.float64)
        pairs = position_sum - n_pos * (n_pos - 1) / 2.0
        # Sorted neighbours that differ only in the label bit are the last negative and
        # the first positive of a tie group holding both labels.
        xor = _scratch("work", (n_rows, n_samples - 1), keys.dtype)
        np.bitwise_xor(keys[:, 1:], keys[:, :-1], out=xor)
        mixed = _scratch("mixed", (n_rows, n_samples - 1), np.bool_)
        np.equal(xor, 1, out=mixed)
        flat = np.flatnonzero(mixed)
        if flat.size:
            rows, last_neg = np.divmod(flat, n_samples - 1)
            pairs -= 0.5 * _tied_pairs(keys, rows, last_neg)
        self.out[:] = pairs / (n_pos * (n_samples - n_pos))


_SCRATCH = threading.local()


def _scratch(slot: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A per-thread reusable buffer: fresh large arrays cost page faults on every call.

    Each thread keeps at most one buffer per slot, sized by the largest sort task (a few
    MB), so repeated metric calls in a selector loop allocate nothing.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    buf = buffers.get(slot)
    if buf is None or buf.nbytes < nbytes:
        buf = buffers[slot] = np.empty(nbytes, dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def _only_zero_sign(bits: np.ndarray) -> bool:
    """True if every pattern is in [0, 2**30) or is -0.0 (2**31)."""
    return bool(((bits < 0x40000000) | (bits == 0x80000000)).all())


def _int64_keys(scores: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Keys for any finite float32: sign trick on the bits, then the label bit."""
    bits = (scores + np.float32(0.0)).view(np.int32)  # -0.0 + 0.0 == +0.0
    bits ^= (bits >> 31) & 0x7FFFFFFF  # negative floats: reverse their order
    keys = np.left_shift(bits, 1, dtype=np.int64)
    np.bitwise_or(keys, label, out=keys)
    return keys


def _tied_pairs(keys: np.ndarray, rows: np.ndarray, last_neg: np.ndarray) -> np.ndarray:
    """Per row of sorted ``keys``: the sum over mixed tie groups of n_neg_g * n_pos_g.

    Each mixed group is given by its (last negative, first positive) boundary; its
    negatives are the run of key k ending there and its positives the run of k + 1
    starting after it. Most groups (continuous scores) are one pair, seen from the two
    neighbours; longer runs are sized by binary search, so the cost grows with the
    number of mixed groups rather than with the row length.
    """
    n_rows, n_samples = keys.shape
    neg_key = keys[rows, last_neg].astype(np.int64)
    first_neg = last_neg.copy()
    stop = last_neg + 2
    longer = ((last_neg > 0) & (keys[rows, np.maximum(last_neg - 1, 0)] == neg_key)) | (
        (stop < n_samples)
        & (keys[rows, np.minimum(stop, n_samples - 1)] == neg_key + 1)
    )
    todo = np.flatnonzero(longer)
    if 0 < todo.size <= _FEW_TIES:
        # Few long groups: a search per group beats any array pass. (Scalars of the
        # keys' dtype: a Python int would make numpy cast the whole row.)
        as_key = keys.dtype.type
        for b in todo.tolist():
            row, k = keys[rows[b]], int(neg_key[b])
            first_neg[b] = row.searchsorted(as_key(k), side="left")
            stop[b] = row.searchsorted(as_key(k + 1), side="right")
    elif todo.size:
        # Many: one search over the involved rows laid end to end, each row shifted
        # past the key range of the previous one so that the whole is sorted.
        involved, local = np.unique(rows[todo], return_inverse=True)
        offset = (np.arange(involved.size, dtype=np.int64) << 34) + (1 << 33)
        flat = (keys[involved].astype(np.int64) + offset[:, None]).ravel()
        base = local * n_samples
        query = neg_key[todo] + offset[local]
        first_neg[todo] = np.searchsorted(flat, query, side="left") - base
        stop[todo] = np.searchsorted(flat, query + 1, side="right") - base
    n_neg = (last_neg - first_neg + 1).astype(np.float64)
    n_pos = (stop - last_neg - 1).astype(np.float64)
    return np.bincount(rows, weights=n_neg * n_pos, minlength=n_rows)


CLASSIFICATION_METRICS: tuple[Metric, ...] = (
    Metric(
        "roc_auc",
        "roc_auc",
        True,
        _roc_auc_reduce,
        _roc_auc_loss,
        _weighted_loss=_weighted_roc_auc_loss,
    ),
    Metric(
        "log_loss",
        "log_loss",
        False,
        _true_class,
        _log_loss,
        _weighted_loss=_weighted_log_loss,
    ),
    Metric(
        "brier", "brier_score", False, identity, _brier, _weighted_loss=_weighted_brier
    ),
    Metric(
        "error_rate",
        "accuracy",
        True,
        identity,
        _error_rate,
        _weighted_loss=_weighted_error_rate,
    ),
    Metric(
        "balanced_error_rate",
        "balanced_accuracy",
        True,
        identity,
        _balanced_error_rate,
        _weighted_loss=_weighted_balanced_error_rate,
    ),
)
