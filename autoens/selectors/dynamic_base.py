"""The machinery every dynamic selector shares: kNN competence regions over the fit
(out-of-fold) rows, leave-one-out scoring, per-row weighting and voting.

:class:`DynamicSelector` runs the steps of DESlib's ``BaseDS`` (Cruz, Hafemann,
Sabourin & Cavalcanti 2020, "DESlib: A dynamic ensemble selection library in Python",
JMLR 21(8)) on cached predictions: find each row's neighbours, ask the subclass for
every member's competence there, select or weight the members, combine. The
behaviour shared by all methods is described in :mod:`autoens.selectors.dynamic`.

Sample weights: competence stays unweighted (a neighbour counts as one vote whatever
it weighs, and META-DES's meta-classifier is fit without weights: competence is a
local property of the members, not of the rows' importance), so zero or integer
weights are not the same as removing or repeating rows here; the leave-one-out
``validation_loss_`` is the weighted loss.
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from autoens._sklearn import Interval, StrOptions
from autoens.selectors.base import RANDOM_STATE_CONSTRAINT, BaseSelector

__all__ = ["DynamicSelector", "check_competence_features", "clip_neighbours"]


class DynamicSelector(BaseSelector):
    """Base of the dynamic classification selectors: kNN competence regions over the
    fit (OOF) rows (a member is competent where its most probable class is right;
    regression has its own in :mod:`autoens.selectors.dynamic_regression`).

    Subclasses say where neighbours are found (``_feature_space``,
    ``_profile_space``) and implement ``_competence`` (per-row competence of every
    member) and, for DES methods, ``_select`` (the boolean selection mask).
    """

    is_dynamic: ClassVar[bool] = True
    is_weighted_average: ClassVar[bool] = False
    _supports_sample_weight: ClassVar[bool] = True
    #: Neighbours in the feature space X (needs X in fit and combine).
    _feature_space: ClassVar[bool] = True
    #: Neighbours in output-profile space (the pool's probabilities).
    _profile_space: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "k": [Interval(Integral, 1, None, closed="left")],
        "voting": [StrOptions({"soft", "hard"})],
        "mode": [StrOptions({"selection", "weighting", "hybrid"})],
        "skip_agreed": ["boolean"],
        "random_state": RANDOM_STATE_CONSTRAINT,
    }

    def __init__(
        self,
        *,
        k: int = 7,
        voting: str = "soft",
        mode: str = "selection",
        skip_agreed: bool = True,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.k = k
        self.voting = voting
        self.mode = mode
        self.skip_agreed = skip_agreed
        self.random_state = random_state

    # --- fit ------------------------------------------------------------------------

    def _unsupported_reason(self, family: str) -> str:
        return "a member's competence is whether its most probable class is right"

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        n_samples = P.shape[1]
        if n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 fit rows to form "
                f"neighbourhoods, got {n_samples}."
            )
        self.k_ = self._clip_neighbours("k", self.k, n_samples)
        self.correct_ = (P.argmax(axis=2) == y[None, :]).T  # (n_samples, n_models)
        self.y_ = y
        every_row = np.arange(n_samples)
        # Leave-one-out neighbourhoods of the fit rows are fixed: compute them once,
        # for the LOO score here and for combine(..., exclude_self=True) later.
        if self._feature_space:
            X = self._check_X(X, n_samples, where="fit")
            self.X_fit_ = X
            self.nn_ = NearestNeighbors().fit(X)
            self.loo_neighbours_ = _kneighbours(self.nn_, X, self.k_, every_row)
        if self._profile_space:
            self.profiles_fit_ = _profiles(P)
            self.profile_nn_ = NearestNeighbors().fit(self.profiles_fit_)
            self.loo_profile_neighbours_ = _kneighbours(
                self.profile_nn_,
                self.profiles_fit_,
                self._profile_k(n_samples),
                every_row,
            )
        self._fit_method(P, y)
        W, out = self._weights_and_output(P, X, exclude_self=True)
        summary = W.mean(axis=0)
        self.weights_ = summary / summary.sum()
        self.validation_loss_ = self.metric_.loss_single(y, out, self._sample_weight)

    def _fit_method(self, P: np.ndarray, y: np.ndarray) -> None:
        """Hook for methods that learn more at fit time (META-DES)."""

    def _profile_k(self, n_samples: int) -> int:
        """Number of output-profile neighbours (KNOP: k; META-DES: Kp)."""
        return self.k_

    def _clip_neighbours(self, name: str, value: int, n_samples: int) -> int:
        return clip_neighbours(type(self).__name__, name, value, n_samples)

    def _check_X(self, X: Any, n_samples: int, *, where: str) -> np.ndarray:
        fitted = getattr(self, "X_fit_", None)
        return check_competence_features(
            type(self).__name__,
            X,
            n_samples,
            where=where,
            n_features=None if fitted is None else fitted.shape[1],
        )

    # --- predict --------------------------------------------------------------------

    @property
    def required_members_(self) -> np.ndarray:
        """Every member: agreement, output profiles and selection read them all."""
        check_is_fitted(self)
        return np.arange(self.n_models_)

    def combine(
        self, P: Any, X: Any = None, *, exclude_self: bool = False
    ) -> np.ndarray:
        """Per-row dynamic ensemble (n_samples, n_classes) float32.

        ``P`` holds the predictions of all members on the query rows, ``X`` their
        competence features. With ``exclude_self=True`` the query rows are the fit
        rows in fit order and each row is left out of its own neighbourhood.
        """
        return self._predict(P, X, exclude_self)[1]

    def sample_weights(
        self, P: Any, X: Any = None, *, exclude_self: bool = False
    ) -> np.ndarray:
        """Per-row member weights (n_samples, n_models) that :meth:`combine` applies;
        each row sums to 1 (hard voting weights the members' votes)."""
        return self._predict(P, X, exclude_self)[0]

    def _predict(
        self, P: Any, X: Any, exclude_self: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self)
        P = self._check_combine_input(P)
        n_samples = P.shape[1]
        if self._feature_space:
            X = self._check_X(X, n_samples, where="combine")
        if exclude_self:
            self._check_fit_rows(P, X)
        return self._weights_and_output(P, X, exclude_self=exclude_self)

    def _check_fit_rows(self, P: np.ndarray, X: np.ndarray | None) -> None:
        n_fit = self.correct_.shape[0]
        same = P.shape[1] == n_fit
        if same and self._feature_space:
            same = np.array_equal(X, self.X_fit_)
        if same and self._profile_space:
            same = np.array_equal(_profiles(P), self.profiles_fit_)
        if not same:
            raise ValueError(
                f"{type(self).__name__}: exclude_self=True needs the fit rows in fit "
                "order (the same X and P as in fit); for new rows use "
                "exclude_self=False."
            )

    def _weights_and_output(
        self, P: np.ndarray, X: np.ndarray | None, *, exclude_self: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        n_models, n_samples, n_classes = P.shape
        labels = P.argmax(axis=2)  # (n_models, n_samples)
        W = np.full((n_samples, n_models), 1.0 / n_models)
        out = P.mean(axis=0, dtype=np.float64)
        if self.skip_agreed:
            rows = np.flatnonzero((labels != labels[:1]).any(axis=0))
        else:
            rows = np.arange(n_samples)
        if rows.size:
            Pr = P[:, rows]
            Xr = None if X is None or not self._feature_space else X[rows]
            self_index = rows if exclude_self else None
            W[rows] = self._row_weights(Pr, Xr, self_index)
            if self.voting == "soft":
                out[rows] = np.einsum("nm,mnc->nc", W[rows], Pr, dtype=np.float64)
            else:
                votes = labels[:, rows, None] == np.arange(n_classes)
                out[rows] = np.einsum("nm,mnc->nc", W[rows], votes, dtype=np.float64)
        out /= out.sum(axis=1, keepdims=True)
        return W, out.astype(np.float32)

    def _row_weights(
        self, P: np.ndarray, X: np.ndarray | None, self_index: np.ndarray | None
    ) -> np.ndarray:
        """Normalised member weights (n_rows, n_models) from competence and mode."""
        competence = self._competence(P, X, self_index)
        if self.mode == "weighting":
            raw = competence
        else:
            selected = self._select(competence)
            none = ~selected.any(axis=1)
            selected[none] = True  # fallback: every member
            raw = selected if self.mode == "selection" else selected * competence
        raw = np.asarray(raw, dtype=np.float64)
        total = raw.sum(axis=1, keepdims=True)
        uniform = np.full_like(raw, 1.0 / raw.shape[1])
        return np.where(total > 0, raw / np.where(total > 0, total, 1.0), uniform)

    def _competence(
        self, P: np.ndarray, X: np.ndarray | None, self_index: np.ndarray | None
    ) -> np.ndarray:
        raise NotImplementedError

    def _select(self, competence: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # --- neighbours -----------------------------------------------------------------

    def _feature_neighbours(
        self, X: np.ndarray, self_index: np.ndarray | None
    ) -> np.ndarray:
        """k nearest fit rows in X (n, k); leave-one-out ones for fit rows."""
        if self_index is not None:
            return self.loo_neighbours_[self_index]
        return _kneighbours(self.nn_, X, self.k_, None)

    def _profile_neighbours(
        self, P: np.ndarray, self_index: np.ndarray | None
    ) -> np.ndarray:
        """Nearest fit rows in output-profile space; leave-one-out ones for fit rows."""
        if self_index is not None:
            return self.loo_profile_neighbours_[self_index]
        k = self.loo_profile_neighbours_.shape[1]
        return _kneighbours(self.profile_nn_, _profiles(P), k, None)

    def _region(self, X: np.ndarray, self_index: np.ndarray | None) -> np.ndarray:
        """Correctness of every member on each row's k neighbours: (n, k, n_models)."""
        return self.correct_[self._feature_neighbours(X, self_index)]


def clip_neighbours(owner: str, name: str, value: int, n_samples: int) -> int:
    """``value`` neighbours, at most ``n_samples - 1`` (with a warning): leave-one-out
    scoring queries ``value + 1`` fit rows."""
    if value > n_samples - 1:
        warnings.warn(
            f"{owner}: {name}={value} but only {n_samples} fit rows; "
            f"using {name}={n_samples - 1} (leave-one-out needs {name} + 1 rows).",
            UserWarning,
            stacklevel=5,
        )
        return n_samples - 1
    return int(value)


def check_competence_features(
    owner: str, X: Any, n_samples: int, *, where: str, n_features: int | None = None
) -> np.ndarray:
    """``X`` as finite float64 (n_samples, n_features), or a ValueError saying what is
    wrong; ``n_features`` is the width seen in fit (None while fitting)."""
    if X is None:
        raise ValueError(
            f"{owner} is a dynamic selector: pass X (the numeric competence "
            f"features of the rows of P) to {where}()."
        )
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{owner}: X must be numeric (scale and encode categorical columns "
            f"first); converting it to float failed: {exc}"
        ) from exc
    if X.ndim != 2:
        raise ValueError(
            f"{owner}: X must be 2-D (n_samples, n_features), got shape {X.shape}."
        )
    if X.shape[0] != n_samples:
        raise ValueError(
            f"{owner}: X has {X.shape[0]} rows but P has {n_samples} samples; "
            "pass the features of exactly the rows of P."
        )
    if not np.isfinite(X).all():
        raise ValueError(
            f"{owner}: X contains NaN or infinite values; impute them before the "
            "competence features are built."
        )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{owner}: X has {X.shape[1]} features but the selector was fit on "
            f"{n_features}."
        )
    return X


def _profiles(P: np.ndarray) -> np.ndarray:
    """Output profiles (n_samples, n_models * n_classes); binary: one column per model
    (the other is its complement and only rescales distances, as in DESlib)."""
    if P.shape[2] == 2:
        return np.ascontiguousarray(P[:, :, 0].T)
    return np.ascontiguousarray(P.transpose(1, 0, 2)).reshape(P.shape[1], -1)


def _kneighbours(
    nn: NearestNeighbors, Q: np.ndarray, k: int, self_index: np.ndarray | None
) -> np.ndarray:
    """Indices of the k nearest fit rows (nearest first); with ``self_index`` each query
    row i is fit row ``self_index[i]`` and is dropped from its own neighbours."""
    if self_index is None:
        return nn.kneighbors(Q, n_neighbors=k, return_distance=False)
    nbr = nn.kneighbors(Q, n_neighbors=k + 1, return_distance=False)
    drop = nbr == self_index[:, None]
    # A duplicate of the row may come before it; if the row itself is not among the
    # k + 1 (ties at distance 0), drop the farthest instead.
    missing = ~drop.any(axis=1)
    drop[missing, -1] = True
    return nbr[~drop].reshape(len(Q), k)
