"""Regression learners: every spec on real data, tiny folds, sampled configurations,
the SafeRegressor wrapper, and resolving learners and portfolios by task family."""

from __future__ import annotations

import importlib
import pickle
from typing import Any

import joblib
import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.datasets import load_diabetes
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_info

from autoens.search.evaluate import evaluate_config
from autoens.space import (
    DEFAULT_LEARNERS,
    DEFAULT_PORTFOLIO,
    DEFAULT_REGRESSION_PORTFOLIO,
    DEFAULT_REGRESSORS,
    FeatureTypes,
    LearnerSpec,
    default_learners,
    get_learners,
    get_portfolio,
    suggest,
)
from autoens.space.wrappers import SafeRegressor
from autoens.task import ClassificationTask, RegressionTask

REGRESSOR_NAMES = [
    "ridge",
    "elastic_net",
    "random_forest",
    "extra_trees",
    "hist_gb",
    "knn",
    "mlp",
    "lightgbm",
    "xgboost",
]
SHARED = [
    "random_forest",
    "extra_trees",
    "hist_gb",
    "knn",
    "mlp",
    "lightgbm",
    "xgboost",
]
SPECS = {spec.name: spec for spec in get_learners(task=RegressionTask)}
UNSEEN = "zz_never_seen_in_training"


def inside(dist: BaseDistribution, value: Any) -> bool:
    """Independent membership check (does not reuse the library's helper)."""
    if isinstance(dist, CategoricalDistribution):
        return any(type(value) is type(c) and value == c for c in dist.choices)
    if isinstance(dist, IntDistribution):
        return (
            type(value) is int
            and dist.low <= value <= dist.high
            and (value - dist.low) % dist.step == 0
        )
    assert isinstance(dist, FloatDistribution)
    return isinstance(value, float) and dist.low <= value <= dist.high


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - np.mean((y - pred) ** 2) / np.var(y))


# ------------------------------------------------------------------------ data


def _as_object(values: Any) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


