"""scikit-learn's estimator checks on a fast configuration."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor

# Checks that cannot apply, with the reason (run with xfail_strict, so each must fail).
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data": (
        "an integer weight is not a repeated row in a cross-validated search: the "
        "copies of a repeated row land in different folds, so a candidate is scored "
        "on rows it was trained on; a weighted row stays in one fold"
    ),
}


def _fast() -> list:
    return [
        AutoEnsembleClassifier(
            n_trials=2, cv=2, learners=["logreg"], portfolio=None, random_state=0
        ),
        AutoEnsembleRegressor(
            n_trials=2, cv=2, learners=["ridge"], portfolio=None, random_state=0
        ),
    ]


@parametrize_with_checks(
    _fast(), expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
