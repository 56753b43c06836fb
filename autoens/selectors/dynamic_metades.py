"""META-DES: dynamic selection by a meta-classifier of member competence (Cruz,
Sabourin, Cavalcanti & Ren 2015, "META-DES: A dynamic ensemble selection framework
using meta-learning", Pattern Recognition 48(5)), as DESlib implements it, over
cached out-of-fold predictions (see :mod:`autoens.selectors.dynamic` for the shared
behaviour and the deliberate differences from DESlib).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import clone
from sklearn.naive_bayes import MultinomialNB

from autoens._sklearn import HasMethods, Interval
from autoens.selectors.base import check_generator
from autoens.selectors.dynamic_base import DynamicSelector

__all__ = ["METADES"]

# Bin edges DESlib uses to digitise META-DES meta-features for multinomial NB
# (values in [0, 1] -> 11 integer levels).
_NB_BINS = np.linspace(0.1, 1.0, 10)


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
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **DynamicSelector._parameter_constraints,
        "Kp": [Interval(Integral, 1, None, closed="left")],
        "Hc": [Interval(Real, 0.5, 1.0, closed="both")],
        "selection_threshold": [Interval(Real, 0.0, 1.0, closed="left")],
        "meta_classifier": [None, HasMethods(["fit", "predict_proba"])],
    }

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
