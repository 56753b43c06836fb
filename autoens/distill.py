"""Distil a fitted ensemble into one fast model (Hinton, Vinyals and Dean 2015,
"Distilling the knowledge in a neural network").

An ensemble predicts with every member's fold models; a *student* is one model of one
learner trained on the ensemble's predictions instead of the labels. Its targets are
the ensemble's out-of-fold predictions (the rows each member did not train on), so the
student learns what the ensemble does on new data, not what it memorised.

Classification uses the soft-label trick that works for any learner accepting row
weights: every training row is repeated once per class, labelled with that class and
weighted by the ensemble's probability of it (times the row's own weight), so the
weighted log loss the learner minimises is the cross-entropy to the soft targets.
Regression fits the ensemble's OOF values directly.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from autoens.space import LearnerSpec, accepts_sample_weight, fit_model, get_learners
from autoens.tabular import TableSchema, check_table, predict_input
from autoens.task import ClassificationTask, RegressionTask

__all__ = ["DistilledClassifier", "DistilledRegressor", "distill_ensemble"]

# Soft targets below this probability are dropped from the repeated rows: they
# carry (almost) no weight but would multiply the rows the student fits on.
_MIN_SOFT_TARGET = 1e-3


class _Distilled(BaseEstimator):
    """One learner of ``autoens.space`` fit on (soft) targets; predicts with the
    column layout (``schema_``) of the ensemble it was distilled from."""

    def __init__(
        self,
        *,
        learner: str | LearnerSpec = "lightgbm",
        params: dict[str, Any] | None = None,
        random_state: int = 0,
    ) -> None:
        self.learner = learner
        self.params = params
        self.random_state = random_state

    _task_type: Any = None

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Fit the learner on hard targets (labels or values), as any estimator;
        ``AutoEnsemble*.distill`` fits it on the ensemble's predictions instead."""
        X = check_table(X)
        self.task_, y_enc = self._task_type.from_target(y)
        validate_data(self, X, reset=True, skip_check_array=True)
        self.schema_, frame = TableSchema.learn(X)
        self.n_features_in_ = len(self.schema_.columns)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        targets = self._hard_targets(y_enc)
        self._fit_frame(frame, targets, sample_weight)
        return self

    def _hard_targets(self, y_enc: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _spec(self) -> LearnerSpec:
        return get_learners([self.learner], task=self.task_)[0]

    def _fit_frame(
        self, frame: pd.DataFrame, targets: np.ndarray, weights: np.ndarray | None
    ) -> None:
        start = time.perf_counter()
        self.model_ = self._fit_student(frame, targets, weights)
        self.fit_time_ = time.perf_counter() - start

    def _fit_student(
        self, frame: pd.DataFrame, targets: np.ndarray, weights: np.ndarray | None
    ) -> Any:
        raise NotImplementedError

    def _transform(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "model_")
        return predict_input(self, X)

    def _outputs(self, X: Any) -> np.ndarray:
        return self.task_.predict(self.model_, self._transform(X))


class DistilledClassifier(ClassifierMixin, _Distilled):
    """A single classifier distilled from an ensemble (``AutoEnsembleClassifier.
    distill``); ``predict_proba`` columns follow ``classes_``.

    Attributes: ``model_`` (the fitted learner), ``classes_``, ``schema_``,
    ``task_``, ``n_features_in_`` / ``feature_names_in_``, ``fit_time_``; after
    ``distill`` also ``validation_score_`` (its out-of-fold score on the ensemble's
    folds against the true labels, in ``metric_``), ``teacher_validation_score_``
    (the ensemble's, uncalibrated, on the same rows) and ``metric_``.
    """

    _task_type = ClassificationTask

    @property
    def classes_(self) -> np.ndarray:
        check_is_fitted(self, "task_")
        return self.task_.classes

    def _hard_targets(self, y_enc: np.ndarray) -> np.ndarray:
        return np.eye(self.task_.n_outputs)[y_enc]

    def _fit_student(
        self, frame: pd.DataFrame, targets: np.ndarray, weights: np.ndarray | None
    ) -> Any:
        spec = self._spec()
        model = spec.make(
            self.params or {}, self.schema_.feature_types, self.random_state
        )
        if not accepts_sample_weight(model):
            raise ValueError(
                f"learner {spec.name!r} cannot weight rows, which soft targets need; "
                "distil into a learner that accepts sample_weight (e.g. 'lightgbm', "
                "'hist_gb', 'logreg')"
            )
        soft = np.asarray(targets, dtype=np.float64)
        row_weight = soft if weights is None else soft * weights[:, None]
        keep = (soft >= _MIN_SOFT_TARGET) & (row_weight > 0)
        # Class-major: (class, row) pairs of the kept soft targets.
        label, row = np.nonzero(keep.T)
        fit_model(model, frame.iloc[row], label, row_weight[row, label])
        return model

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns ordered as ``classes_``."""
        return self._outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class DistilledRegressor(RegressorMixin, _Distilled):
    """A single regressor distilled from an ensemble (``AutoEnsembleRegressor.
    distill``); attributes as :class:`DistilledClassifier` without ``classes_``."""

    _task_type = RegressionTask

    def _hard_targets(self, y_enc: np.ndarray) -> np.ndarray:
        return y_enc

    def _fit_student(
        self, frame: pd.DataFrame, targets: np.ndarray, weights: np.ndarray | None
    ) -> Any:
        model = self._spec().make(
            self.params or {}, self.schema_.feature_types, self.random_state
        )
        fit_model(model, frame, np.asarray(targets, dtype=np.float64), weights)
        return model

    def predict(self, X: Any) -> np.ndarray:
        """The student's prediction for each row (1-D float64)."""
        return self.task_.decode(self._outputs(X))


def distill_ensemble(
    model: Any,
    X: Any,
    *,
    learner: str | LearnerSpec = "lightgbm",
    params: dict[str, Any] | None = None,
) -> DistilledClassifier | DistilledRegressor:
    """Distil the fitted ``model`` (an ``AutoEnsemble*``) into one ``learner``.

    ``X`` must be the rows ``model`` was fit on: the target and row weights come from
    the model's library, and the data fingerprint must match the fit's. The student
    is cross-validated on the fit's folds (one fit per fold, trained on what the
    ensemble's fold-k models predict for the training folds, scored against the
    true target of held-out fold k), then fit on the ensemble's OOF predictions of
    every row.
    """
    check_is_fitted(model, "library_")
    lib = model.library_
    task = lib.task
    is_classification = task.family == "classification"
    y = task.classes[lib.y] if is_classification else lib.y
    n_rows = getattr(X, "shape", (len(X),))[0]
    if n_rows != len(y):
        raise ValueError(
            f"X has {n_rows} rows but the model was fit on {len(y)}: distill needs "
            "exactly the rows of X given to fit (the target and weights come from "
            "the model)"
        )
    try:
        frame, y_enc, weights, folds = model._training_data(X, y, lib.sample_weight)
    except ValueError as exc:
        raise ValueError(
            f"distill needs exactly the rows of X given to fit: {exc}"
        ) from None
    student: DistilledClassifier | DistilledRegressor = (
        DistilledClassifier if is_classification else DistilledRegressor
    )(learner=learner, params=dict(params or {}), random_state=model._seed)
    student.task_ = task
    student.schema_ = model.schema_
    student.n_features_in_ = model.n_features_in_
    if hasattr(model, "feature_names_in_"):
        student.feature_names_in_ = model.feature_names_in_
    targets = model._oof_outputs(calibrated=True)
    if not is_classification:
        targets = targets[:, 0]
    # The student's own out-of-fold predictions, on the folds the ensemble used.
    oof = np.zeros((len(y_enc), task.n_outputs), dtype=np.float64)
    fold_targets = _fold_teacher_targets(model, frame, folds.n_splits)
    for k, (train, test) in enumerate(folds.splits):  # k fits of the learner
        fold_model = student._fit_student(
            frame.iloc[train],
            fold_targets[k][train] if is_classification else fold_targets[k][train, 0],
            None if weights is None else weights[train],
        )
        oof[test] = task.predict(fold_model, frame.iloc[test])
    metric = model.metric_
    student.metric_ = metric
    student.validation_score_ = metric.to_score(
        metric.loss_single(y_enc, oof.astype(np.float32), sample_weight=weights)
    )
    teacher = model._oof_outputs().astype(np.float32)
    student.teacher_validation_score_ = metric.to_score(
        metric.loss_single(y_enc, teacher, sample_weight=weights)
    )
    student._fit_frame(frame, targets, weights)
    return student


def _fold_teacher_targets(model: Any, frame: pd.DataFrame, n_folds: int) -> Any:
    """(n_folds, n_rows, n_outputs): fold k's ensemble (the members' fold-k models,
    trained on every fold but k) on every row, calibrated as the ensemble is.

    The student of fold k learns these on its training rows: the teacher as it was
    without fold k. Its OOF targets would leak: the OOF prediction of a training
    row comes from models fit on fold k's labels, and the student that imitates
    them scored 2-6 ROC AUC points above its score on a held-out test set
    (pima, crx; this way within about 1.5 points either side).
    """
    members = model.ensemble_.members.values()
    if any(len(models) != n_folds for models in members):
        warnings.warn(
            "the ensemble's members no longer have one model per CV fold, so the "
            "student is cross-validated on the ensemble's OOF predictions: "
            "validation_score_ is optimistic (those targets saw the held-out folds)",
            UserWarning,
            stacklevel=3,
        )
        targets = model._oof_outputs(calibrated=True)
        return np.broadcast_to(targets, (n_folds, *targets.shape))
    return model.ensemble_.predict_folds(frame)
