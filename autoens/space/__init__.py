"""What the search may try: learner specs, search spaces, a warm-start portfolio."""

from autoens.space.learners import DEFAULT_LEARNERS, get_learners
from autoens.space.portfolio import DEFAULT_PORTFOLIO, get_portfolio
from autoens.space.registry import (
    FeatureTypes,
    LearnerSpec,
    from_optuna_params,
    suggest,
    to_optuna_params,
)

__all__ = [
    "DEFAULT_LEARNERS",
    "DEFAULT_PORTFOLIO",
    "FeatureTypes",
    "LearnerSpec",
    "from_optuna_params",
    "get_learners",
    "get_portfolio",
    "suggest",
    "to_optuna_params",
]
