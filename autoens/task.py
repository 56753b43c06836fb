"""What kind of problem a fit solves, and everything that depends on it.

A *task* object is the one place that knows what a target and a prediction array
mean. The rest of the library asks it instead of assuming class probabilities:

* the estimator encodes the target with it (``from_target``) and decodes ensemble
  outputs back to the user's labels or values (``decode``);
* folds are built by it (``make_folds``: stratified for classes);
* a trial's evaluation and a member's prediction call ``predict(model, X)`` and
  ``check_outputs`` on it, so the cache, the library and the ensemble hold arrays of
  shape ``(n_samples, n_outputs)`` whatever the task;
* metrics and selectors validate ``y`` and prediction tensors through the task *type*
  (``check_target``, ``check_predictions``; a :class:`~autoens.metrics.Metric` names
  the task family it scores);
* the ensemble finishes a combined prediction with ``finalize``.

A new task kind (regression comes next) provides the same attributes and methods;
``docs/architecture.md`` lists them.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils import assert_all_finite
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from autoens.folds import Folds

__all__ = ["ClassificationTask", "RegressionTask", "encode_labels", "encode_values"]

logger = logging.getLogger("autoens")

# Rows must sum to one within this tolerance before we renormalise them; a learner whose
# probabilities are further off is broken rather than imprecise.
_ROW_SUM_TOLERANCE = 1e-3
# Slack allowed on probabilities handed to selectors: float32 averaging can overshoot
# [0, 1] by a few ulps.
_PROBA_TOL = 1e-5


def encode_labels(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(classes, y_encoded)``: sorted classes, labels as int64 indices."""
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None")
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) == 0:
        raise ValueError("y is empty: fit needs at least one labelled row per class")
    if y.dtype.kind == "f":
        # sklearn's wording: "Input y contains NaN"
        assert_all_finite(y, input_name="y")
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