@pytest.fixture(scope="module")
def diabetes():
    data = load_diabetes(as_frame=True)
    X = data.data.astype("float64")
    y = data.target.to_numpy(dtype=np.float64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    return X_train, X_test, y_train, y_test, FeatureTypes(numeric=tuple(X.columns))


@pytest.fixture(scope="module")
def mixed():
    """Diabetes with sex as strings, a binned and a noise column (both strings), 5 %
    NaN/None everywhere, and levels in the test rows that training never saw."""
    rng = np.random.default_rng(0)
    data = load_diabetes(as_frame=True)
    X = data.data.astype("float64").drop(columns="sex")
    numeric = tuple(X.columns)
    X = X.mask(rng.random(X.shape) < 0.05)
    sex = np.where(data.data["sex"] > 0, "F", "M").astype(object)
    binned = np.asarray(
        pd.qcut(data.data["bmi"], 4, labels=["lo", "mid", "hi", "top"]).astype(str),
        dtype=object,
    )
    noise = rng.choice(np.array(list("abcde"), dtype=object), len(X))
    for column in (sex, binned, noise):
        column[rng.random(len(X)) < 0.05] = None
    X["sex"], X["binned"], X["noise"] = map(_as_object, (sex, binned, noise))
    y = data.target.to_numpy(dtype=np.float64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=1)
    X_test = X_test.copy()
    X_test.iloc[:5, X_test.columns.get_loc("binned")] = UNSEEN
    X_test.iloc[3:8, X_test.columns.get_loc("noise")] = UNSEEN
    ft = FeatureTypes(numeric=numeric, categorical=("sex", "binned", "noise"))
    return X_train, X_test, y_train, y_test, ft


# ------------------------------------------------------------------ catalogue


def test_regression_catalogue():
    assert list(DEFAULT_REGRESSORS) == REGRESSOR_NAMES
    assert list(SPECS) == REGRESSOR_NAMES  # every library imports here
    assert all(spec.family == "regression" for spec in SPECS.values())
    assert all(s.family == "classification" for s in DEFAULT_LEARNERS.values())
    # A model family keeps its name across task families.
    assert set(SHARED) == set(DEFAULT_LEARNERS) & set(DEFAULT_REGRESSORS)
    assert default_learners(RegressionTask()) is DEFAULT_REGRESSORS
    assert default_learners() is DEFAULT_LEARNERS


@pytest.mark.parametrize("name", REGRESSOR_NAMES)
def test_defaults_inside_distributions(name):
    spec = SPECS[name]
    assert set(spec.defaults) == set(spec.distributions)
    for hp, value in spec.defaults.items():
        assert inside(spec.distributions[hp], value), (hp, value)


@pytest.mark.parametrize("name", ["hist_gb", "knn", "mlp", "lightgbm", "xgboost"])
def test_same_space_as_the_classifier(name):
    """Where the model is the same, so is the search space (and its defaults)."""
    assert SPECS[name].distributions == DEFAULT_LEARNERS[name].distributions
    assert SPECS[name].defaults == DEFAULT_LEARNERS[name].defaults


# -------------------------------------------------------- learners on real data


@pytest.mark.parametrize("name", REGRESSOR_NAMES)
def test_regressor_defaults_on_diabetes(name, diabetes, tmp_path):
    X_train, X_test, y_train, y_test, ft = diabetes
    est = SPECS[name].make({}, ft, random_state=0).fit(X_train, y_train)
    pred = est.predict(X_test)
    assert pred.shape == (len(X_test),) and pred.dtype == np.float64
    assert np.isfinite(pred).all()
    # Diabetes is noisy: linear models reach R² ~0.35 here, defaults with the capacity
    # to overfit 330 rows (XGBoost's depth-6 trees at rate 0.3) barely beat the mean.
    assert r2(y_test, pred) > (0.3 if name in ("ridge", "elastic_net") else 0.0)
    column = RegressionTask().predict(est, X_test)
    assert column.shape == (len(X_test), 1)
    # Same seed, same model; a saved model predicts the same.
    again = SPECS[name].make({}, ft, random_state=0).fit(X_train, y_train)
    np.testing.assert_array_equal(again.predict(X_test), pred)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    np.testing.assert_array_equal(joblib.load(path).predict(X_test), pred)


@pytest.mark.parametrize("name", REGRESSOR_NAMES)
def test_regressor_mixed_data(name, mixed):
    X_train, X_test, y_train, y_test, ft = mixed
    est = SPECS[name].make({}, ft, random_state=0).fit(X_train, y_train)
    pred = est.predict(X_test)
    assert pred.shape == (len(X_test),) and np.isfinite(pred).all()
    assert r2(y_test, pred) > (0.3 if name in ("ridge", "elastic_net") else 0.0)
    # pandas' own string dtype (default in pandas 3) works like object columns.
    as_str = {"sex": "string", "binned": "string", "noise": "string"}
    est = SPECS[name].make({}, ft, 0).fit(X_train.astype(as_str), y_train)
    np.testing.assert_allclose(est.predict(X_test.astype(as_str)), pred, rtol=1e-6)


@pytest.mark.parametrize("name", REGRESSOR_NAMES)
def test_regressor_numeric_only_and_categorical_only(name, mixed):
    X_train, X_test, y_train, _, ft = mixed
    numeric_only = FeatureTypes(numeric=ft.numeric)
    cols = list(ft.numeric)
    est = SPECS[name].make({}, numeric_only, 0).fit(X_train[cols], y_train)
    assert np.isfinite(est.predict(X_test[cols])).all()
    cat_only = FeatureTypes(categorical=ft.categorical)
    cols = list(ft.categorical)
    est = SPECS[name].make({}, cat_only, 0).fit(X_train[cols], y_train)
    pred = est.predict(X_test[cols])
    assert pred.shape == (len(X_test),) and np.isfinite(pred).all()


@pytest.mark.parametrize("name", REGRESSOR_NAMES)
@pytest.mark.parametrize("n_rows", [1, 2, 3, 7])
def test_regressor_tiny_folds(name, n_rows, mixed):
    """Folds smaller than the settings (k=50, 20-row leaves) must not raise."""
    X_train, X_test, y_train, _, ft = mixed
    params = {"n_neighbors": 50} if name == "knn" else {}
    est = SPECS[name].make(params, ft, 0).fit(X_train.iloc[:n_rows], y_train[:n_rows])
    pred = est.predict(X_test)
    assert pred.shape == (len(X_test),) and np.isfinite(pred).all()
    if n_rows == 1:
        np.testing.assert_array_equal(pred, y_train[0])


@pytest.mark.parametrize("name", REGRESSOR_NAMES)
def test_regressor_constant_target(name, mixed):
    X_train, X_test, _, _, ft = mixed
    y = np.full(30, 151.5)
    est = SPECS[name].make({}, ft, 0).fit(X_train.iloc[:30], y)
    np.testing.assert_array_equal(est.predict(X_test), 151.5)


@pytest.mark.parametrize("name", REGRESSOR_NAMES)
def test_regressor_random_configurations(name, mixed):
    """Configurations sampled from the whole space fit and predict (small data)."""
    X_train, X_test, y_train, _, ft = mixed
    spec = SPECS[name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for k in range(4):
        trial = study.ask()
        learner, params = suggest(trial, [spec])
        assert learner == name
        for hp, value in params.items():
            assert inside(spec.distributions[hp], value), (hp, value)
        est = spec.make(params, ft, random_state=k).fit(
            X_train.iloc[:120], y_train[:120]
        )
        pred = est.predict(X_test.iloc[:40])
        assert pred.shape == (40,) and np.isfinite(pred).all(), params
        study.tell(trial, 0.0)


@pytest.mark.parametrize("name", REGRESSOR_NAMES)
def test_regressor_single_threaded_and_seeded(name, diabetes):
    ft = diabetes[4]
    est = SPECS[name].make({}, ft, random_state=123)
    assert isinstance(est.named_steps["model"], SafeRegressor)
    model = est.named_steps["model"].estimator
    params = model.get_params()
    if "n_jobs" in params:
        assert params["n_jobs"] == 1
    else:  # no knob: the wrapper's thread limit is what keeps them on one thread
        assert name in ("ridge", "elastic_net", "hist_gb", "mlp")
    if name != "knn":
        assert params["random_state"] == 123


def test_cross_validated_through_the_task(mixed):
    """What the search runs per trial: OOF values as a (n, 1) float32 column."""
    X_train, _, y_train, _, ft = mixed
    X = X_train.reset_index(drop=True)
    task, y = RegressionTask.from_target(y_train)
    folds = task.make_folds(X, y, n_splits=3, random_state=0)
    result = evaluate_config(
        SPECS["lightgbm"], {}, X, y, folds.splits, ft, task, random_state=0
    )
    assert result.status == "ok", result.error
    assert result.oof.shape == (len(y), 1) and result.oof.dtype == np.float32
    assert r2(y, result.oof[:, 0]) > 0.2 and len(result.models) == 3


# ------------------------------------------------------------------ the wrapper


class _Probe(DummyRegressor):
    """Records the threads it may use and the target it is given."""

    def fit(self, X, y, sample_weight=None):
        self.threads_ = {i["num_threads"] for i in threadpool_info()}
        self.y_seen_ = np.array(y, copy=True)
        return super().fit(X, y, sample_weight)


def test_safe_regressor_one_thread_and_standardised_target():
    y = np.array([10.0, 20.0, 30.0, 40.0, 60.0])
    est = SafeRegressor(_Probe()).fit(np.zeros((5, 2)), y)
    assert est.estimator_.threads_ == {1}
    seen = est.estimator_.y_seen_
    assert seen.mean() == pytest.approx(0.0, abs=1e-12)
    assert seen.std() == pytest.approx(1.0)
    np.testing.assert_allclose(est.predict(np.zeros((3, 2))), y.mean())
    raw = SafeRegressor(_Probe(), standardize_target=False).fit(np.zeros((5, 2)), y)
    np.testing.assert_array_equal(raw.estimator_.y_seen_, y)


@pytest.mark.parametrize(
    "model",
    [
        ElasticNet(alpha=0.01),
        MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0),
    ],
    ids=["elastic_net", "mlp"],
)
def test_scale_free_target(model, diabetes):
    """The wrapped model sees a unit-scale target: predictions follow an affine change
    of units exactly, so one search space fits every target scale."""
    X_train, X_test, y_train, _, _ = diabetes
    small = SafeRegressor(model).fit(X_train, y_train).predict(X_test)
    big = SafeRegressor(model).fit(X_train, 1e6 * y_train + 3e7).predict(X_test)
    np.testing.assert_allclose(big, 1e6 * small + 3e7, rtol=1e-6)


def test_safe_regressor_shrinks_what_tiny_folds_cannot_support(diabetes):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.neighbors import KNeighborsRegressor

    X_train, X_test, y_train, _, _ = diabetes
    for model in (
        MLPRegressor(
            hidden_layer_sizes=(8,), early_stopping=True, max_iter=20, random_state=0
        ),
        HistGradientBoostingRegressor(early_stopping=True, max_iter=5),
        KNeighborsRegressor(n_neighbors=30),
    ):
        est = SafeRegressor(model).fit(X_train.iloc[:6], y_train[:6])
        assert np.isfinite(est.predict(X_test)).all()
        assert est.estimator.get_params() == model.get_params()  # clone changed only
    # A split that can work is left alone.
    est = SafeRegressor(
        MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=20)
    ).fit(X_train, y_train)
    assert est.estimator_.early_stopping is True


