"""Exact convex weight optimisation over the simplex.

Echtenbruck, Echtenbruck, Batenburg, Bäck, Naujoks & Emmerich (2022), "Optimally
weighted ensembles of regression models: exact weight optimization and applications"
(arXiv:2206.11263), solve the optimally weighted ensemble of regression models as one
convex QP. For classification we stack the classes (our design): the Brier
score of the mixture ``Σ_k w_k P_k`` is ``wᵀGw − 2bᵀw + const`` with the Gram matrix
``G = Σ_i a_i Σ_c P[:, i, c] P[:, i, c]ᵀ`` and ``b_k = Σ_i a_i P[k, i, y_i]``, so the
whole problem is K-dimensional once G is built: one pass over the data instead of
GES's 50·K metric calls. The mixture log likelihood is convex over the simplex too
(mixture MLE); it is solved by sequential QP (projected Newton) with a certified
optimality gap.

Neither objective is the target metric (ROC AUC, balanced accuracy ...), so the
solution is kept only when it beats the single best model on the target metric.

For regression the ``"brier"`` objective is the paper's own problem, the squared
error of the mixture's values, solved in the residual form of
:func:`~autoens.selectors.qp_regression.residual_gram` (the same QP, better
conditioned); the log-loss objective and class balancing need classes.

Sample weights are row weights of both objectives: ``a_i ∝ w_i`` in the Gram matrix
(the weighted Brier score, or weighted MSE) and in the mixture likelihood; with
``class_balanced`` each class's rows share ``1 / C`` in proportion to their weights
(the weighted balanced accuracy's recall). The single-best fallback compares
weighted losses.
"""

from __future__ import annotations

import logging
from numbers import Real
from typing import Any, ClassVar

import numpy as np
import qpsolvers
import scipy.sparse as sp

from autoens._sklearn import Interval, StrOptions
from autoens.selectors.base import (
    BOTH_FAMILIES,
    CLASSIFICATION,
    REGRESSION,
    ROW_EQUIVALENCES,
    BaseSelector,
)
from autoens.selectors.baselines import single_best_model
from autoens.selectors.qp_regression import residual_gram

__all__ = [
    "QPSelector",
    "brier_gap",
    "gram_matrix",
    "solve_mixture_log_loss",
    "solve_simplex_qp",
]

logger = logging.getLogger("autoens")

# float64 elements of one row chunk of the stacked predictions while building G (32 MB),
# so that N·C·K never sits in memory at once.
_GRAM_CHUNK_ELEMENTS = 1 << 22
# Member probabilities are clipped to this (float32 eps, as the log-loss metric does)
# in the log-likelihood objective, so the objective is finite everywhere.
_PROBA_EPS = float(np.finfo(np.float32).eps)
# Sequential QP for the log loss: stop once the certified gap f(w) − f* is below this.
_LOG_LOSS_TOL = 1e-9
_LOG_LOSS_MAX_ITER = 100
# Clarabel's defaults (1e-8) leave weights ~1e-6 off the optimum on flat directions of
# nearly collinear Gram matrices: too coarse for Newton steps near the log-loss optimum
# (they stop being descent directions). It reaches 1e-12 in a few more iterations; a
# problem it cannot solve that tightly goes to DAQP.
_CLARABEL_SETTINGS = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
_ARMIJO = 1e-4


