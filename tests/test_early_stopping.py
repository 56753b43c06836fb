"""Early stopping of LightGBM / XGBoost inside the CV folds, and the refit rule
that replaces it when a configuration is retrained on all rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_squared_error

from autoens import AutoEnsembleClassifier
from autoens.datasets import load_keel, load_sklearn
from autoens.search.evaluate import evaluate_config
from autoens.space import DEFAULT_LEARNERS, fit_model, get_learners
from autoens.space import wrappers as W
from autoens.space.refit import fitted_core, fixed_iterations, fold_iterations
from autoens.space.wrappers import early_stopping_rounds, validation_split
from autoens.tabular import TableSchema
from autoens.task import ClassificationTask, RegressionTask

BOOSTERS = ["lightgbm", "xgboost"]
OVERFIT = {"n_estimators": 1000, "learning_rate": 0.3}


def _table(name):
    X, y = load_keel(name)
    schema, frame = TableSchema.learn(X)
    task, encoded = ClassificationTask.from_target(y)
    return schema.feature_types, frame, encoded, task


@pytest.fixture(scope="module")
def crx():
    """653 rows, numeric and categorical columns, binary."""
    return _table("crx")


@pytest.fixture(scope="module")
def pima():
    return _table("pima")


def _fitted(name, params, data, rows=None, sample_weight=None, task=ClassificationTask):
    ft, frame, y, _ = data
    rows = np.arange(len(y)) if rows is None else rows
    spec = {s.name: s for s in get_learners([name], task=task)}[name]
    model = spec.make(params, ft, 0)
    w = None if sample_weight is None else sample_weight[rows]
    fit_model(model, frame.iloc[rows], y[rows], w)
    wrapper = model.named_steps["model"]
    Xt = model.named_steps["prep"].transform(frame.iloc[rows])
    return model, wrapper, Xt


def _proba_at(core, Xt, rounds):
    """The booster's probabilities using its first ``rounds`` rounds."""
    if hasattr(core, "booster_"):  # LightGBM
        return core.predict_proba(Xt, num_iteration=rounds)
    return core.predict_proba(Xt, iteration_range=(0, rounds))


@pytest.mark.parametrize("name", BOOSTERS)
def test_overfitting_config_stops_early_and_predicts_its_best_round(crx, name):
    model, wrapper, Xt = _fitted(name, OVERFIT, crx)
    n = len(crx[2])
    assert wrapper.n_validation_ == int(np.ceil(W.ES_VALIDATION_FRACTION * n))
    best = fold_iterations(model)
    core = wrapper.estimator_
    scores = core.evals_result_ if name == "lightgbm" else core.evals_result()
    (ran,) = {len(v) for metrics in scores.values() for v in metrics.values()}
    # It stopped patience rounds after its best, far below the 1000-round ceiling.
    assert best < ran == best + early_stopping_rounds(0.3) < 1000
    # Predictions are those of the best round, not of every round run (LightGBM
    # keeps only the trees up to its best round; XGBoost keeps them all).
    proba = model.predict_proba(crx[1])
    np.testing.assert_allclose(proba, _proba_at(core, Xt, best), rtol=1e-6)
    if name == "lightgbm":
        assert core.n_iter_ == best
    else:
        assert core.get_booster().num_boosted_rounds() == ran
        assert np.abs(proba - _proba_at(core, Xt, ran)).max() > 1e-3


