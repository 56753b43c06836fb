"""CMA-ES over ensemble weights (Purucker & Beel 2023, "CMA-ES for post hoc ensembling
in AutoML: A great success and salvageable failure", AutoML Conf).

CMA-ES searches unconstrained weight vectors x ∈ R^K with the target metric as a
black-box objective, starting from the single best model (x0 = its one-hot, which
costs the K single-model evaluations) with σ0 = 0.2 and λ = ⌊4 + 3 ln K⌋ candidates
per generation, for a budget of ``n_iterations · K`` evaluations (GES's budget).

Raw weights let the search fit arbitrary score rankings on the validation data, which
overfits ROC AUC. The paper's fix ("CMA-ES-ExplicitGES", :func:`normalize_ges`) maps
every candidate onto GES's lattice *inside the objective* (softmax, trim below half a
GES step, round to multiples of 1/T), which brings ROC AUC level with GES; raw weights
(``normalize=None``) remain the better choice for label metrics such as balanced
accuracy.

Each generation's λ candidates are scored in one vectorised metric call: a (λ, K)
weight matrix times the metric-reduced predictions (only the members some candidate
uses, since lattice weights are sparse).

Regression: ExplicitGES needs no change (lattice weights average the members'
values). Raw mode combines values linearly, ``Σ_k x_k ŷ_k`` with neither a
renormalisation nor a softmax (both exist only to keep class-probability rows valid;
a softmax over a single output column would be the constant 1), so CMA-ES searches
the unconstrained linear combinations of the members, scale included.

Budget and stop check: after the K single-model evaluations, CMA-ES runs
``⌊(n_iterations·K − K) / λ⌋`` full generations and then one partial generation of
the remaining ``(n_iterations·K − K) mod λ`` candidates (scored, not told to CMA-ES,
as nothing runs after it), so ``n_evaluations_`` equals the budget. Before each
generation ``es.stop()`` is checked and the search ends there if it reports a
criterion. The criteria that can fire on a piecewise-constant lattice objective are
switched off (``tolfun``, ``tolfunhist``, ``tolx``, ``tolstagnation`` set to 0,
``tolflatfitness`` to the budget, ``maxiter`` above the number of generations);
what is left are cma's numerical safeguards (``tolconditioncov``: an
ill-conditioned covariance; ``tolfacupx``, ``tolupsigma``: a diverging step size;
``noeffectaxis``, ``noeffectcoord``, ``tolxstagnation``: steps too small to change
x). Only these end a search with budget left unused.

Sample weights: the start point, every generation and the final check use the
weighted loss.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from autoens._sklearn import Interval, StrOptions
from autoens.selectors.base import (
    BOTH_FAMILIES,
    RANDOM_STATE_CONSTRAINT,
    REGRESSION,
    ROW_EQUIVALENCES,
    BaseSelector,
    check_generator,
)
from autoens.selectors.baselines import single_best_model

__all__ = ["CMAESSelector", "normalize_ges", "raw_combine"]

# Full covariance costs O(K²) per sample and O(K³) per eigendecomposition;
# from this many models on, CMA runs in diagonal (sep-CMA) mode.
_DIAGONAL_FROM = 500


def _import_cma() -> Any:
    """Import ``cma`` without its import-time warning (no matplotlib: no plots)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import cma

    return cma


