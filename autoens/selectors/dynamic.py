"""Dynamic ensemble selection (DES/DCS) over cached out-of-fold predictions.

The methods are those of DESlib 0.3.7 (Cruz, Hafemann, Sabourin & Cavalcanti 2020,
"DESlib: A dynamic ensemble selection library in Python", JMLR 21(8)), rebuilt on the
prediction cache: no pool member is refit or re-predicted on the selection set
(DSEL = the OOF rows), because the OOF probabilities already say where each member
is right. The methods' papers:

* KNORA-E and KNORA-U: Ko, Sabourin & Britto 2008, "From dynamic classifier
  selection to dynamic ensemble selection", Pattern Recognition 41(5);
* DES-P: Woloszynski, Kurzynski, Podsiadlo & Stachowiak 2012, "A measure of
  competence based on random classification for dynamic ensemble selection",
  Information Fusion 13(3);
* KNOP: Cavalin, Sabourin & Suen 2013, "Dynamic selection approaches for multiple
  classifier systems", Neural Computing and Applications 22(3);
* OLA: Woods, Kegelmeyer & Bowyer 1997, "Combination of multiple classifiers using
  local accuracy estimates", IEEE TPAMI 19(4);
* META-DES: Cruz, Sabourin, Cavalcanti & Ren 2015, "META-DES: A dynamic ensemble
  selection framework using meta-learning", Pattern Recognition 48(5).

Layout: the shared machinery (neighbourhoods, leave-one-out, weighting, voting) is
:class:`~autoens.selectors.dynamic_base.DynamicSelector`; META-DES, which also learns
a meta-classifier, is in :mod:`autoens.selectors.dynamic_metades`; the kNN methods
are here.

Public API (shared with ``selectors/auto.py``, ``ensemble.py`` and the benchmark)::

    KNORAE(*, k=7, voting="soft", mode="selection", skip_agreed=True, random_state=None)
    KNORAU(*, k=7, voting="soft", mode="weighting", skip_agreed=True, random_state=None)
    DESP(*, k=7, voting="soft", mode="selection", skip_agreed=True, random_state=None)
    KNOP(*, k=7, voting="soft", mode="weighting", skip_agreed=True, random_state=None)
    OLA(*, k=7, voting="soft", skip_agreed=True, random_state=None)
    METADES(*, k=7, Kp=5, Hc=1.0, selection_threshold=0.5, meta_classifier=None,
            voting="soft", mode="selection", skip_agreed=True, random_state=None)

    sel.fit(P, y, *, metric, X, configs=None, sample_weight=None) -> sel
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

from typing import Any, ClassVar

import numpy as np

from autoens.selectors.dynamic_base import DynamicSelector
from autoens.selectors.dynamic_metades import METADES

__all__ = ["DESP", "KNOP", "KNORAE", "KNORAU", "METADES", "OLA", "DynamicSelector"]


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

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        name: constraint
        for name, constraint in DynamicSelector._parameter_constraints.items()
        if name != "mode"
    }

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