def test_validation_rows_are_a_stratified_part_of_the_rows_fit_sees(pima):
    """The split is carved from the rows given to fit (a fold's training part): the
    loss LightGBM stopped on is the loss of exactly those rows."""
    y = pima[2]
    rows = np.random.default_rng(0).permutation(len(y))[:600]
    _, wrapper, Xt = _fitted("lightgbm", OVERFIT, pima, rows)
    train, val = validation_split(600, y[rows], random_state=0)
    assert len(val) == wrapper.n_validation_ == 60 and len(train) == 540
    assert np.intersect1d(train, val).size == 0
    # Stratified: the class shares of the validation rows match the fit rows'.
    share = np.bincount(y[rows][val]) / len(val)
    np.testing.assert_allclose(share, np.bincount(y[rows]) / 600, atol=0.01)
    core = wrapper.estimator_
    best = core.best_iteration_
    stopped_on = core.best_score_["valid_0"]["binary_logloss"]
    expected = log_loss(y[rows][val], _proba_at(core, Xt[val], best))
    assert stopped_on == pytest.approx(expected, rel=1e-6)
    other = np.setdiff1d(np.arange(600), val)[:60]
    assert log_loss(y[rows][other], _proba_at(core, Xt[other], best)) != (
        pytest.approx(stopped_on, rel=1e-3)
    )


@pytest.mark.parametrize("name", BOOSTERS)
def test_each_fold_model_stops_on_its_own_training_part(pima, name):
    ft, frame, y, task = pima
    folds = task.make_folds(frame, y, n_splits=3, random_state=0)
    result = evaluate_config(
        DEFAULT_LEARNERS[name], OVERFIT, frame, y, folds.splits, ft, task, 0
    )
    assert result.status == "ok", result.error
    for model, (train, _) in zip(result.models, folds.splits, strict=True):
        wrapper = model.named_steps["model"]
        assert wrapper.n_validation_ == int(np.ceil(0.1 * len(train)))
        assert 1 <= fold_iterations(model) < 1000


def test_validation_split_falls_back_when_the_rows_cannot_support_it():
    y = np.repeat([0, 1], [400, 200])
    train, val = validation_split(600, y, 0)
    assert len(val) == 60 and np.bincount(y[val]).tolist() == [40, 20]
    assert np.array_equal(np.sort(np.r_[train, val]), np.arange(600))
    assert validation_split(W.ES_MIN_ROWS - 1, y[: W.ES_MIN_ROWS - 1], 0) is None
    one_row_class = np.r_[np.zeros(599, dtype=np.int64), 1]
    assert validation_split(600, one_row_class, 0) is None
    many_classes = np.repeat(np.arange(100), 6)  # 60 validation rows < 100 classes
    assert validation_split(600, many_classes, 0) is None
    # Regression: a random split, seeded.
    _, val = validation_split(600, None, 3)
    assert len(val) == 60 and np.array_equal(val, validation_split(600, None, 3)[1])
    assert not np.array_equal(val, validation_split(600, None, 4)[1])


@pytest.mark.parametrize("name", BOOSTERS)
def test_tiny_or_one_class_data_runs_every_round(crx, name):
    params = {"n_estimators": 50, "learning_rate": 0.3}
    model, wrapper, _ = _fitted(name, params, crx, np.arange(200))
    assert wrapper.n_validation_ == 0
    assert fold_iterations(model) == 50
    assert fixed_iterations([model]) == {"model__early_stopping": False}
    y = crx[2]
    one_class = np.flatnonzero(y == 0)
    model, wrapper, _ = _fitted(name, params, crx, one_class)
    assert wrapper.estimator_ is None and fold_iterations(model) is None
    assert np.all(model.predict_proba(crx[1].iloc[:5]) == 1.0)


@pytest.mark.parametrize("name", BOOSTERS)
def test_sample_weight_is_split_with_the_rows(crx, name):
    y = crx[2]
    w = np.where(np.arange(len(y)) % 3 == 0, 4.0, 1.0)
    _, wrapper, Xt = _fitted(name, OVERFIT, crx, sample_weight=w)
    _, val = validation_split(len(y), y, 0)
    core = wrapper.estimator_
    if name == "lightgbm":
        best, stopped_on = core.best_iteration_, core.best_score_["valid_0"]
        stopped_on = stopped_on["binary_logloss"]
    else:
        best = core.best_iteration + 1
        stopped_on = core.evals_result()["validation_0"]["logloss"][best - 1]
    proba = _proba_at(core, Xt[val], best)
    weighted = log_loss(y[val], proba, sample_weight=w[val])
    assert stopped_on == pytest.approx(weighted, rel=1e-5)
    assert stopped_on != pytest.approx(log_loss(y[val], proba), rel=1e-4)


