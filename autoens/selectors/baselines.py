"""Baselines every benchmark table is anchored on."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from autoens.selectors.base import BaseSelector

__all__ = ["SingleBest"]


class SingleBest(BaseSelector):
    """All weight on the model with the lowest validation loss (ties: lowest index).

    Fitted attributes: ``weights_`` (one-hot), ``best_index_``, ``losses_`` (the loss of
    every model, shape (n_models,)).
    """

    _guarantees_single_best: ClassVar[bool] = True

    def __init__(self) -> None:
        pass

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        self.losses_ = self.metric_.loss(y, P)
        self.best_index_ = int(np.argmin(self.losses_))
        weights = np.zeros(P.shape[0], dtype=np.float64)
        weights[self.best_index_] = 1.0
        self.weights_ = weights
