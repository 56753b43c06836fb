"""Post-hoc ensemble selectors: cached predictions P[n_models, n_samples, n_classes]
in, an ensemble out (see :class:`BaseSelector` for the contract)."""

from __future__ import annotations

from autoens.selectors.auto import AutoSelector
from autoens.selectors.base import BaseSelector
from autoens.selectors.baselines import Oracle, SingleBest
from autoens.selectors.cmaes import CMAESSelector
from autoens.selectors.dynamic import DESP, KNOP, KNORAE, KNORAU, METADES, OLA
from autoens.selectors.greedy import GreedyEnsembleSelection
from autoens.selectors.names import SELECTOR_NAMES, get_selector
from autoens.selectors.qdo import QualityDiversityOptimizationES, QualityOptimizationES
from autoens.selectors.qp import QPSelector
from autoens.selectors.stacking import NNLSStacking, StackingSelector

__all__ = [
    "DESP",
    "KNOP",
    "KNORAE",
    "KNORAU",
    "METADES",
    "OLA",
    "SELECTOR_NAMES",
    "AutoSelector",
    "BaseSelector",
    "CMAESSelector",
    "GreedyEnsembleSelection",
    "NNLSStacking",
    "Oracle",
    "QPSelector",
    "QualityDiversityOptimizationES",
    "QualityOptimizationES",
    "SingleBest",
    "StackingSelector",
    "get_selector",
]