def test_lightgbm_keeps_its_categorical_columns(crx):
    """The early-stopped fit is LightGBM's own fit on the split, categorical
    columns included: a hand-made one gives the same predictions."""
    from lightgbm import LGBMClassifier, early_stopping

    ft, frame, y, _ = crx
    model, wrapper, Xt = _fitted("lightgbm", OVERFIT, crx)
    categorical = wrapper.fit_params["categorical_feature"]
    assert len(categorical) == len(ft.categorical) > 0
    train, val = validation_split(len(y), y, 0)
    by_hand = LGBMClassifier(**wrapper.estimator.get_params()).fit(
        Xt[train],
        y[train],
        categorical_feature=categorical,
        eval_X=(Xt[val],),
        eval_y=(y[val],),
        callbacks=[early_stopping(early_stopping_rounds(0.3), verbose=False)],
    )
    assert by_hand.best_iteration_ == wrapper.estimator_.best_iteration_
    np.testing.assert_array_equal(by_hand.predict_proba(Xt), model.predict_proba(frame))
    tree = wrapper.estimator_.booster_.dump_model()["tree_info"][0]["tree_structure"]
    assert "decision_type" in tree  # a real tree, not a stump of constants


@pytest.fixture(scope="module")
def phoneme_regression():
    """Phoneme's first column predicted from the other four (1500 real rows)."""
    X, _ = load_keel("phoneme")
    X = X.iloc[:1500].reset_index(drop=True)
    schema, frame = TableSchema.learn(X.iloc[:, 1:])
    task, y = RegressionTask.from_target(X.iloc[:, 0].to_numpy())
    return schema.feature_types, frame, y, task


@pytest.mark.parametrize("name", BOOSTERS)
def test_regression_stops_early_on_a_random_split(phoneme_regression, name):
    _, frame, y, _ = phoneme_regression
    model, wrapper, Xt = _fitted(name, OVERFIT, phoneme_regression, task=RegressionTask)
    assert wrapper.n_validation_ == 150
    best = fold_iterations(model)
    assert 1 <= best < 1000 - early_stopping_rounds(0.3)
    core = wrapper.estimator_
    _, val = validation_split(len(y), None, 0)
    target = (y - wrapper.y_mean_) / wrapper.y_scale_
    if name == "lightgbm":
        stopped_on = core.best_score_["valid_0"]["l2"]
        pred = core.predict(Xt[val], num_iteration=best)
    else:
        stopped_on = core.evals_result()["validation_0"]["rmse"][best - 1] ** 2
        pred = core.predict(Xt[val], iteration_range=(0, best))
    assert stopped_on == pytest.approx(mean_squared_error(target[val], pred), rel=1e-4)
    np.testing.assert_allclose(
        model.predict(frame.iloc[val]),
        pred * wrapper.y_scale_ + wrapper.y_mean_,
        rtol=1e-5,
    )
    # Too few rows for a split: every round.
    X, y_small = load_sklearn("diabetes")
    spec = get_learners([name], task=RegressionTask)[0]
    small = spec.make({"n_estimators": 50}, TableSchema.learn(X)[0].feature_types, 0)
    fit_model(small, X, y_small.to_numpy())
    assert small.named_steps["model"].n_validation_ == 0
    assert fold_iterations(small) == 50