@dataclass(frozen=True, eq=False)
class ClassificationTask:
    """Binary or multiclass classification; predictions are class probabilities.

    ``classes`` are the user's labels (sorted, as ``classes_``); inside the library a
    target is the int64 index of its class and a prediction array has one probability
    column per class.
    """

    classes: np.ndarray

    #: The family of tasks (metrics and selectors declare which family they serve).
    family: ClassVar[str] = "classification"
    #: Loss the estimator minimises when the user names none.
    default_metric: ClassVar[str] = "roc_auc"

    @classmethod
    def from_target(cls, y: Any) -> tuple[ClassificationTask, np.ndarray]:
        """The task of target ``y`` and ``y`` encoded as class indices."""
        classes, encoded = encode_labels(y)
        return cls(classes=classes), encoded

    @property
    def kind(self) -> str:
        """``"binary"`` or ``"multiclass"``."""
        return "binary" if self.n_outputs == 2 else "multiclass"

    @property
    def n_outputs(self) -> int:
        """Columns of a prediction array: one probability per class."""
        return len(self.classes)

    def make_folds(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        n_splits: int,
        random_state: int,
        sample_weight: np.ndarray | None = None,
    ) -> Folds:
        """Stratified, shuffled k-fold splits shared by every candidate.

        A class rarer than ``n_splits`` is fine (stratification spreads its rows, so
        every training fold still sees it); a class with a single row leaves one
        training fold without it, which :meth:`predict` handles by aligning the
        columns of the classes a fold model saw, so we only log it.
        ``sample_weight`` does not change the splits; it enters the fingerprint.
        """
        counts = np.bincount(y, minlength=self.n_outputs)
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
            splits = tuple(splitter.split(np.zeros(len(y)), y))
        return Folds.from_splits(X, y, splits, sample_weight)

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        """``predict_proba`` with a column per class, even classes a fold lacked."""
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        seen = np.asarray(model.classes_)
        out = np.zeros((proba.shape[0], self.n_outputs), dtype=np.float64)
        out[:, seen.astype(np.int64)] = proba
        return out

    def check_outputs(self, proba: np.ndarray) -> np.ndarray:
        """A fold model's predictions as clean probability rows, or a ValueError.

        Rows off by a little (float arithmetic) are renormalised; rows off by more
        than the tolerance mean a broken learner, which fails its trial.
        """
        if not np.isfinite(proba).all():
            raise ValueError(
                "the learner predicted non-finite (NaN or inf) probabilities"
            )
        sums = proba.sum(axis=1)
        if (proba < -_ROW_SUM_TOLERANCE).any() or np.abs(
            sums - 1
        ).max() > _ROW_SUM_TOLERANCE:
            raise ValueError(
                "the learner's probabilities are not a distribution "
                f"(row sums range {sums.min():.4g}..{sums.max():.4g})"
            )
        proba = np.clip(proba, 0.0, None)
        return proba / proba.sum(axis=1, keepdims=True)

    def finalize(self, combined: np.ndarray) -> np.ndarray:
        """An ensemble's combined prediction as float64 probability rows."""
        proba = np.clip(np.asarray(combined, dtype=np.float64), 0.0, None)
        return proba / proba.sum(axis=1, keepdims=True)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """User labels from prediction rows: the most probable class."""
        return self.classes[np.argmax(outputs, axis=1)]

    # --- validation shared by metrics and selectors (no fitted task needed) -------
    @staticmethod
    def check_target(y: Any, n_samples: int, n_outputs: int) -> np.ndarray:
        """Validate class indices: 1-D ints in [0, n_outputs) of length n_samples."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class indices, got shape {y.shape}.")
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                "y must hold integer class indices 0..n_classes-1, got dtype "
                f"{y.dtype}; encode labels first (e.g. with "
                "sklearn.preprocessing.LabelEncoder)."
            )
        if y.shape[0] != n_samples:
            raise ValueError(
                f"y has {y.shape[0]} labels but the predictions have {n_samples} "
                "samples."
            )
        if n_samples and (y.min() < 0 or y.max() >= n_outputs):
            raise ValueError(
                f"y must lie in [0, {n_outputs}) for predictions with {n_outputs} "
                f"classes; got values in [{y.min()}, {y.max()}]."
            )
        return y.astype(np.intp, copy=False)

    @staticmethod
    def check_predictions(P: Any) -> np.ndarray:
        """Validate a prediction tensor: finite float32 probabilities of shape
        (n_models ≥ 1, n_samples ≥ 1, n_classes ≥ 2)."""
        P = _check_tensor(P)
        if P.shape[2] < 2:
            raise ValueError(
                f"P needs one column per class (n_classes >= 2), got {P.shape[2]}; "
                "for binary tasks pass both columns [1 - p, p]."
            )
        if P.min() < -_PROBA_TOL or P.max() > 1.0 + _PROBA_TOL:
            raise ValueError(
                "P must hold probabilities in [0, 1]; got values in "
                f"[{P.min()}, {P.max()}]."
            )
        return P

    def __repr__(self) -> str:
        shown = list(self.classes[:5])
        more = ", ..." if len(self.classes) > 5 else ""
        return f"ClassificationTask({self.kind}, classes={shown}{more})"


def encode_values(y: Any) -> np.ndarray:
    """A regression target as finite float64 values (strings of numbers are fine)."""
    if y is None:
        raise ValueError("requires y to be passed, but the target y is None")
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) < 2:
        raise ValueError(
            f"y has {len(y)} sample(s): n_samples={len(y)} is too few, regression "
            "needs at least 2 rows"
        )
    if y.dtype.kind not in "biuf":
        try:
            y = pd.to_numeric(pd.Series(y), errors="raise").to_numpy()
        except (ValueError, TypeError):
            raise ValueError(
                "a regression target must be numeric; y holds non-numeric values "
                f"such as {pd.Series(y).astype(str).head(3).tolist()}"
            ) from None
    y = np.asarray(y, dtype=np.float64)
    bad = ~np.isfinite(y)
    if bad.any():
        raise ValueError(
            f"Input y contains {int(bad.sum())} NaN or infinite values (first at row "
            f"{int(np.flatnonzero(bad)[0])}); drop those rows"
        )
    if np.ptp(y) == 0.0:
        raise ValueError(
            f"y is constant ({y[0]!r} in every row): there is nothing to learn"
        )
    return y


@dataclass(frozen=True, eq=False)
class RegressionTask:
    """Regression of one numeric target; a prediction array has one column.

    Folds are shuffled ``KFold``, not stratified on target bins: bins add a choice
    (how many, where) that changes the splits and every cached candidate with them,
    while with a few hundred rows or more shuffled folds already spread the target's
    range; AutoGluon and auto-sklearn make the same choice.
    """

    family: ClassVar[str] = "regression"
    default_metric: ClassVar[str] = "rmse"
    kind: ClassVar[str] = "regression"
    n_outputs: ClassVar[int] = 1

    @classmethod
    def from_target(cls, y: Any) -> tuple[RegressionTask, np.ndarray]:
        """The task of target ``y`` and ``y`` as float64 values."""
        return cls(), encode_values(y)

    def make_folds(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        *,
        n_splits: int,
        random_state: int,
        sample_weight: np.ndarray | None = None,
    ) -> Folds:
        """Shuffled k-fold splits shared by every candidate (``sample_weight``
        enters the fingerprint only)."""
        if n_splits > len(y):
            raise ValueError(
                f"cv={n_splits} folds need at least {n_splits} rows; y has {len(y)}"
            )
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        splits = splitter.split(np.zeros(len(y)))
        return Folds.from_splits(X, y, splits, sample_weight)

    def predict(self, model: Any, X: pd.DataFrame) -> np.ndarray:
        """``model.predict`` as a (n, 1) float64 column."""
        return np.asarray(model.predict(X), dtype=np.float64).reshape(-1, 1)

    def check_outputs(self, values: np.ndarray) -> np.ndarray:
        """A fold model's predictions, or a ValueError when some are not finite."""
        if not np.isfinite(values).all():
            raise ValueError("the learner predicted non-finite (NaN or inf) values")
        return values

    def finalize(self, combined: np.ndarray) -> np.ndarray:
        """An ensemble's combined prediction as a float64 column."""
        return np.asarray(combined, dtype=np.float64).reshape(-1, 1)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """The predicted values, 1-D."""
        return np.asarray(outputs, dtype=np.float64)[:, 0]

    @staticmethod
    def check_target(y: Any, n_samples: int, n_outputs: int) -> np.ndarray:
        """Validate a regression target: 1-D finite numbers of length n_samples."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D values, got shape {y.shape}.")
        if y.dtype.kind not in "biuf":
            raise ValueError(f"y must hold numbers, got dtype {y.dtype}.")
        if y.shape[0] != n_samples:
            raise ValueError(
                f"y has {y.shape[0]} values but the predictions have {n_samples} "
                "samples."
            )
        y = y.astype(np.float64, copy=False)
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinite values.")
        return y

    @staticmethod
    def check_predictions(P: Any) -> np.ndarray:
        """Validate a prediction tensor: finite float32 of shape
        (n_models ≥ 1, n_samples ≥ 1, 1)."""
        P = _check_tensor(P)
        if P.shape[2] != 1:
            raise ValueError(
                f"regression predictions have one output column; P has {P.shape[2]} "
                "(shape (n_models, n_samples, 1) expected)."
            )
        return P

    def __repr__(self) -> str:
        return "RegressionTask()"


def _check_tensor(P: Any) -> np.ndarray:
    """A finite float32 (n_models ≥ 1, n_samples ≥ 1, n_outputs) array."""
    P = np.asarray(P, dtype=np.float32)
    if P.ndim != 3:
        raise ValueError(
            "P must have shape (n_models, n_samples, n_outputs); got an array of "
            f"shape {P.shape}. For a single model use P[None]."
        )
    n_models, n_samples, _ = P.shape
    if n_models < 1 or n_samples < 1:
        raise ValueError(f"P needs at least one model and one sample, got {P.shape}.")
    if not np.isfinite(P).all():
        raise ValueError("P contains NaN or infinite values.")
    return P
