"""refit="members": each ensemble member retrained once on all rows; and the fast
per-call prediction path (same predictions as scikit-learn's own, one row or many)."""

import time

import joblib
import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import autoens
from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
from autoens.cli import main
from autoens.datasets import load_keel, load_sklearn
from autoens.members import predict_member
from autoens.space import LearnerSpec, fit_model
from autoens.space.classifiers import _pipeline
from autoens.space.preprocessing import (
    dense_preprocessor,
    fast_predict_input,
    tree_preprocessor,
)
from autoens.space.refit import fitted_core, fixed_iterations
from autoens.testing.search_doubles import sleepy_learner

FAST = {"n_trials": 5, "cv": 3, "learners": ["logreg", "hist_gb"], "n_jobs": 1}


@pytest.fixture(scope="module")
def pima():
    X, y = load_keel("pima")
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def bagged_and_refit(pima):
    X, _, y, _ = pima
    bagged = AutoEnsembleClassifier(**FAST, random_state=0).fit(X, y)
    refit = AutoEnsembleClassifier(**FAST, random_state=0, refit="members")
    return bagged, refit.fit(X, y)


def _members(model):
    return {i: len(m) for i, m in model.ensemble_.members.items()}


def test_refit_at_fit_one_model_per_member(pima, bagged_and_refit):
    _, X_test, _, y_test = pima
    bagged, refit = bagged_and_refit
    assert set(_members(bagged).values()) == {3}
    assert set(_members(refit).values()) == {1}
    assert (refit.refit_["status"] == "refit").all()
    assert (bagged.refit_["status"] == "bagged").all()
    assert refit.refit_["trial"].tolist() == sorted(
        refit.refit_["trial"], key=lambda t: -refit.weights_[t]
    )
    board = refit.leaderboard_
    assert board.loc[board["refit"], "trial"].sort_values().tolist() == sorted(
        refit.refit_["trial"]
    )
    # Same search and weights, other models: the predictions differ but both score.
    assert refit.weights_.equals(bagged.weights_)
    p_bag = bagged.predict_proba(X_test)[:, 1]
    p_refit = refit.predict_proba(X_test)[:, 1]
    assert np.abs(p_bag - p_refit).max() > 1e-3
    auc_bag, auc_refit = roc_auc_score(y_test, p_bag), roc_auc_score(y_test, p_refit)
    assert auc_refit > 0.75
    assert abs(auc_refit - auc_bag) < 0.05


def test_refit_after_the_fact_equals_refit_at_fit(pima, bagged_and_refit):
    X, X_test, y, _ = pima
    bagged, refit = bagged_and_refit
    before = bagged.predict_proba(X_test)
    model = _clone_fitted(bagged)
    assert model.refit_members(X, y) is model
    np.testing.assert_array_equal(
        model.predict_proba(X_test), refit.predict_proba(X_test)
    )
    np.testing.assert_array_equal(bagged.predict_proba(X_test), before)


def _clone_fitted(model):
    import io

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def test_refit_refuses_other_data(pima, bagged_and_refit):
    X, _, y, _ = pima
    model = _clone_fitted(bagged_and_refit[0])
    with pytest.raises(ValueError, match="not the data this model was fit on"):
        model.refit_members(X.iloc[:-1], y[:-1])
    y_other = y.copy()
    y_other.iloc[:5] = y_other.iloc[5:10].to_numpy()[::-1]
    if not np.array_equal(y_other, y):
        with pytest.raises(ValueError, match="not the data"):
            model.refit_members(X, y_other)
    with pytest.raises(ValueError, match="not the data"):
        model.refit_members(X, y, sample_weight=np.linspace(1, 2, len(y)))
    with pytest.raises(ValueError, match="time_limit must be a positive"):
        model.refit_members(X, y, time_limit=0)
    assert (model.refit_["status"] == "bagged").all()


def test_refit_save_load_and_select_is_bagged(tmp_path, pima, bagged_and_refit):
    _, X_test, _, _ = pima
    refit = bagged_and_refit[1]
    path = tmp_path / "model.joblib"
    joblib.dump(refit, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), refit.predict_proba(X_test)
    )
    assert _members(loaded) == _members(refit)
    assert loaded.ensemble_.refit_members == refit.ensemble_.refit_members
    # A reselected ensemble has no training rows to refit its members with.
    new = autoens.select(loaded, "single_best")
    assert set(_members(new).values()) == {3}
    assert (new.refit_["status"] == "bagged").all()
    assert new.refit_["note"].str.contains("refit_members").all()
    assert not new.leaderboard_["refit"].any()
    assert (refit.refit_["status"] == "refit").all()  # the original is untouched
    assert set(_members(refit).values()) == {1}


