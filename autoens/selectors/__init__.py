"""Post-hoc ensemble selectors: cached predictions P[n_models, n_samples, n_outputs]
in, an ensemble out (see :class:`BaseSelector` for the contract).

Classification and regression: :func:`selector_names` lists the names that support a
task family; a selector fit for a family it does not support raises ``ValueError``
naming the alternatives.
"""

from __future__ import annotations

from autoens.selectors.auto import AutoSelector
from autoens.selectors.base import BaseSelector
from autoens.selectors.baselines import Oracle, SingleBest
from autoens.selectors.budget import BudgetedGES, BudgetedSelector
from autoens.selectors.cmaes import CMAESSelector
from autoens.selectors.dynamic import DESP, KNOP, KNORAE, KNORAU, METADES, OLA
from autoens.selectors.dynamic_regression import LocalBest, LocalErrorWeighting
from autoens.selectors.greedy import GreedyEnsembleSelection
from autoens.selectors.names import SELECTOR_NAMES, get_selector, selector_names
from autoens.selectors.qdo import QualityDiversityOptimizationES, QualityOptimizationES
from autoens.selectors.qp import QPSelector
from autoens.selectors.qp_regression import AffineQPSelector
from autoens.selectors.stacking import NNLSStacking, StackingSelector

__all__ = [
    "DESP",
    "KNOP",
    "KNORAE",
    "KNORAU",
    "METADES",
    "OLA",
    "SELECTOR_NAMES",
    "AffineQPSelector",
    "AutoSelector",
    "BaseSelector",
    "BudgetedGES",
    "BudgetedSelector",
    "CMAESSelector",
    "GreedyEnsembleSelection",
    "LocalBest",
    "LocalErrorWeighting",
    "NNLSStacking",
    "Oracle",
    "QPSelector",
    "QualityDiversityOptimizationES",
    "QualityOptimizationES",
    "SingleBest",
    "StackingSelector",
    "get_selector",
    "selector_names",
]
