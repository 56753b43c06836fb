"""autoens: post-hoc ensemble selection AutoML for tabular data."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "AutoEnsembleClassifier",
    "AutoEnsembleRegressor",
    "SearchError",
    "__version__",
    "select",
]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `import autoens.metrics` or `autoens --help` does not pay
    # for optuna, xgboost and lightgbm.
    if name in ("AutoEnsembleClassifier", "AutoEnsembleRegressor", "SearchError"):
        from autoens import estimator

        return getattr(estimator, name)
    if name == "select":
        from autoens.replay import select

        return select
    raise AttributeError(f"module 'autoens' has no attribute {name!r}")
