"""The trial cost model, cost-aware portfolio order and DivBO's time filter."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from autoens.cache import CacheEntry, MemoryCache
from autoens.datasets import load_keel
from autoens.metrics import get_metric
from autoens.search.cost import CostModel, order_by_cost
from autoens.search.divbo import DivBO
from autoens.search.encoding import ConfigEncoder
from autoens.search.evaluate import evaluate_config
from autoens.search.proposers import SearchHistory
from autoens.space import DEFAULT_PORTFOLIO, get_learners, get_portfolio
from autoens.tabular import TableSchema, check_table
from autoens.task import ClassificationTask
from autoens.trials import TrialRecord

LEARNERS = [
    "logreg",
    "random_forest",
    "extra_trees",
    "hist_gb",
    "knn",
    "mlp",
    "lightgbm",
    "xgboost",
]
SPECS = get_learners(LEARNERS)


def _record(number, learner, params, seconds, status="ok", loss=0.2):
    return TrialRecord(
        number=number,
        learner=learner,
        params=params,
        key=f"k{number}",
        status=status,
        source="evaluated",
        loss=loss if status == "ok" else math.nan,
        fit_time=seconds,
    )


# ------------------------------------------------------------------ the model
@pytest.mark.parametrize("learner", [*LEARNERS, "ridge", "elastic_net", "custom"])
def test_prediction_grows_with_rows_and_columns(learner):
    family = "regression" if learner in ("ridge", "elastic_net") else "classification"
    times = [
        CostModel(n, p, family=family).predict(learner, {})
        for n, p in [(300, 10), (3_000, 10), (30_000, 10), (30_000, 100)]
    ]
    assert all(t > 0 and math.isfinite(t) for t in times)
    assert np.all(np.diff(times) > 0), times


@pytest.mark.parametrize(
    ("learner", "hp", "values"),
    [
        ("random_forest", "n_estimators", [50, 200, 500]),
        ("extra_trees", "n_estimators", [50, 200, 500]),
        ("lightgbm", "n_estimators", [50, 200, 1000]),
        ("xgboost", "n_estimators", [50, 200, 1000]),
        ("hist_gb", "max_iter", [50, 100, 500]),
        ("lightgbm", "num_leaves", [4, 31, 256]),
        ("xgboost", "max_depth", [2, 6, 10]),
        ("mlp", "layer_size", [16, 64, 256]),
        ("mlp", "n_layers", [1, 2, 3]),
        ("random_forest", "max_features", ["log2", 0.5, 1.0]),
    ],
)
def test_prediction_grows_with_the_costly_hyper_parameters(learner, hp, values):
    cost = CostModel(5_000, 40, n_categorical=5, n_outputs=3)
    times = cost.predict_many(learner, [{hp: v} for v in values])
    assert np.all(np.diff(times) > 0), times


def test_predict_many_agrees_with_predict_for_dicts_and_arrays():
    cost = CostModel(2_000, 20, 4, 2, 5)
    params = [
        {"n_estimators": 100, "num_leaves": 8, "subsample": 0.7},
        {"n_estimators": 700},
        {},
    ]
    one = [cost.predict("lightgbm", p) for p in params]
    np.testing.assert_allclose(cost.predict_many("lightgbm", params), one)
    columns = {"n_estimators": np.array([100, 700]), "num_leaves": np.array([8, 31])}
    np.testing.assert_allclose(
        cost.predict_many("lightgbm", columns),
        [
            cost.predict("lightgbm", {"n_estimators": 100, "num_leaves": 8}),
            cost.predict("lightgbm", {"n_estimators": 700}),
        ],
    )
    with pytest.raises(ValueError, match="same length"):
        cost.predict_many("lightgbm", {"n_estimators": [1, 2], "num_leaves": [3]})
    with pytest.raises(ValueError, match="n_rows"):
        CostModel(0, 5)
    with pytest.raises(ValueError, match="family"):
        CostModel(10, 5, family="ranking")


def test_the_prior_is_within_a_factor_of_real_trial_times():
    """Real 3-fold trials on pima: the calibrated prior is off by less than 8x (the
    machine may be busy; the online factor takes care of the rest)."""
    X, y = load_keel("pima")
    schema, frame = TableSchema.learn(check_table(X))
    task, y_enc = ClassificationTask.from_target(y)
    folds = task.make_folds(frame, y_enc, n_splits=3, random_state=0)
    cost = CostModel.from_data(len(y_enc), schema.feature_types, task, 3)
    assert (cost.n_columns, cost.n_outputs, cost.n_folds) == (8, 2, 3)
    for spec in get_learners(["logreg", "hist_gb", "lightgbm"], task=task):
        params = {**spec.defaults}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = evaluate_config(
                spec, params, frame, y_enc, folds.splits, schema.feature_types, task, 0
            )
        observed = r.fit_time + r.predict_time
        predicted = cost.predict(spec.name, params)
        assert 1 / 8 < observed / predicted < 8, (spec.name, observed, predicted)


def test_online_update_moves_predictions_towards_observed_times():
    cost = CostModel(3_000, 20)
    slow = {"n_estimators": 300}
    prior = cost.predict("random_forest", slow)
    observed = 10 * prior
    cost.update([_record(0, "random_forest", slow, observed)])
    after_one = cost.predict("random_forest", slow)
    assert prior < after_one < observed
    cost.update([_record(1, "random_forest", {"n_estimators": 100}, observed / 3)])
    after_two = cost.predict("random_forest", slow)
    assert after_one < after_two < observed
    # other learners inherit part of the machine's speed, less than the learner itself
    assert 1 < cost.factor("knn") < cost.factor("random_forest")
    # the same records again change nothing
    cost.update([_record(0, "random_forest", slow, observed)])
    assert cost.predict("random_forest", slow) == after_two


def test_censored_and_failed_records_count_only_as_they_should():
    cost = CostModel(3_000, 20)
    p = cost.predict("mlp", {})
    # a timeout shorter than predicted says nothing; a failure never counts
    cost.update([_record(0, "mlp", {}, p / 5, status="timeout")])
    cost.update([_record(1, "mlp", {}, 50 * p, status="failed")])
    assert cost.predict("mlp", {}) == pytest.approx(p)
    # a trial stopped after running longer than predicted: at least that slow
    cost.update([_record(2, "mlp", {}, 6 * p, status="pruned")])
    assert cost.predict("mlp", {}) > 2 * p


def test_a_pruned_trial_counts_as_its_folds_scaled_to_all_folds():
    cost = CostModel(3_000, 20, n_folds=5)
    prior = cost.predict("hist_gb", {})
    record = _record(0, "hist_gb", {}, prior / 5, status="pruned")
    record.n_folds_run = 1  # one fold of five took a fifth of the prior: on target
    cost.update([record])
    assert cost.predict("hist_gb", {}) == pytest.approx(prior)
    slow = _record(1, "hist_gb", {}, prior, status="pruned")
    slow.n_folds_run = 1  # one fold took the whole prior: 5x slower than believed
    cost.update([slow])
    assert 1.5 * prior < cost.predict("hist_gb", {}) < 5 * prior


# ------------------------------------------------------------------ portfolio order
def test_order_by_cost_moves_slow_configs_later_on_big_data_only():
    specs = get_learners(None)
    portfolio = get_portfolio("default", specs)
    small = CostModel(700, 8)
    assert order_by_cost(portfolio, small, 60) == portfolio
    assert order_by_cost(portfolio, CostModel(50_000, 60), None) == portfolio

    big = CostModel(10_000, 30, n_categorical=5)
    ordered = order_by_cost(portfolio, big, 60)
    assert sorted(map(repr, ordered)) == sorted(map(repr, portfolio))  # same configs
    predicted = [big.predict(learner, params) for learner, params in ordered]
    cheap = [t <= 0.1 * 60 for t in predicted]
    n_cheap = sum(cheap)
    assert 3 <= n_cheap <= len(ordered) - 3
    assert all(cheap[:n_cheap]) and not any(cheap[n_cheap:])
    # the cheap ones keep the portfolio's own order; the slow ones run cheapest first
    kept = [c for c in portfolio if c in ordered[:n_cheap]]
    assert ordered[:n_cheap] == kept
    assert np.all(np.diff(predicted[n_cheap:]) >= 0)
    # more workers, more budget: fewer configs are slow
    assert (
        sum(
            big.predict(learner, params) > 0.1 * 60 * 4
            for learner, params in order_by_cost(portfolio, big, 60, n_jobs=4)
        )
        < len(ordered) - n_cheap
    )
    with pytest.raises(ValueError, match="time_limit"):
        order_by_cost(portfolio, big, -1)
    assert DEFAULT_PORTFOLIO  # the default portfolio is what we ordered


# ------------------------------------------------------------------ DivBO
def _history(n, *, n_rows=200, cost=None, time_left=None, trial_time_limit=None):
    """n finished trials of SPECS with made-up OOF predictions (one pruned)."""
    rng = np.random.default_rng(0)
    enc = ConfigEncoder(SPECS)
    y = rng.integers(2, size=n_rows)
    metric = get_metric("roc_auc")
    cache = MemoryCache()
    records = []
    for k, row in enumerate(enc.sample(n, rng)):
        learner, params = enc.decode(row)
        noise = rng.normal(scale=1.0 + k % 3, size=n_rows)
        p1 = 1 / (1 + np.exp(-(2 * y - 1 + noise)))
        oof = np.stack([1 - p1, p1], axis=1).astype(np.float32)
        status = "pruned" if k == 4 else "ok"
        loss = float(metric.loss_single(y, oof))
        records.append(_record(k, learner, params, 1.0, status, loss))
        if status == "ok":
            cache.put(CacheEntry(f"k{k}", oof, [], {"loss": loss}))
    return SearchHistory(
        specs=SPECS,
        records=records,
        pending=[],
        y=y,
        metric=metric,
        cache=cache,
        time_left=time_left,
        trial_time_limit=trial_time_limit,
        cost=cost,
    )


def test_divbo_proposes_only_what_fits_in_the_time_left():
    cost = CostModel(20_000, 50, n_categorical=5)
    proposer = DivBO(p_random=0.0, n_candidates=300, random_state=0)
    # The slowest default (random forest) does not fit, logreg does.
    limit = 0.5 * cost.predict("random_forest", {})
    assert cost.predict("logreg", {}) < 0.8 * limit
    for trial_limit, left in [(limit, None), (None, limit), (10 * limit, limit)]:
        history = _history(14, cost=cost, time_left=left, trial_time_limit=trial_limit)
        assert history.time_available() == pytest.approx(limit)
        proposal = proposer.propose(history)
        assert proposal.attrs["proposer"] == "divbo"
        assert proposal.attrs["n_too_slow"] > 0
        seconds = cost.predict(proposal.learner, proposal.params)
        assert seconds <= 0.8 * limit
        assert proposal.attrs["predicted_time"] == pytest.approx(seconds, abs=1e-3)
    # Nothing fits: the cheapest candidate; random proposals are filtered too.
    tiny = _history(14, cost=cost, time_left=1e-6)
    proposal = DivBO(p_random=0.0, n_candidates=300, random_state=0).propose(tiny)
    assert proposal.attrs["n_candidates"] == 1
    early = DivBO(n_init=50, random_state=0).propose(
        _history(14, cost=cost, time_left=limit)
    )
    assert early.attrs["proposer"] == "random-init"
    assert cost.predict(early.learner, early.params) <= 0.8 * limit


def test_divbo_without_cost_or_limit_is_unchanged_and_deterministic():
    cost = CostModel(20_000, 50)
    plain = DivBO(random_state=3)
    without_limit = DivBO(random_state=3)
    h_plain = _history(14)
    h_nolimit = _history(14, cost=cost)  # a cost model but no time limit
    a = [plain.propose(h_plain) for _ in range(4)]
    b = [without_limit.propose(h_nolimit) for _ in range(4)]
    assert a == b
    limited = _history(14, cost=cost, time_left=5.0)
    c = [DivBO(random_state=3).propose(limited) for _ in range(2)]
    assert c[0] == c[1]


def test_divbo_counts_a_pruned_trial_as_a_bad_observation_without_diversity():
    history = _history(14)
    proposer = DivBO(p_random=0.0, n_candidates=200, random_state=0)
    proposer.propose(history)
    assert len(proposer.X_obs_) == 14  # the pruned trial is observed
    assert math.isnan(proposer.loss_obs_[4])  # ... with the worst loss (filled later)
    assert 4 not in proposer.ok_ and len(proposer.ok_) == 13
    assert proposer.D_.n == 13  # and has no OOF predictions for diversity


def test_decode_columns_agrees_with_decode():
    enc = ConfigEncoder(SPECS)
    X = enc.sample(200, np.random.default_rng(1))
    learners = enc.learner_index(X)
    for li, name in enumerate(enc.learners):
        rows = X[learners == li]
        columns = enc.decode_columns(rows, name)
        for r, row in enumerate(rows):
            _, params = enc.decode(row)
            for hp, value in params.items():
                assert columns[hp][r] == pytest.approx(value) or columns[hp][r] == value
