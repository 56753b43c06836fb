"""The library of a finished search: what every selector is fit on.

A ``Library`` holds, for each candidate that finished, its trial number, config, OOF
loss and OOF probabilities (the tensor ``P[n_models, n_samples, n_classes]``), plus the
labels. That is all a selector needs, so any selector can be re-run on it without
fitting a base model (``autoens.select``). Fold models are needed only to *predict*:
the library keeps them in memory, or finds them again in the disk cache of the search.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoens.cache import DiskCache
from autoens.search.evaluate import member_proba
from autoens.search.loop import TrialRecord


@dataclass
class Library:
    """Successful candidates of one search, in trial order."""

    trials: list[int]
    learners: list[str]
    params: list[dict[str, Any]]
    keys: list[str]
    losses: np.ndarray
    oof: np.ndarray  # (n_models, n_samples, n_classes) float32
    y: np.ndarray
    fingerprint: str
    cache_dir: str | os.PathLike[str] | None = None
    models: dict[int, list[Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_records(
        cls,
        records: Sequence[TrialRecord],
        y: np.ndarray,
        *,
        fingerprint: str,
        cache_dir: Any = None,
    ) -> Library:
        ok = sorted((r for r in records if r.status == "ok"), key=lambda r: r.number)
        return cls(
            trials=[r.number for r in ok],
            learners=[r.learner for r in ok],
            params=[r.params for r in ok],
            keys=[r.key for r in ok],
            losses=np.array([r.loss for r in ok], dtype=np.float64),
            oof=np.stack([r.oof for r in ok]).astype(np.float32, copy=False)
            if ok
            else np.empty((0, len(y), 0), dtype=np.float32),
            y=y,
            fingerprint=fingerprint,
            cache_dir=cache_dir if isinstance(cache_dir, str | os.PathLike) else None,
            models={i: r.models for i, r in enumerate(ok) if r.models is not None},
        )

    def __len__(self) -> int:
        return len(self.trials)

    @property
    def configs(self) -> list[dict[str, Any]]:
        """One ``{"learner", "params"}`` dict per model, for config-aware selectors."""
        return [
            {"learner": learner, "params": params}
            for learner, params in zip(self.learners, self.params, strict=True)
        ]

    @property
    def best(self) -> int:
        """Index of the single best candidate (lowest OOF loss, then lowest trial)."""
        return int(np.lexsort((self.trials, self.losses))[0])

    def index_of(self, trial: int) -> int:
        try:
            return self.trials.index(trial)
        except ValueError:
            raise KeyError(f"trial {trial} is not in the library") from None

    def fold_models(self, indices: Iterable[int]) -> dict[int, list[Any]]:
        """Fold models of the given members, from memory or from the disk cache."""
        out: dict[int, list[Any]] = {}
        missing = []
        cache = (
            DiskCache(self.cache_dir, self.fingerprint)
            if self.cache_dir is not None
            else None
        )
        for i in indices:
            i = int(i)
            if i in self.models:
                out[i] = self.models[i]
                continue
            entry = cache.get(self.keys[i]) if cache is not None else None
            if entry is None:
                missing.append(self.trials[i])
            else:
                out[i] = entry.models
        if missing:
            raise ValueError(
                f"the fold models of trials {missing} were not kept, so an ensemble "
                "using them cannot predict. Fit with keep_models='all' or with a "
                "cache_dir to re-run selectors on a finished search."
            )
        return out

    def keep_only(self, indices: Iterable[int]) -> None:
        """Drop the fold models of every other member (a saved model stays small)."""
        keep = {int(i) for i in indices}
        self.models = {i: m for i, m in self.models.items() if i in keep}
        # Members found in a disk cache arrive without models (read lazily): load the
        # kept ones now, so a saved model predicts without the cache folder.
        unloaded = keep - self.models.keys()
        if unloaded and self.cache_dir is not None:
            self.models.update(self.fold_models(sorted(unloaded)))

    def predict_proba(self, X: pd.DataFrame, indices: Sequence[int]) -> np.ndarray:
        """Predictions of the given members on new (converted) data: (k, n, C)."""
        models = self.fold_models(indices)
        n_classes = self.oof.shape[2]
        return np.stack([member_proba(models[int(i)], X, n_classes) for i in indices])
