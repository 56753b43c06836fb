"""Tests for autoens.space: learner specs, search spaces, portfolio."""

from __future__ import annotations

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
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_info

from autoens.space import (
    DEFAULT_PORTFOLIO,
    FeatureTypes,
    LearnerSpec,
    from_optuna_params,
    get_learners,
    get_portfolio,
    suggest,
    to_optuna_params,
)
from autoens.space.learners import _SafeClassifier

LEARNER_NAMES = [
    "logreg",
    "random_forest",
    "extra_trees",
    "hist_gb",
    "knn",
    "mlp",
    "lightgbm",
    "xgboost",
]
SPECS = {spec.name: spec for spec in get_learners()}
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


# ------------------------------------------------------------------------ data


def _as_object(values: Any) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _mixed(
    data: pd.DataFrame, y: np.ndarray, bin_column: str, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, FeatureTypes]:
    """Numeric data + 5 % NaN + two string columns, split; unseen levels in test."""
    rng = np.random.default_rng(seed)
    X = data.astype("float64").reset_index(drop=True)
    numeric = tuple(X.columns)
    X = X.mask(rng.random(X.shape) < 0.05)
    bins = pd.qcut(data[bin_column], 4, labels=["low", "mid", "high", "top"])
    binned = np.asarray(bins.astype(str), dtype=object)
    binned[rng.random(len(X)) < 0.05] = None
    noise = rng.choice(np.array(["a", "b", "c", "d", "e"], dtype=object), len(X))
    noise[rng.random(len(X)) < 0.05] = np.nan
    X["binned"] = _as_object(binned)
    X["noise"] = _as_object(noise)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    X_test = X_test.copy()
    X_test.iloc[:5, X_test.columns.get_loc("binned")] = UNSEEN
    X_test.iloc[3:8, X_test.columns.get_loc("noise")] = UNSEEN
    ft = FeatureTypes(numeric=numeric, categorical=("binned", "noise"))
    return X_train, X_test, y_train, y_test, ft


@pytest.fixture(scope="module")
def binary_data():
    data = load_breast_cancer(as_frame=True)
    return _mixed(data.data, data.target.to_numpy(), "mean radius", seed=0)


@pytest.fixture(scope="module")
def wine_data():
    data = load_wine(as_frame=True)
    return _mixed(data.data, data.target.to_numpy(), "alcohol", seed=1)


