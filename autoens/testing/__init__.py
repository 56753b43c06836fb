"""Public helpers for testing autoens plug-ins (and code built on them).

``make_prediction_tensor`` (class probabilities) and ``make_regression_tensor``
(regression values) build realistic cached-prediction tensors without fitting a
model; ``check_selector`` and ``check_cache`` run the shared contracts of a selector
(for either task family) and of a prediction cache (``docs/architecture.md``), so a
new plug-in is tested by one call. ``FakeEvaluator`` lets the search loop run without
fitting a learner. The helpers raise ``AssertionError`` with a message naming the
broken rule, and need no test framework.
"""

from __future__ import annotations

from typing import Any

from autoens.testing.cache_contract import check_cache
from autoens.testing.search_doubles import (
    CrashingClassifier,
    FakeEvaluator,
    HangingClassifier,
    NaNClassifier,
    fake_learner,
    quadratic_learner,
    read_evaluator_log,
)
from autoens.testing.selector_contract import check_selector
from autoens.testing.tensors import make_prediction_tensor, make_regression_tensor

__all__ = [
    "FAST_FIT",
    "CrashingClassifier",
    "FakeEvaluator",
    "HangingClassifier",
    "NaNClassifier",
    "check_cache",
    "check_selector",
    "fake_learner",
    "make_prediction_tensor",
    "make_regression_tensor",
    "quadratic_learner",
    "read_evaluator_log",
]

#: A fit budget small enough for tests: three trials of two quick learners, 2-fold CV.
FAST_FIT: dict[str, Any] = {
    "n_trials": 3,
    "cv": 2,
    "learners": ["logreg", "hist_gb"],
    "random_state": 0,
}
