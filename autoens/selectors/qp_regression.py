"""Exact weight optimisation for regression: the simplex QP and its affine relaxation.

Echtenbruck, Echtenbruck, Batenburg, Bäck, Naujoks & Emmerich (2022), "Optimally
weighted ensembles of regression models: exact weight optimization and applications"
(arXiv:2206.11263), minimise ``‖F w − y‖²`` over ``w ≥ 0, Σw = 1`` for validation
predictions ``F`` (N, K): a convex QP in K variables once ``FᵀF`` and ``Fᵀy`` are
built. Because ``Σw = 1``, subtracting ``y_i`` from every prediction of row i does not
change the objective: ``‖F w − y‖² = wᵀ G w`` with ``G = EᵀE`` the Gram matrix of the
residuals ``E = F − y 1ᵀ`` (Perrone & Cooper 1993, "When networks disagree: ensemble
methods for hybrid neural networks", use this error covariance for their optimal
linear combination). We build that form (:func:`residual_gram`): it is the same QP
with ``b = 0``, but it does not carry the target's mean and scale (a target around
10⁴ puts a 10⁸ rank-one term into ``FᵀF``), so it is far better conditioned.
:class:`~autoens.selectors.qp.QPSelector` solves the simplex QP with it.

Dropping ``w ≥ 0`` gives the affine combination (weights sum to 1, may be
negative) in closed form, ``w ∝ G⁻¹ 1`` (Perrone & Cooper's "generalised ensemble
method"): :class:`AffineQPSelector`. Breiman (1996, "Stacked regressions", Machine
Learning 24) found that without non-negativity the combination weights of
correlated models overfit; on held-out rows we measured gains on some libraries and
losses on more (see the class), so it is an explicit variant, never the default.

Sample weights are the row weights ``a_i ∝ w_i`` of :func:`residual_gram` (the
weighted squared error), and the single-best fallback compares weighted losses.
"""

from __future__ import annotations

import logging
from numbers import Real
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
from sklearn.utils.validation import check_is_fitted

from autoens._sklearn import Interval
from autoens.selectors.base import REGRESSION, ROW_EQUIVALENCES, BaseSelector
from autoens.selectors.baselines import single_best_model

__all__ = ["AffineQPSelector", "residual_gram", "solve_affine"]

logger = logging.getLogger("autoens")

# float64 elements of one row chunk of the residuals while building G (32 MB).
_GRAM_CHUNK_ELEMENTS = 1 << 22