def test_regressor_refit_and_cv_plus_intervals():
    X, y = load_sklearn("diabetes")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    kwargs = {"n_trials": 4, "cv": 3, "learners": ["ridge", "hist_gb"], "n_jobs": 1}
    bagged = AutoEnsembleRegressor(**kwargs, random_state=0).fit(X_tr, y_tr)
    refit = AutoEnsembleRegressor(**kwargs, random_state=0, refit="members")
    refit.fit(X_tr, y_tr)
    assert set(_members(refit).values()) == {1}
    assert (refit.refit_["status"] == "refit").all()
    pred_bag, pred_refit = bagged.predict(X_te), refit.predict(X_te)
    assert np.abs(pred_bag - pred_refit).max() > 1e-6
    assert r2_score(y_te, pred_refit) > 0.3
    assert abs(r2_score(y_te, pred_refit) - r2_score(y_te, pred_bag)) < 0.1
    # CV+ needs the fold models: the refit model keeps them for its intervals.
    np.testing.assert_array_equal(
        refit.predict_interval(X_te, alpha=0.1), bagged.predict_interval(X_te, 0.1)
    )
    interval = refit.predict_interval(X_te, alpha=0.1)
    assert np.mean((interval[:, 0] <= y_te) & (y_te <= interval[:, 1])) > 0.75


# --- early stopping: fixed iterations = the mean of the fold models' --------------


def build_hgb_early(params, feature_types, random_state):
    model = HistGradientBoostingClassifier(
        learning_rate=params["learning_rate"],
        max_iter=300,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        random_state=random_state,
    )
    return _pipeline(tree_preprocessor(feature_types), model)


def build_mlp_early(params, feature_types, random_state):
    model = MLPClassifier(
        hidden_layer_sizes=(16,),
        learning_rate_init=params["learning_rate_init"],
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        max_iter=200,
        random_state=random_state,
    )
    return _pipeline(dense_preprocessor(feature_types), model)


HGB_EARLY = LearnerSpec(
    "hgb_early",
    build_hgb_early,
    {"learning_rate": CategoricalDistribution((0.3,))},
    {"learning_rate": 0.3},
    refit_params=fixed_iterations,
)
MLP_EARLY = LearnerSpec(
    "mlp_early",
    build_mlp_early,
    {"learning_rate_init": CategoricalDistribution((0.01,))},
    {"learning_rate_init": 0.01},
    refit_params=fixed_iterations,
)


@pytest.mark.parametrize(
    ("spec", "best"),
    [
        (HGB_EARLY, lambda m: m.n_iter_),
        (MLP_EARLY, lambda m: int(np.argmax(m.validation_scores_)) + 1),
    ],
)
def test_early_stopping_learner_refits_mean_iterations(pima, spec, best):
    X, _, y, _ = pima
    model = AutoEnsembleClassifier(
        n_trials=1, cv=3, learners=[spec], portfolio=None, random_state=0, n_jobs=1
    ).fit(X, y)
    (index,) = model.ensemble_.members
    folds = [fitted_core(m)[1] for m in model.ensemble_.fold_members[index]]
    assert all(f.early_stopping for f in folds)
    expected = round(float(np.mean([best(f) for f in folds])))
    (refit_model,) = model.refit_members(X, y).ensemble_.members[index]
    core = fitted_core(refit_model)[1]
    assert not core.early_stopping
    assert core.max_iter == expected
    assert core.n_iter_ == expected  # ran exactly that many iterations
    assert model.refit_["refit_params"].iloc[0]["max_iter"] == expected


def test_fixed_iterations_leaves_models_without_early_stopping(pima):
    X, _, y, _ = pima
    from autoens.space import DEFAULT_LEARNERS
    from autoens.tabular import TableSchema

    schema, frame = TableSchema.learn(X)
    spec = DEFAULT_LEARNERS["mlp"]
    model = spec.make({}, schema.feature_types, 0)
    fit_model(model, frame.iloc[:200], np.asarray(y)[:200])
    assert fixed_iterations([model]) == {}  # no early stopping in its folds
    hgb = DEFAULT_LEARNERS["hist_gb"].make({}, schema.feature_types, 0)
    fit_model(hgb, frame.iloc[:200], np.asarray(y)[:200])
    assert fixed_iterations([hgb]) == {"model__estimator__early_stopping": False}


