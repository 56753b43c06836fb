"""The estimators users fit: ``AutoEnsembleClassifier`` and ``AutoEnsembleRegressor``.

Both are :class:`~autoens.orchestrator.AutoEnsembleBase` (the whole ``fit``) with a
task type and the task's predict methods.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from autoens._sklearn import StrOptions
from autoens.intervals import cv_plus_interval
from autoens.orchestrator import AutoEnsembleBase, SearchError, local_work
from autoens.task import ClassificationTask, RegressionTask

__all__ = ["AutoEnsembleClassifier", "AutoEnsembleRegressor", "SearchError"]

_DOC = """\
{summary}

    Parameters
    ----------
    time_limit : float, optional
        Wall-clock budget of ``fit`` in seconds (search and selection together).
    n_trials : int, optional
        Number of configurations to try, a cap on top of ``time_limit``. Not given:
        50 without ``time_limit``; with ``time_limit``, no cap (the search runs
        until the time is spent). With an RDB ``storage`` this counts the trials
        already in the study, so re-running an interrupted fit resumes it.
    trial_time_limit : float, optional
        Seconds one configuration (all its CV folds) may take before it is stopped;
        default ``time_limit / 4``, or no limit of its own when ``time_limit`` is None.
    cv : int
        Number of cross-validation folds shared by every candidate ({folds}).
    metric : str, optional
        Loss the selector minimises (default ``{metric}``): {metrics}, or any
        scikit-learn {family} scorer name.
    selector : str or selector object
        How the ensemble is built from the OOF predictions: a name from
        ``autoens.selectors.SELECTOR_NAMES`` or a ``BaseSelector`` object. {selectors}
        ``"auto"`` chooses among them by inner cross-validation on the OOF rows,
        preferring the simpler static ensemble within one standard error
        (``selector_leaderboard_``).
    search : {{"tpe", "random", "divbo", "bo"}} or proposer object
        Proposer that picks configurations after the warm-start portfolio: Optuna's
        TPE or random sampler; ``"divbo"``, diversity-aware Bayesian optimisation
        (a random-forest EI surrogate plus a pairwise-diversity surrogate against
        the current greedy-ensemble pool, see ``autoens.search.divbo.DivBO``);
        ``"bo"``, the same without the diversity term. Pass
        ``autoens.search.divbo.DivBO(beta=..., ...)`` to set its parameters.
    portfolio : "default", None, list of (learner, params), or path
        Configurations tried first, in order (warm start): ``"default"``, the
        built-in portfolio; None, none; or the path of a portfolio JSON file, e.g.
        one learned from benchmark results by ``autoens portfolio build`` (configs
        chosen greedily so that their ensemble is good across many tasks, as the
        zero-shot portfolios of auto-sklearn 2.0 and TabRepo). Set ``n_trials`` to
        the portfolio's length to evaluate exactly its configs.
    learners : list of str or LearnerSpec, optional
        Learners to search over (default: every installed default {family} learner).
    n_jobs : int, optional
        Trials evaluated in parallel (worker processes); -1 uses every core. Under
        ``joblib.parallel_config(backend="dask")`` the trials run on the Dask
        cluster's workers, and None or -1 use every worker thread (README: "Running
        on a Dask cluster").
    cache_dir : str, path or cache object, optional
        Keep OOF predictions and fold models on disk; a later fit on the same data
        reuses every finished candidate. Any object implementing
        ``autoens.cache.PredictionCache`` works too (its keys include a fingerprint
        of the data and folds, so one cache may serve many datasets); one whose
        ``persistent`` is False is not saved with a pickled model.
    storage : str, optional
        Optuna storage URL (e.g. ``"sqlite:///run.db"``) that makes the search
        resumable.
    random_state : int, Generator or None
        Seeds folds, sampler and learners.
    verbose : int
        0 silent, 1 progress bar, 2 also one log line per trial.
    keep_models : {{"ensemble", "all"}}
        Fold models kept on the fitted estimator: only the ensemble members and the
        single best (small to save), or every candidate's, so that ``autoens.select``
        can re-run any selector without a ``cache_dir``. A dynamic selector keeps
        every member.
    max_predict_time : float, optional
        Predict-time budget of the ensemble, in seconds per 1,000 rows (None: no
        budget). A member costs its fold models' measured time per 1,000 rows
        (``predict_time_1k`` in ``leaderboard_``) and an ensemble the sum of its
        members'. GES adds only members that keep the total within the budget; any
        other selector is fit on the members budget-aware GES picks
        (``autoens.selectors.budget``). Members whose time is unknown (old cache
        entries) count as the slowest known one; below the fastest member's cost,
        that member alone is used, with a warning. ``pareto_`` shows what each
        budget buys. A batch figure: one row at a time costs mostly per-call
        overhead, which it does not include.
    calibration : {calibration_options}, optional
{calibration_doc}    refit : {{"members"}} or None
        ``"members"`` retrains each ensemble member's configuration once on all
        training rows after selection, so a member predicts with one model instead
        of the mean of its ``cv`` fold models (k times fewer models to run; the
        weights stay those chosen on the out-of-fold predictions). Learners that
        stop early in a fold (HistGradientBoosting, MLP) train for the mean of
        their fold models' iterations. With ``time_limit`` the search leaves 10 %
        of it for the refit; a member whose estimated refit time (its fold fit
        time over ``cv - 1``) no longer fits, or whose refit fails, keeps its fold
        models, with a warning (``refit_``). None (default) keeps the fold models
        (bagging). :meth:`refit_members` does it after the fact.
    pruning : "auto", float or None
        Stop a configuration after one of its first ``cv - 1`` folds when that
        fold's loss is worse than the ``pruning``-th percentile of the finished
        configurations' losses on the same fold, as Optuna's ``PercentilePruner``
        (``"auto"``: the 90th, so only clearly hopeless configurations stop and
        the time goes to others; the rule starts once 8 configurations have
        finished). A pruned trial has status ``"pruned"`` in ``leaderboard_``
        with loss NaN (its folds' losses are on its trial record), never becomes
        an ensemble member and is not cached; a configuration that reaches its
        last fold always finishes. Lower percentiles prune more (50 is Optuna's
        ``MedianPruner``). None (default) never prunes: a weak configuration is
        often a useful ensemble member, and on the KEEL benchmark
        (``benchmarks/throughput.py``) the 90th percentile would have saved 2.6 %
        of the fit time while stopping configurations that held 9 % of the
        ensemble weight.

    Attributes
    ----------
    task_ : {task_type}
        What the target is and what a prediction array holds; it built the folds.
{classes}    metric_ : autoens.metrics.Metric
        The metric the search and the selector minimised (from ``metric``).
    selector_ : BaseSelector
        The fitted selector (for ``"auto"``, ``selector_.chosen_`` is the one used).
    n_required_ : int
        Library members that must run at predict time: the distinct ensemble
        members, or the whole library for a dynamic selector. The ``required``
        column of ``leaderboard_`` marks them.
    selector_leaderboard_ : pandas.DataFrame or None
        With ``selector="auto"``, one row per candidate selector it tried (name,
        params, mean and standard error of the inner-CV loss, mean score, members,
        fit time, ``chosen``); None for other selectors.
    competence_ : autoens.ensemble.CompetenceSpace
        The numeric feature space (numerics imputed and standardised, categoricals
        one-hot encoded) where dynamic selectors find neighbours; learned on the
        training data in every fit, so ``autoens.select`` can switch to a dynamic
        selector later.
    library_ : autoens.library.Library
        Every finished candidate: trial numbers, configs, OOF losses and the OOF
        prediction tensor the selector was fit on (``autoens.select`` re-uses it).
    leaderboard_ : pandas.DataFrame
        One row per trial: learner, OOF loss and score, ensemble weight, whether it
        must run at predict time, status, source (evaluated / cache / resumed),
        fit time, ``predict_time_1k`` (seconds the member takes to predict 1,000
        rows in a batch: a fold model's time measured on its held-out fold, times
        the models the member predicts with; NaN when not recorded), params, error.
        ``leaderboard()`` returns it with the ensemble's own row on top.
    weights_ : pandas.Series
        Ensemble weight per trial number (the mean per-row weight for a dynamic
        selector).
    validation_score_ : float
        The ensemble's out-of-fold score in the metric the selector minimised
        (``metric_`` unless ``autoens.select`` was given another): the selector's
        own cross-validated figure where it has one (stacking, ``"auto"``), else
        the metric of its combination of the OOF predictions. Before calibration.
        ``leaderboard()`` and the CLI show it next to the best single model's.
    validation_loss_ : float
        The same as a loss (lower is better); NaN when the ensemble cannot combine
        OOF rows (the oracle).
    best_validation_score_ : float
        The best single model's out-of-fold score (trial ``best_trial_``).
    selection_time_ : float
        Seconds the selector took to build the ensemble from the library.
    predict_time_1k_ : float
        The ensemble's predict time in seconds per 1,000 rows: the sum of its
        required members' ``predict_time_1k`` (NaN if one is unknown).
    pareto_ : pandas.DataFrame
        The validation-score vs predict-time front of the library: one row per
        ensemble that no faster (or equally fast) one matches, fastest first (the
        fastest single model) to the best ensemble found, with
        ``predict_time_1k``, ``loss``, the metric's score, ``n_members``,
        ``members`` (trial numbers), ``weights`` and ``max_predict_time``.
        Built by budget-aware GES at a grid of budgets; to use a row,
        ``autoens.select(model, "ges", max_predict_time=row.max_predict_time)``
        rebuilds exactly that ensemble. Empty when no predict time is known.
    best_trial_ : int
        Trial number of the single best candidate.
    ensemble_ : autoens.ensemble.FittedEnsemble
        What predicts: the fold models of the members the selector needs (or the
        one model each was refit into) and the fitted selector.
    refit_ : pandas.DataFrame
        One row per ensemble member, most weight first: ``trial``, ``learner``,
        ``weight``, ``status`` (``"refit"``: predicts with one model fit on all
        rows; ``"bagged"``: with its fold models, as asked or after
        ``autoens.select``; ``"timeout"``: not refit for lack of time;
        ``"failed"``: the refit raised), ``n_models`` it predicts with,
        ``estimated_time`` and ``refit_time`` in seconds, ``refit_params`` (what
        the refit changed, e.g. a fixed ``max_iter``) and a ``note``. The
        ``refit`` column of ``leaderboard_`` marks the refit members.
    n_folds_ : int
        Number of cross-validation folds the candidates were evaluated on.
    search_interrupted_ : bool
        True when a Ctrl-C ended the search early; the ensemble is then built from
        the trials that had finished.
    search_timings_ : dict
        Where the search's time went, in seconds: the loop's own ``"startup"``
        (starting the worker processes), ``"proposal"`` (choosing configurations)
        and ``"idle"`` (worker-seconds without a trial after the first one started,
        e.g. waiting for the last trials), and the trials' stages summed:
        ``"queue"`` (submission to the worker starting, data transfer included),
        ``"preprocess"``, ``"fit"`` (the learners), ``"predict"`` (the held-out
        folds) and ``"cache_write"``.
    feature_report_ : pandas.DataFrame
        One row per input column: ``column``, detected ``kind`` (numeric,
        categorical, boolean, datetime, text, id, empty, constant), ``action``
        (kept, dropped, expanded), the ``features`` the learners get from it,
        ``missing_fraction``, ``n_distinct`` and a ``note`` saying why. Dates become
        calendar features, free text its length and word count; all-missing,
        constant and string-ID columns are dropped (rules: ``autoens.columns``).
        Logged at ``verbose >= 1``; dropped columns, text and IDs also warn.
    schema_ : autoens.tabular.TableSchema
        The column layout learned in ``fit`` (kinds, encodings, derived features);
        ``predict`` lays new data out the same way. ``feature_report_`` is its table.
    n_features_in_, feature_names_in_
        As in scikit-learn: the input columns of ``fit``. ``predict`` needs the
        columns the model uses, in any order, and ignores others with a warning.
    target_column_, sample_weight_column_ : str
        Set only on models saved by ``autoens fit`` (and on its earlier joblib
        files, read by :func:`autoens.load`): the CSV column of the target, which
        ``autoens predict`` names its output after, and of ``--sample-weight`` (when
        given); ``autoens predict`` drops both from its input.
{calibration_attrs}    """


_CALIBRATION_DOC = """\
        Calibrate the ensemble's class probabilities after selection (default None:
        off). Fit on the ensemble's out-of-fold predictions, applied after the
        members are combined; it never changes the members or their weights.
        ``"temperature"``: ``softmax(log p / T)``, one ``T`` by log loss (Guo et al.
        2017); keeps the predicted class, and binary ROC AUC. ``"isotonic"``: a
        monotone map of each class's probability, renormalised. ``"auto"``: whichever
        has the lower log loss under an inner 5-fold cross-validation on the OOF
        rows, or none unless it beats no calibration by more than one standard
        error of the per-fold gain (``calibration_``).
