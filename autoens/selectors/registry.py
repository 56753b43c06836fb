"""Selector names → selectors, for every built-in selector except ``"auto"``.

An entry is a class plus the parameters that make the named variant (``"cmaes-raw"``
is ``CMAESSelector(normalize=None)``). :class:`~autoens.selectors.auto.AutoSelector`
resolves its candidate names here; :mod:`autoens.selectors.names` adds ``"auto"``
on top, so that this module never has to import the selector that chooses among
the others (no import cycle).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from sklearn.base import clone

from autoens.selectors.base import FAMILIES, BaseSelector
from autoens.selectors.baselines import Oracle, SingleBest
from autoens.selectors.cmaes import CMAESSelector
from autoens.selectors.dynamic import DESP, KNOP, KNORAE, KNORAU, METADES, OLA
from autoens.selectors.dynamic_regression import LocalBest, LocalErrorWeighting
from autoens.selectors.greedy import GreedyEnsembleSelection
from autoens.selectors.qdo import QualityDiversityOptimizationES, QualityOptimizationES
from autoens.selectors.qp import QPSelector
from autoens.selectors.qp_regression import AffineQPSelector
from autoens.selectors.stacking import NNLSStacking, StackingSelector

__all__ = ["BUILTIN_SELECTORS", "SelectorEntry", "SelectorRegistry"]

#: A registry entry: the selector class and the parameters fixed by its name.
SelectorEntry = tuple[type[BaseSelector], dict[str, Any]]


class SelectorRegistry:
    """An ordered mapping from names to selector entries.

    Names are matched case-insensitively after stripping spaces. ``random_state``
    seeds every selector class that takes one.
    """

    def __init__(self, entries: Mapping[str, SelectorEntry]) -> None:
        self._entries = dict(entries)

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def names_for(self, family: str) -> tuple[str, ...]:
        """The names whose selector supports task ``family`` ("classification" or
        "regression"), in registration order."""
        if family not in FAMILIES:
            raise ValueError(
                f"Unknown task family {family!r}; expected one of "
                f"{', '.join(FAMILIES)}."
            )
        return tuple(
            name for name in self._entries if family in self.get(name).task_families
        )

    def extended(self, entries: Mapping[str, SelectorEntry]) -> SelectorRegistry:
        """A new registry with ``entries`` appended (the names must be new)."""
        clash = set(entries) & set(self._entries)
        if clash:
            raise ValueError(f"selector names already registered: {sorted(clash)}")
        return SelectorRegistry({**self._entries, **entries})

    def get(
        self, selector: str | BaseSelector, random_state: Any = None
    ) -> BaseSelector:
        """A fresh selector from a name, or an unfitted clone of a selector object.

        ``random_state`` seeds selectors that take one; on a clone it only fills a
        ``random_state`` left at None, so an explicit seed on the object wins.
        """
        if isinstance(selector, BaseSelector):
            fresh = clone(selector)
            params = fresh.get_params(deep=False)
            if random_state is not None and params.get("random_state", 0) is None:
                fresh.set_params(random_state=random_state)
            return fresh
        if isinstance(selector, str):
            entry = self._entries.get(selector.strip().lower())
            if entry is not None:
                cls, fixed = entry
                params = dict(fixed)
                if "random_state" in inspect.signature(cls).parameters:
                    params["random_state"] = random_state
                return cls(**params)
        raise ValueError(
            f"Unknown selector {selector!r}. Valid names: {', '.join(self.names)}; or "
            "pass a BaseSelector instance."
        )


BUILTIN_SELECTORS = SelectorRegistry(
    {
        "ges": (GreedyEnsembleSelection, {}),
        "greedy": (GreedyEnsembleSelection, {}),
        "single_best": (SingleBest, {}),
        "single-best": (SingleBest, {}),
        "qo-es": (QualityOptimizationES, {}),
        "qdo-es": (QualityDiversityOptimizationES, {}),
        "cmaes": (CMAESSelector, {}),
        "cmaes-raw": (CMAESSelector, {"normalize": None}),
        "qp": (QPSelector, {}),
        "qp-balanced": (QPSelector, {"class_balanced": True}),
        "qp-logloss": (QPSelector, {"objective": "log_loss"}),
        "stacking": (StackingSelector, {}),
        "nnls-stacking": (NNLSStacking, {}),
        # Dynamic selectors (need X, the competence features, in fit and combine;
        # KNOP does not).
        "knora-e": (KNORAE, {}),
        "knora-u": (KNORAU, {}),
        "des-p": (DESP, {}),
        "knop": (KNOP, {}),
        "ola": (OLA, {}),
        "meta-des": (METADES, {}),
        # A benchmark upper bound: it needs the labels, so it cannot predict new rows.
        "oracle": (Oracle, {}),
        # Regression only: affine (possibly negative) QP weights, and dynamic
        # selection by local error (need X, as the dynamic ones above).
        "qp-affine": (AffineQPSelector, {}),
        "des-local": (LocalErrorWeighting, {}),
        "local-best": (LocalBest, {}),
    }
)