class QPSelector(BaseSelector):
    """Optimal simplex weights for the Brier score (a QP) or the log loss.

    Parameters
    ----------
    objective : {"brier", "log_loss"}, default="brier"
        ``"brier"``: least squares on the stacked class probabilities (for
        regression: on the values, i.e. the MSE), solved exactly as a QP with
        Clarabel (DAQP if Clarabel fails).
        ``"log_loss"``: the mixture negative log likelihood, solved by sequential QP
        with an Armijo line search until ``f(w) − min f <= 1e-9``, certified by the
        mixture-likelihood bound ``f(w) − min f <= log max_k D_k(w)``, ``D = −∇f``.
    class_balanced : bool, default=False
        Weight row i by ``1 / (C · n_{y_i})`` so every class counts equally: the
        variant that targets balanced accuracy.
    ridge : float, default=1e-10
        Added to the diagonal of the (trace-scaled) Gram matrix: near-duplicate models
        make it almost singular.
    weight_cutoff : float, default=1e-6
        Weights below this are dropped and the rest renormalised (solver noise and
        near-duplicates otherwise leave many tiny members).

    Attributes
    ----------
    weights_ : ndarray (n_models,)
        The kept ensemble: ``qp_weights_`` or the single best model's one-hot.
    qp_weights_ : ndarray (n_models,)
        The optimum after the cut-off, whatever the fallback decided.
    objective_value_ : float
        The objective at ``qp_weights_`` (mean Brier-sum, MSE for regression, or
        mean negative log likelihood, row weights normalised to sum 1).
    used_single_best_ : bool
        True when the optimum did not beat the single best model on the target metric
        (strictly) and the single best was kept instead.
    single_best_index_, single_best_loss_ : int, float
        The single best model and its loss on the fit data.
    solver_ : str
        The QP solver that produced the (last) solution: "clarabel" or "daqp".
    n_iter_ : int
        Sequential-QP iterations (log loss); 1 for the Brier QP.
    optimality_gap_ : float
        A certified upper bound on ``objective_value_ − min objective`` at
        ``qp_weights_`` (the Frank–Wolfe gap for Brier, ``log max_k D_k`` for the log
        loss); zero at the exact optimum.
    """

    _guarantees_single_best: ClassVar[bool] = True
    _supports_sample_weight: ClassVar[bool] = True
    _sample_weight_equivalences: ClassVar[frozenset[str]] = ROW_EQUIVALENCES
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "objective": [StrOptions({"brier", "log_loss"})],
        "class_balanced": ["boolean"],
        "ridge": [Interval(Real, 0.0, 1.0, closed="both")],
        "weight_cutoff": [Interval(Real, 0.0, 0.5, closed="both")],
    }

    def __init__(
        self,
        *,
        objective: str = "brier",
        class_balanced: bool = False,
        ridge: float = 1e-10,
        weight_cutoff: float = 1e-6,
    ) -> None:
        self.objective = objective
        self.class_balanced = class_balanced
        self.ridge = ridge
        self.weight_cutoff = weight_cutoff

    @property
    def task_families(self) -> frozenset[str]:
        """Both families for the squared error; classification for the log loss and
        the class-balanced variant."""
        if self.objective == "log_loss" or self.class_balanced:
            return frozenset({CLASSIFICATION})
        return BOTH_FAMILIES

    def _unsupported_reason(self, family: str) -> str:
        if self.objective == "log_loss":
            return "objective='log_loss' is the likelihood of class probabilities"
        return "class_balanced=True weights rows by class"

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        ridge = float(self.ridge)
        cutoff = float(self.weight_cutoff)
        n_models = P.shape[0]
        sw = self._sample_weight
        self.single_best_index_, self.single_best_loss_ = single_best_model(
            self.metric_, y, P, sw
        )
        if self.metric_.task.family == REGRESSION:  # objective "brier": the MSE
            G, b, const = residual_gram(P, y, None if sw is None else sw / sw.sum())
        else:
            row_weight = _row_weights(y, P.shape[2], self.class_balanced, sw)
            if self.objective == "brier":
                G, b, const = gram_matrix(P, y, row_weight)
            else:
                Q = np.take_along_axis(P, y[None, :, None], axis=2)[..., 0].T

        if n_models == 1:
            w = np.ones(1)
            self.solver_, self.n_iter_ = "none", 0
        elif self.objective == "brier":
            w, self.solver_ = solve_simplex_qp(G, b, ridge=ridge)
            self.n_iter_ = 1
        else:
            w, self.n_iter_, _, self.solver_ = solve_mixture_log_loss(
                Q, row_weight, ridge=ridge
            )
        w = _cut(w, cutoff)
        self.qp_weights_ = w
        if self.objective == "brier":
            self.objective_value_ = float(w @ G @ w - 2.0 * b @ w + const)
            self.optimality_gap_ = brier_gap(G, b, w)
        else:
            self.objective_value_, self.optimality_gap_ = _log_loss_value_and_gap(
                Q, row_weight, w
            )

        # Keep the optimum only if it beats the single best on the target metric,
        # scored exactly as validation_loss_ will be (through combine).
        self.weights_ = w
        loss = self.metric_.loss_single(y, self.combine(P), sw)
        self.used_single_best_ = not loss < self.single_best_loss_
        if self.used_single_best_:
            self.weights_ = np.eye(n_models)[self.single_best_index_]