class CMAESSelector(BaseSelector):
    """CMA-ES weight search, by default with GES-like normalisation (ExplicitGES).

    Parameters
    ----------
    n_iterations : int, default=50
        Budget in units of K evaluations: ``n_iterations · K`` metric calls in total,
        the K single-model evaluations of the start point included (GES with 50
        iterations costs the same).
    sigma0 : float, default=0.2
        Initial step size (the paper's value).
    normalize : {"ges", None}, default="ges"
        ``"ges"``: every candidate (and the result) goes through
        :func:`normalize_ges`, so ``weights_`` are multiples of 1/``ensemble_size``.
        ``None``: raw weights, possibly negative; the ensemble is the weighted sum of
        member probabilities, row-renormalised when all weights are non-negative and
        softmaxed over classes otherwise (see :func:`raw_combine`); for regression
        the plain weighted sum of the members' values. Raw mode is not
        ``is_weighted_average``: its ``combine`` is not ``weights_ @ P``.
    ensemble_size : int, default=50
        T of the GES lattice (only used when ``normalize="ges"``).
    random_state : None, int or numpy Generator, default=None
        Seeds CMA-ES's sampling (through cma's ``randn`` option: the global numpy
        random state is neither used nor touched).

    Attributes
    ----------
    weights_ : ndarray (n_models,)
        On the simplex. ExplicitGES: the lattice weights. Raw mode: ``|raw_weights_|``
        normalised, the share of each member's weight mass, which is the actual
        mixture when no raw weight is negative for classification (raw mode's
        prediction is given by :meth:`combine`).
    raw_weights_ : ndarray (n_models,)
        The best CMA-ES point x (before normalisation); the one-hot start when the
        single best model was kept.
    used_single_best_ : bool
        True when no evaluated candidate beat the single best model (strictly).
    single_best_index_, single_best_loss_ : int, float
    trajectory_ : ndarray
        The best loss of each generation.
    n_evaluations_ : int
        Metric evaluations spent, the K single-model ones included: the budget,
        unless the stop check (see the module docstring) ended the search early.
    """

    _guarantees_single_best: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_iterations": [Interval(Integral, 1, None, closed="left")],
        # (0, inf): cma needs a finite positive step size.
        "sigma0": [Interval(Real, 0.0, math.inf, closed="neither")],
        "normalize": [StrOptions({"ges"}), None],
        "ensemble_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }
    _task_families: ClassVar[frozenset[str]] = BOTH_FAMILIES
    _supports_sample_weight: ClassVar[bool] = True
    _sample_weight_equivalences: ClassVar[frozenset[str]] = ROW_EQUIVALENCES

    def __init__(
        self,
        *,
        n_iterations: int = 50,
        sigma0: float = 0.2,
        normalize: str | None = "ges",
        ensemble_size: int = 50,
        random_state: Any = None,
    ) -> None:
        self.n_iterations = n_iterations
        self.sigma0 = sigma0
        self.normalize = normalize
        self.ensemble_size = ensemble_size
        self.random_state = random_state

    @property
    def is_weighted_average(self) -> bool:  # type: ignore[override]
        # Raw weights combine non-linearly (softmax), so an ensemble runner must call
        # combine rather than average with weights_.
        return self.normalize is not None

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_iterations = int(self.n_iterations)
        ensemble_size = int(self.ensemble_size)
        sigma0 = self.sigma0
        rng = check_generator(self.random_state)
        metric = self.metric_
        n_models = P.shape[0]
        w = self._sample_weight

        best, best_loss = single_best_model(metric, y, P, w)
        self.single_best_index_, self.single_best_loss_ = best, best_loss
        x0 = np.zeros(n_models)
        x0[best] = 1.0
        popsize = int(4 + 3 * math.log(n_models)) if n_models > 1 else 1
        budget = n_iterations * n_models
        # Full generations, then one last partial generation for the remainder, so
        # the whole budget is spent unless cma's stop check ends the search.
        n_full, n_last = divmod(budget - n_models, popsize) if n_models > 1 else (0, 0)
        sizes = [popsize] * n_full + ([n_last] if n_last else [])

        evaluate = _Objective(
            metric,
            y,
            P,
            self.normalize,
            ensemble_size,
            linear=self._linear(),
            sample_weight=w,
        )
        trajectory: list[float] = []
        x_best, loss_best = x0, math.inf
        n_spent = 0
        if sizes:
            cma = _import_cma()
            options = {
                "popsize": popsize,
                "seed": np.nan,  # "do nothing": sampling comes from randn below
                "randn": lambda n, dim: rng.standard_normal((n, dim)),
                "verbose": -9,
                "verb_disp": 0,
                "verb_log": 0,
                # Spend the budget: lattice objectives are piecewise constant, so
                # cma's flat-fitness and tolerance stops would end the search early.
                "tolflatfitness": budget,
                "tolfun": 0,
                "tolfunhist": 0,
                "tolx": 0,
                "tolstagnation": 0,
                "maxiter": len(sizes) + 1,
                "CMA_diagonal": n_models >= _DIAGONAL_FROM,
            }
            # One BLAS thread for the whole search: cma's K x K algebra and the
            # (λ, K) products are too small for a second thread, which only spins
            # (at 200 models x 20,000 rows the fit ran 2-3x faster on one thread on
            # our loaded two-core machine), and float32 products then round the same
            # on every machine, so a seed gives the same ensemble everywhere.
            with (
                warnings.catch_warnings(),
                threadpool_limits(limits=1, user_api="blas"),
            ):
                warnings.simplefilter("ignore")
                es = cma.CMAEvolutionStrategy(x0, float(sigma0), options)
                for size in sizes:
                    if es.stop():
                        break
                    candidates = es.ask()
                    if size < popsize:
                        # The last, partial generation: nothing learns from it, so
                        # it is scored but not told.
                        candidates = candidates[:size]
                    losses = evaluate(np.asarray(candidates))
                    if size == popsize:
                        es.tell(candidates, losses.tolist())
                    n_spent += size
                    j = int(np.argmin(losses))
                    trajectory.append(float(losses[j]))
                    if losses[j] < loss_best:
                        x_best, loss_best = np.array(candidates[j]), float(losses[j])
        self.trajectory_ = np.asarray(trajectory, dtype=np.float64)
        self.n_evaluations_ = n_models + n_spent

        # Keep the best candidate only if it beats the single best model, scored
        # exactly as validation_loss_ will be (through combine).
        self.used_single_best_ = True
        if loss_best < best_loss:
            self._set_weights(x_best, ensemble_size)
            loss = metric.loss_single(y, self.combine(P), w)
            self.used_single_best_ = not loss < best_loss
        if self.used_single_best_:
            self._set_weights(x0, ensemble_size)
        if not self.is_weighted_average:  # BaseSelector.fit checks averages only
            self._check_weights()
            self.validation_loss_ = metric.loss_single(y, self.combine(P), w)

    def _set_weights(self, x: np.ndarray, ensemble_size: int) -> None:
        self.raw_weights_ = np.asarray(x, dtype=np.float64)
        if self.normalize == "ges":
            self.weights_ = normalize_ges(self.raw_weights_, ensemble_size)
        else:
            mass = np.abs(self.raw_weights_)
            total = mass.sum()
            self.weights_ = (
                mass / total if total > 0 else np.full(mass.size, 1.0 / mass.size)
            )

    def _linear(self) -> bool:
        """Raw weights combine regression values linearly (no renormalisation)."""
        return self.metric_.task.family == REGRESSION

    @property
    def required_members_(self) -> np.ndarray:
        check_is_fitted(self)
        return np.flatnonzero(self.weights_)

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        """``weights_ @ P``, except raw weights with a negative entry: then the softmax
        over classes of the raw weighted sum (:func:`raw_combine`); for regression
        raw weights always give the raw weighted sum."""
        check_is_fitted(self)
        linear = self._linear()
        if self.normalize == "ges" or (not linear and (self.raw_weights_ >= 0).all()):
            return super().combine(P, X)
        P = self._check_combine_input(P)
        members = self.required_members_
        return raw_combine(self.raw_weights_[None, members], P[members], linear=linear)[
            0
        ]


