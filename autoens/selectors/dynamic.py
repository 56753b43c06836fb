"""Dynamic ensemble selection (DES/DCS) over cached out-of-fold predictions.

Spec: ``specs/divbo_des.md`` §3. The methods are those of DESlib 0.3.7, rebuilt on the
prediction cache: no pool member is refit or re-predicted on the selection set
(DSEL = the OOF rows), because the OOF probabilities already say where each member
is right.

Public API (shared with ``selectors/auto.py``, ``ensemble.py`` and the benchmark)::

    KNORAE(*, k=7, voting="soft", mode="selection", skip_agreed=True, random_state=None)
    KNORAU(*, k=7, voting="soft", mode="weighting", skip_agreed=True, random_state=None)
    DESP(*, k=7, voting="soft", mode="selection", skip_agreed=True, random_state=None)
    KNOP(*, k=7, voting="soft", mode="weighting", skip_agreed=True, random_state=None)
    OLA(*, k=7, voting="soft", skip_agreed=True, random_state=None)
    METADES(*, k=7, Kp=5, Hc=1.0, selection_threshold=0.5, meta_classifier=None,
            voting="soft", mode="selection", skip_agreed=True, random_state=None)

    sel.fit(P, y, *, metric, X, configs=None) -> sel
    sel.combine(P, X=None, *, exclude_self=False) -> (n, n_classes) float32
    sel.sample_weights(P, X=None, *, exclude_self=False) -> (n, n_models) float64

* ``P`` is ``(n_models, n_samples, n_classes)`` float32 probabilities of *all* pool
  members; ``X`` a numeric 2-D float array, the competence feature space (the caller
  scales and encodes it; NaN is an error). ``X`` is required in ``fit`` and ``combine``
  by every method except KNOP, whose neighbours live in output-profile space.
* A member is *correct* on a fit row when the argmax of its OOF probabilities is the
  label (first index on ties).
* ``combine(..., exclude_self=True)`` scores the fit rows themselves without optimistic
  bias: the query rows must be the fit rows in fit order, each row queries k+1
  neighbours and drops itself (leave-one-out). ``validation_loss_`` is that LOO loss.
* ``voting="soft"`` (default) averages the members' probabilities with the per-row
  weights; ``"hard"`` returns the weighted vote shares of the members' labels (rows
  sum to 1). Soft is the default because autoens scores ensembles by ROC AUC and log
  loss, which need graded probabilities; hard vote shares are coarse (k+1 levels) and
  put exact zeros on classes, which log loss punishes without bound. Measured on the
  golden pools (test split, k=7): soft has the better ROC AUC and log loss for 9 of
  12 (method, dataset) pairs; hard wins narrowly only for the weighting methods on
  the binary set.
* ``mode`` (DES methods): "selection" averages the selected members equally,
  "weighting" weights every member by its competence, "hybrid" weights the selected
  ones by competence. When no member is selected (or all weights are 0) the row falls
  back to the plain average of all members.
* ``skip_agreed=True`` (DESlib's behaviour): rows on which every member predicts the
  same label get the plain average of all members' probabilities, in either voting.
* ``sample_weights`` returns the per-row member weights ``combine`` uses (rows sum 1).
* Fitted attributes: ``weights_`` is a *static summary*, the mean per-row member
  weight over the fit rows (LOO), normalised to sum 1 — it says how much each member
  is used, it is not what ``combine`` applies. ``required_members_`` is every member
  (a dynamic ensemble needs all pool predictions to find agreement, output profiles
  and the selected members), ``k_`` the neighbourhood size used (``k`` clipped to
  n_fit - 1 with a warning), ``correct_`` the (n_fit, n_models) correctness matrix,
  ``loo_neighbours_`` / ``loo_profile_neighbours_`` the fit rows' leave-one-out
  neighbourhoods (computed once in fit), ``validation_loss_`` the LOO loss.
  META-DES also keeps ``meta_classifier_`` and ``loo_competence_``; its LOO score
  leaves each row out of its neighbourhoods, but the meta-classifier itself was
  trained on those rows, so that score stays slightly optimistic.
* Cost: one kNN query per neighbour space (brute force for wide X), then
  O(n * k * n_models) array work; META-DES adds a meta-classifier over
  n * n_models rows. No Python loop over rows or members.

Deliberate differences from DESlib (measured in ``tests/selectors/test_dynamic.py``
against golden values from DESlib 0.3.7, ``tests/data/des_golden/``):

* soft weighting ("weighting"/"hybrid" modes) returns the normalised weighted average
  of probabilities; DESlib returns ``softmax(mean_m(w_m * p_m))``, which has the same
  argmax but squeezes the probabilities towards uniform;
* when every weight of a row is 0 (e.g. KNORA-U with no member correct on any
  neighbour) we fall back to the plain average; DESlib divides 0 by 0 in hard voting
  and predicts class 0;
* META-DES's ``Hc`` keeps the fit rows whose pool consensus ``max(a, 1 - a)`` (``a`` =
  fraction of members correct) is at most ``Hc``. DESlib's test
  ``a < Hc or a > 1 - Hc`` keeps (nearly) every row for any valid ``Hc``; both keep
  all rows at the default ``Hc=1``;
* with duplicated rows in ``X``, leave-one-out drops the row itself wherever it sits
  among the k+1 neighbours (DESlib's META-DES drops the first neighbour).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.naive_bayes import MultinomialNB
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

from autoens.selectors.base import BaseSelector, check_generator, check_int_param

__all__ = ["DESP", "KNOP", "KNORAE", "KNORAU", "METADES", "OLA", "DynamicSelector"]

_VOTING = ("soft", "hard")
_MODES = ("selection", "weighting", "hybrid")
# Bin edges DESlib uses to digitise META-DES meta-features for multinomial NB
# (values in [0, 1] -> 11 integer levels).
_NB_BINS = np.linspace(0.1, 1.0, 10)


class DynamicSelector(BaseSelector):
    """Base of the dynamic selectors: kNN competence regions over the fit (OOF) rows.

    Subclasses say where neighbours are found (``_feature_space``,
    ``_profile_space``) and implement ``_competence`` (per-row competence of every
    member) and, for DES methods, ``_select`` (the boolean selection mask).
    """

    is_dynamic: ClassVar[bool] = True
    is_weighted_average: ClassVar[bool] = False
    #: Neighbours in the feature space X (needs X in fit and combine).
    _feature_space: ClassVar[bool] = True
    #: Neighbours in output-profile space (the pool's probabilities).
    _profile_space: ClassVar[bool] = False
    _has_mode: ClassVar[bool] = True

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

    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        self._check_params()
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
        self.validation_loss_ = self.metric_.loss_single(y, out)

    def _fit_method(self, P: np.ndarray, y: np.ndarray) -> None:
        """Hook for methods that learn more at fit time (META-DES)."""

    def _profile_k(self, n_samples: int) -> int:
        """Number of output-profile neighbours (KNOP: k; META-DES: Kp)."""
        return self.k_

    def _check_params(self) -> None:
        name = type(self).__name__
        check_int_param("k", self.k, 1)
        if self.voting not in _VOTING:
            raise ValueError(
                f"{name}: voting must be 'soft' or 'hard', got {self.voting!r}."
            )
        if self._has_mode and self.mode not in _MODES:
            raise ValueError(
                f"{name}: mode must be one of {', '.join(_MODES)}; got {self.mode!r}."
            )
        if not isinstance(self.skip_agreed, bool | np.bool_):
            raise ValueError(
                f"{name}: skip_agreed must be True or False, got {self.skip_agreed!r}."
            )

    def _clip_neighbours(self, name: str, value: int, n_samples: int) -> int:
        # Leave-one-out scoring queries value + 1 rows, so at most n_samples - 1.
        if value > n_samples - 1:
            warnings.warn(
                f"{type(self).__name__}: {name}={value} but only {n_samples} fit rows; "
                f"using {name}={n_samples - 1} (leave-one-out needs {name} + 1 rows).",
                UserWarning,
                stacklevel=4,
            )
            return n_samples - 1
        return int(value)

    def _check_X(self, X: Any, n_samples: int, *, where: str) -> np.ndarray:
        name = type(self).__name__
        if X is None:
            raise ValueError(
                f"{name} is a dynamic selector: pass X (the numeric competence "
                f"features of the rows of P) to {where}()."
            )
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name}: X must be numeric (scale and encode categorical columns "
                f"first); converting it to float failed: {exc}"
            ) from exc
        if X.ndim != 2:
            raise ValueError(
                f"{name}: X must be 2-D (n_samples, n_features), got shape {X.shape}."
            )
        if X.shape[0] != n_samples:
            raise ValueError(
                f"{name}: X has {X.shape[0]} rows but P has {n_samples} samples; "
                "pass the features of exactly the rows of P."
            )
        if not np.isfinite(X).all():
            raise ValueError(
                f"{name}: X contains NaN or infinite values; impute them before the "
                "competence features are built."
            )
        if hasattr(self, "X_fit_") and X.shape[1] != self.X_fit_.shape[1]:
            raise ValueError(
                f"{name}: X has {X.shape[1]} features but the selector was fit on "
                f"{self.X_fit_.shape[1]}."
            )
        return X

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


def _run_length(R: np.ndarray) -> np.ndarray:
    """Number of correct neighbours before the first error, nearest first (n, M)."""
    k = R.shape[1]
    return np.where(R.all(axis=1), k, np.argmax(~R, axis=1)).astype(np.float64)


class KNORAE(DynamicSelector):
    """KNORA-Eliminate: keep the members that are correct on the longest run of
    neighbours, nearest first (local oracles); if no member gets the nearest one right
    (a tie at 0), keep all. Competence for weighting = that run length."""

    def _competence(self, P, X, self_index):
        return _run_length(self._region(X, self_index))

    def _select(self, competence):
        return competence == competence.max(axis=1, keepdims=True)


class KNORAU(DynamicSelector):
    """KNORA-Union: every member votes with weight = number of neighbours it gets
    right (DESlib's default, ``mode="weighting"``)."""

    def __init__(
        self,
        *,
        k: int = 7,
        voting: str = "soft",
        mode: str = "weighting",
        skip_agreed: bool = True,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            k=k,
            voting=voting,
            mode=mode,
            skip_agreed=skip_agreed,
            random_state=random_state,
        )

    def _competence(self, P, X, self_index):
        return self._region(X, self_index).sum(axis=1, dtype=np.float64)

    def _select(self, competence):
        return competence > 0


class DESP(DynamicSelector):
    """DES-Performance: keep the members whose local accuracy beats random guessing
    (> 1 / n_classes). Accuracy-based, as DESlib's DES-P."""

    def _competence(self, P, X, self_index):
        return self._region(X, self_index).mean(axis=1, dtype=np.float64)

    def _select(self, competence):
        return competence > 1.0 / self.n_classes_


class KNOP(KNORAU):
    """K-Nearest Output Profiles: KNORA-U whose neighbours are the fit rows with the
    most similar pool outputs (Euclidean on the members' probabilities). Needs no
    features: ``X`` is ignored."""

    _feature_space: ClassVar[bool] = False
    _profile_space: ClassVar[bool] = True

    def _competence(self, P, X, self_index):
        nbr = self._profile_neighbours(P, self_index)
        return self.correct_[nbr].sum(axis=1, dtype=np.float64)


class OLA(DynamicSelector):
    """Overall Local Accuracy (dynamic classifier selection): each row uses the one
    member with the best accuracy on its neighbours (ties: lowest index)."""

    _has_mode: ClassVar[bool] = False

    def __init__(
        self,
        *,
        k: int = 7,
        voting: str = "soft",
        skip_agreed: bool = True,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.k = k
        self.voting = voting
        self.skip_agreed = skip_agreed
        self.random_state = random_state

    def _competence(self, P, X, self_index):
        return self._region(X, self_index).mean(axis=1, dtype=np.float64)

    def _row_weights(self, P, X, self_index):
        competence = self._competence(P, X, self_index)
        best = competence.argmax(axis=1)
        return np.eye(competence.shape[1])[best]


class METADES(DynamicSelector):
    """META-DES: a meta-classifier predicts, from meta-features of a (row, member)
    pair, whether the member is correct; members with P(correct) above
    ``selection_threshold`` are kept (``mode`` as in the other DES methods).

    Meta-features per member (2k + Kp + 2): f1 correctness on the k feature-space
    neighbours, f2 its probability of the true class there, f3 its local accuracy, f4
    correctness on the Kp nearest output-profile neighbours, f5 its top probability on
    the row. The meta-classifier is trained on the fit rows, each with its own
    leave-one-out neighbourhoods; target = the member was correct. Default
    meta-classifier: multinomial naive Bayes on the features digitised into 11 levels
    (DESlib's choice); any scikit-learn classifier with ``predict_proba`` works and
    gets the raw features. ``Hc`` drops fit rows on which the pool's consensus
    (fraction correct or wrong, whichever is larger) exceeds ``Hc``.
    """

    _profile_space: ClassVar[bool] = True

    def __init__(
        self,
        *,
        k: int = 7,
        Kp: int = 5,
        Hc: float = 1.0,
        selection_threshold: float = 0.5,
        meta_classifier: Any = None,
        voting: str = "soft",
        mode: str = "selection",
        skip_agreed: bool = True,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.k = k
        self.Kp = Kp
        self.Hc = Hc
        self.selection_threshold = selection_threshold
        self.meta_classifier = meta_classifier
        self.voting = voting
        self.mode = mode
        self.skip_agreed = skip_agreed
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        name = type(self).__name__
        check_int_param("Kp", self.Kp, 1)
        if not isinstance(self.Hc, numbers.Real) or not 0.5 <= self.Hc <= 1.0:
            raise ValueError(
                f"{name}: Hc must be a number in [0.5, 1], got {self.Hc!r}."
            )
        threshold = self.selection_threshold
        if not isinstance(threshold, numbers.Real) or not 0.0 <= threshold < 1.0:
            raise ValueError(
                f"{name}: selection_threshold must be in [0, 1), got {threshold!r}."
            )
        if self.meta_classifier is not None and not hasattr(
            self.meta_classifier, "predict_proba"
        ):
            raise ValueError(
                f"{name}: meta_classifier must be a scikit-learn classifier with "
                f"predict_proba, got {self.meta_classifier!r}."
            )

    def _digitise(self) -> bool:
        return self.meta_classifier is None or isinstance(
            self.meta_classifier, MultinomialNB
        )

    def _profile_k(self, n_samples: int) -> int:
        self.Kp_ = self._clip_neighbours("Kp", self.Kp, n_samples)
        return self.Kp_

    def _fit_method(self, P: np.ndarray, y: np.ndarray) -> None:
        n_samples = P.shape[1]
        # Probability each member gives the true class of each fit row (n, M).
        self.true_proba_ = P[:, np.arange(n_samples), y].T
        correct = self.correct_
        agreement = correct.mean(axis=1)
        keep = np.flatnonzero(np.maximum(agreement, 1.0 - agreement) <= self.Hc + 1e-12)
        if keep.size == 0:
            raise ValueError(
                f"METADES: Hc={self.Hc} leaves no fit row to train the "
                "meta-classifier on; raise Hc (1.0 keeps every row)."
            )
        # Meta-features of every fit row with its leave-one-out neighbourhoods: the
        # kept rows train the meta-classifier, all of them give the LOO competence.
        every_row = np.arange(n_samples)
        features = self._meta_features(P, self.X_fit_, every_row)
        n_models = P.shape[0]
        rows = (keep[:, None] * n_models + np.arange(n_models)).reshape(-1)
        target = correct[keep].reshape(-1).astype(np.int64)
        if self.meta_classifier is None:
            meta = MultinomialNB()
        else:
            meta = clone(self.meta_classifier)
            params = meta.get_params(deep=False)
            if "random_state" in params and params["random_state"] is None:
                seed = check_generator(self.random_state).integers(2**31 - 1)
                meta.set_params(random_state=int(seed))
        classes = np.unique(target)
        if classes.size == 1:
            # Every member always right (or always wrong) on the kept rows: the
            # meta-classifier has nothing to learn; competence is that constant.
            self.meta_classifier_ = None
            self.constant_competence_ = float(classes[0])
            self.loo_competence_ = np.full(correct.shape, self.constant_competence_)
        else:
            self.meta_classifier_ = meta.fit(features[rows], target)
            self.constant_competence_ = None
            self.loo_competence_ = self._predict_competence(features, n_samples)

    def _meta_features(
        self, P: np.ndarray, X: np.ndarray, self_index: np.ndarray | None
    ) -> np.ndarray:
        """(n_rows * n_models, 2k + Kp + 2) meta-features, rows ordered (row, member);
        uint8 bin indices when the meta-classifier is multinomial NB, else float32."""
        nbr = self._feature_neighbours(X, self_index)
        nbr_op = self._profile_neighbours(P, self_index)
        f1 = self.correct_[nbr]  # (n, k, M)
        f2 = self.true_proba_[nbr]  # (n, k, M)
        f3 = f1.mean(axis=1, dtype=np.float64)[:, None, :]  # (n, 1, M)
        f4 = self.correct_[nbr_op]  # (n, Kp, M)
        f5 = P.max(axis=2).T[:, None, :]  # (n, 1, M)
        groups = [f1, f2, f3, f4, f5]
        if self._digitise():
            # Digitise each group in its own precision, so bin edges fall as DESlib's
            # (a correctness flag is bin 0 or 10).
            groups = [
                g * np.uint8(10)
                if g.dtype == bool
                else np.digitize(g, _NB_BINS).astype(np.uint8)
                for g in groups
            ]
            dtype = np.uint8
        else:
            dtype = np.float32
        F = np.concatenate([g.astype(dtype, copy=False) for g in groups], axis=1)
        # (n, F, M) -> (n, M, F) -> (n * M, F)
        return np.ascontiguousarray(F.transpose(0, 2, 1)).reshape(-1, F.shape[1])

    def _competence(self, P, X, self_index):
        n_models, n_rows, _ = P.shape
        if self_index is not None:
            return self.loo_competence_[self_index]
        if self.meta_classifier_ is None:
            return np.full((n_rows, n_models), self.constant_competence_)
        return self._predict_competence(self._meta_features(P, X, None), n_rows)

    def _predict_competence(self, features: np.ndarray, n_rows: int) -> np.ndarray:
        """P(member correct) from meta-features, as (n_rows, n_models)."""
        proba = self.meta_classifier_.predict_proba(features)
        column = int(np.flatnonzero(self.meta_classifier_.classes_ == 1)[0])
        return proba[:, column].reshape(n_rows, -1)

    def _select(self, competence):
        return competence > self.selection_threshold
