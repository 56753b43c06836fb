"""The selector contract: an estimator that turns cached predictions into an ensemble.

A selector sees only arrays: ``P[n_models, n_samples, n_outputs]`` out-of-fold
predictions (float32: class probabilities for classification, one column of values
for regression) and the encoded target ``y`` (class indices or float values). Static
selectors learn ``weights_`` on the simplex; dynamic ones also keep what they need
from ``X`` and weight members per sample in ``combine``. ``fit`` validates once and
hands clean arrays to ``_fit`` (imbalanced-learn's template method), so every subclass
gets the same checks and error messages.

The metric says which task family a fit is for (``metric.task.family``); a selector
declares the families it supports (:attr:`BaseSelector.task_families`) and ``fit``
refuses the others with a message naming the registered alternatives.

Sample weights: ``fit(..., sample_weight=w)`` validates one non-negative weight per
row of ``P`` (:func:`~autoens.metrics.check_sample_weight`) and hands them to
``_fit`` as ``self._sample_weight`` (None without weights), an attribute that only
exists while ``fit`` runs, so fitted selectors do not carry the weights and
``_fit``'s signature stays as it was. A selector uses them wherever it scores or fits
(weighted metric calls, weighted Gram matrices, the meta-learner's
``sample_weight``), indexing them with the same rows whenever it subsamples or
splits. Only relative weights matter: weights that are all equal (all ones, say) are
no weights, and ``fit`` then runs exactly the unweighted code. ``validation_loss_``
is the weighted loss. A selector class declares ``_supports_sample_weight``; ``fit``
refuses weights for one that does not, rather than ignore them.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from numbers import Integral
from typing import Any, ClassVar, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from autoens._sklearn import Interval
from autoens.metrics import METRIC_NAMES, Metric, get_metric
from autoens.task import ClassificationTask, RegressionTask

__all__ = [
    "BOTH_FAMILIES",
    "CLASSIFICATION",
    "FAMILIES",
    "RANDOM_STATE_CONSTRAINT",
    "REGRESSION",
    "ROW_EQUIVALENCES",
    "BaseSelector",
    "check_generator",
    "check_predictions",
    "loss_noise_unit",
    "round_losses",
]

_WEIGHT_TOL = 1e-6

#: Task families (``Metric.task.family``) a selector can declare.
CLASSIFICATION, REGRESSION = "classification", "regression"
FAMILIES: tuple[str, ...] = (CLASSIFICATION, REGRESSION)
BOTH_FAMILIES: frozenset[str] = frozenset(FAMILIES)

#: What sample weights can mean for a selector's ensemble (``weights_`` and
#: ``combine``): "repeat", an integer weight acts as that many copies of the row;
#: "zero", a row of weight 0 acts as absent. Both hold, up to float rounding, for
#: the methods whose every step is a weighted sum over rows; checked by
#: :func:`autoens.testing.check_selector`.
ROW_EQUIVALENCES: frozenset[str] = frozenset({"repeat", "zero"})

# AutoGluon's float-noise guard of GES: losses are compared rounded to 6 decimals,
# unless the best loss is within 1e-4 of zero. Classification losses live on [0, 1]
# scales; a regression loss has the target's units, so there the 6 decimals are
# relative to the reference loss instead.
_NOISE_FLOOR = 1e-4
_ROUND_DECIMALS = 6

#: Registered selector names per family, for the message of a refused family. Filled
#: by :mod:`autoens.selectors.names` (this module cannot import the registry, which
#: imports it).
_NAMES_BY_FAMILY: dict[str, tuple[str, ...]] = {}

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
    ``fit(P, y, *, metric, X=None, configs=None, sample_weight=None)`` learns from
    out-of-fold predictions ``P`` (n_models, n_samples, n_outputs) and returns
    ``self``; ``combine(P, X=None)`` returns the ensemble's (n_samples, n_outputs)
    float32 prediction. ``n_outputs`` is the number of classes for classification
    and 1 for regression. Static selectors set ``weights_`` (non-negative, sum 1);
    dynamic ones weight members per sample from ``X``.

    Subclasses implement ``_fit(P, y, X=None, configs=None)``; static selectors set
    ``weights_`` there, and read the fit's row weights from ``self._sample_weight``
    (None when unweighted; see the module docstring). ``__init__`` of a subclass
    only stores keyword-only parameters, and ``_parameter_constraints`` declares
    their valid values (scikit-learn's parameter validation, run first in
    :meth:`fit`).

    Fitted attributes set by :meth:`fit`: ``metric_`` (a
    :class:`~autoens.metrics.Metric`), ``n_models_``, ``n_classes_`` (the number of
    output columns: 1 for regression), and for static selectors
    ``validation_loss_`` (the metric's loss of ``combine(P)`` on the data the
    selector was fit on).
    """

    #: Dynamic selectors weight members per sample and need ``X`` in ``combine``.
    is_dynamic: ClassVar[bool] = False
    #: True when ``combine`` is ``weights_ @ P`` (an ensemble runner may then average
    #: the required members itself); stackers and raw CMA-ES set it False.
    is_weighted_average: ClassVar[bool] = True
    #: False for a selector that needs the labels of the rows it combines (the
    #: oracle): a benchmark bound whose ensemble cannot predict new rows, so
    #: ``autoens reselect`` refuses to save one.
    can_predict: ClassVar[bool] = True
    #: True when the method can never end worse than SingleBest on its fit data
    #: (checked by :func:`autoens.testing.check_selector`).
    _guarantees_single_best: ClassVar[bool] = False
    #: Task families the class supports (a subclass may decide per parameters by
    #: overriding :attr:`task_families`). Classification by default: a selector
    #: written before regression existed assumes class probabilities.
    _task_families: ClassVar[frozenset[str]] = frozenset({CLASSIFICATION})
    #: Valid values of every constructor parameter (scikit-learn's constraints).
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    #: True when ``_fit`` uses ``self._sample_weight``; ``fit`` refuses weights for
    #: a selector that would ignore them (every built-in selector uses them).
    _supports_sample_weight: ClassVar[bool] = False
    #: Which of :data:`ROW_EQUIVALENCES` hold for this method (none by default:
    #: methods that split rows or find neighbours among them are not row-weighted
    #: sums).
    _sample_weight_equivalences: ClassVar[frozenset[str]] = frozenset()
    #: The validated row weights while ``fit`` runs (None: unweighted); see the module
    #: docstring.
    _sample_weight: np.ndarray | None = None

    def fit(
        self,
        P: Any,
        y: Any,
        *,
        metric: str | Metric = "roc_auc",
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
        sample_weight: Any = None,
    ) -> Self:
        """Select an ensemble from predictions ``P`` (n_models, n_samples, n_outputs).

        ``y`` holds class indices in [0, n_classes) (classification) or float values
        (regression, ``P`` with one column). ``metric`` is a metric name, a
        scikit-learn scorer name or a :class:`~autoens.metrics.Metric`; its task
        family must be one of :attr:`task_families`. ``X`` (features)
        is used by dynamic selectors only; ``configs`` (one ``{"learner": str,
        "params": dict}`` per model) by selectors that compare configurations.
        ``sample_weight`` (n_samples,) weighs the rows of ``P`` wherever the
        selector scores or fits; equal weights are the same as none.
        """
        # Hyper-parameters first: a bad one is reported whatever the data.
        self._validate_params()
        self.metric_ = _resolve_metric(metric, P)
        family = self.metric_.task.family
        if family == CLASSIFICATION and _n_outputs(P) == 1:
            raise ValueError(
                f"P has one output column, but the metric {self.metric_.name!r} "
                "scores classification, which needs one column per class (n_classes "
                ">= 2; for binary tasks pass both columns [1 - p, p]). For regression "
                "values pass a regression metric: 'rmse', 'mse', 'mae' or 'r2'."
            )
        if family not in self.task_families:
            raise ValueError(self._family_error(family))
        P, y = self._check_fit_data(P, y, X, configs)
        w = self._check_sample_weight(sample_weight, P.shape[1])
        self.n_models_ = P.shape[0]
        self.n_classes_ = P.shape[2]
        self._sample_weight = w
        try:
            self._fit(P, y, X=X, configs=configs)
            if self.is_weighted_average and not self.is_dynamic:
                self._check_weights()
                self.validation_loss_ = self.metric_.loss_single(
                    y, self.combine(P), sample_weight=w
                )
        finally:
            del self._sample_weight  # back to the class default, None
        return self

    @property
    def task_families(self) -> frozenset[str]:
        """Task families (``"classification"``, ``"regression"``) this selector, with
        its current parameters, can be fit for."""
        return self._task_families

    def _unsupported_reason(self, family: str) -> str:
        """Why ``family`` is not supported (one clause, for the error message)."""
        if family == REGRESSION:
            return "it works on class probabilities"
        return "it works on regression values"

    def _family_error(self, family: str) -> str:
        name = type(self).__name__
        names = _NAMES_BY_FAMILY.get(family, ())
        alternatives = (
            f" For {family} use one of: {', '.join(names)} (see "
            f"autoens.selectors.selector_names({family!r}))."
            if names
            else ""
        )
        return (
            f"{name} does not support {family} ({self._unsupported_reason(family)}), "
            f"but the metric {self.metric_.name!r} scores {family}.{alternatives}"
        )

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

    def _check_sample_weight(self, sample_weight: Any, n_samples: int) -> Any:
        """The fit's row weights: None without weights or when all are equal (then
        the fit is exactly the unweighted one), else validated float64."""
        w = self.metric_.check_sample_weight(sample_weight, n_samples)
        if w is None or (w == w[0]).all():
            return None
        if not self._supports_sample_weight:
            raise ValueError(
                f"{type(self).__name__} does not support sample_weight (its _fit "
                "does not use self._sample_weight); fit it without weights."
            )
        return w

    @abstractmethod
    def _fit(
        self,
        P: np.ndarray,
        y: np.ndarray,
        X: Any = None,
        configs: list[dict[str, Any]] | None = None,
    ) -> None:
        """Learn from validated float32 ``P`` and ``y`` (intp class indices or float64
        values, as the metric's task validates them); set fitted attributes."""

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


