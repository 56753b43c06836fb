"""What every autoens estimator does in ``fit``: validate → task → folds → search →
library → select → ensemble.

``AutoEnsembleClassifier`` and ``AutoEnsembleRegressor`` (``estimator.py``) share all
of it through :class:`AutoEnsembleBase`; what differs between them is the task type
(what the target and a prediction mean, how folds are built) and the methods users
call to predict.
"""

from __future__ import annotations

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
from sklearn.utils.validation import check_is_fitted, validate_data

from autoens._sklearn import HasMethods, Interval, StrOptions, _fit_context
from autoens.cache import get_cache
from autoens.callbacks import BaseCallback, LogCallback, TqdmProgress
from autoens.ensemble import CompetenceSpace, FittedEnsemble
from autoens.latency import member_costs, pareto_front
from autoens.leaderboard import (
    ensemble_validation_loss,
    trial_leaderboard,
    with_ensemble,
)
from autoens.library import Library
from autoens.metrics import Metric, get_metric
from autoens.refit import (
    record_refit,
    refit_deadline,
    refit_ensemble,
    refit_reserve,
    refit_rows,
)
from autoens.selectors import AutoSelector, GreedyEnsembleSelection, get_selector
from autoens.selectors.budget import apply_budget
from autoens.space import get_learners, get_portfolio
from autoens.tabular import TableSchema, check_table, predict_input
from autoens.task import ClassificationTask
from autoens.trials import TrialRecord

