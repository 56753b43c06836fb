"""Learner specs: what the search may try, and how a config becomes an estimator.

A :class:`LearnerSpec` ties a learner name to a module-level ``build`` function (so
specs pickle and travel to worker processes) and to an Optuna search space.  The
search is define-by-run: :func:`suggest` first picks the learner, then only that
learner's hyper-parameters, each under the Optuna name ``"{learner}__{hp}"`` so that
two learners may share a hyper-parameter name without sharing its distribution.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import BaseEstimator

__all__ = [
    "LEARNER_PARAM",
    "TASK_FAMILIES",
    "FeatureTypes",
    "LearnerSpec",
    "check_params",
    "from_optuna_params",
    "suggest",
    "to_optuna_params",
]

#: Optuna parameter that holds the learner name; hyper-parameters are namespaced
#: under it as ``"{learner}__{hp}"``.
LEARNER_PARAM = "learner"
_SEP = "__"
#: Task families a learner can serve (``task.family`` of the task objects).
TASK_FAMILIES = ("classification", "regression")


@dataclass(frozen=True)
class FeatureTypes:
    """Column names of the DataFrame the learners receive, split by kind.

    Numeric columns are float64 with NaN for missing; categorical columns hold
    strings with NaN/None for missing.
    """

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept any sequence but store tuples, so the object stays hashable.
        object.__setattr__(self, "numeric", tuple(self.numeric))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(
                f"columns {sorted(map(str, both))} are listed as both numeric and "
                "categorical; give each column one kind"
            )


@dataclass(frozen=True)
class LearnerSpec:
    """A learner the search can try: name, estimator factory, search space.

    ``build(params, feature_types, random_state)`` must be a module-level function
    (specs are pickled to worker processes) returning an unfitted estimator: with
    ``fit``, ``predict_proba`` and ``classes_`` for ``family="classification"``,
    with ``fit`` and ``predict`` (one value per row) for ``family="regression"``.
    ``defaults`` gives a value for every hyper-parameter in ``distributions`` (and
    lies inside it), so a default config is a complete, fixed point of the search
    space.  ``requires`` names the modules that must import for the learner to be
    offered by default.  ``family`` is the task family the estimator serves: the same
    name (``"random_forest"``) exists once per family, and a search only takes specs
    of its task's family.
    """

    name: str
    build: Callable[[dict[str, Any], FeatureTypes, int], BaseEstimator]
    distributions: Mapping[str, BaseDistribution] = field(
        default_factory=dict, hash=False
    )
    defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)
    requires: tuple[str, ...] = ()
    # Last, with a default: specs pickled before regression existed load as
    # classification (the class attribute answers for the missing instance field).
    family: str = "classification"
    #: ``refit_params(fold_models) -> set_params overrides`` for the model retrained
    #: on all rows (``refit="members"``), e.g. a fixed iteration count where the
    #: folds stopped early (``autoens.space.refit``); None refits the config as is.
    #: A module-level function, like ``build``, so that specs pickle.
    refit_params: Callable[[Sequence[Any]], dict[str, Any]] | None = field(
        default=None, hash=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.name or _SEP in self.name or self.name == LEARNER_PARAM:
            raise ValueError(
                f"invalid learner name {self.name!r}: it must be non-empty, must not "
                f"contain {_SEP!r} and must not be {LEARNER_PARAM!r}"
            )
        if self.family not in TASK_FAMILIES:
            raise ValueError(
                f"LearnerSpec {self.name!r}: family must be one of {TASK_FAMILIES}, "
                f"got {self.family!r}"
            )
        if not callable(self.build):
            raise TypeError(f"LearnerSpec {self.name!r}: build must be callable")
        # Plain dicts: mappingproxy would not pickle.
        object.__setattr__(self, "distributions", dict(self.distributions))
        object.__setattr__(self, "defaults", dict(self.defaults))
        object.__setattr__(self, "requires", tuple(self.requires))
        for hp, dist in self.distributions.items():
            if not isinstance(dist, BaseDistribution):
                raise TypeError(
                    f"LearnerSpec {self.name!r}: distribution of {hp!r} must be an "
                    f"optuna distribution, got {type(dist).__name__}"
                )
        missing = sorted(set(self.distributions) - set(self.defaults))
        if missing:
            raise ValueError(
                f"LearnerSpec {self.name!r}: defaults lack a value for {missing}; "
                "give every hyper-parameter a default inside its distribution"
            )
        check_params(self, self.defaults)

    def make(
        self,
        params: Mapping[str, Any],
        feature_types: FeatureTypes,
        random_state: int,
    ) -> BaseEstimator:
        """Build the (unfitted) estimator for ``params``; missing ones take defaults."""
        unknown = set(params) - set(self.distributions)
        if unknown:
            raise ValueError(
                f"unknown hyper-parameters {sorted(unknown)} for learner "
                f"{self.name!r}; known: {sorted(self.distributions)}"
            )
        full = {**self.defaults, **params}
        return self.build(full, feature_types, int(random_state))

    def make_refit(
        self,
        params: Mapping[str, Any],
        feature_types: FeatureTypes,
        random_state: int,
        fold_models: Sequence[Any],
    ) -> BaseEstimator:
        """The (unfitted) estimator that retrains ``params`` on all training rows:
        :meth:`make` plus the overrides of ``refit_params`` read from the config's
        fitted ``fold_models``."""
        model = self.make(params, feature_types, random_state)
        overrides = self.refit_params(fold_models) if self.refit_params else {}
        if overrides:
            model.set_params(**overrides)
        return model

    def available(self) -> bool:
        """True when every module in ``requires`` imports."""
        return all(_imports(module) for module in self.requires)


@cache
def _imports(module: str) -> bool:
    # A package can be installed yet fail to import (e.g. LightGBM without
    # libgomp), so try the import rather than only looking for the files.
    try:
        importlib.import_module(module)
    except Exception:
        return False
    return True


def _contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is a point of ``dist`` (public-API re-implementation)."""
    if isinstance(dist, CategoricalDistribution):
        # Compare with type, so that 1 (one feature) is not taken for 1.0 (all).
        return any(
            type(value) is type(choice) and value == choice for choice in dist.choices
        )
    if isinstance(value, bool):
        return False
    if isinstance(dist, IntDistribution):
        if not isinstance(value, int | float) or value != int(value):
            return False
        value = int(value)
        return dist.low <= value <= dist.high and (value - dist.low) % dist.step == 0
    if isinstance(dist, FloatDistribution):
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if not dist.low <= value <= dist.high:
            return False
        if dist.step is None:
            return True
        k = round((value - dist.low) / dist.step)
        return math.isclose(
            dist.low + k * dist.step, value, rel_tol=1e-9, abs_tol=1e-12
        )
    raise TypeError(f"unsupported distribution type {type(dist).__name__}")


