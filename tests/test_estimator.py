"""AutoEnsembleClassifier end to end on real bundled data, including bad input."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from autoens import AutoEnsembleClassifier, SearchError
from autoens.testing import FAST_FIT as FAST
from autoens.testing import fake_learner


def test_binary_mixed_types_end_to_end(mixed_data):
    X, y = mixed_data
    model = AutoEnsembleClassifier(**{**FAST, "n_trials": 4}).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert roc_auc_score(y, proba[:, 1]) > 0.9
    assert list(model.classes_) == [0, 1]
    assert model.n_features_in_ == X.shape[1]
    assert list(model.feature_names_in_) == list(X.columns)
    board = model.leaderboard_
    assert len(board) == 4
    for col in [
        "trial",
        "learner",
        "params",
        "loss",
        "roc_auc",
        "fit_time",
        "status",
        "weight",
    ]:
        assert col in board.columns
    assert board["loss"].is_monotonic_increasing
    assert (board["status"] == "ok").all()
    np.testing.assert_allclose(model.weights_.sum(), 1.0)
    assert board["weight"].sum() == pytest.approx(1.0)
    assert model.validation_loss_ <= board["loss"].min() + 1e-12


def test_multiclass_string_labels_and_member_predictions(multiclass_data):
    X, y = multiclass_data
    labels = np.array(["cab", "merlot", "pinot"])[y]
    model = AutoEnsembleClassifier(**FAST).fit(X, labels)
    assert list(model.classes_) == ["cab", "merlot", "pinot"]
    pred = model.predict(X)
    assert set(pred) <= set(labels)
    assert model.score(X, labels) > 0.9
    best = model.predict_proba_member(X, model.best_trial_)
    assert best.shape == (len(X), 3)
    with pytest.raises(KeyError, match="not in the library"):
        model.predict_proba_member(X, 10_000)


def test_keep_models_controls_which_members_can_predict(binary_data):
    X, y = binary_data
    params = {**FAST, "n_trials": 4, "selector": "single_best"}
    small = AutoEnsembleClassifier(**params).fit(X, y)
    unused = [t for t in small.library_.trials if t != small.best_trial_]
    with pytest.raises(ValueError, match="were not kept"):
        small.predict_proba_member(X, unused[0])
    full = AutoEnsembleClassifier(**params, keep_models="all").fit(X, y)
    proba = full.predict_proba_member(X, unused[0])
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(full.predict_proba(X), small.predict_proba(X))


def test_numpy_input_and_joblib_round_trip(tmp_path, binary_data):
    X, y = binary_data
    model = AutoEnsembleClassifier(**FAST).fit(X.to_numpy(), y.to_numpy())
    assert not hasattr(model, "feature_names_in_")
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(
        loaded.predict_proba(X.to_numpy()), model.predict_proba(X.to_numpy())
    )
    pd.testing.assert_frame_equal(loaded.leaderboard_, model.leaderboard_)


def test_same_seed_same_result(binary_data):
    X, y = binary_data
    a = AutoEnsembleClassifier(**FAST).fit(X, y)
    b = AutoEnsembleClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.leaderboard_["params"].tolist() == b.leaderboard_["params"].tolist()


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.empty((0, 3)), [], "0 sample"),
        (np.ones((5, 3)), [0, 1, 0, 1], "5 rows but y has 4"),
        (np.ones(6), [0, 1] * 3, "Expected 2D array"),
        (np.array([[1.0, np.inf]] * 6), [0, 1] * 3, "infinity"),
        (np.ones((6, 2)), ["a"] * 6, "only one class"),
        (np.ones((6, 2)), np.linspace(0, 1, 6), "Unknown label type"),
    ],
)
def test_bad_input_gets_a_clear_error(X, y, match):
    with pytest.raises(ValueError, match=match):
        AutoEnsembleClassifier(**FAST).fit(X, y)


def test_predict_time_column_problems(mixed_data):
    X, y = mixed_data
    model = AutoEnsembleClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="size"):
        model.predict(X.drop(columns="size"))
    new = X.head(5).copy()
    new["size"] = "enormous"
    with pytest.warns(UserWarning, match="not seen during fit"):
        proba = model.predict_proba(new)
    assert np.isfinite(proba).all()


def test_failing_learners_are_recorded_and_skipped(binary_data):
    X, y = binary_data
    model = AutoEnsembleClassifier(
        n_trials=3,
        cv=2,
        random_state=0,
        learners=[fake_learner("crash"), fake_learner("nan"), "logreg"],
        portfolio=[("crash", {}), ("nan", {}), ("logreg", {})],
    )
    with pytest.warns(UserWarning, match="dropped from the search"):
        model.fit(X, y)
    board = model.leaderboard_.set_index("learner")
    assert board.loc["crash", "status"] == "failed"
    assert "CrashingClassifier always fails" in board.loc["crash", "error"]
    assert board.loc["nan", "status"] == "failed"
    assert "non-finite" in board.loc["nan", "error"]
    assert board.loc["logreg", "status"] == "ok"
    assert board.loc["logreg", "weight"] == pytest.approx(1.0)
    assert np.isfinite(model.predict_proba(X)).all()


def test_all_learners_failing_raises_search_error(binary_data):
    X, y = binary_data
    model = AutoEnsembleClassifier(
        n_trials=2,
        cv=2,
        random_state=0,
        portfolio=None,
        learners=[fake_learner("crash")],
    )
    with pytest.warns(UserWarning), pytest.raises(SearchError, match="no candidate"):
        model.fit(X, y)


@pytest.mark.parametrize(
    ("params", "n_trials"),
    [({}, 50), ({"time_limit": 60}, None), ({"time_limit": 60, "n_trials": 7}, 7)],
)
def test_a_time_limit_alone_is_spent_without_a_trial_cap(params, n_trials):
    budget = AutoEnsembleClassifier(**params)._budget()
    assert budget.n_trials == n_trials
    assert (budget.time_limit is None) == ("time_limit" not in params)


@pytest.mark.parametrize("selector", ["ges", "qp", "stacking", "knora-u", "auto"])
def test_a_class_with_a_single_row(selector, multiclass_data):
    """That class cannot be in every training fold: the fold that predicts its one row
    is trained without it (its models give it probability 0 there); every other fold
    sees it, so the ensemble still predicts it for new rows."""
    X, y = multiclass_data
    labels = np.array(["cab", "merlot", "pinot"], dtype=object)[y]
    labels[7] = "rare"
    model = AutoEnsembleClassifier(
        n_trials=3,
        cv=3,
        learners=["logreg", "hist_gb"],
        selector=selector,
        random_state=0,
    ).fit(X, labels)
    assert list(model.classes_) == ["cab", "merlot", "pinot", "rare"]
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # the one "rare" row was predicted out of fold by models that never saw it
    oof = model.library_.oof[:, 7, 3]
    assert (oof == 0).all()


@pytest.mark.parametrize(
    ("metric", "score"),
    [
        ("f1_macro", "f1_macro"),
        ("matthews_corrcoef", "matthews_corrcoef"),
        ("average_precision", "average_precision"),
    ],
)
def test_any_sklearn_classification_scorer_is_a_metric(metric, score, binary_data):
    from sklearn.metrics import get_scorer

    X, y = binary_data
    model = AutoEnsembleClassifier(**{**FAST, "metric": metric}).fit(X, y)
    board = model.leaderboard_
    assert score in board.columns
    # each candidate's score is scikit-learn's scorer on its OOF predictions
    lib = model.library_
    scorer = get_scorer(metric)
    row = board.set_index("trial").loc[lib.trials[0]]
    from autoens.metrics.scorer import _FixedClassifier

    expected = scorer(
        _FixedClassifier(lib.oof[0].astype(np.float64)),
        np.arange(len(lib.y))[:, None],
        lib.y,
    )
    assert row[score] == pytest.approx(expected, abs=1e-12)