def loss_noise_unit(metric: Metric, reference: float) -> float | None:
    """The unit in which losses are rounded (to 6 decimals) before comparison, or None
    for no rounding: 1 for classification losses further than 1e-4 from zero
    (AutoGluon's guard, in absolute terms), ``|reference|`` for a regression loss
    (the same 6 significant digits whatever the target's units)."""
    reference = abs(float(reference))
    if not np.isfinite(reference):
        return None
    if metric.task.family == REGRESSION:
        return reference if reference > 0.0 else None
    return 1.0 if reference > _NOISE_FLOOR else None


def round_losses(losses: np.ndarray, unit: float | None) -> np.ndarray:
    """``losses`` rounded to 6 decimals of ``unit`` (unchanged when None)."""
    if unit is None:
        return losses
    if unit == 1.0:
        return np.round(losses, _ROUND_DECIMALS)
    return np.round(losses / unit, _ROUND_DECIMALS) * unit


def _resolve_metric(metric: str | Metric, P: Any) -> Metric:
    """The fit's metric; a scikit-learn scorer name without a built-in equivalent is
    scored for regression when ``P`` has one output column (a classification tensor
    has one column per class, at least two), for classification otherwise."""
    found = get_metric(metric)
    if (
        isinstance(metric, str)
        and found.name not in METRIC_NAMES
        and found.task.family != REGRESSION
        and _n_outputs(P) == 1
    ):
        found = get_metric(metric, task=RegressionTask)
    return found


def _n_outputs(P: Any) -> int | None:
    """Last axis length of a 3-D ``P`` without converting it (None if not 3-D)."""
    shape = getattr(P, "shape", None)
    if shape is None:
        try:
            shape = np.shape(P)
        except (TypeError, ValueError):
            return None
    return int(shape[2]) if len(shape) == 3 else None


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
