"""Configurations as fixed-length vectors, for the surrogates of model-based search.

A configuration ``(learner, params)`` becomes one row of floats:

* one column per learner, one-hot;
* per learner and numeric hyper-parameter, one column in [0, 1] (the position
  between ``low`` and ``high``, on a log scale where the Optuna distribution is log);
* per learner and categorical hyper-parameter, one one-hot column per choice;
* every column of a learner that the configuration does not use holds
  :data:`INACTIVE` (-1), so trees can split inactive apart from any real value.

Candidates are generated directly in this space (random rows, perturbed rows) and
:meth:`ConfigEncoder.snap` moves them onto valid points (integer grids, steps), so
that two candidates that decode to the same configuration encode identically and
deduplication is exact. Every operation on many rows is vectorised over rows; loops
run over columns only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from autoens.space.registry import LearnerSpec, check_params

__all__ = ["INACTIVE", "ConfigEncoder"]

#: Value of every column that belongs to a learner the configuration does not use.
INACTIVE = -1.0


class _Numeric:
    """One numeric hyper-parameter: value <-> position in [0, 1]."""

    def __init__(self, column: int, dist: IntDistribution | FloatDistribution) -> None:
        self.column = column
        self.dist = dist
        self.is_int = isinstance(dist, IntDistribution)
        self.log = bool(dist.log)
        low, high = float(dist.low), float(dist.high)
        self.lo, self.hi = (math.log(low), math.log(high)) if self.log else (low, high)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.hi == self.lo:
            return np.zeros_like(values)
        t = np.log(values) if self.log else values
        return np.clip((t - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Valid values (on the integer grid / step) for positions ``u``."""
        t = self.lo + np.clip(u, 0.0, 1.0) * (self.hi - self.lo)
        v = np.exp(t) if self.log else t
        step = self.dist.step  # Optuna's IntDistribution always has one (default 1)
        low, high = float(self.dist.low), float(self.dist.high)
        if step is not None:
            v = low + np.round((v - low) / step) * step
        return np.clip(v, low, high)

    def python_value(self, v: float) -> int | float:
        return round(v) if self.is_int else float(v)


class _NumericGrid:
    """All numeric hyper-parameters at once: ``to_unit(from_unit(u))`` of every
    column, the same float operations as :class:`_Numeric` element by element, but
    one NumPy call per operation instead of one per column (snapping a thousand
    candidates is a DivBO proposal's hot spot)."""

    def __init__(self, numeric: Sequence[_Numeric]) -> None:
        def floats(values: list[Any]) -> np.ndarray:
            return np.array(values, dtype=np.float64)

        self.lo = floats([h.lo for h in numeric])
        self.span = floats([h.hi - h.lo for h in numeric])
        self.low = floats([h.dist.low for h in numeric])
        self.high = floats([h.dist.high for h in numeric])
        self.log = np.array([h.log for h in numeric], dtype=bool)
        step = [h.dist.step for h in numeric]
        self.stepped = np.array([st is not None for st in step], dtype=bool)
        self.step = floats([1.0 if st is None else st for st in step])
        self.flat = self.span == 0

    def snap(self, U: np.ndarray) -> np.ndarray:
        """Positions ``U`` (n, columns) moved onto the values they decode to."""
        t = self.lo + np.clip(U, 0.0, 1.0) * self.span
        v = t.copy()
        v[:, self.log] = np.exp(t[:, self.log])
        s = self.stepped
        steps = np.round((v[:, s] - self.low[s]) / self.step[s])
        v[:, s] = self.low[s] + steps * self.step[s]
        v = np.clip(v, self.low, self.high)
        t = v.copy()
        t[:, self.log] = np.log(v[:, self.log])
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.clip((t - self.lo) / self.span, 0.0, 1.0)
        u[:, self.flat] = 0.0
        return u