# ------------------------------------------------------- resolving by task family


def build_dummy_regressor(params, feature_types, random_state):
    return DummyRegressor(strategy=params["strategy"])


DUMMY_REG = LearnerSpec(
    name="dummy",
    build=build_dummy_regressor,
    distributions={"strategy": CategoricalDistribution(("mean", "median"))},
    defaults={"strategy": "mean"},
    family="regression",
)


@pytest.mark.parametrize("task", [RegressionTask, RegressionTask()])
def test_get_learners_by_task(task):
    assert [s.name for s in get_learners(None, task=task)] == REGRESSOR_NAMES
    specs = get_learners(["lightgbm", DUMMY_REG, "ridge"], task=task)
    assert [s.name for s in specs] == ["lightgbm", "dummy", "ridge"]
    assert specs[0] is DEFAULT_REGRESSORS["lightgbm"]
    assert specs[0] is not DEFAULT_LEARNERS["lightgbm"]
    assert specs[1] is DUMMY_REG


def test_get_learners_without_task_is_classification():
    assert get_learners() == list(DEFAULT_LEARNERS.values())
    assert get_learners(["lightgbm"])[0] is DEFAULT_LEARNERS["lightgbm"]
    classes = ClassificationTask(classes=np.array([0, 1]))
    assert get_learners(["knn"], task=classes)[0] is DEFAULT_LEARNERS["knn"]


