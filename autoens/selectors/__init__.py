"""Post-hoc ensemble selectors: cached predictions P[n_models, n_samples, n_classes]
in, an ensemble out (see :class:`BaseSelector` for the contract)."""

from __future__ import annotations

from typing import Any

from sklearn.base import clone

from autoens.selectors.auto import AutoSelector
from autoens.selectors.base import BaseSelector
from autoens.selectors.baselines import Oracle, SingleBest
from autoens.selectors.cmaes import CMAESSelector
from autoens.selectors.dynamic import DESP, KNOP, KNORAE, KNORAU, METADES, OLA
from autoens.selectors.greedy import GreedyEnsembleSelection
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

_FACTORIES: dict[str, Any] = {
    "ges": lambda random_state: GreedyEnsembleSelection(random_state=random_state),
    "greedy": lambda random_state: GreedyEnsembleSelection(random_state=random_state),
    "single_best": lambda random_state: SingleBest(),
    "single-best": lambda random_state: SingleBest(),
    "qo-es": lambda random_state: QualityOptimizationES(random_state=random_state),
    "qdo-es": lambda random_state: QualityDiversityOptimizationES(
        random_state=random_state
    ),
    "cmaes": lambda random_state: CMAESSelector(random_state=random_state),
    "cmaes-raw": lambda random_state: CMAESSelector(
        normalize=None, random_state=random_state
    ),
    "qp": lambda random_state: QPSelector(),
    "qp-balanced": lambda random_state: QPSelector(class_balanced=True),
    "qp-logloss": lambda random_state: QPSelector(objective="log_loss"),
    "stacking": lambda random_state: StackingSelector(random_state=random_state),
    "nnls-stacking": lambda random_state: NNLSStacking(),
    # Dynamic selectors (need X, the competence features, in fit and combine; KNOP
    # does not).
    "knora-e": lambda random_state: KNORAE(random_state=random_state),
    "knora-u": lambda random_state: KNORAU(random_state=random_state),
    "des-p": lambda random_state: DESP(random_state=random_state),
    "knop": lambda random_state: KNOP(random_state=random_state),
    "ola": lambda random_state: OLA(random_state=random_state),
    "meta-des": lambda random_state: METADES(random_state=random_state),
    # A benchmark upper bound: it needs the labels, so it cannot predict new rows.
    "oracle": lambda random_state: Oracle(),
    # Chooses among the selectors above (and the dynamic ones) by inner CV.
    "auto": lambda random_state: AutoSelector(random_state=random_state),
}

#: Names accepted by :func:`get_selector`.
SELECTOR_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def get_selector(
    selector: str | BaseSelector, random_state: Any = None
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
        factory = _FACTORIES.get(selector.strip().lower())
        if factory is not None:
            return factory(random_state)
    raise ValueError(
        f"Unknown selector {selector!r}. Valid names: {', '.join(SELECTOR_NAMES)}; or "
        "pass a BaseSelector instance."
    )
