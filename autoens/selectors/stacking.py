"""Stacking baselines.

:class:`StackingSelector` is the logistic-regression stacker that Purucker & Beel
(2023, "CMA-ES for post hoc ensembling in AutoML: A great success and salvageable
failure", AutoML Conf) compare against: a regularised multinomial logistic
regression on the members' OOF probabilities. Its output is a learned function, not
a weighted average, so its honest validation loss comes from its own inner
cross-validation. :class:`NNLSStacking` is the default of R's SuperLearner
(``method.NNLS``; van der Laan, Polley & Hubbard 2007, "Super learner", Statistical
Applications in Genetics and Molecular Biology 6(1)): non-negative least squares of
the one-hot labels on the stacked probabilities, coefficients normalised to sum 1, a
true weighted average.

Both serve regression too (:mod:`autoens.selectors.stacking_regression`): the stacker
is then a ridge regression on the members' values, and NNLS regresses the target on
them.

Sample weights: the stacker and every inner-CV stacker are fit with them (the
meta-learner's ``sample_weight``, rescaled to mean 1 over the rows of positive
weight, so that ``C`` keeps its meaning whatever the weights' scale and a row of
weight 0 is as good as absent); the honest and in-sample losses are weighted. NNLS
solves the weighted least squares (rows scaled by the square roots of the weights).
"""

from __future__ import annotations

import logging
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import nnls
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from autoens._sklearn import Interval
from autoens.selectors.base import (
    BOTH_FAMILIES,
    RANDOM_STATE_CONSTRAINT,
    REGRESSION,
    ROW_EQUIVALENCES,
    BaseSelector,
    check_generator,
)
from autoens.selectors.baselines import single_best_model
from autoens.selectors.qp import gram_matrix
from autoens.selectors.stacking_regression import (
    RidgeStacker,
    meta_weights,
    regression_gram,
    ridge_cross_val_predict,
)

__all__ = ["NNLSStacking", "StackingSelector"]

logger = logging.getLogger("autoens")

# lbfgs iterations for the stacker; it converges in tens on probability features.
_MAX_ITER = 1000
# Eigenvalues of the Gram matrix below this fraction of the largest are treated as 0
# when NNLS is solved in its square-root form.
_EIG_RTOL = 1e-12