@pytest.mark.parametrize(
    ("learners", "task", "match"),
    [
        (["ridge", "svr"], RegressionTask, r"unknown learner 'svr'.*elastic_net"),
        (["logreg"], RegressionTask, r"'logreg' \(a classification learner"),
        (["ridge"], None, r"'ridge' \(a regression learner.*logreg"),
        ([DEFAULT_LEARNERS["knn"]], RegressionTask, "classification LearnerSpec"),
        ([DUMMY_REG], None, "regression LearnerSpec, but this is a classification"),
        (["ridge", "ridge"], RegressionTask, "duplicate"),
        ([], RegressionTask, "empty"),
        (["ridge"], "regression", "family"),
    ],
)
def test_get_learners_errors_by_task(learners, task, match):
    with pytest.raises(ValueError, match=match):
        get_learners(learners, task=task)


def test_learner_spec_family():
    assert LearnerSpec("d", build_dummy_regressor, {}, {}).family == "classification"
    with pytest.raises(ValueError, match="family must be one of"):
        LearnerSpec("d", build_dummy_regressor, {}, {}, family="ranking")
    clone = pickle.loads(pickle.dumps(DUMMY_REG))
    assert clone.family == "regression" and clone == DUMMY_REG
    # A spec pickled before specs had a family loads as a classifier.
    old = LearnerSpec("old", build_dummy_regressor, {}, {})
    del old.__dict__["family"]
    assert pickle.loads(pickle.dumps(old)).family == "classification"