# -------------------------------------------------------- learners on real data


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_default_learners_all_available(name):
    assert name in SPECS
    assert list(SPECS) == LEARNER_NAMES


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_learner_binary_mixed_data(name, binary_data, tmp_path):
    X_train, X_test, y_train, y_test, ft = binary_data
    est = SPECS[name].make({}, ft, random_state=0).fit(X_train, y_train)
    np.testing.assert_array_equal(est.classes_, [0, 1])
    proba = est.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.95

    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    np.testing.assert_array_equal(joblib.load(path).predict_proba(X_test), proba)


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_learner_multiclass_mixed_data(name, wine_data):
    X_train, X_test, y_train, y_test, ft = wine_data
    est = SPECS[name].make({}, ft, random_state=0).fit(X_train, y_train)
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    proba = est.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert accuracy_score(y_test, est.predict(X_test)) > 0.8
    # Same seed, same model.
    again = SPECS[name].make({}, ft, random_state=0).fit(X_train, y_train)
    np.testing.assert_array_equal(again.predict_proba(X_test), proba)


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_learner_numeric_only_and_categorical_only(name, wine_data):
    X_train, X_test, y_train, _, ft = wine_data
    numeric_only = FeatureTypes(numeric=ft.numeric)
    est = SPECS[name].make({}, numeric_only, 0).fit(X_train[list(ft.numeric)], y_train)
    assert est.predict_proba(X_test[list(ft.numeric)]).shape == (len(X_test), 3)

    # Every wine feature turned into "hi"/"lo" strings: no numeric column at all.
    medians = X_train[list(ft.numeric)].median()

    def to_levels(X):
        levels = {
            c: _as_object(np.where(X[c] > medians[c], "hi", "lo")) for c in ft.numeric
        }
        return pd.DataFrame(levels).assign(
            binned=X["binned"].to_numpy(), noise=X["noise"].to_numpy()
        )

    cat_only = FeatureTypes(categorical=(*ft.numeric, "binned", "noise"))
    est = SPECS[name].make({}, cat_only, 0).fit(to_levels(X_train), y_train)
    proba = est.predict_proba(to_levels(X_test))
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_learner_fold_without_a_class(name, wine_data):
    """A CV fold may lack a class: classes_ lists what was seen (XGBoost included)."""
    X_train, X_test, y_train, _, ft = wine_data
    keep = y_train != 1
    est = SPECS[name].make({}, ft, 0).fit(X_train[keep], y_train[keep])
    np.testing.assert_array_equal(est.classes_, [0, 2])
    proba = est.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_learner_one_class_fold(name, wine_data):
    X_train, X_test, y_train, _, ft = wine_data
    keep = y_train == 2
    est = SPECS[name].make({}, ft, 0).fit(X_train[keep], y_train[keep])
    np.testing.assert_array_equal(est.classes_, [2])
    np.testing.assert_array_equal(est.predict_proba(X_test), 1.0)
    np.testing.assert_array_equal(est.predict(X_test), 2)


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_learner_tiny_data_with_singleton_class(name, wine_data):
    """Settings larger than the data (k=50, early-stopping split) must not raise."""
    X_train, X_test, y_train, _, ft = wine_data
    rows = np.r_[np.flatnonzero(y_train == 0)[:6], np.flatnonzero(y_train == 1)[:6]]
    rows = np.r_[rows, np.flatnonzero(y_train == 2)[:1]]
    spec = SPECS[name]
    params = {"n_neighbors": 50} if name == "knn" else {}
    est = spec.make(params, ft, 0).fit(X_train.iloc[rows], y_train[rows])
    assert est.predict_proba(X_test).shape == (len(X_test), 3)


@pytest.mark.parametrize("name", ["logreg", "hist_gb", "lightgbm", "knn"])
def test_learner_accepts_pandas_str_dtype(name, binary_data):
    """pandas' own string dtype (default in pandas 3) works like object columns."""
    X_train, X_test, y_train, _, ft = binary_data
    X_train = X_train.astype({"binned": "string", "noise": "string"})
    X_test = X_test.astype({"binned": "string", "noise": "string"})
    est = SPECS[name].make({}, ft, 0).fit(X_train, y_train)
    assert est.predict_proba(X_test).shape == (len(X_test), 2)


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_learner_single_threaded_and_seeded(name, binary_data):
    ft = binary_data[4]
    est = SPECS[name].make({}, ft, random_state=123)
    params = est.get_params(deep=True)
    n_jobs = {k: v for k, v in params.items() if k.endswith("n_jobs")}
    assert n_jobs, "every default learner sets n_jobs explicitly somewhere"
    assert all(v in (None, 1) for v in n_jobs.values()), n_jobs
    model = est.named_steps["model"].estimator
    if name != "knn":
        assert model.get_params()["random_state"] == 123


class _ThreadProbe(DummyClassifier):
    """Records how many OpenMP/BLAS threads it is allowed while fitting."""

    def fit(self, X, y, sample_weight=None):
        self.threads_ = {i["num_threads"] for i in threadpool_info()}
        return super().fit(X, y, sample_weight)


def test_wrapper_fits_single_threaded():
    """HistGB has no n_jobs: the wrapper must cap its OpenMP pool (and BLAS)."""
    est = _SafeClassifier(_ThreadProbe()).fit(np.zeros((6, 2)), [0, 1, 0, 1, 0, 1])
    assert est.estimator_.threads_ == {1}


