"""The search loop: ask → evaluate → cache.put → tell, until the budget is spent.

Trials run in worker processes (loky, or the workers of a Dask cluster under joblib's
dask backend; see ``executors.py``) so that a learner that hangs or crashes the
interpreter can be stopped at its time limit without taking ``fit`` down with it, and so
that ``fit`` returns within ``time_limit``. The loop owns the budget; Optuna keeps the
trial bookkeeping (in memory, or in an RDB storage that makes a run resumable).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import time
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from autoens.cache import CacheEntry, PredictionCache, make_key
from autoens.callbacks import BaseCallback
from autoens.folds import Folds
from autoens.metrics import Metric
from autoens.search.cost import CostModel
from autoens.search.evaluate import (
    Evaluator,
    TrialResult,
    evaluate_config,
    fold_losses,
)
from autoens.search.executors import TrialExecutor, make_executor
from autoens.search.interrupt import SigintGuard
from autoens.search.proposers import Proposer, SearchHistory
from autoens.search.pruning import PercentilePruning
from autoens.space import (
    FeatureTypes,
    LearnerSpec,
    from_optuna_params,
    suggest,
    to_optuna_params,
)
from autoens.trials import TrialRecord

logger = logging.getLogger("autoens")

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
# While a Ctrl-C handler is installed the loop wakes this often to notice it.
_INTERRUPT_POLL = 0.2
#: ``TrialRecord.error`` of a trial stopped because the search was interrupted.
INTERRUPTED_ERROR = "the search was interrupted (Ctrl-C)"
# Left in storage as RUNNING by a run that died (SIGKILL, power loss): taken over.
_LEFT_RUNNING = "left RUNNING by a search that ended without finishing it (killed?)"
# Trials in storage that never ran a configuration: not counted in ``n_trials``.
_NEVER_RAN = ("abandoned", "skipped")
# A proposal predicted to take more than this share of the time a trial may still run
# is skipped (the prediction is a rough one; one within reach is worth trying).
_SKIP_MARGIN = 0.8
# Skipped proposals in a row after which the next one runs anyway: a sampler stuck in
# an expensive region must not spin the loop until the deadline.
_MAX_SKIPS_IN_A_ROW = 8


@dataclass
class _Job:
    number: int
    learner: str
    params: dict[str, Any]
    key: str
    trial: optuna.Trial | None  # None when re-evaluating a resumed trial
    proposal_time: float = 0.0
    deadline: float = math.inf
    started: float = 0.0
    submitted_at: float = math.nan  # time.time(): the worker's clock is another's


@dataclass(frozen=True)
class Budget:
    """How much search a ``fit`` may spend."""

    n_trials: int | None
    time_limit: float | None
    trial_time_limit: float | None


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs every told trial at INFO; our progress bar says it better."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


class SearchLoop:
    """Runs the trials of one ``fit``; ``autoens.search.run_search`` is the front door.

    Every finished candidate goes into ``cache`` at once (its predictions and fold
    models); the loop itself keeps only :class:`~autoens.trials.TrialRecord` metadata
    and a loss per key. ``evaluate`` is what a worker runs per trial
    (``evaluate_config``; tests pass a fake that fits nothing). With
    ``sample_weight`` the workers get the weights (as a last argument of ``evaluate``)
    and every trial's loss is the weighted one.

    An ``evaluate`` that takes ``metric=`` and ``prune_thresholds=`` (as
    ``evaluate_config`` does) gets the metric, so that it records each fold's loss,
    and, with ``pruning``, one threshold per fold computed at submit time from the
    finished trials' fold losses: a fold worse than its threshold stops the trial
    (status ``"pruned"``; its partial predictions never reach the cache).

    ``timings`` holds the loop's own totals in seconds: ``startup`` (worker pool
    creation and start-up), ``proposal`` (asking for configurations) and ``idle``
    (worker-seconds without a trial after the first submission).
    """

    def __init__(
        self,
        *,
        X: pd.DataFrame,
        y: np.ndarray,
        folds: Folds,
        feature_types: FeatureTypes,
        task: Any,
        specs: Sequence[LearnerSpec],
        metric: Metric,
        cache: PredictionCache,
        study: optuna.Study,
        budget: Budget,
        n_jobs: int,
        random_state: int,
        callbacks: Sequence[BaseCallback],
        proposer: Proposer | None = None,
        evaluate: Evaluator = evaluate_config,
        sample_weight: np.ndarray | None = None,
        pruning: PercentilePruning | None = None,
        cost: CostModel | None = None,
    ) -> None:
        self.X, self.y, self.folds = X, y, folds
        self.pruning = pruning
        # Predicts a trial's time: proposers see it, the sampler's too-slow
        # proposals are skipped (see _too_slow).
        self.cost = cost
        self._skips_in_a_row = 0
        #: Sampler proposals skipped because they would not finish in time.
        self.n_skipped = 0
        self._evaluate_takes_metric = _takes_keywords(
            evaluate, "metric", "prune_thresholds"
        )
        self.sample_weight = sample_weight
        # None: the study's sampler proposes; else our proposer, via enqueue + ask.
        self.proposer = proposer
        # Configs handed to the workers by _ask, by trial number: those without a
        # record yet are the proposer's pending ones.
        self._issued: dict[int, tuple[str, dict[str, Any]]] = {}
        self.feature_types, self.task = feature_types, task
        self.evaluate = evaluate
        self.specs = {s.name: s for s in specs}
        self.metric, self.cache, self.study = metric, cache, study
        self.budget, self.n_jobs, self.random_state = budget, n_jobs, random_state
        self.callbacks = callbacks
        self.records: list[TrialRecord] = []
        # key -> loss of the configs finished (or found in the cache) in this fit
        self._losses: dict[str, float] = {}
        self._running_keys: set[str] = set()
        # keys of the configs pruned in this fit (or in the run it resumes)
        self._pruned: set[str] = set()
        self._warned_learners: set[str] = set()
        #: Loop totals in seconds (see the class docstring).
        self.timings: dict[str, float] = {"startup": 0.0, "proposal": 0.0, "idle": 0.0}
        self._last_tick: float | None = None  # set at the first submission
        self._n_used = 0
        #: True when a first Ctrl-C ended the search early (see ``interrupt.py``).
        self.interrupted = False
        self._start = time.monotonic()
        self._deadline = math.inf
        if budget.time_limit is not None:
            self._deadline = self._start + budget.time_limit

    # --- budget
    def _time_up(self) -> bool:
        return time.monotonic() >= self._deadline

    def _can_ask(self) -> bool:
        n = self.budget.n_trials
        return (n is None or self._n_used < n) and not self._time_up()

    def _job_deadline(self) -> float:
        limit = self.budget.trial_time_limit
        own = time.monotonic() + limit if limit is not None else math.inf
        return min(own, self._deadline)

    # --- bookkeeping
    def _record(self, record: TrialRecord) -> None:
        self.records.append(record)
        for cb in self.callbacks:
            cb.on_trial_end(record)

    def _warn_failure(self, learner: str, what: str) -> None:
        if learner in self._warned_learners:
            logger.info("learner %r: %s", learner, what)
            return
        self._warned_learners.add(learner)
        warnings.warn(
            f"a {learner!r} configuration was dropped from the search: {what}. "
            "The search goes on; see leaderboard_ for every failure.",
            UserWarning,
            stacklevel=2,
        )

    def _from_entry(self, number: int, entry: CacheEntry, source: str) -> TrialRecord:
        meta = entry.meta
        return TrialRecord(
            number=number,
            learner=meta["learner"],
            params=dict(meta["params"]),
            key=entry.key,
            status="ok",
            source=source,
            loss=float(meta["loss"]),
            fit_time=float(meta.get("fit_time", 0.0)),
            predict_time=float(meta.get("predict_time", 0.0)),
            predict_rows=int(meta.get("predict_rows", 0)),
            fold_losses=[float(v) for v in meta.get("fold_losses", ())],
            n_folds_run=int(meta.get("n_folds_run", 0)),
            fold_iterations=list(meta.get("fold_iterations", ())),
        )

    # --- resume
    def resume(self) -> deque[_Job]:
        """Take finished trials from storage; queue those whose predictions are gone.

        A trial still RUNNING in storage was left by a run that died (killed): it
        never finished, so it is failed in the study (status ``cancelled``), counted
        once in ``n_trials``, and its configuration runs again, unless the cache
        already holds its predictions (the run died between storing them and telling
        the study). One cut off before its configuration was drawn is failed as
        ``abandoned`` and not counted: it never was a trial. One search per storage
        at a time: a RUNNING trial of a search still alive elsewhere would be taken
        over the same way.
        """
        replay: deque[_Job] = deque()
        for t in self.study.get_trials(deepcopy=False):
            if t.state == TrialState.RUNNING:
                t = self._take_over(t)
            if t.state not in _FINISHED or t.user_attrs.get("status") in _NEVER_RAN:
                continue
            self._n_used += 1
            if t.state == TrialState.PRUNED and t.user_attrs.get("status") == "pruned":
                self._resume_pruned(t)  # pruned for good: never run again
                continue
            # A trial cancelled by the last run's deadline never ran: its config is
            # run again (and counted once), like a finished one whose predictions
            # are gone, rather than spending a trial of the budget on nothing.
            cancelled = t.user_attrs.get("status") == "cancelled"
            if t.state != TrialState.COMPLETE and not cancelled:
                continue
            if t.user_attrs.get("duplicate_of"):
                continue
            config = self._config_of(t)
            if config is None:
                continue
            learner, params = config
            key = make_key(learner, params, self.folds.fingerprint)
            entry = self._cached(key)
            if entry is not None:
                self._losses[key] = float(entry.meta["loss"])
                self._record(self._from_entry(t.number, entry, "resumed"))
            else:
                replay.append(_Job(t.number, learner, params, key, trial=None))
        return replay

    def _resume_pruned(self, t: optuna.trial.FrozenTrial) -> None:
        """Record a trial an earlier run pruned, so it shows and is not re-run."""
        config = self._config_of(t)
        if config is None:
            return
        learner, params = config
        key = make_key(learner, params, self.folds.fingerprint)
        self._pruned.add(key)
        losses = [float(v) for v in t.user_attrs.get("fold_losses", ())]
        self._record(
            TrialRecord(
                number=t.number,
                learner=learner,
                params=params,
                key=key,
                status="pruned",
                source="resumed",
                error=t.user_attrs.get("error"),
                fold_losses=losses,
                n_folds_run=int(t.user_attrs.get("n_folds_run", len(losses))),
            )
        )

    def _take_over(self, t: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
        """Fail a trial that a dead run left RUNNING: ``cancelled`` (its
        configuration runs again) or, without a configuration, ``abandoned``."""
        trial = optuna.Trial(self.study, t._trial_id)
        if not self._drawn(t):
            trial.set_user_attr("status", "abandoned")
            trial.set_user_attr("error", _LEFT_RUNNING + "; it had no configuration")
        else:
            trial.set_user_attr("status", "cancelled")
            trial.set_user_attr("error", _LEFT_RUNNING)
        logger.info("trial %d was left RUNNING by an earlier run; taken over", t.number)
        return self.study.tell(t.number, state=TrialState.FAIL)

    def _drawn(self, t: optuna.trial.FrozenTrial) -> bool:
        """Whether a trial got its whole configuration before its run died."""
        if t.user_attrs.get("duplicate_of") or self._config_of(t) is not None:
            return True
        try:
            learner, _ = from_optuna_params(t.params)
        except ValueError:
            return False
        return learner not in self.specs  # another fit's learner: taken as whole

    def _config_of(self, t: optuna.trial.FrozenTrial) -> tuple[str, dict] | None:
        """The trial's (learner, params), or None when it is not one of ours or was
        cut off before all its parameters were drawn (it cannot be run again)."""
        for source in (t.params, t.system_attrs.get("fixed_params") or {}):
            try:
                learner, params = from_optuna_params(source)
            except ValueError:
                continue
            spec = self.specs.get(learner)
            if spec is not None and set(spec.distributions) <= set(params):
                return learner, params
        return None

    def _cached(self, key: str) -> CacheEntry | None:
        """A usable cache entry for ``key`` (predictions only; the library loads the
        fold models of the members it keeps)."""
        return self.cache.get(key, load_models=False)

    # --- ask
    def _history(self) -> SearchHistory:
        finished = {r.number for r in self.records}
        pending = [c for n, c in self._issued.items() if n not in finished]
        if self.cost is not None:
            self.cost.update(self.records)
        time_left = None
        if math.isfinite(self._deadline):
            time_left = max(0.0, self._deadline - time.monotonic())
        return SearchHistory(
            specs=list(self.specs.values()),
            records=self.records,
            pending=pending,
            y=self.y,
            metric=self.metric,
            cache=self.cache,
            sample_weight=self.sample_weight,
            time_left=time_left,
            trial_time_limit=self.budget.trial_time_limit,
            cost=self.cost,
        )

    def _propose(self) -> None:
        """Enqueue the proposer's next config, unless warm-start trials still wait.

        Optuna serves enqueued trials first (oldest first), so the portfolio runs
        before the proposer's first config, and the proposal is what ``ask`` returns.
        """
        assert self.proposer is not None
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if waiting:
            return
        proposal = self.proposer.propose(self._history())
        self.study.enqueue_trial(
            to_optuna_params(proposal.learner, proposal.params),
            user_attrs=proposal.attrs,
        )

    def _ask(self) -> _Job | None:
        """Ask Optuna for a config; answer at once from the cache when we can."""
        start = time.perf_counter()
        if self.proposer is not None:
            self._propose()
        # Optuna serves enqueued (warm-start) trials first; those always run.
        enqueued = self.cost is not None and bool(
            self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        )
        trial = self.study.ask()
        learner, params = suggest(trial, list(self.specs.values()))
        proposal_time = time.perf_counter() - start
        self.timings["proposal"] += proposal_time
        if self.proposer is not None:
            trial.set_user_attr("proposal_time", round(proposal_time, 4))
        if not enqueued and self._too_slow(trial, learner, params):
            return None
        self._n_used += 1
        key = make_key(learner, params, self.folds.fingerprint)
        if key in self._losses or key in self._running_keys or key in self._pruned:
            # The sampler proposed a config it already has: tell it the known answer (or
            # prune while the twin still runs, or was pruned) rather than spend a
            # worker on it.
            trial.set_user_attr("duplicate_of", key)
            if key in self._losses:
                self.study.tell(trial, self._losses[key])
            else:
                self.study.tell(trial, state=TrialState.PRUNED)
            return None
        entry = self._cached(key)
        if entry is not None:
            self._losses[key] = float(entry.meta["loss"])
            self.study.tell(trial, self._losses[key])
            record = self._from_entry(trial.number, entry, "cache")
            record.proposal_time = proposal_time
            self._record(record)
            return None
        self._issued[trial.number] = (learner, params)
        return _Job(trial.number, learner, params, key, trial, proposal_time)

    def _too_slow(
        self, trial: optuna.Trial, learner: str, params: dict[str, Any]
    ) -> bool:
        """Skip a sampler's proposal that the cost model predicts cannot finish in
        the time a trial may still run; it is told to Optuna as pruned (TPE ranks
        it with the worst, so it steers away) with status ``skipped``, and it is not
        a trial of ``n_trials``. Warm-start entries and a proposer's own proposals
        (DivBO filters its candidates itself) always run."""
        if self.cost is None or self.proposer is not None:
            return False
        history = self._history()
        available = history.time_available()
        if available is None or self._skips_in_a_row >= _MAX_SKIPS_IN_A_ROW:
            self._skips_in_a_row = 0
            return False
        predicted = self.cost.predict(learner, params)
        if predicted <= _SKIP_MARGIN * available:
            self._skips_in_a_row = 0
            return False
        self._skips_in_a_row += 1
        self.n_skipped += 1
        trial.set_user_attr("status", "skipped")
        trial.set_user_attr(
            "error",
            f"skipped: predicted {predicted:.1f}s, {available:.1f}s available",
        )
        self.study.tell(trial, state=TrialState.PRUNED)
        logger.info(
            "skipped a %s proposal: predicted %.1fs, %.1fs available",
            learner,
            predicted,
            available,
        )
        return True

    # --- run
    def _tick(self, n_running: int) -> None:
        """Count the worker-seconds without a trial since the last change in the
        number of running trials (called before each change)."""
        now = time.monotonic()
        if self._last_tick is not None:
            free = max(0, self.n_jobs - n_running)
            self.timings["idle"] += free * (now - self._last_tick)
        self._last_tick = now

    def _thresholds(self, job: _Job) -> list[float] | None:
        """The per-fold pruning thresholds of a new trial (None: no pruning).

        A resumed trial that is run again (its predictions were lost) finished
        once, so it is never pruned.
        """
        if self.pruning is None or job.trial is None:
            return None
        finished = [r.fold_losses for r in self.records if r.status == "ok"]
        thresholds = self.pruning.thresholds(finished, len(self.folds.splits))
        return thresholds if any(math.isfinite(t) for t in thresholds) else None

    def _submit(
        self, pool: TrialExecutor, job: _Job, running: dict[Future, _Job]
    ) -> None:
        job.deadline = self._job_deadline()
        job.started = time.monotonic()
        job.submitted_at = time.time()
        data: tuple[Any, ...] = (self.X, self.y, self.folds.splits)
        if self.sample_weight is not None:
            # Unweighted, ``evaluate`` is called as it always was (custom evaluators
            # need not know about weights).
            data += (self.sample_weight,)
        X, y, splits, *extra = pool.share(*data)
        evaluate = self.evaluate
        if self._evaluate_takes_metric:
            evaluate = functools.partial(
                evaluate, metric=self.metric, prune_thresholds=self._thresholds(job)
            )
        future = pool.submit(
            evaluate,
            self.specs[job.learner],
            job.params,
            X,
            y,
            splits,
            self.feature_types,
            self.task,
            self.random_state,
            *extra,
            key=f"autoens-trial-{job.number}",
        )
        self._tick(len(running))
        running[future] = job
        self._running_keys.add(job.key)

    def _finish(self, job: _Job, result: TrialResult) -> None:
        self._running_keys.discard(job.key)
        timings = dict(result.timings)
        if math.isfinite(result.started_at) and math.isfinite(job.submitted_at):
            timings["queue"] = max(0.0, result.started_at - job.submitted_at)
        record = TrialRecord(
            number=job.number,
            learner=job.learner,
            params=job.params,
            key=job.key,
            status=result.status,
            source="evaluated",
            fit_time=result.fit_time,
            predict_time=result.predict_time,
            predict_rows=result.predict_rows,
            proposal_time=job.proposal_time,
            error=result.error,
            fold_losses=[float(v) for v in result.fold_losses],
            n_folds_run=result.n_folds_run,
            fold_iterations=list(result.fold_iterations),
            timings=timings,
        )
        if result.status == "ok":
            self._store(job, result, record)
        elif result.status == "pruned":
            self._pruned.add(job.key)
        if job.trial is not None:
            self._tell(job.trial, record)
        if record.status in ("failed", "timeout"):
            self._warn_failure(job.learner, record.error or record.status)
        self._record(record)

    def _tell(self, trial: optuna.Trial, record: TrialRecord) -> None:
        """Tell Optuna a trial's outcome; a finished or pruned one also reports its
        fold losses as intermediate values (TPE ranks pruned trials by them)."""
        if record.status in ("ok", "pruned"):
            for step, loss in enumerate(record.fold_losses):
                if math.isfinite(loss):
                    trial.report(loss, step)
        if record.status == "ok":
            self.study.tell(trial, record.loss)
            return
        trial.set_user_attr("status", record.status)
        trial.set_user_attr("error", (record.error or "")[:500])
        if record.status == "pruned":
            # NaN losses are not reported: kept here, so a resumed run shows them
            trial.set_user_attr("fold_losses", record.fold_losses)
            trial.set_user_attr("n_folds_run", record.n_folds_run)
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, state=TrialState.FAIL)

    def _store(self, job: _Job, result: TrialResult, record: TrialRecord) -> None:
        """Score a finished trial and hand its predictions and models to the cache,
        the only place they are kept; a trial that cannot be stored failed."""
        loss = float(self.metric.loss_single(self.y, result.oof, self.sample_weight))
        if not math.isfinite(loss):
            record.status, record.error = "failed", f"non-finite OOF loss {loss}"
            return
        if not record.fold_losses:  # an evaluator that did not measure them
            record.fold_losses = fold_losses(
                self.metric, self.y, result.oof, self.folds.splits, self.sample_weight
            )
        record.n_folds_run = record.n_folds_run or len(self.folds.splits)
        meta = {
            "learner": job.learner,
            "params": job.params,
            "loss": loss,
            "metric": self.metric.name,
            "fit_time": result.fit_time,
            "predict_time": result.predict_time,
            "predict_rows": result.predict_rows,
            "warnings": result.warnings,
            "fold_losses": record.fold_losses,
            "n_folds_run": record.n_folds_run,
            "fold_iterations": record.fold_iterations,
            "timings": record.timings,
        }
        start = time.perf_counter()
        try:
            self.cache.put(CacheEntry(job.key, result.oof, result.models, meta))
        except (OSError, ValueError) as exc:
            record.status = "failed"
            record.error = f"the prediction cache refused the entry: {exc}"
            return
        record.timings["cache_write"] = time.perf_counter() - start
        record.loss = loss
        self._losses[job.key] = loss

    def _stop_overdue(
        self, pool: TrialExecutor, running: dict[Future, _Job], overdue: list[Future]
    ) -> None:
        """Stop the overdue trials (their workers are killed); record them, and run
        again the trials that were lost with those workers."""
        out_of_time = self._time_up()
        stopped = time.monotonic()  # restarting workers below takes time of its own
        lost = pool.stop(
            list(running), overdue, restart=not out_of_time, deadline=self._deadline
        )
        self._tick(len(running))
        for future in [*overdue, *lost]:
            job = running.pop(future)
            self._running_keys.discard(job.key)
            if future in lost and not out_of_time:
                self._submit(pool, job, running)
                continue
            elapsed = stopped - job.started
            if out_of_time:
                # Not the learner's fault: the search's own budget ran out.
                result = TrialResult(
                    status="cancelled",
                    fit_time=elapsed,
                    error=f"cancelled after {elapsed:.1f}s: the search's time is up",
                )
            else:
                limit = self.budget.trial_time_limit
                result = TrialResult(
                    status="timeout",
                    fit_time=elapsed,
                    error=f"stopped after {elapsed:.1f}s at trial_time_limit={limit}s",
                )
            self._finish(job, result)

    def _collect(self, future: Future, job: _Job) -> bool:
        """Record a finished future's trial; True when its worker process died."""
        try:
            result = future.result()
        except Exception as exc:  # the worker process died (segfault, OOM)
            self._finish(
                job,
                TrialResult(
                    status="failed",
                    error=f"worker process died: {type(exc).__name__}: {exc}",
                ),
            )
            return True
        self._finish(job, result)
        return False

    def _stop_interrupted(
        self, pool: TrialExecutor, running: dict[Future, _Job]
    ) -> None:
        """After a first Ctrl-C: keep every trial that finished, stop the others."""
        self._tick(len(running))
        for future in [f for f in running if f.done()]:
            self._collect(future, running.pop(future))
        finished = sum(r.status != "cancelled" for r in self.records)
        outcome = (
            f"the ensemble is built from the {finished} finished"
            if finished
            else "no trial has finished, so there is nothing to build an ensemble from"
        )
        logger.warning(
            "search interrupted (Ctrl-C): stopping %d running trial(s); %s. "
            "Press Ctrl-C again to abort.",
            len(running),
            outcome,
        )
        if not running:
            return
        pool.kill()
        stopped = time.monotonic()
        self._tick(len(running))
        for future, job in list(running.items()):
            del running[future]
            elapsed = stopped - job.started
            self._finish(
                job,
                TrialResult(
                    status="cancelled",
                    fit_time=elapsed,
                    error=f"cancelled after {elapsed:.1f}s: {INTERRUPTED_ERROR}",
                ),
            )

    def run(self) -> list[TrialRecord]:
        pending = self.resume()
        for cb in self.callbacks:
            cb.on_search_start(self.budget.n_trials, self.budget.time_limit)
        running: dict[Future, _Job] = {}
        with SigintGuard() as interrupt:
            start = time.perf_counter()
            pool = make_executor(self.n_jobs)
            try:
                pool.wait_ready(self._deadline)
                self.timings["startup"] = time.perf_counter() - start
                while not interrupt.requested:
                    while (
                        len(running) < self.n_jobs
                        and not self._time_up()
                        and not interrupt.requested
                    ):
                        if pending:
                            job: _Job | None = pending.popleft()
                        elif self._can_ask():
                            job = self._ask()
                        else:
                            break
                        if job is not None:
                            self._submit(pool, job, running)
                    if not running or interrupt.requested:
                        break
                    next_deadline = min(job.deadline for job in running.values())
                    timeout = min(max(0.0, next_deadline - time.monotonic()), 3600.0)
                    if interrupt.installed:
                        timeout = min(timeout, _INTERRUPT_POLL)
                    done, _ = wait(
                        list(running), timeout=timeout, return_when=FIRST_COMPLETED
                    )
                    broken = False
                    if done:
                        self._tick(len(running))
                    for future in done:
                        broken |= self._collect(future, running.pop(future))
                    if interrupt.requested:
                        break
                    now = time.monotonic()
                    overdue = [f for f, j in running.items() if j.deadline <= now]
                    if overdue or broken:
                        self._stop_overdue(pool, running, overdue)
                if interrupt.requested:
                    self.interrupted = True
                    self._stop_interrupted(pool, running)
            finally:
                self._tick(len(running))
                if running:
                    pool.kill()
                pool.close()
                for cb in self.callbacks:
                    cb.on_search_end(self.records)
        return self.records


def _takes_keywords(fn: Any, *names: str) -> bool:
    """Whether ``fn`` can be called with the keyword arguments ``names``."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a callable without a readable signature
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return True
    return all(name in parameters for name in names)


def open_study(
    storage: str | optuna.storages.BaseStorage | None,
    study_name: str,
    sampler: optuna.samplers.BaseSampler,
    portfolio: Sequence[tuple[str, dict[str, Any]]],
) -> optuna.Study:
    """Create (or load from RDB storage) the study; enqueue the warm-start configs."""
    with quiet_optuna():
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            sampler=sampler,
            direction="minimize",
            load_if_exists=True,
        )
        for learner, params in portfolio:
            study.enqueue_trial(to_optuna_params(learner, params), skip_if_exists=True)
    return study