def check_params(spec: LearnerSpec, params: Mapping[str, Any]) -> None:
    """Raise ValueError unless every param is known to ``spec`` and inside its space."""
    unknown = set(params) - set(spec.distributions)
    if unknown:
        raise ValueError(
            f"unknown hyper-parameters {sorted(unknown)} for learner {spec.name!r}; "
            f"known: {sorted(spec.distributions)}"
        )
    for hp, value in params.items():
        dist = spec.distributions[hp]
        if not _contains(dist, value):
            raise ValueError(
                f"learner {spec.name!r}: {hp}={value!r} lies outside its search "
                f"space {dist!r}"
            )


def _suggest_one(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(
            name, dist.low, dist.high, step=dist.step, log=dist.log
        )
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(
            name, dist.low, dist.high, step=dist.step, log=dist.log
        )
    raise TypeError(f"unsupported distribution type {type(dist).__name__} for {name!r}")


def suggest(
    trial: optuna.Trial, specs: Sequence[LearnerSpec]
) -> tuple[str, dict[str, Any]]:
    """Sample a learner, then its hyper-parameters (define-by-run).

    Keep ``specs`` (and its order) the same for every trial of a study: Optuna
    refuses a categorical parameter whose choices change between trials.
    """
    if not specs:
        raise ValueError("suggest needs at least one LearnerSpec")
    by_name = {spec.name: spec for spec in specs}
    learner = trial.suggest_categorical(LEARNER_PARAM, list(by_name))
    spec = by_name[learner]
    params = {
        hp: _suggest_one(trial, f"{learner}{_SEP}{hp}", dist)
        for hp, dist in spec.distributions.items()
    }
    return learner, params


def to_optuna_params(learner: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten ``(learner, params)`` to Optuna parameter names (for enqueue_trial)."""
    out: dict[str, Any] = {LEARNER_PARAM: learner}
    out.update({f"{learner}{_SEP}{hp}": value for hp, value in params.items()})
    return out


def from_optuna_params(d: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Inverse of :func:`to_optuna_params`; reads ``trial.params`` back."""
    if LEARNER_PARAM not in d:
        raise ValueError(
            f"no {LEARNER_PARAM!r} key in {dict(d)!r}; was it made by to_optuna_params?"
        )
    learner = d[LEARNER_PARAM]
    prefix = f"{learner}{_SEP}"
    params = {k[len(prefix) :]: v for k, v in d.items() if k.startswith(prefix)}
    return learner, params