# --------------------------------------------------------------- search spaces


@pytest.mark.parametrize("name", LEARNER_NAMES)
def test_defaults_inside_distributions(name):
    spec = SPECS[name]
    assert set(spec.defaults) == set(spec.distributions)
    for hp, value in spec.defaults.items():
        assert inside(spec.distributions[hp], value), (hp, value)


def test_suggest_with_random_sampler(wine_data):
    X_train, X_test, y_train, y_test, ft = wine_data
    specs = get_learners()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(24):
        trial = study.ask()
        learner, params = suggest(trial, specs)
        spec = SPECS[learner]
        assert set(params) == set(spec.distributions)
        for hp, value in params.items():
            assert inside(spec.distributions[hp], value), (learner, hp, value)
        assert from_optuna_params(trial.params) == (learner, params)
        assert set(trial.params) == {"learner"} | {f"{learner}__{hp}" for hp in params}
        est = spec.make(params, ft, random_state=trial.number)
        proba = est.fit(X_train, y_train).predict_proba(X_test)
        assert np.isfinite(proba).all()
        study.tell(trial, float(-accuracy_score(y_test, proba.argmax(axis=1))))
        seen.add(learner)
    assert len(seen) >= 6  # the learner choice really varies


def test_to_from_optuna_params_round_trip():
    params = {"C": 0.5, "class_weight": None}
    flat = to_optuna_params("logreg", params)
    assert flat == {"learner": "logreg", "logreg__C": 0.5, "logreg__class_weight": None}
    assert from_optuna_params(flat) == ("logreg", params)
    assert from_optuna_params(to_optuna_params("knn", {})) == ("knn", {})
    with pytest.raises(ValueError, match="learner"):
        from_optuna_params({"logreg__C": 1.0})


# ------------------------------------------------------------------ portfolio


def test_default_portfolio_shape_and_values():
    assert 12 <= len(DEFAULT_PORTFOLIO) <= 16
    names = [name for name, _ in DEFAULT_PORTFOLIO]
    assert names[:8] == [
        "logreg",
        "hist_gb",
        "random_forest",
        "extra_trees",
        "lightgbm",
        "xgboost",
        "knn",
        "mlp",
    ]
    assert all(params == {} for _, params in DEFAULT_PORTFOLIO[:8])
    for name, params in DEFAULT_PORTFOLIO:
        spec = SPECS[name]
        for hp, value in params.items():
            assert inside(spec.distributions[hp], value), (name, hp, value)
    full = get_portfolio("default", get_learners())
    assert len(full) == len(DEFAULT_PORTFOLIO)
    assert len({repr(config) for config in full}) == len(full)  # no duplicates
    for name, params in full:
        assert set(params) == set(SPECS[name].distributions)


def test_get_portfolio_filters_and_validates():
    specs = get_learners(["knn", "logreg"])
    configs = get_portfolio("default", specs)
    assert [name for name, _ in configs] == ["logreg", "knn", "logreg", "knn"]
    assert configs[2][1] == {"C": 0.1, "class_weight": None}
    assert get_portfolio(None, specs) == []
    assert get_portfolio([("knn", {"n_neighbors": 7})], specs) == [
        ("knn", {"n_neighbors": 7, "weights": "uniform", "p": 2})
    ]


@pytest.mark.parametrize(
    ("portfolio", "match"),
    [
        ("best", "portfolio must be"),
        ([("xgboost", {})], "not among the learners"),
        ([("knn", {"k": 3})], "unknown hyper-parameters"),
        ([("knn", {"n_neighbors": 500})], "outside its search space"),
        ([("knn", {"weights": "gaussian"})], "outside its search space"),
        ([("knn", {"n_neighbors": 5.5})], "outside its search space"),
        ([("knn",)], "pair"),
        (["knn"], "pair"),
        ([("knn", {}), ("knn", {"n_neighbors": 5})], "twice"),
    ],
)
def test_get_portfolio_errors(portfolio, match):
    with pytest.raises(ValueError, match=match):
        get_portfolio(portfolio, get_learners(["knn", "logreg"]))