# Share of ``time_limit`` kept back for selection and bookkeeping after the search, so
# that ``fit`` returns within its budget (peers overrun theirs by up to 17 %).
_SELECTION_RESERVE = 0.05
_MAX_SELECTION_RESERVE = 10.0
#: Trials of a ``fit`` given no budget; with a ``time_limit`` alone the search runs
#: until the time is spent (a user who gives a time budget expects it to be used).
DEFAULT_N_TRIALS = 50
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
        # "default" or the path of a portfolio file (checked in fit by get_portfolio)
        "portfolio": [str, os.PathLike, list, tuple, None],
        "learners": [list, tuple, None],
        "n_jobs": [Integral, None],
        "cache_dir": [str, os.PathLike, None, HasMethods(["get", "put"])],
        "storage": [str, None, HasMethods(["create_new_study"])],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
        "keep_models": [StrOptions({"ensemble", "all"})],
        # (0, inf]: an infinite budget is no budget.
        "max_predict_time": [Interval(Real, 0, None, closed="right"), None],
        "calibration": [StrOptions({"auto", "temperature", "isotonic"}), None],
        "refit": [StrOptions({"members"}), None],
        "pruning": [
            StrOptions({"auto"}),
            Interval(Real, 0, 100, closed="neither"),
            None,
        ],
    }

    def __init__(
        self,
        *,
        time_limit: float | None = None,
        n_trials: int | None = None,
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
        max_predict_time: float | None = None,
        calibration: str | None = None,
        refit: str | None = None,
        pruning: Any = None,
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
        self.max_predict_time = max_predict_time
        self.calibration = calibration
        self.refit = refit
        self.pruning = pruning

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
        n_trials = self.n_trials
        if n_trials is None and self.time_limit is None:
            n_trials = DEFAULT_N_TRIALS
        search_time = None
        trial_limit = self.trial_time_limit
        if self.time_limit is not None:
            reserve = min(_SELECTION_RESERVE * self.time_limit, _MAX_SELECTION_RESERVE)
            search_time = self.time_limit - reserve - refit_reserve(self)
            if trial_limit is None:
                trial_limit = _DEFAULT_TRIAL_SHARE * self.time_limit
        return Budget(n_trials, search_time, trial_limit)

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
        X = check_table(X)
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
        # Before the cache folder or the study exist: a bad portfolio file is
        # reported without side effects.
        portfolio = get_portfolio(self.portfolio, specs, task=self.task_)
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
            portfolio=portfolio,
            metric=self.metric_,
            cache=cache,
            budget=budget,
            search=self.search,
            storage=self.storage,
            n_jobs=self.n_jobs,
            random_state=seed,
            callbacks=callbacks,
            sample_weight=weights,
            pruning=self.pruning,
        )
        self.search_interrupted_ = records.interrupted  # a first Ctrl-C ended it
        self.search_timings_ = records.timings
        with local_work():
            library = Library.from_cache(
                cache, records, y_enc, task=self.task_, sample_weight=weights
            )
            self._build(library, records, frame, folds, seed, fit_start)
            self._refit_after_fit(frame, y_enc, weights, fit_start)
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
        self.leaderboard_ = trial_leaderboard(records, self.metric_)
        self.n_folds_ = folds.n_splits
        self._data_fingerprint = folds.fingerprint
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
        library.models.update(self.ensemble_.fold_members)
        if self.keep_models == "all":
            keep = range(len(library))
        else:
            keep = {*self.ensemble_.required.tolist(), library.best}
        # The in-memory cache this fit made for itself dies with it (the models of
        # the candidates not kept are freed); a cache the user gave stays reachable.
        library.keep_only(keep, release_cache=self.cache_dir is None)

    def _training_data(
        self, X: Any, y: Any, sample_weight: Any = None
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None, Any]:
        """``(frame, y_enc, weights, folds)`` of the data ``fit`` saw, laid out again.

        A fitted estimator does not keep its training rows (a deployed model should
        not carry them), so work after the fact (refit, distillation) takes them
        again; the folds' fingerprint of (data, target, weights) must match the fit's,
        or the work would silently mix two datasets.
        """
        check_is_fitted(self, "library_")
        frame = self._transform(X)
        _, y_enc = self._task_type.from_target(y)
        if len(y_enc) != len(frame):
            raise ValueError(
                f"X has {len(frame)} rows but y has {len(y_enc)} values; "
                "they must match"
            )
        if hasattr(self.task_, "classes"):
            # Encode against the fitted classes (a subset of them would re-number).
            y_enc = np.searchsorted(self.task_.classes, np.asarray(y))
        weights = self._check_sample_weight(sample_weight, len(y_enc))
        folds = self.task_.make_folds(
            frame,
            y_enc,
            n_splits=self.n_folds_,
            random_state=self._seed,
            sample_weight=weights,
        )
        if folds.fingerprint != getattr(self, "_data_fingerprint", None):
            raise ValueError(
                "X, y (and sample_weight) are not the data this model was fit on; "
                "pass exactly the rows, target and weights given to fit"
            )
        return frame, y_enc, weights, folds

    # --- refit: members retrained once on all training rows
    def refit_members(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        time_limit: float | None = None,
    ) -> Any:
        """Retrain each ensemble member's configuration once on all of ``X, y``;
        returns self.

        What ``refit="members"`` does in ``fit``, after the fact: each member then
        predicts with one model instead of the mean of its ``n_folds_`` fold models
        (k times fewer models to run), trained on all rows rather than on
        (k-1)/k of them. The ensemble's weights stay those chosen on the fold
        models' out-of-fold predictions. A learner that stopped early in its folds
        trains for the mean of their iterations (``LearnerSpec.refit_params``).
        The model does not keep its training data, so ``X``, ``y`` and
        ``sample_weight`` must be exactly those given to ``fit`` (a fingerprint
        check refuses other data). Members are refit in order of weight while
        their estimated time (their fold fit time over k-1) fits in
        ``time_limit`` seconds; a member that is not refit, or whose refit fails,
        keeps its fold models, with a warning. ``refit_`` says what happened.
        """
        if time_limit is not None and not (
            isinstance(time_limit, Real) and time_limit > 0
        ):
            raise ValueError(
                f"time_limit must be a positive number, got {time_limit!r}"
            )
        frame, y_enc, weights, _ = self._training_data(X, y, sample_weight)
        deadline = None if time_limit is None else time.monotonic() + time_limit
        with local_work():
            refit_ensemble(self, frame, y_enc, weights, deadline=deadline)
        return self

    def _refit_after_fit(
        self,
        frame: pd.DataFrame,
        y: np.ndarray,
        weights: np.ndarray | None,
        fit_start: float,
    ) -> None:
        """``fit``'s last step: refit the members when ``refit="members"``, within
        what is left of ``time_limit``; otherwise record that they are bagged."""
        if getattr(self, "refit", None) != "members":
            record_refit(self, refit_rows(self))
            return
        deadline = refit_deadline(self, fit_start)
        refit_ensemble(self, frame, y, weights, deadline=deadline)

    def _selection_time(self, elapsed: float) -> float | None:
        """Seconds selection may take after a search of ``elapsed`` seconds: what is
        left of ``time_limit``, at least the reserve kept back (None: no limit)."""
        if self.time_limit is None:
            return None
        reserve = min(_SELECTION_RESERVE * self.time_limit, _MAX_SELECTION_RESERVE)
        return max(reserve, self.time_limit - elapsed - refit_reserve(self))

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
        costs = self._member_costs()
        # Budget-aware GES, or any other selector on the members within the budget.
        fitted = apply_budget(fitted, costs, getattr(self, "max_predict_time", None))
        competence = getattr(self, "competence_", None)
        X = None if competence is None else competence.X_train
        start = time.perf_counter()
        fitted.fit(
            lib.oof,
            lib.y,
            metric=metric,
            X=X,
            configs=lib.configs,
            sample_weight=lib.sample_weight,
        )
        self.selection_time_ = time.perf_counter() - start
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
        self.best_trial_ = lib.trials[lib.best]
        board = self.leaderboard_.copy()
        board["weight"] = board["trial"].map(self.weights_).fillna(0.0)
        required = {lib.trials[int(i)] for i in self.ensemble_.required}
        board["required"] = board["trial"].isin(required)
        board["predict_time_1k"] = board["trial"].map(pd.Series(costs, index=trials))
        self.leaderboard_ = board
        # NaN when a required member's cost is unknown.
        self.predict_time_1k_ = float(costs[self.ensemble_.required].sum())
        self._update_pareto(metric, seed, time_limit)
        self._after_assemble(X)
        # The selection's loss in its own metric (before calibration) and, in the
        # model's metric, the ensemble's score next to the best single model's.
        self.validation_loss_ = ensemble_validation_loss(self, metric, fitted)
        self.validation_score_ = metric.to_score(self.validation_loss_)
        self.best_validation_score_ = metric.to_score(float(lib.losses[lib.best]))
        self._calibrate()

    def _models_per_member(self) -> int:
        """Models a member predicts with: its k fold models when bagged, one when
        refit on all rows."""
        if getattr(self, "refit", None) == "members":
            return 1
        return int(self.n_folds_)

    def _member_costs(self) -> np.ndarray:
        """Each library member's predict time in seconds per 1,000 rows (NaN:
        unknown), as the ensemble will run it (see ``autoens.latency``)."""
        return member_costs(
            self.library_.predict_time_per_1k, self._models_per_member()
        )

    def _update_pareto(
        self, metric: Metric, seed: int, time_limit: float | None
    ) -> None:
        """``pareto_`` for this library and metric (kept when ``autoens.select``
        re-runs a selector on the same library, metric and GES settings)."""
        lib = self.library_
        chosen = self.selector
        ges = get_selector(
            chosen if isinstance(chosen, GreedyEnsembleSelection) else "ges",
            random_state=seed,
        )
        costs = self._member_costs()
        key = (
            id(lib),
            metric.name,
            repr(sorted(ges.get_params(deep=False).items())),
            costs.tobytes(),
        )
        if getattr(self, "_pareto_key", None) == key and hasattr(self, "pareto_"):
            return
        self.pareto_ = pareto_front(
            lib.oof,
            lib.y,
            metric=metric,
            costs=costs,
            trials=lib.trials,
            ges=ges,
            sample_weight=lib.sample_weight,
            time_limit=None if time_limit is None else 0.25 * time_limit,
        )
        self._pareto_key = key

    def _learn_target(self, task: Any) -> None:
        """Task-specific fitted attributes (``classes_``)."""

    def _after_assemble(self, X_competence: np.ndarray | None) -> None:
        """Task-specific work once an ensemble is built (fit and ``select``)."""

    def _oof_outputs(self, *, calibrated: bool = False) -> np.ndarray:
        """The ensemble's out-of-fold prediction rows (float64, finalized).

        The selector's combination of ``library_.oof``; a dynamic selector leaves
        each row out of its own neighbourhood, as it was out of its fold.
        ``calibrated`` applies the ensemble's calibrator (fit on these same rows).
        """
        selector, lib = self.selector_, self.library_
        competence = getattr(self, "competence_", None)
        X = None if competence is None else competence.X_train
        if selector.is_dynamic:
            combined = selector.combine(lib.oof, X=X, exclude_self=True)
        else:
            combined = selector.combine(lib.oof, X=X)
        outputs = lib.task.finalize(combined)
        calibrator = getattr(self.ensemble_, "calibrator", None)
        if calibrated and calibrator is not None:
            outputs = calibrator.transform(outputs)
        return outputs

    def _calibrate(self) -> None:
        """Fit ``calibration`` on the ensemble's OOF rows (fit and ``select``).

        It runs after selection, on the combined prediction, so the members and
        their weights are the same with or without it; the ensemble applies the
        calibrator after combining its members.
        """
        method = getattr(self, "calibration", None)  # saved before it existed: None
        if self.library_.task.family != "classification":
            if method not in (None, "auto"):
                raise ValueError(
                    f"calibration={method!r} calibrates class probabilities; a "
                    "regressor takes calibration=None or 'auto' (which does nothing)"
                )
            return
        self.calibration_ = None
        self.calibration_report_ = None
        if method is None:
            return
        from autoens.calibration import fit_calibration

        calibrator, report = fit_calibration(
            self._oof_outputs(),
            self.library_.y,
            method=method,
            sample_weight=self.library_.sample_weight,
            random_state=getattr(self, "_seed", 0),
        )
        self.ensemble_.calibrator = calibrator
        self.calibration_ = None if calibrator is None else calibrator.name
        self.calibration_report_ = report

    def distill(self, X: Any, learner: Any = "lightgbm", **params: Any) -> Any:
        """One fast model trained to mimic the ensemble (knowledge distillation).

        Hinton, Vinyals and Dean 2015, "Distilling the knowledge in a neural
        network": the student ``learner`` (a name from ``autoens.space`` or a
        ``LearnerSpec``; ``params`` are its hyper-parameters, the rest default)
        learns the ensemble's out-of-fold predictions (class probabilities after
        calibration as soft targets, or values) on the rows of ``fit``. It returns
        a fitted :class:`autoens.distill.DistilledClassifier` or
        :class:`~autoens.distill.DistilledRegressor` that predicts with the
        ensemble's column layout (``schema_``) and reports ``validation_score_``
        (its own cross-validated score against the true target on the fit's folds,
        k extra fits; fold k's student learns the ensemble's fold-k models, which
        never saw fold k) next to ``teacher_validation_score_`` (the ensemble's
        OOF score, uncalibrated).

        ``X`` must be the feature rows given to ``fit``: the model keeps its OOF
        predictions and target but not the training table (a deployed model should
        not carry its data), and the student learns from features to predictions.
        Other rows are refused (fingerprint check).
        """
        from autoens.distill import distill_ensemble

        return distill_ensemble(self, X, learner=learner, params=params)

    def leaderboard(self) -> pd.DataFrame:
        """``leaderboard_`` with the ensemble's own row on top.

        The ensemble row (``learner="ensemble"``, ``trial`` <NA>) holds its
        out-of-fold validation loss and score (``validation_score_``), predict time
        per 1,000 rows and members; the rows below are the trials, best first, so
        the gain over the best single model reads off the first two rows.
        """
        check_is_fitted(self, "ensemble_")
        return with_ensemble(self)

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
        return predict_input(self, X)

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
