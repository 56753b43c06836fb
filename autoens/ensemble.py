"""The fitted ensemble: the selector plus the fold models of the members it needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from autoens.members import predict_member
from autoens.space.preprocessing import dense_preprocessor
from autoens.space.registry import FeatureTypes
from autoens.task import ClassificationTask

__all__ = ["CompetenceSpace", "FittedEnsemble"]


@dataclass
class CompetenceSpace:
    """The numeric feature space in which dynamic selectors look for neighbours.

    Dynamic selection measures distances between rows, so mixed-type tables need the
    same treatment the distance-based learners get (one preprocessing, one notion of
    column kinds): numerics median-imputed with missing indicators and standardised,
    categoricals one-hot encoded with rare levels (and levels unseen in ``fit``)
    folded into one "infrequent" column and at most 32 columns per feature, so a
    high-cardinality column cannot swamp the distance. It is learned on the training
    frame in ``fit`` and kept on the fitted estimator; ``X_train`` (float32) holds the
    rows of the library's OOF predictions, in order, for fitting a dynamic selector
    later (``autoens.select``) without the training data.
    """

    transformer: ColumnTransformer
    X_train: np.ndarray = field(repr=False)

    @classmethod
    def learn(cls, frame: pd.DataFrame, feature_types: FeatureTypes) -> CompetenceSpace:
        """Fit the preprocessing on the converted training frame (schema layout)."""
        transformer = dense_preprocessor(feature_types)
        X_train = np.asarray(transformer.fit_transform(frame), dtype=np.float32)
        return cls(transformer=transformer, X_train=X_train)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Features of new rows (converted by the schema) as float32."""
        return np.asarray(self.transformer.transform(frame), dtype=np.float32)


class FittedEnsemble:
    """``predict(X) = task.finalize(selector.combine(member predictions))``.

    It holds the fold models of ``selector.required_members_`` only: a static ensemble
    rarely needs more than a handful of the library, while a dynamic one chooses
    members per row and so must run every pool member (``n_required``). A dynamic
    selector also needs ``competence``, which maps new rows into the feature space its
    neighbours live in.
    """

    #: Maps combined probabilities to calibrated ones (``autoens.calibration``), set
    #: after selection; None: none. A class attribute, so that ensembles saved before
    #: calibration existed load without it.
    calibrator: Any = None

    def __init__(
        self,
        members: Mapping[int, list[Any]],
        selector: Any,
        *,
        n_models: int,
        task: Any,
        competence: CompetenceSpace | None = None,
    ) -> None:
        self.selector = selector
        self.n_models = n_models
        self.task = task
        self.required = np.asarray(selector.required_members_, dtype=np.int64)
        missing = [int(i) for i in self.required if int(i) not in members]
        if missing:
            raise ValueError(f"fold models of required members {missing} are missing")
        self.members = {int(i): members[int(i)] for i in self.required}
        # What CV+ intervals need: each member's fold models, even after a member
        # is refit on all rows (``set_member_models``) and predicts with one model.
        self.fold_members = dict(self.members)
        if selector.is_dynamic and competence is None:
            raise ValueError(
                f"{type(selector).__name__} is a dynamic selector: pass the "
                "CompetenceSpace its neighbours were found in (competence=...)"
            )
        self.competence = competence

    @property
    def n_required(self) -> int:
        """How many library members must run at predict time."""
        return len(self.required)

    @property
    def is_dynamic(self) -> bool:
        return bool(self.selector.is_dynamic)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The ensemble's prediction rows for converted data (class probabilities for
        classification), float64. Each member predicts with the mean of its fold
        models, or with its one model refit on all rows."""
        shared: dict = {}  # preprocessing every member's models share
        required = np.stack(
            [
                predict_member(self.members[int(i)], X, self.task, shared)
                for i in self.required
            ]
        )
        return self._combine(required, X)

    @property
    def refit_members(self) -> list[int]:
        """Members that predict with a model refit on all rows, not fold models."""
        return [i for i, m in self.members.items() if m is not self.fold_members[i]]

    def set_member_models(self, index: int, models: list[Any]) -> None:
        """Let member ``index`` predict with ``models`` (its refit model, as a list
        of one); its fold models stay in ``fold_members`` for :meth:`predict_folds`."""
        if int(index) not in self.members:
            raise KeyError(f"library member {index} is not in the ensemble")
        self.members[int(index)] = list(models)

    def predict_folds(self, X: pd.DataFrame) -> np.ndarray:
        """(n_folds, n_rows, n_outputs) float64: for each CV fold, the ensemble of the
        members' models of that fold (what CV+ intervals need). Always the fold
        models, also for members refit on all rows."""
        folds = self.fold_members
        n_folds = len(folds[int(self.required[0])])
        return np.stack(
            [
                self._combine(
                    np.stack(
                        [self.task.predict(folds[int(i)][k], X) for i in self.required]
                    ).astype(np.float32),
                    X,
                )
                for k in range(n_folds)
            ]
        )

    def _combine(self, required: np.ndarray, X: pd.DataFrame) -> np.ndarray:
        """The selector's combination of the required members' predictions."""
        if self.selector.is_dynamic or not self.selector.is_weighted_average:
            n_outputs = self.task.n_outputs
            full = np.zeros((self.n_models, len(X), n_outputs), dtype=np.float32)
            full[self.required] = required
            if self.selector.is_dynamic:
                assert self.competence is not None  # checked in __init__
                combined = self.selector.combine(full, X=self.competence.transform(X))
            else:
                combined = self.selector.combine(full, X=X)
        else:
            # A weighted average needs no zero predictions for the unused members.
            weights = np.asarray(self.selector.weights_, dtype=np.float32)
            combined = np.tensordot(weights[self.required], required, axes=1)
        outputs = self.task.finalize(combined)
        if self.calibrator is not None:
            outputs = self.calibrator.transform(outputs)
        return outputs

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "task" not in state:  # saved by autoens 0.1, which knew only classes
            n_classes = state.pop("n_classes")
            state["task"] = ClassificationTask(classes=np.arange(n_classes))
        if "fold_members" not in state:  # saved before refit existed: all bagged
            state["fold_members"] = dict(state["members"])
        self.__dict__.update(state)