class StackingSelector(BaseSelector):
    """Multinomial logistic regression on the members' probabilities; for regression
    a ridge regression on their values.

    Features: each model's class probabilities side by side (binary: only the
    positive-class column per model, the other is redundant). The stacker is an
    L2-regularised ``LogisticRegression`` (lbfgs); ``combine`` applies it, so the
    ensemble is not a weighted average. With a single model there is nothing to stack
    and the ensemble is that model. For regression the stacker is
    :class:`~autoens.selectors.stacking_regression.RidgeStacker` (intercept, penalty
    chosen by efficient leave-one-out CV).

    Parameters
    ----------
    C : float, default=1.0
        Inverse L2 regularisation strength (scikit-learn's ``C``). Probability
        features of similar models are nearly collinear, so keep it moderate. For
        regression it divides the ridge stacker's penalty grid.
    cv : int, default=5
        Folds of the inner cross-validation that gives the honest loss
        (stratified, shuffled; fewer when a class has fewer rows; plain shuffled
        folds for regression).
    random_state : None, int or numpy Generator, default=None
        Shuffles the inner folds.

    Attributes
    ----------
    stacker_ : LogisticRegression, RidgeStacker or None
        Fit on all rows (None with one model).
    validation_loss_ : float
        The metric on the inner-CV predictions of the stacker (honest: each row is
        predicted by a stacker that did not see it).
    train_loss_ : float
        The metric of ``combine(P)`` (in-sample, optimistic).
    cv_predictions_ : ndarray (n_samples, n_classes)
        The inner-CV predictions.
    class_prior_ : ndarray (n_classes,)
        Class frequencies (the prediction when ``y`` holds a single class);
        classification only.
    weights_ : ndarray (n_models,)
        Each model's share of the absolute coefficient mass (a summary for the
        leaderboard, on the simplex; not mixture weights).

    ``is_weighted_average`` is False because ``combine`` is not ``weights_ @ P``: an
    ensemble runner must call ``combine``. It never needs ``X``.
    """

    is_weighted_average: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "C": [Interval(Real, 0.0, np.inf, closed="neither")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }
    _task_families: ClassVar[frozenset[str]] = BOTH_FAMILIES
    _supports_sample_weight: ClassVar[bool] = True
    # Zero weights drop rows from the stacker's fit; repeats are not its weights (the
    # meta-learner's weights are rescaled, and the inner folds split the copies).
    _sample_weight_equivalences: ClassVar[frozenset[str]] = frozenset({"zero"})

    def __init__(
        self, *, C: float = 1.0, cv: int = 5, random_state: Any = None
    ) -> None:
        self.C = C
        self.cv = cv
        self.random_state = random_state

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_splits = int(self.cv)
        rng = check_generator(self.random_state)
        n_models, n_samples, n_classes = P.shape
        sw = self._sample_weight

        regression = self.metric_.task.family == REGRESSION
        if not regression:
            if sw is None:
                self.class_prior_ = np.bincount(y, minlength=n_classes) / n_samples
            else:
                prior = np.bincount(y, weights=sw, minlength=n_classes)
                self.class_prior_ = prior / prior.sum()
        if n_models == 1:
            self.stacker_ = None
            self.weights_ = np.ones(1)
            self.cv_predictions_ = P[0].copy()
        elif regression:
            F = P[:, :, 0].T.astype(np.float64)
            seed = int(rng.integers(2**31 - 1))
            cv = ridge_cross_val_predict(
                F, y, C=float(self.C), n_splits=n_splits, seed=seed, sample_weight=sw
            )
            self.cv_predictions_ = cv.astype(np.float32)[:, None]
            self.stacker_ = RidgeStacker(float(self.C)).fit(F, y, sw)
            mass = np.abs(self.stacker_.coef_)
            total = mass.sum()
            self.weights_ = (
                mass / total if total > 0 else np.full(n_models, 1 / n_models)
            )
        else:
            Z = _features(P)
            seed = int(rng.integers(2**31 - 1))
            self.cv_predictions_ = self._cross_val_predict(Z, y, n_splits, seed, sw)
            self.stacker_ = self._fit_quietly(Z, y, sw) if _two_classes(y) else None
            mass = self._coefficient_mass(n_models, n_classes)
            total = mass.sum()
            self.weights_ = (
                mass / total if total > 0 else np.full(n_models, 1 / n_models)
            )
        self._check_weights()
        self.validation_loss_ = self.metric_.loss_single(y, self.cv_predictions_, sw)
        self.train_loss_ = self.metric_.loss_single(y, self.combine(P), sw)

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        """The stacker's class probabilities (n_samples, n_classes) float32; for
        regression its values (n_samples, 1)."""
        check_is_fitted(self)
        P = self._check_combine_input(P)
        if isinstance(self.stacker_, RidgeStacker):
            members = self.required_members_
            F = P[members, :, 0].T
            values = F.astype(np.float64) @ self.stacker_.coef_[members]
            values += self.stacker_.intercept_
            return values.astype(np.float32)[:, None]
        if self.stacker_ is None:
            if self.n_models_ == 1:
                return P[0].copy()
            # y had a single class: the stacker predicts it everywhere.
            return np.broadcast_to(
                self.class_prior_.astype(np.float32), P.shape[1:]
            ).copy()
        members = self.required_members_
        Z = _features(P[members])
        coef = self.stacker_.coef_.reshape(self.stacker_.coef_.shape[0], -1)
        cols = _feature_columns(members, self.n_models_, self.n_classes_)
        logits = Z @ coef[:, cols].T + self.stacker_.intercept_
        if logits.shape[1] == 1:  # two classes seen: one logit, of classes_[1]
            logits = logits[:, 0]
        return _logits_to_proba(logits, self.stacker_.classes_, self.n_classes_)

    def _new_stacker(self) -> LogisticRegression:
        return LogisticRegression(C=float(self.C), max_iter=_MAX_ITER)

    def _cross_val_predict(
        self,
        Z: np.ndarray,
        y: np.ndarray,
        n_splits: int,
        seed: int,
        sample_weight: np.ndarray | None = None,
    ) -> np.ndarray:
        n_classes = self.n_classes_
        if y.shape[0] < 2:  # nothing to hold out: the class frequencies
            return self.class_prior_.astype(np.float32)[None].repeat(y.shape[0], 0)
        smallest = np.bincount(y)[np.bincount(y) > 0].min()
        if smallest >= 2:
            folds = StratifiedKFold(
                min(n_splits, smallest), shuffle=True, random_state=seed
            )
        else:
            folds = KFold(min(n_splits, y.shape[0]), shuffle=True, random_state=seed)
        out = np.empty((y.shape[0], n_classes), dtype=np.float32)
        for train, test in folds.split(Z, y):
            if _two_classes(y[train]):
                fold_weight = None if sample_weight is None else sample_weight[train]
                model = self._fit_quietly(Z[train], y[train], fold_weight)
                logits = model.decision_function(Z[test])
                out[test] = _logits_to_proba(logits, model.classes_, n_classes)
            else:
                out[test] = np.eye(n_classes, dtype=np.float32)[y[train][0]]
        return out

    def _fit_quietly(
        self, Z: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> LogisticRegression:
        """Fit a stacker on one BLAS thread, logging (not raising) non-convergence;
        row weights as :func:`meta_weights` rescales them.

        lbfgs spends its time in small vector operations where a second BLAS thread
        only spins: one thread was 2-6x faster at every size we measured, up to
        200 models x 20,000 rows x 10 classes.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            with threadpool_limits(limits=1, user_api="blas"):
                model = self._new_stacker().fit(
                    Z, y, sample_weight=meta_weights(sample_weight)
                )
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                logger.warning(
                    "stacking: lbfgs did not converge in %d iterations", _MAX_ITER
                )
            else:  # not ours to swallow
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return model

    def _coefficient_mass(self, n_models: int, n_classes: int) -> np.ndarray:
        if self.stacker_ is None:
            return np.zeros(n_models)
        coef = np.abs(self.stacker_.coef_)
        per_model = coef.reshape(coef.shape[0], n_models, -1)
        return per_model.sum(axis=(0, 2))


class NNLSStacking(BaseSelector):
    """Non-negative least squares of one-hot labels on the stacked probabilities,
    coefficients normalised to sum 1 (R SuperLearner's ``method.NNLS``).

    The least-squares problem is solved through its Gram form: with
    ``G = AᵀA = V diag(s) Vᵀ`` and ``c = Aᵀb`` (built in row chunks, so the
    (N·C, K) design matrix never exists), ``‖Ax − b‖² = ‖Mx − d‖² + const`` for
    ``M = diag(√s) Vᵀ`` and ``d = diag(1/√s) Vᵀ c`` over the non-zero eigenvalues,
    and ``scipy.optimize.nnls`` solves the K-column problem. If every coefficient is
    zero the single best model is used.

    Regression: the target is regressed on the members' values, without an intercept,
    and the coefficients are normalised as above (SuperLearner's definition; see
    :mod:`autoens.selectors.stacking_regression`). The normalisation keeps the
    ensemble a convex combination but moves it off the NNLS fit whenever the
    coefficients do not already sum to 1 (members that all under-predict the spread
    of the target get a sum above 1); :class:`~autoens.selectors.qp.QPSelector`
    optimises over the simplex directly.

    Attributes
    ----------
    coef_ : ndarray (n_models,)
        The NNLS coefficients before normalisation.
    weights_ : ndarray (n_models,)
        ``coef_ / coef_.sum()``: the ensemble is ``weights_ @ P``.
    """

    _task_families: ClassVar[frozenset[str]] = BOTH_FAMILIES
    _supports_sample_weight: ClassVar[bool] = True
    _sample_weight_equivalences: ClassVar[frozenset[str]] = ROW_EQUIVALENCES

    def __init__(self) -> None:
        pass

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        sw = self._sample_weight
        if self.metric_.task.family == REGRESSION:
            G, c = regression_gram(P, y, sw)
        else:
            G, c, _ = gram_matrix(P, y, sw)
        self.coef_ = nnls_from_gram(G, c)
        total = self.coef_.sum()
        if total > 0:
            self.weights_ = self.coef_ / total
        else:
            best, _ = single_best_model(self.metric_, y, P, sw)
            self.weights_ = np.eye(P.shape[0])[best]


def nnls_from_gram(G: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``argmin_{x ≥ 0} xᵀGx − 2cᵀx`` (NNLS given ``G = AᵀA`` and ``c = Aᵀb``)."""
    s, V = np.linalg.eigh(G)
    keep = s > _EIG_RTOL * max(float(s.max()), 0.0)
    if not keep.any():
        return np.zeros(G.shape[0])
    root = np.sqrt(s[keep])
    M = root[:, None] * V[:, keep].T
    d = (V[:, keep].T @ c) / root
    x, _ = nnls(M, d, maxiter=50 * G.shape[0])
    return x


# --- helpers --------------------------------------------------------------------------


def _features(P: np.ndarray) -> np.ndarray:
    """(N, K) positive-class columns (binary) or (N, K·C) class probabilities."""
    _, n_samples, n_classes = P.shape
    if n_classes == 2:
        return np.ascontiguousarray(P[:, :, 1].T, dtype=np.float64)
    return P.transpose(1, 0, 2).reshape(n_samples, -1).astype(np.float64)


def _feature_columns(members: np.ndarray, n_models: int, n_classes: int) -> np.ndarray:
    """Stacker feature columns belonging to ``members``, in feature order."""
    if n_classes == 2:
        return members
    return (members[:, None] * n_classes + np.arange(n_classes)).ravel()


def _two_classes(y: np.ndarray) -> bool:
    return np.unique(y).size >= 2


def _logits_to_proba(
    logits: np.ndarray, classes: np.ndarray, n_classes: int
) -> np.ndarray:
    """Class probabilities (N, n_classes) float32 from a fitted LogisticRegression's
    decision values; classes the stacker never saw get probability 0."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:  # binary: the logit of classes[1]
        logits = np.stack([np.zeros_like(logits), logits], axis=1)
    logits = logits - logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    out = np.zeros((proba.shape[0], n_classes), dtype=np.float32)
    out[:, classes] = proba
    return out
