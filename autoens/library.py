"""The library of a finished search: what every selector is fit on.

A ``Library`` holds, for each candidate that finished, its trial number, config, OOF
loss and OOF predictions (the tensor ``P[n_models, n_samples, n_outputs]``), plus the
encoded target and the fit's row weights (None without). That is all a selector
needs, so any selector can be re-run on it without fitting a base model
(``autoens.select``). It is read from the prediction
cache, the one carrier of predictions and fold models, and keeps that cache object to
fetch fold models later; fold models it must keep (the ensemble's members) are held in
memory so that a saved model predicts without the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoens.cache import PredictionCache, get_cache
from autoens.members import predict_member
from autoens.task import ClassificationTask
from autoens.trials import TrialRecord

__all__ = ["Library"]

logger = logging.getLogger("autoens")


@dataclass
class Library:
    """Successful candidates of one search, in trial order."""

    trials: list[int]
    learners: list[str]
    params: list[dict[str, Any]]
    keys: list[str]
    losses: np.ndarray
    oof: np.ndarray  # (n_models, n_samples, n_outputs) float32
    y: np.ndarray
    task: Any
    cache: PredictionCache | None = field(default=None, repr=False)
    models: dict[int, list[Any]] = field(default_factory=dict, repr=False)
    #: Row weights of the fit (None: unweighted); selectors re-run on the library
    #: weight their losses the same way.
    sample_weight: np.ndarray | None = field(default=None, repr=False)
    #: Seconds one fold model takes to predict 1,000 rows, per model (float64; NaN:
    #: not recorded, e.g. a cache entry written by an older autoens). Measured in
    #: the search, free, as each fold model predicts its held-out fold: a batch
    #: figure (one call's overhead is spread over a fold's rows, so small data
    #: inflates it a little); one row at a time costs mostly per-call overhead.
    predict_time_per_1k: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.predict_time_per_1k is None:
            self.predict_time_per_1k = np.full(len(self.trials), np.nan)

    @classmethod
    def from_cache(
        cls,
        cache: PredictionCache,
        records: Sequence[TrialRecord],
        y: np.ndarray,
        *,
        task: Any,
        sample_weight: np.ndarray | None = None,
    ) -> Library:
        """The ``ok`` records' predictions, read from ``cache`` into one tensor.

        Fold models stay in the cache until :meth:`fold_models` or :meth:`keep_only`
        asks for them. An entry that vanished or went bad since the search is left
        out with a warning (its trial then has no weight).
        """
        ok = sorted((r for r in records if r.status == "ok"), key=lambda r: r.number)
        found: list[TrialRecord] = []
        arrays: list[np.ndarray] = []
        for record in ok:
            entry = cache.get(record.key, load_models=False)
            if entry is None:
                logger.warning(
                    "trial %d (%s) is no longer in the prediction cache; it is left "
                    "out of the library",
                    record.number,
                    record.learner,
                )
                continue
            found.append(record)
            arrays.append(entry.oof)
        if arrays:
            oof = np.stack(arrays).astype(np.float32, copy=False)
        else:
            oof = np.empty((0, len(y), task.n_outputs), dtype=np.float32)
        return cls(
            trials=[r.number for r in found],
            learners=[r.learner for r in found],
            params=[r.params for r in found],
            keys=[r.key for r in found],
            losses=np.array([r.loss for r in found], dtype=np.float64),
            oof=oof,
            y=y,
            task=task,
            cache=cache,
            sample_weight=sample_weight,
            predict_time_per_1k=_per_1k(found),
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
        """Fold models of the given members, from memory or from the cache."""
        out: dict[int, list[Any]] = {}
        missing = []
        for i in indices:
            i = int(i)
            if i in self.models:
                out[i] = self.models[i]
                continue
            entry = None if self.cache is None else self.cache.get(self.keys[i])
            if entry is None or entry.models is None:
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

    def keep_only(self, indices: Iterable[int], *, release_cache: bool) -> None:
        """Hold the fold models of ``indices`` in memory and drop every other's.

        ``release_cache`` also lets go of the cache (the estimator's own in-memory
        cache dies with the fit, so the other candidates' models are freed); a cache
        the user passed stays, so ``autoens.select`` can fetch from it later.
        """
        keep = {int(i) for i in indices}
        kept = {i: m for i, m in self.models.items() if i in keep}
        kept.update(self.fold_models(sorted(keep - kept.keys())))
        self.models = kept
        if release_cache:
            self.cache = None

    def predict(self, X: pd.DataFrame, indices: Sequence[int]) -> np.ndarray:
        """Predictions of the given members on new (converted) data: (k, n, outputs)."""
        models = self.fold_models(indices)
        return np.stack([predict_member(models[int(i)], X, self.task) for i in indices])

    # --- pickling
    def __getstate__(self) -> dict[str, Any]:
        # A cache whose entries die with the process (in memory) is not saved with the
        # model; a persistent one (a folder) is, so fold models stay reachable.
        state = self.__dict__.copy()
        if not getattr(self.cache, "persistent", False):
            state["cache"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "cache_dir" in state:  # saved by autoens 0.1: a folder path, no task
            cache_dir = state.pop("cache_dir")
            fingerprint = state.pop("fingerprint")
            state["cache"] = (
                None
                if cache_dir is None
                else get_cache(cache_dir, fingerprint=fingerprint)
            )
            n_classes = state["oof"].shape[2]
            state["task"] = ClassificationTask(classes=np.arange(n_classes))
        if state.get("predict_time_per_1k") is None:  # saved before it was measured
            state["predict_time_per_1k"] = np.full(len(state["trials"]), np.nan)
        self.__dict__.update(state)


def _per_1k(records: Sequence[TrialRecord]) -> np.ndarray:
    """Seconds per 1,000 rows of one fold model: the trial's predict time over the
    rows its fold models predicted (NaN where the rows were not recorded)."""
    seconds = np.array([r.predict_time for r in records], dtype=np.float64)
    rows = np.array([getattr(r, "predict_rows", 0) for r in records], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rows > 0, 1000.0 * seconds / rows, np.nan)