class _Objective:
    """Losses of a batch of raw candidates (λ, K), one vectorised metric call."""

    def __init__(
        self,
        metric: Any,
        y: np.ndarray,
        P: np.ndarray,
        normalize: str | None,
        ensemble_size: int,
        *,
        linear: bool = False,
        sample_weight: np.ndarray | None = None,
    ) -> None:
        self.metric, self.y, self.normalize, self.T = (
            metric,
            y,
            normalize,
            ensemble_size,
        )
        self.linear = linear
        self.w = sample_weight
        if normalize == "ges":
            # Lattice weights are on the simplex: candidates can be built directly on
            # the entries the loss reads (reduce commutes with weighted sums).
            self.R = metric.reduce(y, P)
        else:
            self.P = P

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.normalize == "ges":
            W = normalize_ges(X, self.T)
            used = np.flatnonzero(W.any(axis=0))
            R = self.R[used]
            E = (W[:, used].astype(np.float32) @ R.reshape(used.size, -1)).reshape(
                (W.shape[0], *R.shape[1:])
            )
            losses = self.metric.loss_reduced(self.y, E, self.w)
        else:
            E = raw_combine(X, self.P, linear=self.linear)
            R = self.metric.reduce(self.y, E)
            losses = self.metric.loss_reduced(self.y, R, self.w)
        return np.where(np.isfinite(losses), losses, np.finfo(np.float64).max)


