"""The search: what to try, how it is scored, until the budget is spent.

:func:`run_search` is the front door: it builds the Optuna study (in memory, or an
RDB ``storage`` that makes a run resumable), the sampler or proposer of the chosen
strategy and the trial executor, then runs the ask → evaluate → cache.put → tell loop.
Everything a trial produces goes into the prediction cache; the returned
:class:`~autoens.trials.TrialRecord` list is metadata.

A first Ctrl-C (SIGINT) ends the search early and keeps every finished trial (see
``interrupt.py``); the returned list then says ``interrupted``.

Hopeless configurations are stopped after their first folds (``pruning``, see
``pruning.py``): they are recorded as ``"pruned"`` and never reach the cache.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import TrialState

from autoens.cache import PredictionCache
from autoens.callbacks import BaseCallback
from autoens.folds import Folds
from autoens.metrics import Metric
from autoens.search.cost import CostModel, order_by_cost
from autoens.search.evaluate import Evaluator, evaluate_config
from autoens.search.executors import resolve_n_jobs
from autoens.search.loop import Budget, SearchLoop, open_study, quiet_optuna
from autoens.search.pruning import PercentilePruning, make_pruning
from autoens.search.storage import check_storage, open_error
from autoens.search.strategies import SEARCH_STRATEGIES, make_proposer, make_sampler
from autoens.space import FeatureTypes, LearnerSpec, accepts_sample_weight
from autoens.trials import TrialRecord

__all__ = [
    "SEARCH_STRATEGIES",
    "Budget",
    "PercentilePruning",
    "SearchRecords",
    "check_storage",
    "run_search",
    "study_name",
]

# Trials of an earlier run that count towards n_trials (RUNNING ones were left by a
# run that died; the loop takes them over).
_SPENT = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.RUNNING)


class SearchRecords(list[TrialRecord]):
    """The records of a search, whether a Ctrl-C ended it early, and where its
    time went: ``timings`` in seconds, the loop's own ``startup`` (worker pool
    start-up), ``proposal`` (asking for configurations, summed) and ``idle``
    (worker-seconds without a trial after the first submission), and the sums over
    the trials of their ``TrialRecord.timings`` stages (``queue``, ``preprocess``,
    ``fit``, ``predict``, ``cache_write``)."""

    interrupted: bool = False
    timings: dict[str, float] = {}  # noqa: RUF012 (replaced, never mutated)


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
    sample_weight: np.ndarray | None = None,
    pruning: Any = None,
    cost: CostModel | None = None,
) -> SearchRecords:
    """Search ``specs`` on the shared ``folds`` until ``budget`` is spent.

    ``portfolio`` configs are tried first (warm start), then ``search`` proposes
    (``"tpe"``, ``"random"``, ``"divbo"``, ``"bo"`` or a proposer object). Returns one
    record per trial; the predictions and fold models of the ``ok`` ones are in
    ``cache``.

    ``sample_weight`` (validated row weights, or None; ``folds`` must have been made
    with them so the cache keys differ) weights every fold model's training rows and
    every trial's loss; a ``UserWarning`` names the learners that cannot weight rows
    (they fit unweighted, their losses are still weighted).

    ``pruning`` (``"auto"``, a percentile in (0, 100), a
    :class:`~autoens.search.pruning.PercentilePruning` or None) stops a trial after
    a fold whose loss is worse than that percentile of the finished trials' losses
    on the same fold (status ``"pruned"``, not in ``cache``; None, the default, never
    prunes); only an ``evaluate`` taking ``metric=`` and ``prune_thresholds=`` can
    prune.

    ``cost`` predicts a trial's seconds (default: ``CostModel.from_data`` on this
    data): with a time limit, the warm start's configs predicted to take more than a
    tenth of the budget run last, and the sampler's proposals predicted not to
    finish in the time a trial may still run are skipped (told to Optuna as pruned,
    status ``skipped``; not trials of ``n_trials``).

    A ``storage`` that cannot be opened is a ``ValueError`` naming it, before any
    trial runs. A first Ctrl-C stops the search: the running trials are stopped
    (``cancelled``), a ``UserWarning`` says how many finished, and the records come
    back with ``interrupted`` set; with none usable, ``KeyboardInterrupt`` is raised.
    A second Ctrl-C raises ``KeyboardInterrupt`` at once.
    """
    check_storage(storage)
    rule = make_pruning(pruning)
    n_workers = resolve_n_jobs(n_jobs)
    # What a trial will cost on this data: the warm start runs its cheap entries
    # first on big data, and proposals that cannot finish in the time left are skipped.
    if cost is None:
        cost = CostModel.from_data(len(y), feature_types, task, len(folds.splits))
    portfolio = order_by_cost(portfolio, cost, budget.time_limit, n_jobs=n_workers)
    if sample_weight is not None:
        _warn_unweighted_learners(specs, feature_types)
    name = study_name(folds, metric)
    try:
        study = open_study(storage, name, make_sampler(search, random_state), portfolio)
    except Exception as exc:
        error = open_error(storage, exc)
        if error is None:
            raise
        raise error from None
    # A resumed study: a sampler seeded as in the first run would propose that run's
    # configurations again (all answered from the cache, budget spent on nothing), so
    # proposals continue from a seed that also counts the finished trials. Learners
    # keep the fit's seed.
    proposal_seed = random_state + len(study.get_trials(deepcopy=False, states=_SPENT))
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
        n_jobs=n_workers,
        random_state=random_state,
        callbacks=callbacks,
        proposer=make_proposer(search, proposal_seed),
        evaluate=evaluate,
        sample_weight=sample_weight,
        pruning=rule,
        cost=cost,
    )
    with quiet_optuna():
        records = SearchRecords(loop.run())
    records.interrupted = loop.interrupted
    records.timings = dict(loop.timings)
    for stage in ("queue", "preprocess", "fit", "predict", "cache_write"):
        records.timings[stage] = sum(r.timings.get(stage, 0.0) for r in records)
    if records.interrupted:
        _report_interrupt(records)
    return records


def _warn_unweighted_learners(
    specs: Sequence[LearnerSpec], feature_types: FeatureTypes
) -> None:
    """Say once, before any trial, which learners will ignore the row weights."""
    ignoring = []
    for spec in specs:
        try:
            model = spec.make({}, feature_types, 0)
        except Exception:  # a learner that cannot even be built fails its trials
            continue
        if not accepts_sample_weight(model):
            ignoring.append(spec.name)
    if ignoring:
        warnings.warn(
            f"learners {ignoring} cannot weight rows: they fit without sample_weight "
            "(their trial losses and the ensemble selection still use the weights)",
            UserWarning,
            stacklevel=3,
        )


def _report_interrupt(records: SearchRecords) -> None:
    """Warn how much of an interrupted search finished; nothing usable: re-raise."""
    finished = [r for r in records if r.status != "cancelled"]
    usable = sum(r.status == "ok" for r in records)
    stopped = len(records) - len(finished)
    if not usable:
        raise KeyboardInterrupt(
            f"the search was interrupted (Ctrl-C) before any trial finished "
            f"({len(finished)} finished without a usable result, {stopped} stopped); "
            "there is nothing to build an ensemble from"
        )
    warnings.warn(
        f"the search was interrupted (Ctrl-C) after {len(finished)} trial(s) "
        f"finished ({usable} usable); {stopped} running trial(s) were stopped. The "
        "ensemble is built from the finished ones (search_interrupted_ is True); "
        "with cache_dir and storage, fitting again continues the search.",
        UserWarning,
        stacklevel=3,
    )