# --- building blocks (public: the tests and other selectors use them) -----------------


def gram_matrix(
    P: np.ndarray, y: np.ndarray, row_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(G, b, c)``: ``Σ_i a_i ‖Σ_k w_k P[k, i] − onehot(y_i)‖² = wᵀGw − 2bᵀw + c``.

    Built in float64 over row chunks (``G += F Fᵀ`` with F the chunk's stacked
    (K, rows·C) predictions), so N·C·K never sits in memory: one ~32 MB chunk buffer.
    ``row_weight`` (a_i) defaults to ones.
    """
    n_models, n_samples, n_classes = P.shape
    a = np.ones(n_samples) if row_weight is None else np.asarray(row_weight, float)
    G = np.zeros((n_models, n_models))
    b = np.zeros(n_models)
    rows = max(1, _GRAM_CHUNK_ELEMENTS // (n_models * n_classes))
    root = np.sqrt(a)
    for start in range(0, n_samples, rows):
        stop = min(start + rows, n_samples)
        F = P[:, start:stop, :].astype(np.float64)
        b += F[:, np.arange(stop - start), y[start:stop]] @ a[start:stop]
        F *= root[None, start:stop, None]
        F2 = F.reshape(n_models, -1)
        G += F2 @ F2.T  # numpy sends A @ A.T to BLAS syrk: half a general product
    G = (G + G.T) / 2.0  # exact symmetry for the solvers
    return G, b, float(a.sum())


def solve_simplex_qp(
    G: np.ndarray, b: np.ndarray, *, ridge: float = 1e-10
) -> tuple[np.ndarray, str]:
    """Minimise ``½ wᵀGw − bᵀw`` over the simplex; returns (w, solver name).

    G and b are scaled by trace(G)/K (so the ridge and the solvers' tolerances are
    relative), the ridge is added to the diagonal, and the QP goes to Clarabel (an
    interior-point method that copes with ill-conditioned PSD Gram matrices); DAQP,
    an exact active-set solver, is the fallback. The result is clipped at 0 and
    renormalised (interior points sit ~1e-10 inside the bounds).
    """
    n = G.shape[0]
    scale = float(np.trace(G)) / n
    if not np.isfinite(scale) or scale <= 0.0:
        return np.full(n, 1.0 / n), "none"  # G == 0: every mixture is as good
    Gs = G / scale + ridge * np.eye(n)
    q = -np.asarray(b, dtype=np.float64) / scale
    ones, one, lb = np.ones((1, n)), np.ones(1), np.zeros(n)
    w = None
    solver = "clarabel"
    try:
        w = qpsolvers.solve_qp(
            sp.csc_matrix(Gs),
            q,
            A=sp.csc_matrix(ones),
            b=one,
            lb=lb,
            solver=solver,
            **_CLARABEL_SETTINGS,
        )
    except Exception as exc:  # a solver crash must not lose the fit
        logger.debug("Clarabel failed on the simplex QP: %s", exc)
    if w is None or not np.isfinite(w).all():
        solver = "daqp"
        w = qpsolvers.solve_qp(Gs, q, A=ones, b=one, lb=lb, solver=solver)
    if w is None or not np.isfinite(w).all():
        raise RuntimeError(
            "Both Clarabel and DAQP failed on the simplex QP; try a larger ridge."
        )
    w = np.clip(w, 0.0, None)
    return w / w.sum(), solver


def solve_mixture_log_loss(
    Q: np.ndarray,
    row_weight: np.ndarray | None = None,
    *,
    ridge: float = 1e-10,
    tol: float = _LOG_LOSS_TOL,
    max_iter: int = _LOG_LOSS_MAX_ITER,
) -> tuple[np.ndarray, int, float, str]:
    """Minimise ``f(w) = −Σ_i a_i log Σ_k w_k Q[i, k]`` over the simplex.

    ``Q`` (n_samples, n_models) holds each model's probability of the true class
    (clipped below at float32 eps); ``a`` is normalised to sum 1. Each iteration
    solves the Newton QP (exact gradient and Hessian, ``Σ a_i r_i r_iᵀ`` with
    ``r_i = Q[i] / m_i``) over the simplex and backtracks (Armijo). Stops when the
    certified gap ``log max_k D_k`` falls below ``tol``, where ``D = −∇f`` and, by
    Jensen, ``f(w) − f(w') <= log Σ_k w'_k D_k(w) <= log max_k D_k(w)`` for every
    simplex ``w'``. Returns (w, iterations, gap, solver of the last QP).
    """
    Q = np.clip(np.asarray(Q, dtype=np.float64), _PROBA_EPS, None)
    n_samples, n_models = Q.shape
    a = np.ones(n_samples) if row_weight is None else np.asarray(row_weight, float)
    a = a / a.sum()
    w = np.full(n_models, 1.0 / n_models)
    m = Q @ w
    f = -float(a @ np.log(m))
    solver, gap, iteration = "none", np.inf, 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 (reported below)
        R = Q / m[:, None]
        D = a @ R  # = −∇f; Σ_k w_k D_k = 1
        gap = float(np.log(D.max()))
        if gap <= tol:
            break
        Rs = R * np.sqrt(a)[:, None]
        H = Rs.T @ Rs  # syrk, as in gram_matrix
        # Newton QP over the simplex, in v = w + d:  ½vᵀHv − (D + Hw)ᵀv.
        v, solver = solve_simplex_qp(H, D + H @ w, ridge=ridge)
        d = v - w
        slope = -float(D @ d)
        if slope >= 0.0:
            break  # no descent direction left at float precision
        t = 1.0
        while t > 1e-12:
            m_new = Q @ (w + t * d)
            f_new = -float(a @ np.log(m_new))
            if f_new <= f + _ARMIJO * t * slope:
                break
            t *= 0.5
        else:
            break
        w = w + t * d
        w = np.clip(w, 0.0, None)
        w /= w.sum()
        m = Q @ w
        f = -float(a @ np.log(m))
    else:
        R = Q / m[:, None]
        gap = float(np.log((a @ R).max()))
    return w, iteration, gap, solver


# --- helpers --------------------------------------------------------------------------


def _row_weights(
    y: np.ndarray,
    n_classes: int,
    class_balanced: bool,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """a_i, normalised to sum 1 (scaling does not move the argmin); proportional to
    ``sample_weight`` within each class when given."""
    if sample_weight is not None:
        if not class_balanced:
            return sample_weight / sample_weight.sum()
        class_weight = np.bincount(y, weights=sample_weight, minlength=n_classes)
        total = class_weight[y]
        # A row of a class whose rows all weigh 0 has weight 0 itself.
        a = np.divide(
            sample_weight,
            n_classes * total,
            out=np.zeros_like(sample_weight),
            where=total > 0,
        )
        return a / a.sum()
    if not class_balanced:
        return np.full(y.shape[0], 1.0 / y.shape[0])
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    a = 1.0 / (n_classes * counts[y])
    return a / a.sum()


def _cut(w: np.ndarray, cutoff: float) -> np.ndarray:
    """Drop weights below ``cutoff`` and renormalise (the largest always survives)."""
    w = np.clip(np.asarray(w, dtype=np.float64), 0.0, None)
    keep = w >= cutoff
    keep[np.argmax(w)] = True
    w = np.where(keep, w, 0.0)
    return w / w.sum()


def brier_gap(G: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """Certified bound on ``f(w) − min f`` for ``f = wᵀGw − 2bᵀw`` over the simplex.

    The Frank–Wolfe gap: by convexity, ``f(w) − f(w') <= ∇f(w)ᵀ(w − w')`` for every
    simplex ``w'``, and the right side is largest at a vertex. Zero exactly at the
    optimum (KKT: the gradient is minimal, and equal, on the support).
    """
    g = 2.0 * (G @ w - b)
    return max(0.0, float(g @ w - g.min()))


def _log_loss_value_and_gap(
    Q: np.ndarray, a: np.ndarray, w: np.ndarray
) -> tuple[float, float]:
    """The mixture negative log likelihood at ``w`` and its certified gap."""
    Q = np.clip(np.asarray(Q, dtype=np.float64), _PROBA_EPS, None)
    a = a / a.sum()
    m = Q @ w
    gap = float(np.log((a @ (Q / m[:, None])).max()))
    return -float(a @ np.log(m)), max(0.0, gap)