def residual_gram(
    P: np.ndarray, y: np.ndarray, row_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(G, b, c)`` with ``Σ_i a_i (Σ_k w_k P[k, i, 0] − y_i)² = wᵀGw − 2bᵀw + c``
    for every ``w`` with ``Σw = 1``: ``G = Σ_i a_i e_i e_iᵀ`` over the residuals
    ``e_i = P[:, i, 0] − y_i``, ``b = 0`` and ``c = 0``.

    ``a`` defaults to ``1 / n_samples`` (so ``wᵀGw`` is the ensemble's MSE). Built in
    float64 over row chunks, as :func:`~autoens.selectors.qp.gram_matrix`.
    """
    n_models, n_samples, _ = P.shape
    a = (
        np.full(n_samples, 1.0 / n_samples)
        if row_weight is None
        else np.asarray(row_weight, dtype=np.float64)
    )
    root = np.sqrt(a)
    G = np.zeros((n_models, n_models))
    rows = max(1, _GRAM_CHUNK_ELEMENTS // n_models)
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        E = P[:, start:stop, 0].astype(np.float64) - y[None, start:stop]
        E *= root[None, start:stop]
        G += E @ E.T  # syrk
    G = (G + G.T) / 2.0
    return G, np.zeros(n_models), 0.0


def solve_affine(G: np.ndarray, *, ridge: float = 1e-2) -> np.ndarray:
    """``argmin wᵀGw`` subject to ``Σw = 1`` (no sign constraint): ``w ∝ (G + λI)⁻¹ 1``.

    ``G`` is scaled by trace(G)/K first, so ``ridge`` (λ) is relative to the mean
    residual variance; near-duplicate models make ``G`` almost singular, and the
    ridge is what keeps their weights from growing into large opposite pairs.
    """
    n = G.shape[0]
    scale = float(np.trace(G)) / n
    if not np.isfinite(scale) or scale <= 0.0:
        return np.full(n, 1.0 / n)  # every model exact: any combination is
    Gs = G / scale + ridge * np.eye(n)
    ones = np.ones(n)
    try:
        v = scipy.linalg.solve(Gs, ones, assume_a="pos")
    except (np.linalg.LinAlgError, ValueError):
        v = np.linalg.lstsq(Gs, ones, rcond=None)[0]
    total = float(v.sum())
    if not np.isfinite(v).all() or abs(total) < 1e-300:
        raise RuntimeError("the affine weight system is singular; raise the ridge.")
    return v / total


class AffineQPSelector(BaseSelector):
    """Optimal affine weights for regression: least squares with ``Σw = 1`` only.

    The relaxation of :class:`~autoens.selectors.qp.QPSelector`'s simplex QP that
    lets weights go negative (a model can be used to cancel another's error). Solved
    in closed form (:func:`solve_affine`); kept only if it beats the single best
    model on the target metric. Regression only: negative weights would take class
    probabilities outside [0, 1].

    Measured against ``qp`` (fit on a random half of the OOF rows, RMSE on the other
    half, mean over 5 halvings; ratio affine / qp, below 1 is better). Libraries of 16
    real learners (ridge, lasso, kNN, trees, forests, boosting, SVR; 5-fold OOF) on
    diabetes and Friedman #1, #2, #3: 1.012, 0.973, 1.001, 0.993 (geometric mean
    0.994) at ``ridge=1e-2``, the best of 1e-10 ... 1e-1 (1e-10 gave 1.025 on
    diabetes). Twelve ``make_regression_tensor`` libraries (10 or 30 models, 200 to
    2000 rows): worse on 11 of 12, geometric mean 1.014, up to 1.062 with 30 models
    on 400 rows. So it helps some libraries of diverse learners with many rows per
    model, and overfits small ones: an explicit variant, not an ``auto`` candidate.

    Parameters
    ----------
    ridge : float, default=1e-2
        Added to the diagonal of the trace-scaled residual Gram matrix (the
        measured best above; near-duplicate members otherwise get large weights of
        opposite sign).
    weight_cutoff : float, default=1e-6
        Weights with ``|w| <`` this are dropped and the rest rescaled to sum 1.

    Attributes
    ----------
    affine_weights_ : ndarray (n_models,)
        The combination :meth:`combine` applies (sums to 1; may be negative): the
        optimum, or the single best model's one-hot.
    weights_ : ndarray (n_models,)
        ``|affine_weights_|`` normalised: each member's share of the weight mass (on
        the simplex, for leaderboards); not the combination itself, so
        ``is_weighted_average`` is False.
    objective_value_ : float
        The MSE of the optimum on the fit rows.
    used_single_best_ : bool
        True when the optimum did not beat the single best model (strictly).
    single_best_index_, single_best_loss_ : int, float
    validation_loss_ : float
        The metric of :meth:`combine` on the fit rows.
    """

    is_weighted_average: ClassVar[bool] = False
    _guarantees_single_best: ClassVar[bool] = True
    _task_families: ClassVar[frozenset[str]] = frozenset({REGRESSION})
    _supports_sample_weight: ClassVar[bool] = True
    _sample_weight_equivalences: ClassVar[frozenset[str]] = ROW_EQUIVALENCES
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "ridge": [Interval(Real, 0.0, 1.0, closed="both")],
        "weight_cutoff": [Interval(Real, 0.0, 0.5, closed="both")],
    }

    def __init__(self, *, ridge: float = 1e-2, weight_cutoff: float = 1e-6) -> None:
        self.ridge = ridge
        self.weight_cutoff = weight_cutoff

    def _unsupported_reason(self, family: str) -> str:
        return "negative weights would take class probabilities outside [0, 1]"

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_models = P.shape[0]
        sw = self._sample_weight
        best, best_loss = single_best_model(self.metric_, y, P, sw)
        self.single_best_index_, self.single_best_loss_ = best, best_loss
        G, _, _ = residual_gram(P, y, None if sw is None else sw / sw.sum())
        w = np.ones(1) if n_models == 1 else solve_affine(G, ridge=float(self.ridge))
        w = _cut_affine(w, float(self.weight_cutoff))
        self.objective_value_ = float(w @ G @ w)
        self._set_weights(w)
        loss = self.metric_.loss_single(y, self.combine(P), sw)
        self.used_single_best_ = not loss < best_loss
        if self.used_single_best_:
            self._set_weights(np.eye(n_models)[best])
        self._check_weights()
        self.validation_loss_ = self.metric_.loss_single(y, self.combine(P), sw)

    def _set_weights(self, w: np.ndarray) -> None:
        self.affine_weights_ = np.asarray(w, dtype=np.float64)
        mass = np.abs(self.affine_weights_)
        self.weights_ = mass / mass.sum()

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        """``affine_weights_ @ P`` (n_samples, 1) float32."""
        check_is_fitted(self)
        P = self._check_combine_input(P)
        members = self.required_members_
        weights = self.affine_weights_[members].astype(np.float32)
        return np.tensordot(weights, P[members], axes=1).astype(np.float32, copy=False)


def _cut_affine(w: np.ndarray, cutoff: float) -> np.ndarray:
    """Drop weights with ``|w| < cutoff`` (the largest always survives), rescale the
    rest to sum 1."""
    w = np.asarray(w, dtype=np.float64)
    keep = np.abs(w) >= cutoff
    keep[np.argmax(np.abs(w))] = True
    w = np.where(keep, w, 0.0)
    total = w.sum()
    return w / total if abs(total) > 0.0 else np.eye(w.size)[np.argmax(np.abs(w))]
