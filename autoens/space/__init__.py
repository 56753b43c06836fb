"""What the search may try: learner specs, search spaces, a warm-start portfolio."""

from autoens.space.learners import (
    DEFAULT_LEARNERS,
    DEFAULT_REGRESSORS,
    default_learners,
    get_learners,
)
from autoens.space.portfolio import (
    DEFAULT_PORTFOLIO,
    DEFAULT_REGRESSION_PORTFOLIO,
    PortfolioFile,
    get_portfolio,
    read_portfolio,
    write_portfolio,
)
from autoens.space.registry import (
    TASK_FAMILIES,
    FeatureTypes,
    LearnerSpec,
    from_optuna_params,
    suggest,
    to_optuna_params,
)
from autoens.space.wrappers import accepts_sample_weight, fit_model

__all__ = [
    "DEFAULT_LEARNERS",
    "DEFAULT_PORTFOLIO",
    "DEFAULT_REGRESSION_PORTFOLIO",
    "DEFAULT_REGRESSORS",
    "TASK_FAMILIES",
    "FeatureTypes",
    "LearnerSpec",
    "PortfolioFile",
    "accepts_sample_weight",
    "default_learners",
    "fit_model",
    "from_optuna_params",
    "get_learners",
    "get_portfolio",
    "read_portfolio",
    "suggest",
    "to_optuna_params",
    "write_portfolio",
]