"""

_CALIBRATION_ATTRS = """\
    calibration_ : str or None
        The calibration applied (``"temperature"``, ``"isotonic"``), None for none;
        the calibrator is ``ensemble_.calibrator``.
    calibration_report_ : pandas.DataFrame or None
        With ``calibration`` set: one row per method considered (``"none"`` first)
        with the OOF log loss and expected calibration error (15 bins) of the
        uncalibrated ensemble (``*_before``) and of the method's held-out
        predictions under the inner cross-validation (``*_after_inner_cv``, never
        measured on the rows a calibrator was fit on), and ``chosen``.
"""


def _doc(summary: str, **fields: str) -> str:
    return _DOC.format(summary=summary, **fields)


class AutoEnsembleClassifier(ClassifierMixin, AutoEnsembleBase):
    __doc__ = _doc(
        "Classification by post-hoc ensemble selection over a searched library.",
        folds="stratified, shuffled",
        metric="roc_auc",
        metrics='``"roc_auc"``, ``"log_loss"``, ``"brier"``, ``"error_rate"`` '
        '(``"accuracy"``), ``"balanced_error_rate"`` (``"balanced_accuracy"``)',
        family="classification",
        selectors='Static: ``"ges"`` (greedy ensemble selection), ``"qp"``, '
        '``"qo-es"``, ``"stacking"``, ... Dynamic (members weighted per row by '
        "their accuracy on the row's nearest training rows in ``competence_``): "
        '``"knora-e"``, ``"knora-u"``, ``"des-p"``, ``"knop"``, ``"ola"``, '
        '``"meta-des"``; they must run every library member at predict time '
        "(``n_required_``).",
        task_type="autoens.task.ClassificationTask",
        classes="    classes_ : numpy.ndarray\n        The class labels seen in "
        "``fit``, in the order of ``predict_proba``'s columns.\n",
        calibration_options='{"auto", "temperature", "isotonic"}',
        calibration_doc=_CALIBRATION_DOC,
        calibration_attrs=_CALIBRATION_ATTRS,
    )

    _task_type = ClassificationTask

    def _learn_target(self, task: Any) -> None:
        self.classes_ = task.classes

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the ensemble, columns ordered as ``classes_``."""
        return self._predict_outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_proba_member(self, X: Any, trial: int) -> np.ndarray:
        """Probabilities of one library member, by its leaderboard trial number.

        Available for ensemble members and the single best (``best_trial_``), or for
        any member when fit with ``keep_models="all"`` or a ``cache_dir``.
        """
        return self._member_outputs(X, trial)


