"""autoens: post-hoc ensemble selection AutoML for tabular data.

The public names are imported lazily (PEP 562): ``import autoens`` and ``autoens
--help`` load neither scikit-learn nor pandas; ``from autoens import
AutoEnsembleClassifier`` imports the estimator module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AutoEnsembleClassifier",
    "AutoEnsembleRegressor",
    "SearchError",
    "__version__",
    "load",
    "save",
    "select",
]

# public name -> the module that defines it
_LAZY = {
    "AutoEnsembleClassifier": "autoens.estimator",
    "AutoEnsembleRegressor": "autoens.estimator",
    "SearchError": "autoens.estimator",
    "load": "autoens.persist",
    "save": "autoens.persist",
    "select": "autoens.replay",
}

if TYPE_CHECKING:
    from autoens.estimator import (
        AutoEnsembleClassifier,
        AutoEnsembleRegressor,
        SearchError,
    )
    from autoens.persist import load, save
    from autoens.replay import select


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import autoens.metrics` or `autoens --help` does
    # not pay for scikit-learn, pandas, optuna, xgboost and lightgbm.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module 'autoens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
