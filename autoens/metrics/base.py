"""The :class:`Metric` type: a lower-is-better loss over a batch of candidate ensembles.

Selectors score many candidate ensembles per step (greedy selection scores one per
base model), so every loss takes a batch ``E`` of shape ``(K, n_samples, n_outputs)``
and returns ``K`` losses at once, lower is better.

Hot paths (selectors) use :meth:`Metric.reduce` once and :meth:`Metric.loss_reduced`
per step: ``reduce`` only gathers or reorders entries (log loss keeps the true-class
column, binary ROC AUC the positive column, multiclass ROC AUC goes class-major), so it
commutes with the element-wise arithmetic that builds candidate ensembles, and a
selector can build candidates on the smaller, better laid-out array with bit-identical
results.

Sample weights: ``loss``, ``loss_single`` and ``loss_reduced`` take an optional
``sample_weight`` (one non-negative weight per row, see :func:`check_sample_weight`)
and then compute the weighted loss as scikit-learn's metric with ``sample_weight=``
does. ``reduce`` never sees weights (it only gathers entries), and ``None`` runs the
unweighted code unchanged, so results without weights are bit for bit what they were.
A loss is weighted by its own function (``_weighted_loss``): a custom Metric without
one refuses weights instead of ignoring them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoens.task import ClassificationTask

__all__ = ["Metric", "check_labels", "check_sample_weight", "identity"]

_ReduceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
_LossFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
_WeightedLossFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

# Elements of E handled per chunk by ``Metric.loss`` (16M float32 = 64 MB).
_CHUNK_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class Metric:
    """A lower-is-better loss over a batch of candidate ensembles.

    ``name`` is the canonical loss name, ``score_name`` the score users see
    (``"roc_auc"``) and ``greater_is_better`` refers to that score. ``task`` is the
    task type it scores (its ``family``, and how ``y`` and prediction tensors are
    validated). Build one with :func:`get_metric`.
    """

    name: str
    score_name: str
    greater_is_better: bool
    _reduce: _ReduceFn = field(repr=False, compare=False)
    _loss: _LossFn = field(repr=False, compare=False)
    task: Any = field(default=ClassificationTask, repr=False, compare=False)
    #: A higher-is-better score is ``score_offset - loss`` (1 for AUC, accuracy, R²).
    score_offset: float = field(default=1.0, repr=False, compare=False)
    #: ``(y, R, w) -> losses``: the loss with validated sample weights ``w`` (float64,
    #: non-negative, positive sum); None if the metric cannot weight rows.
    _weighted_loss: _WeightedLossFn | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def supports_sample_weight(self) -> bool:
        """Whether the loss can weight rows (every built-in metric can)."""
        return self._weighted_loss is not None

    def check_target(self, y: Any, n_samples: int, n_outputs: int) -> np.ndarray:
        """``y`` validated for predictions of ``n_samples`` rows × ``n_outputs``."""
        return self.task.check_target(y, n_samples, n_outputs)

    def check_predictions(self, P: Any) -> np.ndarray:
        """A prediction tensor (n_models, n_samples, n_outputs) validated as float32."""
        return self.task.check_predictions(P)

    def loss(
        self, y: np.ndarray, E: np.ndarray, sample_weight: Any = None
    ) -> np.ndarray:
        """Losses of ``K`` candidate ensembles (lower is better).

        ``y``: (N,) targets (class indices in [0, C) for classification); ``E``:
        (K, N, C), used as float32 (the dtype of prediction tensors); ``sample_weight``:
        None or (N,) row weights (validated by :func:`check_sample_weight`). Returns
        (K,) float64. Large batches are processed in chunks of models so memory stays
        bounded.
        """
        E = np.asarray(E, dtype=np.float32)
        if E.ndim != 3:
            raise ValueError(
                "E must have shape (n_candidates, n_samples, n_outputs), "
                f"got {E.shape}."
            )
        y = self.check_target(y, E.shape[1], E.shape[2])
        if not np.isfinite(E).all():
            raise ValueError("E contains NaN or infinite values.")
        n_models, n_samples, n_classes = E.shape
        w = self.check_sample_weight(sample_weight, n_samples)
        out = np.empty(n_models, dtype=np.float64)
        step = max(1, _CHUNK_ELEMENTS // max(1, n_samples * n_classes))
        for start in range(0, n_models, step):
            stop = min(start + step, n_models)
            out[start:stop] = self.loss_reduced(
                y, self._reduce(y, E[start:stop]), sample_weight=w
            )
        return out

    __call__ = loss

    def loss_single(
        self, y: np.ndarray, P: np.ndarray, sample_weight: Any = None
    ) -> float:
        """Loss of one prediction matrix ``P`` of shape (N, C) (``sample_weight``: as
        in :meth:`loss`)."""
        P = np.asarray(P, dtype=np.float32)
        if P.ndim != 2:
            raise ValueError(
                f"P must have shape (n_samples, n_classes), got {P.shape}."
            )
        return float(self.loss(y, P[None], sample_weight)[0])

    def reduce(self, y: np.ndarray, E: np.ndarray) -> np.ndarray:
        """Gather the entries of ``E`` (K, N, C) that the loss reads; first axis kept.

        Only gathers and reorders (never computes), so for any element-wise candidate
        arithmetic f: ``reduce(y, f(E)) == f(reduce(y, E))`` bit for bit. ``y`` must be
        valid labels (see :func:`check_labels`). Returns a C-contiguous float32 array.
        """
        return self._reduce(y, np.asarray(E, dtype=np.float32))

    def reduce_all(self, y: np.ndarray, P: np.ndarray) -> np.ndarray:
        """:meth:`reduce` of a whole prediction tensor, a chunk of models at a time.

        Selectors call it once per fit; chunking keeps the peak at one reduced copy of
        ``P`` plus one chunk.
        """
        n_models = P.shape[0]
        step = max(1, _CHUNK_ELEMENTS // max(1, P[0].size))
        first = self.reduce(y, P[:step])
        R = np.empty((n_models, *first.shape[1:]), dtype=np.float32)
        R[: first.shape[0]] = first
        for start in range(step, n_models, step):
            R[start : start + step] = self.reduce(y, P[start : start + step])
        return R

    def loss_reduced(
        self, y: np.ndarray, R: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> np.ndarray:
        """Losses from ``R = reduce(y, E)``: the selectors' hot path (no validation).

        ``R`` must be finite float32 with the layout ``reduce`` returns;
        ``sample_weight`` None or weights already checked by
        :meth:`check_sample_weight` (selectors check once per fit).
        """
        if sample_weight is None:
            return self._loss(y, R)
        if self._weighted_loss is None:
            raise ValueError(self._no_weights_message())
        return self._weighted_loss(y, R, sample_weight)

    def check_sample_weight(self, sample_weight: Any, n_samples: int) -> Any:
        """:func:`check_sample_weight`, plus a clear error when this metric cannot
        weight rows."""
        w = check_sample_weight(sample_weight, n_samples)
        if w is not None and self._weighted_loss is None:
            raise ValueError(self._no_weights_message())
        return w

    def _no_weights_message(self) -> str:
        return (
            f"metric {self.name!r} does not support sample_weight (it was built "
            "without a weighted loss); use a built-in metric or pass no weights."
        )

    def to_score(self, loss: float) -> float:
        """The user-facing score (``score_name``) of a loss value."""
        if self.greater_is_better:
            return self.score_offset - float(loss)
        return float(loss)


def check_labels(y: np.ndarray, n_samples: int, n_classes: int) -> np.ndarray:
    """Validate class indices: 1-D integers in [0, n_classes) of length n_samples."""
    return ClassificationTask.check_target(y, n_samples, n_classes)


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Row weights as a float64 (n_samples,) array, or None for no weights.

    Raises ``ValueError`` unless they are 1-D, one per row, finite, non-negative and
    of positive sum: every weighted loss divides by the total weight.
    """
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            "sample_weight must be numeric: one non-negative weight per row."
        ) from None
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must be 1-D with one weight per row ({n_samples}), got "
            f"shape {w.shape}."
        )
    if not np.isfinite(w).all():
        raise ValueError("sample_weight contains NaN or infinite values.")
    if (w < 0).any():
        raise ValueError("sample_weight must be non-negative; got a negative weight.")
    if not w.sum() > 0.0:
        raise ValueError(
            "sample_weight is all zero: at least one row needs a positive weight."
        )
    return w


def identity(y: np.ndarray, E: np.ndarray) -> np.ndarray:
    """The reduction of losses that read every entry: E as C-contiguous float32."""
    return np.ascontiguousarray(E, dtype=np.float32)
