"""The search: what to try, how it is scored, until the budget is spent.

:func:`run_search` is the front door: it builds the Optuna study (in memory, or an
RDB ``storage`` that makes a run resumable), the sampler or proposer of the chosen
strategy and the trial executor, then runs the ask → evaluate → cache.put → tell loop.
Everything a trial produces goes into the prediction cache; the returned
:class:`~autoens.trials.TrialRecord` list is metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import TrialState

from autoens.cache import PredictionCache
from autoens.callbacks import BaseCallback
from autoens.folds import Folds
from autoens.metrics import Metric
from autoens.search.evaluate import Evaluator, evaluate_config
from autoens.search.executors import resolve_n_jobs
from autoens.search.loop import Budget, SearchLoop, open_study, quiet_optuna
from autoens.search.strategies import SEARCH_STRATEGIES, make_proposer, make_sampler
from autoens.space import FeatureTypes, LearnerSpec
from autoens.trials import TrialRecord

__all__ = ["SEARCH_STRATEGIES", "Budget", "run_search", "study_name"]

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


def study_name(folds: Folds, metric: Metric) -> str:
    """The Optuna study of a search: one per (data, folds) and metric, so an RDB
    storage resumes the same search and never mixes two."""
    return f"autoens-{folds.fingerprint[:16]}-{metric.name}"


def run_search(
    *,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Folds,
    task: Any,
    feature_types: FeatureTypes,
    specs: Sequence[LearnerSpec],
    portfolio: Sequence[tuple[str, dict[str, Any]]],
    metric: Metric,
    cache: PredictionCache,
    budget: Budget,
    search: Any = "tpe",
    storage: Any = None,
    n_jobs: int | None = None,
    random_state: int = 0,
    callbacks: Sequence[BaseCallback] = (),
    evaluate: Evaluator = evaluate_config,
) -> list[TrialRecord]:
    """Search ``specs`` on the shared ``folds`` until ``budget`` is spent.

    ``portfolio`` configs are tried first (warm start), then ``search`` proposes
    (``"tpe"``, ``"random"``, ``"divbo"``, ``"bo"`` or a proposer object). Returns one
    record per trial; the predictions and fold models of the ``ok`` ones are in
    ``cache``.
    """
    name = study_name(folds, metric)
    study = open_study(storage, name, make_sampler(search, random_state), portfolio)
    # A resumed study: a sampler seeded as in the first run would propose that run's
    # configurations again (all answered from the cache, budget spent on nothing), so
    # proposals continue from a seed that also counts the finished trials. Learners
    # keep the fit's seed.
    proposal_seed = random_state + len(
        study.get_trials(deepcopy=False, states=_FINISHED)
    )
    if proposal_seed != random_state:
        study.sampler = make_sampler(search, proposal_seed)
    loop = SearchLoop(
        X=X,
        y=y,
        folds=folds,
        feature_types=feature_types,
        task=task,
        specs=specs,
        metric=metric,
        cache=cache,
        study=study,
        budget=budget,
        n_jobs=resolve_n_jobs(n_jobs),
        random_state=random_state,
        callbacks=callbacks,
        proposer=make_proposer(search, proposal_seed),
        evaluate=evaluate,
    )
    with quiet_optuna():
        return loop.run()