def test_fold_iterations_of_every_kind(pima):
    rows = np.arange(300)
    hgb, _, _ = _fitted("hist_gb", {"max_iter": 37}, pima, rows)
    assert fold_iterations(hgb) == 37 == fitted_core(hgb)[1].n_iter_
    mlp, _, _ = _fitted("mlp", {}, pima, rows)
    assert fold_iterations(mlp) == fitted_core(mlp)[1].n_iter_
    logreg, _, _ = _fitted("logreg", {}, pima, rows)
    assert fold_iterations(logreg) is None
    xgb, wrapper, _ = _fitted("xgboost", OVERFIT, pima)
    assert fold_iterations(xgb) == wrapper.estimator_.best_iteration + 1
    lgbm, wrapper, _ = _fitted("lightgbm", OVERFIT, pima)
    assert fold_iterations(lgbm) == wrapper.estimator_.best_iteration_


@pytest.mark.parametrize("name", BOOSTERS)
def test_refit_trains_the_mean_best_rounds_without_a_split(pima, name):
    ft, frame, y, task = pima
    folds = task.make_folds(frame, y, n_splits=3, random_state=0)
    spec = DEFAULT_LEARNERS[name]
    result = evaluate_config(spec, OVERFIT, frame, y, folds.splits, ft, task, 0)
    best = [fold_iterations(m) for m in result.models]
    expected = max(1, round(float(np.mean(best))))
    overrides = fixed_iterations(result.models)
    assert overrides == {
        "model__estimator__n_estimators": expected,
        "model__early_stopping": False,
    }
    refit = spec.make_refit(OVERFIT, ft, 0, result.models)
    fit_model(refit, frame, y)
    assert refit.named_steps["model"].n_validation_ == 0
    assert fold_iterations(refit) == expected  # ran exactly that many rounds


def test_refit_members_of_a_fitted_classifier(pima):
    _, frame, y, _ = pima
    model = AutoEnsembleClassifier(
        n_trials=2,
        cv=3,
        learners=["lightgbm"],
        portfolio=[("lightgbm", OVERFIT), ("lightgbm", {"n_estimators": 500})],
        random_state=0,
        n_jobs=1,
        refit="members",
    ).fit(frame, y)
    assert (model.refit_["status"] == "refit").all()
    for index, (refit_model,) in model.ensemble_.members.items():
        folds = model.ensemble_.fold_members[index]
        mean = round(float(np.mean([fold_iterations(m) for m in folds])))
        assert fold_iterations(refit_model) == mean < 500
        assert refit_model.named_steps["model"].n_validation_ == 0
    shown = model.refit_["refit_params"].iloc[0]
    assert set(shown) == {"n_estimators", "early_stopping"}


def test_hist_gb_auto_stops_early_from_the_booster_row_count(pima):
    y = pima[2]
    n = W.HGB_EARLY_STOPPING_ROWS
    small, _, _ = _fitted("hist_gb", {"max_iter": 300}, pima, np.arange(n - 1))
    assert not fitted_core(small)[1].do_early_stopping_
    assert fold_iterations(small) == 300
    big, _, _ = _fitted("hist_gb", {"max_iter": 300}, pima, np.arange(len(y)))
    core = fitted_core(big)[1]
    assert core.do_early_stopping_ and core.n_iter_ < 300
    assert fixed_iterations([small, big]) == {
        "model__estimator__max_iter": round((300 + core.n_iter_) / 2),
        "model__estimator__early_stopping": False,
    }


@pytest.mark.parametrize("wrapper", [W.SafeClassifier, W.SafeRegressor])
def test_a_wrapper_pickled_before_early_stopping_existed_still_works(wrapper):
    """A fold model from an older cache has no ``early_stopping`` attribute: get_params,
    clone, repr and fit read the class default (off)."""
    import pickle

    from sklearn.base import clone
    from sklearn.linear_model import LinearRegression, LogisticRegression

    core = LogisticRegression() if wrapper is W.SafeClassifier else LinearRegression()
    old = wrapper(core)
    del old.__dict__["early_stopping"]  # as unpickled from before the parameter
    old = pickle.loads(pickle.dumps(old))
    assert old.get_params()["early_stopping"] is False
    assert repr(old).startswith(wrapper.__name__)  # it raised AttributeError
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.arange(10) % 2
    clone(old).fit(X, y)
    assert old.fit(X, y).n_validation_ == 0