def test_names_of_autoens_0_1_stay_importable():
    """Saved fold models and specs refer to these names in autoens.space.learners."""
    learners = importlib.import_module("autoens.space.learners")
    from autoens.space.preprocessing import clean_categories
    from autoens.space.wrappers import SafeClassifier

    assert learners._SafeClassifier is SafeClassifier
    assert learners._clean_categories is clean_categories
    for spec in DEFAULT_LEARNERS.values():
        assert getattr(learners, spec.build.__name__) is spec.build
    assert learners.MISSING_CATEGORY == "__missing__"


# ------------------------------------------------------------------ portfolio


def test_default_regression_portfolio():
    names = [name for name, _ in DEFAULT_REGRESSION_PORTFOLIO]
    assert names[: len(REGRESSOR_NAMES)] == [
        "ridge",
        "elastic_net",
        "hist_gb",
        "random_forest",
        "extra_trees",
        "lightgbm",
        "xgboost",
        "knn",
        "mlp",
    ]
    assert all(p == {} for _, p in DEFAULT_REGRESSION_PORTFOLIO[: len(names) // 2])
    for name, params in DEFAULT_REGRESSION_PORTFOLIO:
        for hp, value in params.items():
            assert inside(SPECS[name].distributions[hp], value), (name, hp, value)
    full = get_portfolio("default", get_learners(task=RegressionTask), RegressionTask)
    assert len(full) == len(DEFAULT_REGRESSION_PORTFOLIO)
    assert len({repr(config) for config in full}) == len(full)
    for name, params in full:
        assert set(params) == set(SPECS[name].distributions)


def test_get_portfolio_by_task():
    task = RegressionTask()
    specs = get_learners(["knn", "ridge"], task=task)
    configs = get_portfolio("default", specs, task=task)
    assert [name for name, _ in configs] == ["ridge", "knn", "ridge", "knn"]
    assert configs[2][1] == {"alpha": 10.0}
    # Without a task, the specs' own family decides (all regression here).
    assert get_portfolio("default", specs) == configs
    # Classification is unchanged, with or without its task.
    cls_specs = get_learners()
    classes = ClassificationTask(classes=np.array([0, 1]))
    assert get_portfolio("default", cls_specs, classes) == get_portfolio(
        "default", cls_specs
    )
    assert len(get_portfolio("default", cls_specs)) == len(DEFAULT_PORTFOLIO)
    assert get_portfolio([("knn", {"p": 1})], specs, task)[0] == (
        "knn",
        {"n_neighbors": 5, "weights": "uniform", "p": 1},
    )
    with pytest.raises(ValueError, match=r"learners \['knn'\] do not serve regression"):
        get_portfolio("default", get_learners(["knn"]), task)
    with pytest.raises(ValueError, match="outside its search space"):
        get_portfolio([("ridge", {"alpha": 0.0})], specs, task)
