"""``selector="auto"``: choose the selector itself by inner CV on the OOF rows.

No single way of building an ensemble wins on every task (Zhao, Zhang & Li 2022,
"AutoML pipeline generation of classification with dynamic ensemble strategy
selection", arXiv:2201.00207, make the ensemble strategy a searched component): a
weighted average (GES) is hard to beat on small data, stacking and dynamic
selection pay off when members are experts on different regions. Every
candidate here (a selector name plus a few parameters) is fit on K-1 inner folds of
the cached OOF predictions and scored on the held-out fold, all on the same folds;
the chosen one is refit on every row. Dynamic selection overfits small data, so the
one-standard-error rule then prefers the *simplest* candidate whose mean loss is
within one standard error of the best: GES first, then the other weighted averages
(QP, QO-ES), then stacking, then dynamic selectors. For a label metric (error rate,
balanced error rate) stacking shares GES's tier, so the lower loss of the two wins:
there stacking beat GES on test (``benchmarks/RESULTS.md``).

Regression uses the same rule and tiers with its own defaults (GES, QP, the ridge
stacker, local-error weighting), shuffled rather than stratified inner folds and a
plain random row subsample.

Sample weights follow the rows: the subsample and the inner folds are drawn as
without weights, each candidate is fit with its training rows' weights and scored by
the weighted loss of its held-out rows (a fold whose held-out rows all weigh 0
cannot be scored and is left out), and the chosen one is refit with all weights.

The candidates and their tiers are in :mod:`autoens.selectors.auto_candidates`, the
inner-CV helpers in :mod:`autoens.selectors.auto_cv`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from autoens._sklearn import Interval
from autoens.selectors.auto_candidates import (
    _LABEL_METRICS,
    _Candidate,
    _skip_reason,
    default_candidates,
)
from autoens.selectors.auto_cv import _fit_predict, _inner_folds, _mean_se, _subsample
from autoens.selectors.base import (
    BOTH_FAMILIES,
    RANDOM_STATE_CONSTRAINT,
    REGRESSION,
    BaseSelector,
    check_generator,
)
from autoens.selectors.registry import BUILTIN_SELECTORS

__all__ = ["AutoSelector", "default_candidates"]

logger = logging.getLogger("autoens")

# The name autoens.selectors.names registers AutoSelector under: not a candidate.
_OWN_NAME = "auto"


class AutoSelector(BaseSelector):
    """Pick the selector (and its parameters) by inner K-fold CV on the OOF rows.

    Parameters
    ----------
    candidates : list, optional
        Each entry is a registry name (``"ges"``), a ``(name, params)`` pair
        (``("knora-e", {"k": 11})``) or a selector object. Default
        :func:`default_candidates`: GES, QP, QO-ES, stacking and every registered
        dynamic selector over a small grid (regression: GES, QP, stacking and
        ``des-local``). A candidate that does not support the metric's task family
        is listed as skipped.
    cv : int, default=5
        Inner folds (stratified and shuffled; fewer when a class has fewer rows;
        shuffled for regression).
    one_standard_error : bool, default=True
        Choose the simplest candidate whose mean loss is at most the best mean loss
        plus the best candidate's standard error (ties: lower mean loss, then list
        order); False takes the best mean loss.
    max_rows : int or None, default=2000
        Score the candidates on a (stratified, for classification) random subset
        of this many OOF rows
        (all rows when there are fewer, or with None); the chosen one is refit on
        every row. Scoring cost grows faster than linearly with the rows (kNN,
        ROC AUC), while the ranking of selectors settles on far fewer rows; it
        does understate dynamic selectors a little, whose neighbourhoods get
        denser with more rows.
    time_limit : float, optional
        Seconds for scoring. Candidates run simplest first; those not started by
        then are skipped (the first one always runs). The estimator passes the
        selection reserve of its own ``time_limit``.
    random_state : None, int or numpy Generator, default=None
        Seeds the inner folds and every candidate that takes a ``random_state``.

    Candidates that cannot run here are listed in the leaderboard with the reason
    in ``error`` and no loss: dynamic ones that find neighbours in ``X`` when no
    ``X`` is given (KNOP needs none), and default grid points whose ``k`` exceeds
    the rows of an inner training fold.

    Attributes
    ----------
    chosen_ : BaseSelector
        The chosen candidate, refit on all rows; ``combine``, ``weights_``,
        ``required_members_``, ``is_dynamic`` and ``is_weighted_average`` are its.
    chosen_name_ : str
        Its name and grid parameters, e.g. ``"knora-u(k=7, voting='soft')"``.
    selector_leaderboard_ : pandas.DataFrame
        One row per candidate, best mean loss first: ``candidate`` (name),
        ``params`` (its grid parameters), ``kind`` (ges, weighted average,
        stacking, dynamic: its simplicity tier, except that for a label metric
        stacking ranks with GES), ``mean_loss`` and ``se`` (mean and standard
        error over the inner folds), ``mean_score`` (the metric's score of
        ``mean_loss``), ``members`` (mean members it needed per inner fold),
        ``chosen``, ``fit_time`` (seconds over all inner folds) and ``error`` (why
        it was skipped or failed; "" when scored).
    cv_losses_ : ndarray (n_candidates, n_folds)
        Held-out loss of every candidate (simplest first) on every inner fold.
    cv_rows_ : ndarray
        The OOF rows the candidates were scored on (see ``max_rows``).
    cv_loss_ : float
        The chosen candidate's mean inner-CV loss (honest: each fold's loss comes
        from a selector fit without that fold).
    validation_loss_ : float
        The chosen selector's own ``validation_loss_`` after the refit (in-sample
        for a weighted average, as when that selector is used directly).
    weights_ : ndarray (n_models,)
        The chosen selector's ``weights_`` (uniform over its members if it has none).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "candidates": [list, tuple, None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "one_standard_error": ["boolean"],
        "max_rows": [Interval(Integral, 2, None, closed="left"), None],
        # (0, inf]: an infinite limit is no limit.
        "time_limit": [Interval(Real, 0, None, closed="right"), None],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }
    _task_families: ClassVar[frozenset[str]] = BOTH_FAMILIES
    _supports_sample_weight: ClassVar[bool] = True

    def __init__(
        self,
        *,
        candidates: Sequence[Any] | None = None,
        cv: int = 5,
        one_standard_error: bool = True,
        max_rows: int | None = 2000,
        time_limit: float | None = None,
        random_state: Any = None,
    ) -> None:
        self.candidates = candidates
        self.cv = cv
        self.one_standard_error = one_standard_error
        self.max_rows = max_rows
        self.time_limit = time_limit
        self.random_state = random_state

    # The chosen candidate decides how the ensemble is run.
    @property
    def is_dynamic(self) -> bool:  # type: ignore[override]
        chosen = getattr(self, "chosen_", None)
        return bool(chosen is not None and chosen.is_dynamic)

    @property
    def is_weighted_average(self) -> bool:  # type: ignore[override]
        chosen = getattr(self, "chosen_", None)
        return bool(chosen is None or chosen.is_weighted_average)

    @property
    def required_members_(self) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(self.chosen_.required_members_, dtype=np.int64)

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_splits = int(self.cv)
        seed = int(check_generator(self.random_state).integers(2**31 - 1))
        X = _check_features(X)
        family = self.metric_.task.family
        regression = family == REGRESSION
        rows = _subsample(y, self.max_rows, seed, regression=regression)
        P_s, y_s = P[:, rows], y[rows]
        X_s = None if X is None else X[rows]
        sw = self._sample_weight
        w_s = None if sw is None else sw[rows]
        folds = _inner_folds(y_s, n_splits, seed, regression=regression)
        # Dynamic fits query k + 1 neighbours among the training rows of a fold.
        max_k = min((len(train) for train, _ in folds), default=y_s.shape[0]) - 1
        cands = self._candidates(seed)
        reasons = [_skip_reason(c, X is not None, max_k, family) for c in cands]
        if all(reasons):
            raise ValueError(
                f"no candidate can be scored here: {reasons[0]} (and "
                f"{len(reasons) - 1} more); pass X or add a static selector."
            )
        # Candidates are small array programs; on a shared 2-core machine a second
        # OpenMP/BLAS thread in their kNN queries only spins (5x slower measured).
        with threadpool_limits(limits=1):
            losses, members, seconds, errors = self._score(
                cands, reasons, P_s, y_s, X_s, configs, folds, w_s
            )
            scored = ~np.isnan(losses).all(axis=0)  # folds that could be scored
            mean, se = _mean_se(losses[:, scored])
            tiers = np.array([c.tier for c in cands])
            usable = np.array([not e for e in errors])
            # When nothing can be scored (e.g. a class too rare for every inner
            # fold), the first candidate that could run here, the simplest.
            fallback = next(i for i, reason in enumerate(reasons) if not reason)
            chosen = self._choose(mean, se, tiers, usable, fallback)
            self.chosen_ = clone(cands[chosen].template).fit(
                P, y, metric=self.metric_, X=X, configs=configs, sample_weight=sw
            )
        self.cv_losses_ = losses
        self.cv_rows_ = rows
        self.cv_loss_ = float(mean[chosen])
        self.chosen_name_ = cands[chosen].label
        weights = getattr(self.chosen_, "weights_", None)
        if weights is None:
            weights = np.zeros(P.shape[0])
            weights[self.chosen_.required_members_] = 1.0
            weights /= weights.sum()
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.validation_loss_ = float(
            getattr(self.chosen_, "validation_loss_", self.cv_loss_)
        )
        n_cand = len(cands)
        board = pd.DataFrame(
            {
                "candidate": [c.name for c in cands],
                "params": [c.params for c in cands],
                "kind": [c.kind for c in cands],
                "mean_loss": mean,
                "se": se,
                "mean_score": [self.metric_.to_score(m) for m in mean],
                "members": np.where(usable, members.mean(axis=1), np.nan),
                "chosen": np.arange(n_cand) == chosen,
                "fit_time": seconds.round(4),
                "error": errors,
            }
        )
        order = np.lexsort((np.arange(n_cand), np.nan_to_num(mean, nan=np.inf)))
        self.selector_leaderboard_ = board.iloc[order].reset_index(drop=True)
        logger.info(
            "auto: chose %s (inner-CV loss %.5f +- %.5f) among %d candidates",
            self.chosen_name_,
            mean[chosen],
            se[chosen],
            n_cand,
        )

    def _candidates(self, seed: int) -> list[_Candidate]:
        """The candidates to score, simplest first (stable within a tier)."""
        default = self.candidates is None
        label_metric = self.metric_.name in _LABEL_METRICS
        entries = default_candidates(self.metric_) if default else self.candidates
        if entries is None or not len(entries):
            raise ValueError("candidates is empty; pass at least one selector.")
        out = []
        for entry in entries:
            if isinstance(entry, BaseSelector):
                template = BUILTIN_SELECTORS.get(entry, random_state=seed)
                name, params = type(entry).__name__, {}
            elif isinstance(entry, str):
                template, name, params = _from_name(entry, seed), entry, {}
            elif (
                isinstance(entry, tuple | list)
                and len(entry) == 2
                and isinstance(entry[0], str)
                and isinstance(entry[1], dict)
            ):
                name, params = entry[0], dict(entry[1])
                template = _from_name(name, seed)
                try:
                    template.set_params(**params)
                except ValueError as exc:
                    raise ValueError(f"candidate {entry!r}: {exc}") from None
            else:
                raise ValueError(
                    "each candidate must be a selector name, a (name, params) pair "
                    f"or a BaseSelector instance; got {entry!r}."
                )
            if isinstance(template, AutoSelector):
                raise ValueError("AutoSelector cannot be its own candidate.")
            out.append(_Candidate(name, params, template, default, label_metric))
        return sorted(out, key=lambda c: c.tier)

    def _score(
        self,
        cands: list[_Candidate],
        reasons: list[str],
        P: np.ndarray,
        y: np.ndarray,
        X: np.ndarray | None,
        configs: list[dict[str, Any]] | None,
        folds: list[tuple[np.ndarray, np.ndarray]],
        sample_weight: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Held-out loss (n_candidates, n_folds), members used, seconds, errors
        (weighted by the rows' ``sample_weight`` when given).

        Each candidate runs on every fold; the held-out predictions fill one OOF
        tensor (the folds partition the rows), scored fold by fold in one batched
        metric call over all candidates. Past ``time_limit`` the remaining
        candidates are skipped.
        """
        n_cand = len(cands)
        oof = np.zeros((n_cand, *P.shape[1:]), dtype=np.float32)
        members = np.zeros((n_cand, len(folds)))
        seconds = np.zeros(n_cand)
        errors = list(reasons)
        start = time.perf_counter()
        started = False
        for c, cand in enumerate(cands):
            if errors[c]:
                continue
            elapsed = time.perf_counter() - start
            if started and self.time_limit is not None and elapsed > self.time_limit:
                errors[c] = f"skipped: time_limit={self.time_limit:g}s reached"
                continue
            started = True
            for f, (train, test) in enumerate(folds):
                fold_X = None if X is None else (X[train], X[test])
                try:
                    oof[c, test], members[c, f] = _fit_predict(
                        cand.template,
                        P,
                        y,
                        train,
                        test,
                        fold_X,
                        configs,
                        self.metric_,
                        sample_weight,
                    )
                except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
                    errors[c] = f"failed: {type(exc).__name__}: {exc}"
                    logger.warning("auto: candidate %s failed: %s", cand.label, exc)
                    break
            seconds[c] = time.perf_counter() - start - elapsed
        skipped = sum(e.startswith("skipped: time") for e in errors)
        if skipped:
            logger.warning(
                "auto: time_limit=%gs reached; %d of %d candidates not scored",
                self.time_limit,
                skipped,
                n_cand,
            )
        ok = np.array([not e for e in errors])
        losses = np.full((n_cand, len(folds)), np.nan)
        for f, (_, test) in enumerate(folds):
            fold_weight = None if sample_weight is None else sample_weight[test]
            try:
                losses[ok, f] = self.metric_.loss(
                    y[test], oof[ok][:, test], sample_weight=fold_weight
                )
            except ValueError as exc:  # e.g. ROC AUC of a one-class fold
                logger.warning("auto: inner fold %d not scored: %s", f, exc)
        return losses, members, seconds, errors

    def _choose(
        self,
        mean: np.ndarray,
        se: np.ndarray,
        tiers: np.ndarray,
        usable: np.ndarray,
        fallback: int = 0,
    ) -> int:
        """Index of the chosen candidate (one-standard-error rule, see the class)."""
        finite = usable & np.isfinite(mean)
        if not finite.any():
            # Nothing could be scored (tiny data, a class too rare for the inner
            # folds): the simplest candidate that ran, else ``fallback``.
            logger.warning("auto: no candidate could be scored; using the simplest")
            ran = np.flatnonzero(usable)
            return int(ran[0]) if ran.size else fallback
        best = int(np.flatnonzero(finite)[np.argmin(mean[finite])])
        if not self.one_standard_error:
            return best
        slack = se[best] if np.isfinite(se[best]) else 0.0
        eligible = finite & (mean <= mean[best] + slack + 1e-12)
        idx = np.flatnonzero(eligible)
        # Simplest tier first, then the lower mean loss, then candidate order.
        return int(idx[np.lexsort((idx, mean[idx], tiers[idx]))[0]])

    def combine(
        self, P: Any, X: Any = None, *, exclude_self: bool = False
    ) -> np.ndarray:
        """The chosen selector's ensemble prediction (see its ``combine``)."""
        check_is_fitted(self)
        P = self._check_combine_input(P)
        if self.chosen_.is_dynamic:
            return self.chosen_.combine(P, X=X, exclude_self=exclude_self)
        return self.chosen_.combine(P, X=X)


def _check_features(X: Any) -> np.ndarray | None:
    if X is None:
        return None
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            "X must be numeric features (the competence space: encoded and scaled, "
            "see autoens.ensemble.CompetenceSpace), not a raw mixed-type table."
        ) from None
    if X.ndim != 2 or not np.isfinite(X).all():
        raise ValueError(
            f"X must be a finite 2-D numeric array, got shape {X.shape} "
            "(impute missing values first)."
        )
    return X


def _from_name(name: str, seed: int) -> BaseSelector:
    """A candidate template from a registry name (any but AutoSelector's own)."""
    if name.strip().lower() == _OWN_NAME:
        raise ValueError("AutoSelector cannot be its own candidate.")
    return BUILTIN_SELECTORS.get(name, random_state=seed)
