"""What every autoens estimator does in ``fit``: validate → task → folds → search →
library → select → ensemble.

``AutoEnsembleClassifier`` and ``AutoEnsembleRegressor`` (``estimator.py``) share all
of it through :class:`AutoEnsembleBase`; what differs between them is the task type
(what the target and a prediction mean, how folds are built) and the methods users
call to predict.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import AbstractContextManager
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from autoens._sklearn import HasMethods, Interval, StrOptions, _fit_context
from autoens.cache import get_cache
from autoens.callbacks import BaseCallback, LogCallback, TqdmProgress
from autoens.ensemble import CompetenceSpace, FittedEnsemble
from autoens.library import Library
from autoens.metrics import Metric, get_metric
from autoens.selectors import AutoSelector, get_selector
from autoens.space import get_learners, get_portfolio
from autoens.tabular import TableSchema
from autoens.task import ClassificationTask
from autoens.trials import TrialRecord

# Share of ``time_limit`` kept back for selection and bookkeeping after the search, so
# that ``fit`` returns within its budget (peers overrun theirs by up to 17 %).
_SELECTION_RESERVE = 0.05
_MAX_SELECTION_RESERVE = 10.0
# Without its own limit a trial may use this share of ``time_limit``.
_DEFAULT_TRIAL_SHARE = 0.25


class SearchError(RuntimeError):
    """No candidate finished, so there is nothing to ensemble."""


class AutoEnsembleBase(BaseEstimator):
    """Search diverse base learners, then build an ensemble from their OOF predictions.

    Subclasses set ``_task_type`` and add the task's predict methods; their
    docstrings list the parameters.
    """

    #: The task type whose ``from_target`` encodes ``y`` (``task_``).
    _task_type: ClassVar[Any] = ClassificationTask

    _parameter_constraints: ClassVar[dict] = {
        "time_limit": [Interval(Real, 0, None, closed="neither"), None],
        "n_trials": [Interval(Integral, 1, None, closed="left"), None],
        "trial_time_limit": [Interval(Real, 0, None, closed="neither"), None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "metric": [str, HasMethods(["loss"]), None],
        "selector": [str, HasMethods(["fit", "combine"])],
        # Names are checked in fit against autoens.search.SEARCH_STRATEGIES: the
        # estimator imports the search package only when it searches, so loading a
        # saved model and predicting never does.
        "search": [str, HasMethods(["propose"])],
        "portfolio": [StrOptions({"default"}), list, tuple, None],
        "learners": [list, tuple, None],
        "n_jobs": [Integral, None],
        "cache_dir": [str, os.PathLike, None, HasMethods(["get", "put"])],
        "storage": [str, None, HasMethods(["create_new_study"])],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
        "keep_models": [StrOptions({"ensemble", "all"})],
    }

    def __init__(
        self,
        *,
        time_limit: float | None = None,
        n_trials: int | None = 50,
        trial_time_limit: float | None = None,
        cv: int = 5,
        metric: Any = None,
        selector: Any = "ges",
        search: str = "tpe",
        portfolio: Any = "default",
        learners: Any = None,
        n_jobs: int | None = None,
        cache_dir: Any = None,
        storage: Any = None,
        random_state: Any = None,
        verbose: int = 0,
        keep_models: str = "ensemble",
    ) -> None:
        self.time_limit = time_limit
        self.n_trials = n_trials
        self.trial_time_limit = trial_time_limit
        self.cv = cv
        self.metric = metric
        self.selector = selector
        self.search = search
        self.portfolio = portfolio
        self.learners = learners
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.storage = storage
        self.random_state = random_state
        self.verbose = verbose
        self.keep_models = keep_models

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.non_deterministic = self.time_limit is not None
        return tags

    # --- fit
    def _budget(self) -> Any:
        from autoens.search import SEARCH_STRATEGIES, Budget

        if isinstance(self.search, str) and self.search not in SEARCH_STRATEGIES:
            raise ValueError(
                f"unknown search strategy {self.search!r}; choose one of "
                f"{list(SEARCH_STRATEGIES)} or pass a proposer object such as "
                "autoens.search.divbo.DivBO()"
            )
        if self.n_trials is None and self.time_limit is None:
            raise ValueError(
                "set n_trials, time_limit or both: the search needs a budget"
            )
        search_time = None
        trial_limit = self.trial_time_limit
        if self.time_limit is not None:
            reserve = min(_SELECTION_RESERVE * self.time_limit, _MAX_SELECTION_RESERVE)
            search_time = self.time_limit - reserve
            if trial_limit is None:
                trial_limit = _DEFAULT_TRIAL_SHARE * self.time_limit
        return Budget(self.n_trials, search_time, trial_limit)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Search base learners on ``X, y`` and build the ensemble; returns self.

        ``sample_weight`` (one non-negative weight per row) weights every learner
        that accepts weights (a warning names those that do not), every trial's
        loss and the selector's objective; equal weights are the same as none.
        """
        from autoens.search import run_search

        budget = self._budget()
        fit_start = time.monotonic()  # what is left after the search goes to "auto"
        X = _check_table(X)
        self.task_, y_enc = self._task_type.from_target(y)
        self._learn_target(self.task_)
        validate_data(self, X, reset=True, skip_check_array=True)
        if X.shape[0] != len(y_enc):  # before the schema reads the columns
            raise ValueError(
                f"X has {X.shape[0]} rows but y has {len(y_enc)} values; "
                "they must match"
            )
        self.schema_, frame = TableSchema.learn(X)
        # The user's input columns (scikit-learn's meaning), not the learners' ones.
        self.n_features_in_ = len(self.schema_.columns)
        self.feature_report_ = self.schema_.report()
        if self.verbose > 0:
            self.schema_.log_summary()
        rng = check_random_state(
            self.random_state
            if not isinstance(self.random_state, np.random.Generator)
            else int(self.random_state.integers(2**31 - 1))
        )
        seed = int(rng.randint(np.iinfo(np.int32).max))
        metric = self.task_.default_metric if self.metric is None else self.metric
        self.metric_ = get_metric(metric, task=self.task_)
        weights = self._check_sample_weight(sample_weight, len(y_enc))
        folds = self.task_.make_folds(
            frame, y_enc, n_splits=self.cv, random_state=seed, sample_weight=weights
        )
        specs = get_learners(self.learners, task=self.task_)
        from autoens.search.storage import check_storage

        check_storage(self.storage)  # before get_cache creates the cache folder
        cache = get_cache(self.cache_dir, fingerprint=folds.fingerprint)
        callbacks: list[BaseCallback] = []
        if self.verbose > 0:
            callbacks.append(TqdmProgress())
        if self.verbose > 1:
            callbacks.append(LogCallback())
        records = run_search(
            X=frame,
            y=y_enc,
            folds=folds,
            task=self.task_,
            feature_types=self.schema_.feature_types,
            specs=specs,
            portfolio=get_portfolio(self.portfolio, specs, task=self.task_),
            metric=self.metric_,
            cache=cache,
            budget=budget,
            search=self.search,
            storage=self.storage,
            n_jobs=self.n_jobs,
            random_state=seed,
            callbacks=callbacks,
            sample_weight=weights,
        )
        self.search_interrupted_ = records.interrupted  # a first Ctrl-C ended it
        with local_work():
            library = Library.from_cache(
                cache, records, y_enc, task=self.task_, sample_weight=weights
            )
            self._build(library, records, frame, folds, seed, fit_start)
        return self

    def _check_sample_weight(self, sample_weight: Any, n_samples: int) -> Any:
        """Validated weights, None when absent or all equal (the unweighted fit, with
        its cache keys); checked against the metric and selector before the search,
        so that no search is spent on a fit that would fail at selection."""
        w = self.metric_.check_sample_weight(sample_weight, n_samples)
        if w is None or np.all(w == w[0]):
            return None
        selector = get_selector(self.selector, random_state=0)
        if not getattr(selector, "_supports_sample_weight", False):
            raise ValueError(
                f"selector {type(selector).__name__} does not support sample_weight; "
                "use a built-in selector or fit without weights"
            )
        return w

    def _build(
        self,
        library: Library,
        records: list[TrialRecord],
        frame: pd.DataFrame,
        folds: Any,
        seed: int,
        fit_start: float,
    ) -> None:
        """Everything after the search: leaderboard, competence, ensemble."""
        if not len(library):
            raise SearchError(_no_candidate_message(records, self.time_limit))
        self.library_ = library
        self.leaderboard_ = self._leaderboard(records)
        self.n_folds_ = folds.n_splits
        self._fold_of_row = folds.test_fold_of(len(library.y)).astype(np.int16)
        self._seed = seed
        # Learned in every fit (cheap), so a dynamic selector can be replayed later.
        self.competence_ = CompetenceSpace.learn(frame, self.schema_.feature_types)
        self._assemble(
            self.selector,
            self.metric_,
            seed,
            time_limit=self._selection_time(time.monotonic() - fit_start),
        )
        # The ensemble already holds its members' fold models: hand them to the
        # library rather than read them from the cache a second time.
        library.models.update(self.ensemble_.members)
        if self.keep_models == "all":
            keep = range(len(library))
        else:
            keep = {*self.ensemble_.required.tolist(), library.best}
        # The in-memory cache this fit made for itself dies with it (the models of
        # the candidates not kept are freed); a cache the user gave stays reachable.
        library.keep_only(keep, release_cache=self.cache_dir is None)

    def _selection_time(self, elapsed: float) -> float | None:
        """Seconds selection may take after a search of ``elapsed`` seconds: what is
        left of ``time_limit``, at least the reserve kept back (None: no limit)."""
        if self.time_limit is None:
            return None
        reserve = min(_SELECTION_RESERVE * self.time_limit, _MAX_SELECTION_RESERVE)
        return max(reserve, self.time_limit - elapsed)

    def _assemble(
        self, selector: Any, metric: Metric, seed: int, time_limit: float | None = None
    ) -> None:
        """Fit ``selector`` on the library and build the ensemble (fit and replay).

        Every selector gets the competence features of the OOF rows as ``X``
        (static ones ignore them); ``time_limit`` caps ``"auto"``'s search.
        """
        lib = self.library_
        fitted = get_selector(selector, random_state=seed)
        if (
            time_limit is not None
            and isinstance(fitted, AutoSelector)
            and fitted.time_limit is None
        ):
            fitted.set_params(time_limit=time_limit)
        competence = getattr(self, "competence_", None)
        X = None if competence is None else competence.X_train
        fitted.fit(
            lib.oof,
            lib.y,
            metric=metric,
            X=X,
            configs=lib.configs,
            sample_weight=lib.sample_weight,
        )
        self.ensemble_ = FittedEnsemble(
            lib.fold_models(fitted.required_members_),
            fitted,
            n_models=len(lib),
            task=lib.task,
            competence=competence,
        )
        self.selector_ = fitted
        self.n_required_ = self.ensemble_.n_required
        self.selector_leaderboard_ = getattr(fitted, "selector_leaderboard_", None)
        trials = pd.Index(lib.trials, name="trial")
        self.weights_ = pd.Series(
            np.asarray(fitted.weights_, dtype=np.float64), index=trials, name="weight"
        )
        self.validation_loss_ = float(getattr(fitted, "validation_loss_", math.nan))
        self.best_trial_ = lib.trials[lib.best]
        board = self.leaderboard_.copy()
        board["weight"] = board["trial"].map(self.weights_).fillna(0.0)
        required = {lib.trials[int(i)] for i in self.ensemble_.required}
        board["required"] = board["trial"].isin(required)
        self.leaderboard_ = board
        self._after_assemble(X)

    def _learn_target(self, task: Any) -> None:
        """Task-specific fitted attributes (``classes_``)."""

    def _after_assemble(self, X_competence: np.ndarray | None) -> None:
        """Task-specific work once an ensemble is built (fit and ``select``)."""

    def _leaderboard(self, records: list[TrialRecord]) -> pd.DataFrame:
        to_score = self.metric_.to_score
        rows = [
            {
                "trial": r.number,
                "learner": r.learner,
                "loss": r.loss,
                self.metric_.score_name: to_score(r.loss)
                if r.status == "ok"
                else math.nan,
                "weight": 0.0,
                "status": r.status,
                "source": r.source,
                "fit_time": round(r.fit_time, 3),
                "proposal_time": round(r.proposal_time, 4),
                "params": r.params,
                "error": r.error,
            }
            for r in records
        ]
        board = pd.DataFrame(rows)
        board = board.sort_values(
            ["status", "loss", "trial"],
            key=lambda s: (s != "ok") if s.name == "status" else s,
            na_position="last",
        )
        return board.reset_index(drop=True)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        cache = state.get("cache_dir")
        if hasattr(cache, "persistent") and not cache.persistent:
            # An in-process cache object (it may hold locks, and every candidate's
            # models) does not travel with the saved model.
            state = {**state, "cache_dir": None}
        return state

    # --- predict
    def _transform(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self)
        X = _check_table(X)
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            # The schema names missing columns, ignores extra ones with a warning and
            # accepts any column order; sklearn's own check would reject all three.
            return self.schema_.transform(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        return self.schema_.transform(X)

    def _predict_outputs(self, X: Any) -> np.ndarray:
        """The ensemble's prediction rows for ``X`` (probabilities or one value)."""
        frame = self._transform(X)
        with local_work():
            return self.ensemble_.predict(frame)

    def _member_outputs(self, X: Any, trial: int) -> np.ndarray:
        """One library member's prediction rows, by its leaderboard trial number."""
        frame = self._transform(X)
        index = self.library_.index_of(trial)
        with local_work():
            outputs = self.library_.predict(frame, [index])[0]
        return outputs.astype(np.float64)


def local_work() -> AbstractContextManager[Any]:
    """Run in this process whatever joblib backend the caller set.

    Under ``parallel_config(backend="dask")`` only the trials belong on the cluster:
    scikit-learn's own ``joblib.Parallel`` calls inside preprocessing and selectors
    would otherwise be shipped there as tiny tasks (the dask backend ignores
    ``n_jobs=1``), costing round trips and hanging if a worker restarts meanwhile.
    """
    return parallel_config(backend="sequential")


def _check_table(X: Any) -> Any:
    """Frames pass as they are (mixed dtypes); anything else must be a 2-D array."""
    if isinstance(X, pd.DataFrame):
        return X
    return check_array(X, dtype=None, ensure_all_finite=False)


def _no_candidate_message(records: list[TrialRecord], time_limit: float | None) -> str:
    if not records:
        return (
            f"no candidate was evaluated within time_limit={time_limit}s; "
            "increase time_limit"
        )
    counts = pd.Series([r.status for r in records]).value_counts().to_dict()
    errors = " | ".join(
        list(dict.fromkeys(f"{r.learner}: {r.error}" for r in records))[:3]
    )
    if {"timeout", "cancelled"} & counts.keys():
        hint = "increase time_limit / trial_time_limit"
    else:
        hint = "check the data and the learners"
    return f"no candidate finished ({counts}); {hint}. First errors: {errors}"
