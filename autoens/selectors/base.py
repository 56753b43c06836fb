"""The selector contract: an estimator that turns cached predictions into an ensemble.

A selector sees only arrays: ``P[n_models, n_samples, n_classes]`` out-of-fold
probabilities (float32) and integer labels ``y``. Static selectors learn ``weights_`` on
the simplex; dynamic ones also keep what they need from ``X`` and weight members per
sample in ``combine``. ``fit`` validates once and hands clean arrays to ``_fit``
(imbalanced-learn's template method), so every subclass gets the same checks and error
messages.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from numbers import Integral
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from autoens._sklearn import Interval
from autoens.metrics import Metric, get_metric
from autoens.task import ClassificationTask

__all__ = [
    "RANDOM_STATE_CONSTRAINT",
    "BaseSelector",
    "check_generator",
    "check_predictions",
]

_WEIGHT_TOL = 1e-6

#: ``_parameter_constraints`` entry of every ``random_state``: exactly what
#: :func:`check_generator` accepts (numpy refuses negative seeds).
RANDOM_STATE_CONSTRAINT: list[Any] = [
    None,
    Interval(Integral, 0, None, closed="left"),
    np.random.Generator,
    np.random.RandomState,
]


class BaseSelector(BaseEstimator, metaclass=ABCMeta):
    """Base class of all selectors (the contract is described in
    ``docs/architecture.md``).

    A selector is a scikit-learn estimator, so ``clone`` and ``get_params`` work:
    ``fit(P, y, *, metric, X=None, configs=None)`` learns from out-of-fold
    predictions ``P`` (n_models, n_samples, n_classes) and returns ``self``;
    ``combine(P, X=None)`` returns the ensemble's (n_samples, n_classes) float32
    prediction. Static selectors set ``weights_`` (non-negative, sum 1); dynamic
    ones weight members per sample from ``X``.

    Subclasses implement ``_fit(P, y, X=None, configs=None)``; static selectors set
    ``weights_`` there. ``__init__`` of a subclass only stores keyword-only parameters,
    and ``_parameter_constraints`` declares their valid values (scikit-learn's
    parameter validation, run first in :meth:`fit`).

    Fitted attributes set by :meth:`fit`: ``metric_`` (a
    :class:`~autoens.metrics.Metric`), ``n_models_``, ``n_classes_``, and for static
    selectors ``validation_loss_`` (the metric's loss of ``combine(P)`` on the data the
    selector was fit on).
    """

    #: Dynamic selectors weight members per sample and need ``X`` in ``combine``.
    is_dynamic: ClassVar[bool] = False
    #: True when ``combine`` is ``weights_ @ P`` (an ensemble runner may then average
    #: the required members itself); stackers and raw CMA-ES set it False.
    is_weighted_average: ClassVar[bool] = True
    #: True when the method can never end worse than SingleBest on its fit data
    #: (checked by :func:`autoens.testing.check_selector`).
    _guarantees_single_best: ClassVar[bool] = False
    #: Valid values of every constructor parameter (scikit-learn's constraints).
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def fit(
        self,
        P: Any,
        y: Any,
        *,
        metric: str | Metric = "roc_auc",
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> Self:
        """Select an ensemble from predictions ``P`` (n_models, n_samples, n_classes).

        ``y`` holds class indices in [0, n_classes). ``metric`` is a metric name, a
        scikit-learn scorer name or a :class:`~autoens.metrics.Metric`. ``X`` (features)
        is used by dynamic selectors only; ``configs`` (one ``{"learner": str,
        "params": dict}`` per model) by selectors that compare configurations.
        """
        # Hyper-parameters first: a bad one is reported whatever the data.
        self._validate_params()
        self.metric_ = get_metric(metric)
        P, y = self._check_fit_data(P, y, X, configs)
        self.n_models_ = P.shape[0]
        self.n_classes_ = P.shape[2]
        self._fit(P, y, X=X, configs=configs)
        if self.is_weighted_average and not self.is_dynamic:
            self._check_weights()
            self.validation_loss_ = self.metric_.loss_single(y, self.combine(P))
        return self

    def _check_fit_data(
        self, P: Any, y: Any, X: Any, configs: list[dict[str, Any]] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """All data validation of :meth:`fit`, in one place: ``P`` and ``y`` as the
        metric's task expects them (float32 probabilities and intp class indices for
        classification); ``X`` and ``configs`` must match ``P``'s rows and models."""
        P = self.metric_.check_predictions(P)
        n_models, n_samples, n_outputs = P.shape
        y = self.metric_.check_target(y, n_samples, n_outputs)
        n_rows = None if X is None else (X.shape[0] if hasattr(X, "shape") else len(X))
        if n_rows is not None and n_rows != n_samples:
            raise ValueError(f"X has {n_rows} rows but P has {n_samples} samples.")
        if configs is not None and len(configs) != n_models:
            raise ValueError(
                f"configs has {len(configs)} entries but P has {n_models} models; "
                "pass one config dict per model."
            )
        return P, y

    @abstractmethod
    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        """Learn from validated float32 ``P`` and intp ``y``; set fitted attributes."""

    def combine(self, P: Any, X: Any = None) -> np.ndarray:
        """Ensemble prediction (n_samples, n_classes) float32 from member predictions.

        ``P`` has the fitted number of models and classes; only the slices listed in
        :attr:`required_members_` are read, so the others may be zeros. The static
        default is the weighted sum of members.
        """
        check_is_fitted(self)
        P = self._check_combine_input(P)
        members = self.required_members_
        weights = np.asarray(self.weights_, dtype=np.float32)[members]
        return np.tensordot(weights, P[members], axes=1).astype(np.float32, copy=False)

    @property
    def required_members_(self) -> np.ndarray:
        """Sorted indices of the models whose predictions :meth:`combine` reads."""
        check_is_fitted(self)
        if self.is_dynamic:
            raise NotImplementedError(
                f"{type(self).__name__} is dynamic and must define required_members_."
            )
        return np.flatnonzero(self.weights_)

    def _check_combine_input(self, P: Any) -> np.ndarray:
        P = np.asarray(P, dtype=np.float32)
        expected = (self.n_models_, self.n_classes_)
        if P.ndim != 3 or (P.shape[0], P.shape[2]) != expected:
            raise ValueError(
                f"P must have shape (n_models={self.n_models_}, n_samples, "
                f"n_classes={self.n_classes_}) as in fit, got {P.shape}."
            )
        return P

    def _check_weights(self) -> None:
        w = np.asarray(self.weights_, dtype=np.float64)
        if (
            w.shape != (self.n_models_,)
            or not np.isfinite(w).all()
            or (w < 0).any()
            or abs(w.sum() - 1.0) > _WEIGHT_TOL
        ):
            raise RuntimeError(
                f"{type(self).__name__} produced invalid weights_ (need shape "
                f"({self.n_models_},), non-negative, sum 1): {w!r}"
            )
        self.weights_ = w


def check_predictions(P: Any) -> np.ndarray:
    """Validate a tensor of class probabilities: finite float32 of shape
    (n_models ≥ 1, n_samples ≥ 1, n_classes ≥ 2) with values in [0, 1]."""
    return ClassificationTask.check_predictions(P)


def check_generator(random_state: Any) -> np.random.Generator:
    """A numpy Generator from None, an int seed, a Generator or a legacy RandomState.

    A Generator is used as is (its state advances, as scikit-learn does with a
    RandomState); a RandomState seeds a new Generator from its stream.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, int | np.integer):
        return np.random.default_rng(random_state)
    raise ValueError(
        "random_state must be None, an int, a numpy Generator or a RandomState; got "
        f"{random_state!r}."
    )