def test_enqueued_portfolio_is_replayed_exactly():
    """Enqueued configs come back from suggest() unchanged, nothing resampled."""
    specs = get_learners()
    configs = get_portfolio("default", specs)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for learner, params in configs:
        study.enqueue_trial(to_optuna_params(learner, params))
    for learner, params in configs:
        trial = study.ask()
        got = suggest(trial, specs)
        assert got == (learner, params)
        assert all(type(got[1][k]) is type(v) for k, v in params.items())
        study.tell(trial, 0.0)


# ------------------------------------------------------------ registry errors


def build_dummy(params, feature_types, random_state):
    return DummyClassifier(strategy=params["strategy"], random_state=random_state)


DUMMY = LearnerSpec(
    name="dummy",
    build=build_dummy,
    distributions={"strategy": CategoricalDistribution(("prior", "uniform"))},
    defaults={"strategy": "prior"},
)


def test_get_learners_resolution():
    assert [s.name for s in get_learners(None)] == LEARNER_NAMES
    specs = get_learners(["xgboost", DUMMY, "logreg"])
    assert [s.name for s in specs] == ["xgboost", "dummy", "logreg"]
    assert specs[1] is DUMMY
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    learners = {suggest(study.ask(), specs)[0] for _ in range(20)}
    assert learners == {"xgboost", "dummy", "logreg"}


@pytest.mark.parametrize(
    ("learners", "error", "match"),
    [
        (["logreg", "svm"], ValueError, r"unknown learner 'svm'.*extra_trees"),
        (["knn", "knn"], ValueError, r"duplicate learner names \['knn'\]"),
        ([DUMMY, DUMMY], ValueError, "duplicate"),
        ([], ValueError, "empty"),
        ("knn", TypeError, "sequence"),
        ([3], TypeError, "int"),
    ],
)
def test_get_learners_errors(learners, error, match):
    with pytest.raises(error, match=match):
        get_learners(learners)


def test_learner_spec_validation_and_make():
    dist = {"strategy": CategoricalDistribution(("prior", "uniform"))}
    with pytest.raises(ValueError, match="invalid learner name"):
        LearnerSpec("my__dummy", build_dummy, dist, {"strategy": "prior"})
    with pytest.raises(ValueError, match="lack a value"):
        LearnerSpec("d", build_dummy, dist, {})
    with pytest.raises(ValueError, match="outside its search space"):
        LearnerSpec("d", build_dummy, dist, {"strategy": "stratified"})
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        LearnerSpec("d", build_dummy, dist, {"strategy": "prior", "x": 1})
    with pytest.raises(ValueError, match=r"unknown hyper-parameters \['k'\]"):
        DUMMY.make({"k": 1}, FeatureTypes(), 0)
    est = DUMMY.make({}, FeatureTypes(), np.int64(7))
    assert est.get_params()["strategy"] == "prior"
    assert type(est.get_params()["random_state"]) is int
    assert DUMMY.make({"strategy": "uniform"}, FeatureTypes(), 0).strategy == "uniform"
    # Specs travel to worker processes.
    for spec in (DUMMY, *SPECS.values()):
        clone = pickle.loads(pickle.dumps(spec))
        assert clone.name == spec.name
        assert clone.defaults == spec.defaults
        assert clone.distributions == spec.distributions


def test_feature_types():
    ft = FeatureTypes(numeric=["a", "b"], categorical=["c"])
    assert ft.numeric == ("a", "b") and ft.categorical == ("c",)
    assert hash(ft) == hash(FeatureTypes(("a", "b"), ("c",)))
    with pytest.raises(ValueError, match="both numeric and categorical"):
        FeatureTypes(numeric=["a"], categorical=["a"])