# --- sample weights, time budget, failures -----------------------------------------


def test_refit_uses_the_fit_sample_weight(pima):
    X, X_test, y, _ = pima
    w = np.where(np.asarray(y) == np.asarray(y)[0], 3.0, 1.0)
    kwargs = {**FAST, "learners": ["logreg"], "n_trials": 2}
    model = AutoEnsembleClassifier(**kwargs, random_state=0).fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="not the data"):
        _clone_fitted(model).refit_members(X, y)  # the weights are part of the data
    model.refit_members(X, y, sample_weight=w)
    index = int(model.ensemble_.required[0])
    (refit_model,) = model.ensemble_.members[index]
    frame = model.schema_.transform(X_test)
    y_enc = np.searchsorted(model.classes_, np.asarray(y))
    params = model.library_.params[index]
    spec = autoens.space.DEFAULT_LEARNERS["logreg"]
    ft = model.schema_.feature_types
    weighted = spec.make(params, ft, model._seed)
    fit_model(weighted, model.schema_.transform(X), y_enc, w)
    plain = spec.make(params, ft, model._seed)
    fit_model(plain, model.schema_.transform(X), y_enc)
    got = refit_model.predict_proba(frame)
    np.testing.assert_array_equal(got, weighted.predict_proba(frame))
    assert np.abs(got - plain.predict_proba(frame)).max() > 1e-3


def test_time_budget_keeps_bagged_members_with_a_warning(pima):
    X, _, y, _ = pima
    model = AutoEnsembleClassifier(
        time_limit=5,
        trial_time_limit=10,
        n_trials=None,
        cv=2,
        learners=[sleepy_learner(1.0)],
        portfolio=None,
        refit="members",
        random_state=0,
        n_jobs=1,
    )
    start = time.monotonic()
    with pytest.warns(UserWarning, match="no time left within time_limit"):
        model.fit(X, y)
    assert time.monotonic() - start < 5 + 1.0
    assert (model.refit_["status"] == "timeout").all()
    assert set(_members(model).values()) == {2}
    assert (model.refit_["estimated_time"] >= 1.0).all()


def test_refit_members_time_limit_after_the_fact(pima, bagged_and_refit):
    X, X_test, y, _ = pima
    model = _clone_fitted(bagged_and_refit[0])
    before = model.predict_proba(X_test)
    with pytest.warns(UserWarning, match="no time left"):
        model.refit_members(X, y, time_limit=1e-6)
    assert (model.refit_["status"] == "timeout").all()
    np.testing.assert_array_equal(model.predict_proba(X_test), before)


class FailsOnAllRows(ClassifierMixin, BaseEstimator):
    """Fits on a CV fold but raises on more rows, like a learner that runs out of
    memory once it sees the whole training set."""

    def __init__(self, max_rows=400):
        self.max_rows = max_rows

    def fit(self, X, y):
        if len(X) > self.max_rows:
            raise MemoryError(f"{len(X)} rows are too many")
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))


def build_fails_on_all_rows(params, feature_types, random_state):
    return FailsOnAllRows(max_rows=params["max_rows"])


def test_crashing_refit_keeps_the_fold_models(pima):
    X, X_test, y, _ = pima  # 537 rows; a 2-fold training set has about 268
    spec = LearnerSpec(
        "fragile",
        build_fails_on_all_rows,
        {"max_rows": CategoricalDistribution((400,))},
        {"max_rows": 400},
    )
    kwargs = {"n_trials": 3, "cv": 2, "learners": ["logreg", spec], "n_jobs": 1}
    bagged = AutoEnsembleClassifier(**kwargs, random_state=1, selector="ges")
    bagged.fit(X, y)
    with pytest.warns(UserWarning, match="refit failed for trial"):
        bagged.refit_members(X, y)
    table = bagged.refit_.set_index("learner")
    failed = bagged.refit_[bagged.refit_["learner"] == "fragile"]
    assert len(failed) >= 1
    assert (failed["status"] == "failed").all()
    assert failed["note"].str.contains("MemoryError").all()
    assert (table.loc[["logreg"], "status"] == "refit").all()
    for i, models in bagged.ensemble_.members.items():
        learner = bagged.library_.learners[i]
        assert len(models) == (2 if learner == "fragile" else 1)
    assert np.isfinite(bagged.predict_proba(X_test)).all()


