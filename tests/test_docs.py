"""The estimators' docstrings document every fitted attribute (the API reference of
docs/ is generated from them; CI builds it with warnings as errors: .ci/run)."""

from __future__ import annotations

import re

import pytest
from sklearn.datasets import load_diabetes

from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
from autoens.testing import FAST_FIT


def _documented_attributes(doc: str) -> set[str]:
    section = doc.split("Attributes\n    ----------\n", 1)[1]
    section = re.split(r"\n    \S[^\n]*\n    -{3,}\n", section)[0]
    names: set[str] = set()
    for line in section.replace("\\\n", "").splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            head = line.strip().split(" : ")[0]
            names.update(n.strip() for n in head.split(","))
    return names


def _fitted_attributes(estimator) -> set[str]:
    return {
        name
        for name in vars(estimator)
        if name.endswith("_") and not name.startswith("_")
    }


def test_every_fitted_attribute_of_the_classifier_is_documented(binary_data):
    X, y = binary_data
    clf = AutoEnsembleClassifier(**FAST_FIT).fit(X, y)
    missing = _fitted_attributes(clf) - _documented_attributes(clf.__doc__)
    assert missing == set()


def test_every_fitted_attribute_of_the_regressor_is_documented():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    learners = ["ridge", "hist_gb"]
    reg = AutoEnsembleRegressor(**{**FAST_FIT, "learners": learners})
    reg.fit(X.iloc[:150], y.iloc[:150])
    missing = _fitted_attributes(reg) - _documented_attributes(reg.__doc__)
    assert missing == set()


@pytest.mark.parametrize("name", ["validation_loss_", "leaderboard_", "weights_"])
def test_the_attributes_the_issue_named_are_documented(name):
    for cls in (AutoEnsembleClassifier, AutoEnsembleRegressor):
        assert name in _documented_attributes(cls.__doc__)