class _Categorical:
    """One categorical hyper-parameter: choice <-> one-hot block."""

    def __init__(self, start: int, dist: CategoricalDistribution) -> None:
        self.start = start
        self.choices = tuple(dist.choices)
        self.stop = start + len(self.choices)

    def index(self, value: Any) -> int:
        for i, choice in enumerate(self.choices):
            # Compare with type, so that 1 (an int choice) is not taken for 1.0.
            if type(choice) is type(value) and choice == value:
                return i
        raise ValueError(f"{value!r} is not one of the choices {self.choices}")


class ConfigEncoder:
    """Encode, decode, sample and perturb configurations of a fixed list of learners.

    The column layout depends only on ``specs`` (their order included), so an encoder
    built from the same specs gives the same vectors in every process and run.
    """

    def __init__(self, specs: Sequence[LearnerSpec]) -> None:
        if not specs:
            raise ValueError("ConfigEncoder needs at least one LearnerSpec")
        self.specs = {spec.name: spec for spec in specs}
        if len(self.specs) != len(specs):
            raise ValueError("ConfigEncoder: learner names must be unique")
        self.learners = list(self.specs)
        col = len(self.learners)
        # learner -> hp -> _Numeric | _Categorical
        self._hps: dict[str, dict[str, _Numeric | _Categorical]] = {}
        owner: list[int] = [-1] * col  # learner index owning each column
        for li, (name, spec) in enumerate(self.specs.items()):
            hps: dict[str, _Numeric | _Categorical] = {}
            for hp, dist in spec.distributions.items():
                hps[hp] = self._column(col, hp, dist, name)
                width = hps[hp].stop - col if isinstance(hps[hp], _Categorical) else 1
                owner.extend([li] * width)
                col += width
            self._hps[name] = hps
        self.n_features = col
        self._owner = np.asarray(owner, dtype=np.intp)
        self._numeric = [
            h
            for hps in self._hps.values()
            for h in hps.values()
            if isinstance(h, _Numeric)
        ]
        self._categorical = [
            h
            for hps in self._hps.values()
            for h in hps.values()
            if isinstance(h, _Categorical)
        ]
        self._num_cols = np.asarray([h.column for h in self._numeric], dtype=np.intp)
        self._grid = _NumericGrid(self._numeric)

    @staticmethod
    def _column(
        col: int, hp: str, dist: BaseDistribution, learner: str
    ) -> _Numeric | _Categorical:
        if isinstance(dist, CategoricalDistribution):
            return _Categorical(col, dist)
        if isinstance(dist, IntDistribution | FloatDistribution):
            return _Numeric(col, dist)
        raise TypeError(
            f"learner {learner!r}: cannot encode {hp!r} with distribution "
            f"{type(dist).__name__}; use Int-, Float- or CategoricalDistribution"
        )

    # ------------------------------------------------------------------ encode/decode
    def encode(self, configs: Sequence[tuple[str, Mapping[str, Any]]]) -> np.ndarray:
        """Rows (n, n_features) for ``(learner, params)`` pairs; missing params take
        the learner's defaults."""
        X = np.full((len(configs), self.n_features), INACTIVE, dtype=np.float64)
        for row, (learner, params) in enumerate(configs):
            if learner not in self.specs:
                raise ValueError(
                    f"unknown learner {learner!r}; this encoder knows {self.learners}"
                )
            spec = self.specs[learner]
            check_params(spec, params)
            full = {**spec.defaults, **params}
            X[row, : len(self.learners)] = 0.0
            X[row, self.learners.index(learner)] = 1.0
            for hp, h in self._hps[learner].items():
                if isinstance(h, _Numeric):
                    X[row, h.column] = h.to_unit(np.float64(full[hp]))
                else:
                    X[row, h.start : h.stop] = 0.0
                    X[row, h.start + h.index(full[hp])] = 1.0
        return X

    def decode(self, row: np.ndarray) -> tuple[str, dict[str, Any]]:
        """The configuration of one (snapped or not) encoded row."""
        row = np.asarray(row, dtype=np.float64)
        if row.shape != (self.n_features,):
            raise ValueError(
                f"expected a row of {self.n_features} values, got shape {row.shape}"
            )
        learner = self.learners[int(np.argmax(row[: len(self.learners)]))]
        params: dict[str, Any] = {}
        for hp, h in self._hps[learner].items():
            if isinstance(h, _Numeric):
                u = row[h.column]
                value = h.from_unit(np.float64(u if u >= 0 else 0.0))
                params[hp] = h.python_value(float(value))
            else:
                params[hp] = h.choices[int(np.argmax(row[h.start : h.stop]))]
        return learner, params

    def decode_columns(self, X: np.ndarray, learner: str) -> dict[str, np.ndarray]:
        """The hyper-parameters of rows ``X`` (all of ``learner``) as one array per
        hyper-parameter: :meth:`decode` for many rows at once, for vectorised
        consumers such as the cost model (numeric values float64, choices object)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"expected rows of {self.n_features} values, got shape {X.shape}"
            )
        if learner not in self._hps:
            raise ValueError(f"unknown learner {learner!r}; known: {self.learners}")
        out: dict[str, np.ndarray] = {}
        for hp, h in self._hps[learner].items():
            if isinstance(h, _Numeric):
                out[hp] = h.from_unit(np.maximum(X[:, h.column], 0.0))
            else:
                choices = np.empty(len(h.choices), dtype=object)
                choices[:] = h.choices
                out[hp] = choices[np.argmax(X[:, h.start : h.stop], axis=1)]
        return out

    def learner_index(self, X: np.ndarray) -> np.ndarray:
        """Index (into ``learners``) of each row's learner."""
        return np.argmax(X[:, : len(self.learners)], axis=1)

    # ------------------------------------------------------------ generate candidates
    def _activate(self, X: np.ndarray) -> None:
        """Set every column of a learner the row does not use to INACTIVE."""
        active = self._owner[None, :] == self.learner_index(X)[:, None]
        active[:, : len(self.learners)] = True
        X[~active] = INACTIVE

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Move rows onto valid points: grids and steps of numeric HPs, one-hot blocks,
        INACTIVE for unused columns. Returns a new array."""
        X = np.array(X, dtype=np.float64, copy=True)
        learner = self.learner_index(X)
        X[:, : len(self.learners)] = 0.0
        X[np.arange(len(X)), learner] = 1.0
        if len(self._num_cols):
            X[:, self._num_cols] = self._grid.snap(X[:, self._num_cols])
        for h in self._categorical:
            block = X[:, h.start : h.stop]
            choice = np.argmax(block, axis=1)
            block[:] = 0.0
            block[np.arange(len(X)), choice] = 1.0
        self._activate(X)
        return X

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random valid rows: learner uniform, then each HP uniform on its
        (log) scale and each categorical choice uniform."""
        X = rng.random((n, self.n_features))
        X[:, : len(self.learners)] = 0.0
        X[np.arange(n), rng.integers(len(self.learners), size=n)] = 1.0
        return self.snap(X)

    def perturb(
        self,
        X: np.ndarray,
        rng: np.random.Generator,
        *,
        scale: float | np.ndarray = 0.1,
        p_categorical: float = 0.2,
    ) -> np.ndarray:
        """Neighbours of rows ``X`` (same learner): numeric positions moved by
        N(0, scale) and each categorical resampled with probability
        ``p_categorical``. ``scale`` may be one value per row."""
        Y = np.array(X, dtype=np.float64, copy=True)
        if len(self._num_cols):
            scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(Y),))
            noise = rng.normal(size=(len(Y), len(self._num_cols))) * scale[:, None]
            Y[:, self._num_cols] = np.clip(Y[:, self._num_cols] + noise, 0.0, 1.0)
        for h in self._categorical:
            flip = rng.random(len(Y)) < p_categorical
            Y[flip, h.start : h.stop] = rng.random((int(flip.sum()), h.stop - h.start))
        # Inactive columns of the source rows were moved by the noise: snap resets them.
        return self.snap(Y)