# --- CLI ------------------------------------------------------------------------------


def test_cli_fit_refit(tmp_path, capsys):
    X, y = load_keel("pima")
    frame = X.iloc[:300].copy()
    frame["class"] = y.iloc[:300].to_numpy()
    train = tmp_path / "train.csv"
    frame.to_csv(train, index=False)
    out = tmp_path / "model.skops"
    argv = ["fit", str(train), "--target", "class", "--out", str(out), "--refit"]
    argv += ["--calibration", "temperature", "--max-predict-time", "100"]
    argv += ["--n-trials", "3", "--cv", "2", "--n-jobs", "1", "--seed", "0"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    from autoens import load

    estimator = load(out)
    assert estimator.refit == "members"
    assert (estimator.refit_["status"] == "refit").all()
    assert set(_members(estimator).values()) == {1}
    assert estimator.max_predict_time == 100 and estimator.predict_time_1k_ <= 100
    n = len(estimator.refit_)
    assert f"refit: {n} of {n} members retrained on all rows" in printed
    assert estimator.calibration_ == "temperature"
    assert "calibration: temperature; out-of-fold log loss" in printed


# --- the fast prediction path ------------------------------------------------------


def _with_missing(X, seed=0):
    """``X`` with about 10 % of its values missing, numeric and categorical."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    for col in X.columns:
        mask = rng.random(len(X)) < 0.1
        X.loc[mask, col] = np.nan
    return X


@pytest.mark.parametrize("name", ["crx", "pima"])
def test_fast_path_predicts_as_scikit_learn_does(name):
    X, y = load_keel(name)
    X = _with_missing(X)
    model = AutoEnsembleClassifier(
        n_trials=6,
        cv=2,
        learners=["logreg", "hist_gb", "random_forest", "extra_trees", "knn"],
        keep_models="all",
        random_state=0,
        n_jobs=1,
    ).fit(X, y)
    frame = model.schema_.transform(X.iloc[:150])
    lib = model.library_
    models = lib.fold_models(range(len(lib)))
    learners = set()
    for i, fold_models in models.items():
        learners.add(lib.learners[i])
        for fold_model in fold_models:
            ours = predict_member([fold_model], frame, lib.task)  # the fast path
            theirs = lib.task.predict(fold_model, frame)  # scikit-learn's pipeline
            np.testing.assert_array_equal(ours, theirs.astype(np.float32))
            # and the stacked features equal the ColumnTransformer's, exactly
            final, Xt = fast_predict_input(fold_model, frame, {})
            expected = fold_model.steps[0][1].transform(frame)
            if hasattr(expected, "toarray"):
                expected, Xt = expected.toarray(), Xt.toarray()
            np.testing.assert_array_equal(Xt, expected)
            assert final is fold_model.steps[-1][1]
    assert {"random_forest", "extra_trees", "hist_gb", "logreg"} <= learners


def test_forest_fast_path_equals_forest_predict():
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier

    from autoens.space.wrappers import _forest_output

    X, y = load_keel("pima")
    X = _with_missing(X).to_numpy(dtype=np.float64)
    clf = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    np.testing.assert_array_equal(
        _forest_output(clf, X, "predict_proba"), clf.predict_proba(X)
    )
    reg = ExtraTreesRegressor(n_estimators=30, random_state=0)
    reg.fit(np.nan_to_num(X), np.arange(len(X), dtype=np.float64) % 7)
    np.testing.assert_array_equal(
        _forest_output(reg, np.nan_to_num(X), "predict"), reg.predict(np.nan_to_num(X))
    )


@pytest.mark.parametrize("refit", [None, "members"])
def test_single_rows_predict_as_the_batch(refit):
    X, y = load_keel("crx")
    X = _with_missing(X, seed=1)
    model = AutoEnsembleClassifier(
        n_trials=5,
        cv=2,
        learners=["logreg", "hist_gb", "random_forest"],
        refit=refit,
        random_state=0,
        n_jobs=1,
    ).fit(X, y)
    rows = X.iloc[:25]
    batch = model.predict_proba(rows)
    one_by_one = np.vstack([model.predict_proba(rows.iloc[[i]]) for i in range(25)])
    np.testing.assert_allclose(one_by_one, batch, rtol=0, atol=1e-12)
    assert isinstance(one_by_one, np.ndarray) and batch.dtype == np.float64
    assert pd.Series(model.predict(rows)).isin(model.classes_).all()
