"""DivBO: diversity-aware Bayesian optimisation.

Shen, Y., Lu, Y., Li, Y., Tu, Y., Zhang, W., Cui, B. (2022). "DivBO: Diversity-aware
CASH for ensemble learning." NeurIPS 2022.

Each proposal ranks a candidate set S by two surrogates and picks

    argmin over S of  rank_desc(EI) + w(t) * rank_desc(div)
    with  w(t) = beta * (sigmoid(tau * t) - 0.5),  t = observations so far

* EI comes from a random forest on the encoded configurations (mean and spread across
  trees), against the best loss so far; failed trials count as the worst loss, pending
  ones as the mean loss (constant liar), so parallel workers spread out.
* div(c) is the predicted diversity between c and its *closest* member of the temporary
  pool: the distinct members of greedy ensemble selection (size 25, on the search's
  metric) on the OOF predictions so far, plus the pending configurations. A LightGBM
  regressor learns the pairwise diversity D(a, b) of evaluated pairs (gaussian-rank
  targets). D is the paper's distance between class probabilities for classification
  and one minus the correlation of the residuals for regression (``diversity.py``
  says why).

With ``beta=0`` this is plain random-forest EI optimisation ("BO+ES"), the ablation that
isolates the diversity term. Optuna keeps the bookkeeping: the loop enqueues each
proposal, so an RDB storage resumes a DivBO search like any other.

Cost control (a proposal should cost a few percent of a trial): D grows by one row per
observation (vectorised), D and the pool's GES see at most ``max_rows`` OOF rows
(stratified by class, or by target quantile for regression), the diversity surrogate
trains on at most ``max_pairs`` pairs (all pairs that touch a pool member first) with
``n_estimators`` capped, and is refit only when D grew by a quarter since its last fit;
the pool's GES is rerun only when a new model would improve the pool's ensemble (or D
grew by a quarter); div is predicted only for the candidates whose EI rank lets them
win (rank <= best rank + w|S|), their rank among all of S estimated from a random
reference sample of the others (our shortcut: the paper scores all of S); the
performance forest is grown without most of scikit-learn's per-tree overhead.

Time: with a :class:`~autoens.search.cost.CostModel` in the history and a time limit,
candidates predicted to take longer than what is left (the search's time or the trial
limit, with a margin) are dropped; when none fits, the cheapest is proposed.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, ndtr
from scipy.stats import rankdata
from sklearn.base import BaseEstimator
from sklearn.tree import DecisionTreeRegressor

from autoens._sklearn import Interval
from autoens.search.diversity import DiversityMatrix, gaussian_rank
from autoens.search.encoding import ConfigEncoder
from autoens.search.proposers import Proposal, SearchHistory
from autoens.selectors.greedy import GreedyEnsembleSelection

__all__ = ["DivBO"]

# The paper's candidate count and beta: the diversity rank may move a candidate by at
# most w*|S| positions (beta/2 * 5000 = 125 at saturation). ``beta=None`` keeps that
# slack for any n_candidates.
_PAPER_CANDIDATES = 5000
_PAPER_BETA = 0.05
# Trees of the performance surrogate: growing one costs ~1 ms of scikit-learn's
# overhead even on 30 rows (SMAC's random-forest surrogate uses 10 trees).
_FOREST_TREES = 25
# Local-search step sizes on the [0, 1] scale of numeric hyper-parameters.
_LOCAL_SCALES = np.array([0.03, 0.1, 0.25])
# Statuses that are observations for the surrogates ("cancelled" is the budget's fault).
# A "pruned" trial (stopped after its first folds, which were clearly bad) counts as the
# worst loss, like a failure; it has no OOF predictions, so no diversity.
_OBSERVED = ("ok", "failed", "timeout", "pruned")
# A candidate "fits" when its predicted time is at most this share of the time left.
_COST_MARGIN = 0.8
# The diversity surrogate is refit when the models in D grew by this factor: D(a, b)
# of 40 models barely moves with a 41st (the candidates it predicts for are always
# today's). The pool's GES is rerun at the same growth at the latest.
_SURROGATE_GROWTH = 1.25
# Odd 64-bit multipliers of the row hash in ``_unseen`` (fixed: no global state).
_HASH_MULTIPLIERS = np.random.default_rng(20221).integers(
    1, 2**63, size=4096, dtype=np.uint64
) | np.uint64(1)


class DivBO(BaseEstimator):
    """Diversity-aware proposer; ``AutoEnsembleClassifier(search=DivBO(...))``, and
    the same for regression (the family is read from the search's metric).

    Parameters
    ----------
    beta : float or None, default=None
        Scale of the diversity weight w(t). None gives ``0.05 * 5000 / n_candidates``,
        the paper's beta rescaled so that the diversity rank may move a candidate by
        the same ~125 positions whatever ``n_candidates``. 0 switches the diversity
        term (and its surrogate) off: plain random-forest EI ("bo").
    tau : float, default=0.2
        Steepness of the sigmoid schedule; w(t) saturates at beta/2 after ~5/tau
        observations.
    n_init : int, default=10
        Observations (warm-start portfolio included) before the surrogates are used;
        until then proposals are random.
    p_random : float, default=0.2
        Chance that a proposal is a random configuration (exploration).
    n_candidates : int, default=1000
        Size of the candidate set S: half local search around the best
        configurations, half random.
    n_starts : int, default=10
        Best configurations that the local search starts from.
    ensemble_size : int, default=25
        GES iterations that form the temporary pool.
    max_pairs : int, default=50_000
        Cap on the pairs the diversity surrogate trains on.
    max_rows : int, default=10_000
        Cap on the OOF rows used for D and the pool's GES (a subsample stratified by
        class, or by target quantile for regression). The GES is most of a
        proposal's time on multiclass data: 2_000 rows made a 40-trial satimage
        proposal 1.7x faster, with D unchanged (Spearman 0.999) but a different
        pool (Jaccard 0.45-0.62 to the pool on all rows).
    n_estimators : int, default=100
        Boosting rounds of the diversity surrogate (LightGBM).
    random_state : int, Generator or None
        Seeds candidates, exploration and both surrogates.
    """

    _parameter_constraints: ClassVar[dict] = {
        "beta": [Interval(Real, 0, None, closed="left"), None],
        "tau": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 0, None, closed="left")],
        "p_random": [Interval(Real, 0, 1, closed="both")],
        "n_candidates": [Interval(Integral, 2, None, closed="left")],
        "n_starts": [Interval(Integral, 1, None, closed="left")],
        "ensemble_size": [Interval(Integral, 1, None, closed="left")],
        "max_pairs": [Interval(Integral, 1, None, closed="left")],
        "max_rows": [Interval(Integral, 10, None, closed="left")],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state", np.random.Generator],
    }
    # Size of the reference sample that estimates the shortlist's diversity ranks
    # among all of S (the rank's standard error is ~ |S| / (2 sqrt(k))); at |S| or
    # more the ranks are exact (benchmarks/divbo_speed.py compares the two).
    _div_reference: ClassVar[int] = 100

    def __init__(
        self,
        *,
        beta: float | None = None,
        tau: float = 0.2,
        n_init: int = 10,
        p_random: float = 0.2,
        n_candidates: int = 1000,
        n_starts: int = 10,
        ensemble_size: int = 25,
        max_pairs: int = 50_000,
        max_rows: int = 10_000,
        n_estimators: int = 100,
        random_state: Any = None,
    ) -> None:
        self.beta = beta
        self.tau = tau
        self.n_init = n_init
        self.p_random = p_random
        self.n_candidates = n_candidates
        self.n_starts = n_starts
        self.ensemble_size = ensemble_size
        self.max_pairs = max_pairs
        self.max_rows = max_rows
        self.n_estimators = n_estimators
        self.random_state = random_state

    # ------------------------------------------------------------------ parameters
    @property
    def name(self) -> str:
        """ "bo" when the diversity term is off, else "divbo"."""
        return "bo" if self.beta_ == 0 else "divbo"

    @property
    def beta_(self) -> float:
        """The beta in use (``beta`` or its rescaled default)."""
        if self.beta is None:
            return _PAPER_BETA * _PAPER_CANDIDATES / self.n_candidates
        return float(self.beta)

    def weight(self, t: int) -> float:
        """w(t) = beta * (sigmoid(tau * t) - 0.5): 0 at the start, beta/2 later."""
        return float(self.beta_ * (expit(self.tau * t) - 0.5))

    # ------------------------------------------------------------------ state
    def _setup(self, history: SearchHistory) -> None:
        self._validate_params()
        self.encoder_ = ConfigEncoder(history.specs)
        self.rng_ = np.random.default_rng(self.random_state)
        # The diversity rank's reference sample draws from its own stream, so its
        # size never shifts the candidates a proposal generates.
        self.reference_rng_ = np.random.default_rng(self._seed())
        self.n_seen_records_ = 0
        self.X_obs_ = np.zeros((0, self.encoder_.n_features))
        self.loss_obs_ = np.zeros(0)  # NaN for failed observations
        self.ok_ = np.zeros(0, dtype=np.intp)  # observation index of each D row
        self.D_: DiversityMatrix | None = None
        self.div_model_: Any = None  # the diversity surrogate and the D size it saw
        self.div_n_ = 0
        self.pool_ges_: GreedyEnsembleSelection | None = None  # the pool's GES
        self.pool_: np.ndarray = np.zeros(0, dtype=np.intp)
        self.pool_fit_n_ = self.pool_checked_n_ = 0  # D sizes it was fit / checked at
        self.specs_ = [spec.name for spec in history.specs]
        # What y and the OOF predictions mean: the metric names the task it scores.
        self.regression_ = (
            getattr(history.metric.task, "family", "classification") == "regression"
        )

    def _seed(self) -> int:
        return int(self.rng_.integers(2**31 - 1))

    def _update(self, history: SearchHistory) -> None:
        """Take in the records finished since the last proposal."""
        new = history.records[self.n_seen_records_ :]
        self.n_seen_records_ = len(history.records)
        new = [r for r in new if r.status in _OBSERVED and r.learner in self.specs_]
        if not new:
            return
        X = self.encoder_.encode([(r.learner, r.params) for r in new])
        loss = np.array([r.loss if r.status == "ok" else np.nan for r in new])
        base = len(self.X_obs_)
        self.X_obs_ = np.vstack([self.X_obs_, X])
        self.loss_obs_ = np.concatenate([self.loss_obs_, loss])
        for k, record in enumerate(new):
            oof = history.oof(record)
            if oof is None:
                continue
            if self.D_ is None:
                target = history.y if self.regression_ else None
                self.D_ = DiversityMatrix(
                    self._subsample_rows(history.y), target=target
                )
            self.D_.add(oof)
            self.ok_ = np.append(self.ok_, base + k)

    def _subsample_rows(self, y: np.ndarray) -> np.ndarray | None:
        """At most ``max_rows`` OOF rows, stratified by class (or by target quantile
        for regression), fixed for the search."""
        n = len(y)
        if n <= self.max_rows:
            return None
        rng = np.random.default_rng(self._seed())
        if self.regression_:
            return _quantile_rows(y, self.max_rows, rng)
        keys = rng.random(n)
        # Within each class, a random order; take each class's share of max_rows.
        order = np.lexsort((keys, y))
        _, starts, counts = np.unique(y[order], return_index=True, return_counts=True)
        take = np.maximum(1, np.floor(counts * self.max_rows / n)).astype(np.intp)
        rows = np.concatenate(
            [order[s : s + k] for s, k in zip(starts, take, strict=True)]
        )
        return np.sort(rows)

    # ------------------------------------------------------------------ propose
    def propose(self, history: SearchHistory) -> Proposal:
        """The next configuration to evaluate, with user_attrs explaining the choice."""
        names = [spec.name for spec in history.specs]
        if not hasattr(self, "encoder_"):
            self._setup(history)
        elif names != self.specs_:
            raise ValueError(
                "DivBO: the learners changed between proposals; use one proposer "
                "per search"
            )
        self._update(history)
        X_pending = self.encoder_.encode(list(history.pending))
        seen = np.vstack([self.X_obs_, X_pending])
        t = len(self.X_obs_)
        explore = self.rng_.random() < self.p_random
        n_ok = len(self.ok_)
        if t < self.n_init or n_ok < 2 or explore:
            X = _unseen(self.encoder_.sample(64, self.rng_), seen)
            X, seconds = self._affordable(history, X)
            why = "random-init" if t < self.n_init or n_ok < 2 else "random"
            learner, params = self.encoder_.decode(X[0])
            attrs = {"proposer": why, "t": t, "n_pending": len(X_pending)}
            if seconds is not None:
                attrs["predicted_time"] = round(float(seconds[0]), 3)
            return Proposal(learner, params, attrs)
        return self._propose_model_based(history, X_pending, seen, t)

    def _affordable(
        self, history: SearchHistory, S: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows of S predicted to finish in the time a trial has (with a
        margin), in their order, and their predicted seconds; the cheapest row alone
        when none fits. S itself (and None) without a cost model or a time limit."""
        limit = history.time_available()
        if history.cost is None or limit is None or not len(S):
            return S, None
        cost = history.cost.update(history.records)  # skips the records it has seen
        enc = self.encoder_
        learner = enc.learner_index(S)
        seconds = np.empty(len(S))
        for li in np.unique(learner):  # one vectorised call per learner
            rows = learner == li
            name = enc.learners[li]
            seconds[rows] = cost.predict_many(name, enc.decode_columns(S[rows], name))
        fits = seconds <= _COST_MARGIN * limit
        if not fits.any():
            fits = np.arange(len(S)) == int(np.argmin(seconds))
        return S[fits], seconds[fits]

    def _propose_model_based(
        self,
        history: SearchHistory,
        X_pending: np.ndarray,
        seen: np.ndarray,
        t: int,
    ) -> Proposal:
        loss = self.loss_obs_.copy()
        ok_loss = loss[self.ok_]
        loss[np.isnan(loss)] = ok_loss.max()  # failures: the worst loss seen
        # Pending configs: the constant liar (mean loss) keeps parallel picks apart.
        X_perf = np.vstack([self.X_obs_, X_pending])
        y_perf = np.concatenate([loss, np.full(len(X_pending), ok_loss.mean())])
        forest = _Forest(_FOREST_TREES, self._seed()).fit(X_perf, y_perf)

        S = self._candidates(forest, seen, ok_loss)
        n_generated = len(S)
        S, seconds = self._affordable(history, S)
        ei = _expected_improvement(forest, S, float(ok_loss.min()))
        r_ei = rankdata(-ei, method="average")
        w = self.weight(t)
        attrs: dict[str, Any] = {
            "proposer": self.name,
            "t": t,
            "w": round(w, 6),
            "n_pending": len(X_pending),
        }
        if w > 0 and len(self.ok_) >= 3:
            r_div, pool_size, n_scored = self._diversity_ranks(
                history, X_pending, S, r_ei, w
            )
            score = np.where(np.isnan(r_div), np.inf, r_ei + w * r_div)
            attrs["pool_size"] = pool_size
            attrs["n_div_scored"] = n_scored
        else:
            r_div = np.full(len(S), math.nan)
            score = r_ei
        best = int(np.argmin(score))
        attrs.update(
            ei_rank=float(r_ei[best]),
            div_rank=float(r_div[best]),
            n_candidates=len(S),
        )
        if seconds is not None:
            attrs["n_too_slow"] = n_generated - len(S)
            attrs["predicted_time"] = round(float(seconds[best]), 3)
        learner, params = self.encoder_.decode(S[best])
        return Proposal(learner, params, attrs)

    def _candidates(
        self, forest: _Forest, seen: np.ndarray, ok_loss: np.ndarray
    ) -> np.ndarray:
        """S: perturbations of the best configurations plus random ones, unseen."""
        enc, rng = self.encoder_, self.rng_
        n_local = self.n_candidates // 2
        starts = self.X_obs_[self.ok_[np.argsort(ok_loss, kind="stable")]]
        starts = starts[: self.n_starts]
        idx = np.arange(n_local) % len(starts)
        scale = _LOCAL_SCALES[rng.integers(len(_LOCAL_SCALES), size=n_local)]
        local = enc.perturb(starts[idx], rng, scale=scale)
        # A second step from the locally best neighbours (a short greedy walk).
        mean = forest.predict(local)
        best = local[np.argsort(mean, kind="stable")[: max(1, n_local // 10)]]
        idx2 = np.arange(n_local // 2) % len(best)
        local2 = enc.perturb(best[idx2], rng, scale=_LOCAL_SCALES[0])
        n_random = max(1, self.n_candidates - len(local) - len(local2))
        S = np.vstack([local, local2, enc.sample(n_random, rng)])
        return _unseen(S, seen)

    def _diversity_ranks(
        self,
        history: SearchHistory,
        X_pending: np.ndarray,
        S: np.ndarray,
        r_ei: np.ndarray,
        w: float,
    ) -> tuple[np.ndarray, int, int]:
        """rank_desc(div) over S, scoring only the candidates that can win.

        The diversity term moves a score by at most ``w * |S|``, so a candidate whose
        EI rank exceeds the EI leader's worst score (its rank + ``w * |S|``) never wins:
        only this shortlist needs div. Its rank among all of S is estimated from a
        random reference sample of the others (``_div_reference`` of them), so the
        shortlist's ranks keep the paper's ``1..|S|`` scale. Returns the ranks (NaN
        off the shortlist), the pool size and how many candidates were scored.
        """
        n = len(S)
        short = np.flatnonzero(r_ei <= r_ei.min() + w * n)
        rest = np.setdiff1d(np.arange(n), short, assume_unique=True)
        if len(rest) > self._div_reference:
            rest = np.sort(
                self.reference_rng_.choice(
                    rest, size=self._div_reference, replace=False
                )
            )
        div, pool_size = self._diversity(history, X_pending, S[np.r_[short, rest]])
        d_short, d_rest = div[: len(short)], np.sort(div[len(short) :])
        # Average rank, descending: 1 + #above + (#ties - 1) / 2, each count taken
        # exactly in the shortlist and scaled up from the reference sample.
        scale = (n - len(short)) / max(1, len(d_rest))
        at_most = np.searchsorted(d_rest, d_short, side="right")
        above = len(d_rest) - at_most
        ties = at_most - np.searchsorted(d_rest, d_short, side="left")
        rank_short = rankdata(-d_short, method="average")
        r_div = np.full(n, math.nan)
        r_div[short] = rank_short + scale * (above + 0.5 * ties)
        return r_div, pool_size, len(div)

    def _pool(self, history: SearchHistory) -> np.ndarray:
        """The temporary pool: the distinct members of GES on the OOF predictions.

        GES is most of a proposal's cost once the diversity surrogate is cached, so
        it is rerun only when it may change: when a model evaluated since the last
        run improves the pool's ensemble as one added copy (the step by which GES
        would take it in), or when the models grew by ``_SURROGATE_GROWTH``.
        """
        assert self.D_ is not None
        P = self.D_.predictions
        n = len(P)
        rows = slice(None) if self.D_.rows is None else self.D_.rows
        y = history.y[rows]
        w = None if history.sample_weight is None else history.sample_weight[rows]
        seed = self._seed()  # drawn whether or not GES runs: one random stream
        if self.pool_ges_ is not None and n < _SURROGATE_GROWTH * self.pool_fit_n_:
            if n == self.pool_checked_n_:
                return self.pool_
            ges = self.pool_ges_
            m = len(ges.indices_)
            ensemble = ges.combine(P[: self.pool_fit_n_])
            added = (m * ensemble[None] + P[self.pool_checked_n_ :]) / np.float32(m + 1)
            losses = history.metric.loss(y, added, sample_weight=w)
            self.pool_checked_n_ = n
            if not (losses < ges.validation_loss_).any():
                return self.pool_
        ges = GreedyEnsembleSelection(
            ensemble_size=self.ensemble_size, random_state=seed
        ).fit(P, y, metric=history.metric, sample_weight=w)
        self.pool_ges_, self.pool_fit_n_, self.pool_checked_n_ = ges, n, n
        self.pool_ = np.flatnonzero(ges.weights_ > 0)
        return self.pool_

    def _diversity(
        self, history: SearchHistory, X_pending: np.ndarray, S: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """div(c): predicted D to the closest member of pool + pending."""
        from lightgbm import LGBMRegressor

        assert self.D_ is not None
        D = self.D_.matrix
        pool = self._pool(history)

        X_ok = self.X_obs_[self.ok_]
        seed = self._seed()  # drawn whether or not we refit: one random stream
        # Refit only when D grew enough to matter (always early on, when it is small).
        if self.div_model_ is None or len(D) >= _SURROGATE_GROWTH * self.div_n_:
            i, j = self._pairs(len(D), pool)
            self.div_model_ = LGBMRegressor(
                n_estimators=self.n_estimators,
                learning_rate=0.1,
                max_depth=5,
                num_leaves=31,
                min_child_samples=5,
                max_bin=63,
                subsample_for_bin=5000,  # binning 50k pairs costs more than training
                n_jobs=1,
                random_state=seed,
                deterministic=True,
                force_row_wise=True,
                verbose=-1,
            ).fit(_pair_features(X_ok[i], X_ok[j]), gaussian_rank(D[i, j]))
            self.div_n_ = len(D)

        members = np.vstack([X_ok[pool], X_pending])
        # D is symmetric and the surrogate trains on both orders of every pair, so
        # one order suffices here (half the cost of averaging both).
        booster = self.div_model_.booster_
        pred = booster.predict(_cross_pair_features(S, members), num_threads=1)
        return pred.reshape(len(S), len(members)).min(axis=1), len(members)

    def _pairs(self, n: int, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ordered pairs (self-pairs included) to train on: all when they fit under
        ``max_pairs``, else all that touch the pool plus random others."""
        i, j = np.divmod(np.arange(n * n), n)
        if n * n <= self.max_pairs:
            return i, j
        in_pool = np.zeros(n, dtype=bool)
        in_pool[pool] = True
        touch = in_pool[i] | in_pool[j]
        first = np.flatnonzero(touch)[: self.max_pairs]
        others = np.flatnonzero(~touch)
        k = max(0, self.max_pairs - len(first))
        chosen = self.rng_.choice(others, size=min(k, len(others)), replace=False)
        keep = np.sort(np.concatenate([first, chosen]))
        return i[keep], j[keep]


def _quantile_rows(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` sorted row indices, one drawn at random from each of ``k`` equal-count
    strata of the sorted target: the tails, which dominate a squared error, are
    always in (a plain random sample may miss them). Ties are ordered at random."""
    n = len(y)
    order = np.lexsort((rng.random(n), y))
    bounds = np.arange(k + 1) * n // k  # stratum i: sorted positions [b_i, b_i+1)
    picks = bounds[:-1] + (rng.random(k) * np.diff(bounds)).astype(np.intp)
    return np.sort(order[picks])


def _pair_features(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Both encodings, their absolute difference and a same-learner flag.

    The difference and flag are our addition to the paper's concat(a, b): they let
    shallow trees see "how far apart" without learning it per column pair.
    """
    same = np.all((a < 0) == (b < 0), axis=1, keepdims=True)
    return np.hstack([a, b, np.abs(a - b), same.astype(np.float64)])


class _Forest:
    """A random forest of ``n_trees`` regression trees (``min_samples_leaf=2``,
    ``max_features=5/6``), each grown on a bootstrap sample of the rows.

    scikit-learn's ``RandomForestRegressor`` would do, but its per-tree parameter and
    input checks cost more than growing a tree on the few dozen observations of a
    search. Two deliberate differences make it cheaper still: the bootstrap repeats
    rows instead of weighting them by their counts (no per-tree sample-weight check;
    out-of-bag rows take no part in the splits, as in Breiman's definition), and one
    random stream seeds every tree (no per-tree RandomState to build).
    """

    def __init__(self, n_trees: int, seed: int) -> None:
        self.n_trees, self.seed = n_trees, seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Forest:
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        y2 = np.ascontiguousarray(y, dtype=np.float64).reshape(-1, 1)
        n = len(X32)
        rng = np.random.RandomState(self.seed)
        self.trees_ = []
        for _ in range(self.n_trees):
            rows = rng.randint(0, n, n)
            tree = DecisionTreeRegressor(
                min_samples_leaf=2, max_features=5 / 6, random_state=rng
            )
            tree._fit(X32[rows], y2[rows], check_input=False)
            self.trees_.append(tree.tree_)
        return self

    def per_tree(self, X: np.ndarray) -> np.ndarray:
        """(n_trees, n) predictions of each tree."""
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        return np.stack([tree.predict(X32)[:, 0] for tree in self.trees_])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The forest's mean over its trees."""
        out = np.zeros(len(X), dtype=np.float64)
        for p in self.per_tree(X):
            out += p
        out /= len(self.trees_)
        return out


def _cross_pair_features(S: np.ndarray, M: np.ndarray) -> np.ndarray:
    """:func:`_pair_features` of every (row of S, row of M) pair, S-major, built in
    place by broadcasting (no repeated copies of S and M)."""
    n_s, n_m, f = len(S), len(M), S.shape[1]
    out = np.empty((n_s, n_m, 3 * f + 1), dtype=np.float64)
    out[:, :, :f] = S[:, None, :]
    out[:, :, f : 2 * f] = M[None, :, :]
    np.subtract(S[:, None, :], M[None, :, :], out=out[:, :, 2 * f : 3 * f])
    np.abs(out[:, :, 2 * f : 3 * f], out=out[:, :, 2 * f : 3 * f])
    out[:, :, 3 * f] = np.all((S < 0)[:, None, :] == (M < 0)[None, :, :], axis=2)
    return out.reshape(n_s * n_m, 3 * f + 1)


def _expected_improvement(forest: _Forest, X: np.ndarray, best: float) -> np.ndarray:
    """EI of minimising, from the mean and spread of the forest's trees."""
    per_tree = forest.per_tree(X)
    mu = per_tree.mean(axis=0)
    sigma = np.maximum(per_tree.std(axis=0), 1e-9)
    z = (best - mu) / sigma
    return (best - mu) * ndtr(z) + sigma * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _unseen(X: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Rows of X, first occurrence only, that are not rows of ``seen``.

    Falls back to X itself when every row was seen (a tiny search space), so the
    proposer always has an answer; the loop answers an exact repeat from its records.
    """
    if not len(X):
        return X
    both = np.round(np.vstack([seen, X]), 9) + 0.0  # + 0.0: -0.0 becomes 0.0
    # Group equal rows by a 64-bit hash of their bytes (a sort of one integer per row
    # rather than of whole rows); a collision, checked exactly, falls back to rows.
    hashed = both.shape[1] <= len(_HASH_MULTIPLIERS)
    if hashed:
        bits = np.ascontiguousarray(both).view(np.uint64)
        h = ((bits ^ (bits >> np.uint64(29))) * _HASH_MULTIPLIERS[: both.shape[1]]).sum(
            axis=1, dtype=np.uint64
        )
        _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    if not hashed or not np.array_equal(both, both[first][inverse]):
        _, first, inverse = np.unique(
            both, axis=0, return_index=True, return_inverse=True
        )
    inverse = inverse.ravel()
    n_seen = len(seen)
    seen_groups = np.zeros(len(first), dtype=bool)
    seen_groups[inverse[:n_seen]] = True
    cand = inverse[n_seen:]
    keep = (~seen_groups[cand]) & (first[cand] == np.arange(n_seen, len(both)))
    if not keep.any():
        return X
    return X[keep]