class AutoEnsembleRegressor(RegressorMixin, AutoEnsembleBase):
    __doc__ = (
        _doc(
            "Regression by post-hoc ensemble selection over a searched library.",
            folds="shuffled k-fold; see ``autoens.task.RegressionTask`` for why not "
            "stratified on target bins",
            metric="rmse",
            metrics='``"rmse"``, ``"mse"``, ``"mae"``, ``"r2"``',
            family="regression",
            selectors='Static: ``"ges"``, ``"qp"`` (exact MSE-optimal simplex '
            'weights), ``"qo-es"``, ``"stacking"``, ...; dynamic ones weight members '
            "per row by their error on the row's nearest training rows.",
            task_type="autoens.task.RegressionTask",
            classes="",
            calibration_options='"auto"',
            calibration_doc="        Calibrates class probabilities, so a regressor "
            'only takes None or ``"auto"``\n        (which does nothing).\n',
            calibration_attrs="",
        )
        + """
    Prediction intervals come from the cross-validation the search already did
    (:meth:`predict_interval`, CV+).
    """
    )

    _task_type = RegressionTask
    _parameter_constraints: ClassVar[dict] = {
        **AutoEnsembleBase._parameter_constraints,
        # Only class probabilities are calibrated: "auto" does nothing here.
        "calibration": [StrOptions({"auto"}), None],
    }

    def predict(self, X: Any) -> np.ndarray:
        """The ensemble's prediction for each row (1-D float64)."""
        outputs = self._predict_outputs(X)
        return self.task_.decode(outputs)

    def predict_member(self, X: Any, trial: int) -> np.ndarray:
        """Predictions of one library member, by its leaderboard trial number.

        Available for ensemble members and the single best (``best_trial_``), or for
        any member when fit with ``keep_models="all"`` or a ``cache_dir``.
        """
        return self._member_outputs(X, trial)[:, 0]

    def predict_interval(self, X: Any, alpha: float = 0.1) -> np.ndarray:
        """Prediction intervals of nominal coverage ``1 - alpha``: (n_rows, 2) float64
        columns ``[lower, upper]``.

        CV+ (Barber et al. 2021, "Predictive inference with the jackknife+"): each
        fold's ensemble (the members' fold models, weighted as in the ensemble)
        predicts the row, and the ensemble's out-of-fold residuals widen it; no
        model is trained for it. The guarantee is coverage at least ``1 - 2 alpha``
        (typically close to ``1 - alpha``). Bounds are infinite when the training
        set is too small for ``alpha`` (fewer than about ``1 / alpha`` rows). The
        residual quantiles are unweighted even after ``fit(sample_weight=...)``:
        CV+'s guarantee is for exchangeable rows, each counted once. After
        ``refit="members"`` the intervals still come from the fold models (CV+
        needs models that did not see the row's fold), so :meth:`predict`, from
        the refit models, need not lie at their centre.
        """
        if not (isinstance(alpha, Real) and 0.0 < float(alpha) < 1.0):
            raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
        frame = self._transform(X)
        with local_work():
            fold_outputs = self.ensemble_.predict_folds(frame)
        lower, upper = cv_plus_interval(
            fold_outputs[:, :, 0], self._cv_residuals, self._fold_of_row, float(alpha)
        )
        return np.column_stack([lower, upper])

    def _after_assemble(self, X_competence: np.ndarray | None) -> None:
        """The ensemble's absolute out-of-fold residuals, for CV+ intervals."""
        oof = self._oof_outputs()[:, 0]
        self._cv_residuals = np.abs(self.library_.y - oof)
