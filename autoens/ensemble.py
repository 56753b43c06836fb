"""The fitted ensemble: the selector plus the fold models of the members it needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from autoens.search.evaluate import member_proba


class FittedEnsemble:
    """``predict_proba(X) = selector.combine(member predictions)``.

    It holds the fold models of ``selector.required_members_`` only: a static ensemble
    rarely needs more than a handful of the library, and a dynamic one reports how many
    members it must run (``n_required``).
    """

    def __init__(
        self,
        members: Mapping[int, list[Any]],
        selector: Any,
        *,
        n_models: int,
        n_classes: int,
    ) -> None:
        self.selector = selector
        self.n_models = n_models
        self.n_classes = n_classes
        self.required = np.asarray(selector.required_members_, dtype=np.int64)
        missing = [int(i) for i in self.required if int(i) not in members]
        if missing:
            raise ValueError(f"fold models of required members {missing} are missing")
        self.members = {int(i): members[int(i)] for i in self.required}

    @property
    def n_required(self) -> int:
        """How many library members must run at predict time."""
        return len(self.required)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        n_classes = self.n_classes
        required = np.stack(
            [member_proba(self.members[int(i)], X, n_classes) for i in self.required]
        )
        if self.selector.is_dynamic or not self.selector.is_weighted_average:
            full = np.zeros((self.n_models, len(X), self.n_classes), dtype=np.float32)
            full[self.required] = required
            proba = self.selector.combine(full, X=X)
        else:
            # A weighted average needs no zero predictions for the unused members.
            weights = np.asarray(self.selector.weights_, dtype=np.float32)
            proba = np.tensordot(weights[self.required], required, axes=1)
        proba = np.clip(np.asarray(proba, dtype=np.float64), 0.0, None)
        return proba / proba.sum(axis=1, keepdims=True)