def normalize_ges(x: np.ndarray, ensemble_size: int = 50) -> np.ndarray:
    """Map raw CMA-ES points onto GES's lattice ("ExplicitGES", Purucker & Beel 2023).

    For each row of ``x`` (shape (K,) or (λ, K)), with T = ``ensemble_size``:

    1. softmax over the coordinates, a coordinate exactly 0 counting as unused
       (weight 0), so a one-hot start stays one model;
    2. trim weights ≤ 0.5/T (below half a GES step) to 0;
       if nothing is left (or every coordinate is 0), return uniform weights 1/K;
    3. counts ``c = round(w·T)`` (half to even); every survivor has c ≥ 1;
    4. fix-up to ``Σc = T``: an excess e (at most half the survivors) is taken one
       count each from the e smallest counts (ties: lower index first), which can
       drop a member; a deficit d gives ``d // m`` to each of the m survivors and
       one more to each of the ``r = d % m`` largest counts (ties: lower index
       first), as the reference implementation does.

    Returns ``c / T`` (float64, same shape as ``x``): non-negative multiples of 1/T
    summing to 1, except the uniform fallback.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("normalize_ges needs finite weights.")
    single = x.ndim == 1
    X = np.atleast_2d(x)
    T = int(ensemble_size)
    n_rows, n_models = X.shape
    rows = np.arange(n_rows)

    used = X != 0.0
    z = np.where(used, X, -np.inf)
    top = z.max(axis=1, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(top), top, 0.0))  # exp(-inf) = 0: unused
    total = e.sum(axis=1, keepdims=True)
    w = np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    w[w <= 0.5 / T] = 0.0
    counts = np.rint(w * T).astype(np.int64)
    alive = counts > 0
    n_alive = alive.sum(axis=1)

    # Excess: one count off each of the `excess` smallest non-zero counts.
    excess = np.maximum(counts.sum(axis=1) - T, 0)
    if excess.any():
        key = np.where(alive, counts, np.iinfo(np.int64).max)
        order = np.argsort(key, axis=1, kind="stable")
        rank = np.empty_like(order)
        rank[rows[:, None], order] = np.arange(n_models)
        counts -= alive & (rank < excess[:, None])
    # Deficit: spread evenly over the survivors, +1 more to each of the `rest`
    # largest counts (as the reference implementation does; rest < survivors).
    deficit = np.maximum(T - counts.sum(axis=1), 0)
    alive = counts > 0
    n_alive = alive.sum(axis=1)
    share, rest = np.divmod(deficit, np.maximum(n_alive, 1))
    key = np.where(alive, -counts, np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[rows[:, None], order] = np.arange(n_models)
    counts += alive * share[:, None] + (alive & (rank < rest[:, None]))

    out = counts / T
    out[n_alive == 0] = 1.0 / n_models
    return out[0] if single else out


def raw_combine(W: np.ndarray, P: np.ndarray, *, linear: bool = False) -> np.ndarray:
    """Raw-weight ensembles: (m, N, C) float32 from W (m, K), P (K, N, C).

    A candidate whose weights are all non-negative is renormalised (its weights
    divided by their sum, so rows of probabilities stay rows of probabilities); one
    with a negative weight gives the softmax over classes of its weighted sum. Both
    maps are monotone per row, so label metrics see the raw argmax. All-zero weights
    give the uniform mixture. With ``linear`` (regression values) every candidate is
    the plain weighted sum ``W @ P``.
    """
    W = np.asarray(W, dtype=np.float64)
    n_models, n_samples, n_classes = P.shape
    if linear:
        return (W.astype(np.float32) @ P.reshape(n_models, -1)).reshape(
            W.shape[0], n_samples, n_classes
        )
    negative = (W < 0).any(axis=1)
    total = W.sum(axis=1, keepdims=True)
    W = np.where(
        negative[:, None],
        W,
        np.divide(W, total, out=np.full_like(W, 1.0 / n_models), where=total > 0),
    )
    E = (W.astype(np.float32) @ P.reshape(n_models, -1)).reshape(
        W.shape[0], n_samples, n_classes
    )
    if negative.any():
        S = E[negative]
        S -= S.max(axis=2, keepdims=True)
        np.exp(S, out=S)
        S /= S.sum(axis=2, keepdims=True)
        E[negative] = S
    return E
