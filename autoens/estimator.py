"""The estimators users fit: ``AutoEnsembleClassifier`` and ``AutoEnsembleRegressor``.

Both are :class:`~autoens.orchestrator.AutoEnsembleBase` (the whole ``fit``) with a
task type and the task's predict methods.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

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
        Number of configurations to try (default 50). With an RDB ``storage`` this
        counts the trials already in the study, so re-running an interrupted fit
        resumes it.
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
    portfolio : "default", None or list of (learner, params)
        Configurations tried first, in order.
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
        fit time, params, error.
    weights_ : pandas.Series
        Ensemble weight per trial number (the mean per-row weight for a dynamic
        selector).
    validation_loss_ : float
        The ensemble's loss on the out-of-fold rows it was selected on (NaN for
        selectors that do not report one).
    best_trial_ : int
        Trial number of the single best candidate.
    ensemble_ : autoens.ensemble.FittedEnsemble
        What predicts: the fold models of the members the selector needs and the
        fitted selector.
    n_folds_ : int
        Number of cross-validation folds the candidates were evaluated on.
    search_interrupted_ : bool
        True when a Ctrl-C ended the search early; the ensemble is then built from
        the trials that had finished.
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
        )
        + """
    Prediction intervals come from the cross-validation the search already did
    (:meth:`predict_interval`, CV+).
    """
    )

    _task_type = RegressionTask

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
        CV+'s guarantee is for exchangeable rows, each counted once.
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
        selector, lib = self.selector_, self.library_
        if selector.is_dynamic:
            # Leave each row out of its own neighbourhood, as it was out of its fold.
            combined = selector.combine(lib.oof, X=X_competence, exclude_self=True)
        else:
            combined = selector.combine(lib.oof, X=X_competence)
        oof = self.task_.finalize(combined)[:, 0]
        self._cv_residuals = np.abs(lib.y - oof)
