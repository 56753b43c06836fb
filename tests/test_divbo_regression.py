"""DivBO on regression: the residual diversity measure, its matrix, the quantile
subsample, proposals on a regression history, and a real regression search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from autoens.cache import CacheEntry, MemoryCache
from autoens.metrics import get_metric
from autoens.search import Budget, run_search
from autoens.search.divbo import DivBO, _quantile_rows
from autoens.search.diversity import DiversityMatrix, residual_diversity
from autoens.search.encoding import ConfigEncoder
from autoens.search.proposers import SearchHistory
from autoens.space import FeatureTypes, get_learners, get_portfolio
from autoens.space.registry import check_params
from autoens.task import RegressionTask
from autoens.trials import TrialRecord

SPECS = get_learners(
    ["ridge", "random_forest", "extra_trees", "hist_gb", "knn"], task=RegressionTask
)


# ------------------------------------------------------------------ the measure
def _direct(f_a: np.ndarray, f_b: np.ndarray, y: np.ndarray) -> float:
    """(1 - cos of the residual vectors) / 2, one pair, plain float64 loops."""
    r_a, r_b = f_a - y, f_b - y
    dot = sum(float(a) * float(b) for a, b in zip(r_a, r_b, strict=True))
    norm = math.sqrt(float(r_a @ r_a)) * math.sqrt(float(r_b @ r_b))
    return (1.0 - (dot / norm if norm else 0.0)) / 2.0


@pytest.mark.parametrize(
    ("r_a", "r_b", "expected"),
    [
        ([3.0, 4.0], [4.0, 3.0], 0.02),  # cos = 24 / 25
        ([1.0, 2.0, 3.0], [2.0, 4.0, 6.0], 0.0),  # proportional errors
        ([1.0, 2.0, -1.0], [-2.0, -4.0, 2.0], 1.0),  # errors that cancel
        ([1.0, 0.0], [0.0, 2.0], 0.5),  # orthogonal
        ([1.0, 1.0], [1.0, -1.0], 0.5),
        ([0.0, 0.0], [1.0, 2.0], 0.5),  # a perfect model
        ([1.0, 0.0, 0.0], [0.5, 1.0, 0.0], 0.5 - 0.25 / math.sqrt(1.25)),
    ],
)
def test_residual_diversity_golden_values(r_a, r_b, expected):
    d = residual_diversity(np.array([r_a]), np.array(r_b))
    assert d.shape == (1,) and d.dtype == np.float64
    assert d[0] == pytest.approx(expected, abs=1e-7)
    assert residual_diversity(np.array([r_b]), np.array(r_a))[0] == pytest.approx(d[0])


def test_residual_diversity_matches_direct_computation():
    rng = np.random.default_rng(0)
    y = rng.normal(200.0, 50.0, size=80)
    F = y + rng.normal(size=(6, 80)) * rng.uniform(5, 40, size=(6, 1))
    F[3] = y - (F[0] - y)  # model 3 errs exactly opposite to model 0
    F[4] = y + 2.0 * (F[1] - y)  # model 4 errs as model 1, twice as much
    d = residual_diversity(F - y, F[0] - y)
    for k in range(6):
        assert d[k] == pytest.approx(_direct(F[k], F[0], y), abs=1e-6)
    assert d[0] == pytest.approx(0.0, abs=1e-6) and d[3] == pytest.approx(1.0)
    assert residual_diversity(F[4:5] - y, F[1] - y)[0] == pytest.approx(0.0, abs=1e-6)
    assert ((d >= 0) & (d <= 1)).all()
    # units do not matter: the same models in thousands
    np.testing.assert_allclose(
        residual_diversity(1e3 * (F - y), 1e3 * (F[0] - y)), d, atol=1e-6
    )
    with pytest.raises(ValueError, match="shape"):
        residual_diversity(F - y, (F[0] - y)[:5])


def test_incremental_regression_matrix_equals_full_pairwise_with_row_subsample():
    rng = np.random.default_rng(1)
    y = rng.normal(size=60) * 10
    F = (y + rng.normal(size=(12, 60)) * rng.uniform(1, 5, size=(12, 1))).astype(
        np.float32
    )
    rows = np.arange(0, 60, 3)
    D = DiversityMatrix(rows, target=y)
    for f in F:  # grows past the initial capacity of 8
        D.add(f[:, None])
    full = np.array(
        [
            [
                0.0 if i == j else _direct(F[i, rows], F[j, rows], y[rows])
                for j in range(12)
            ]
            for i in range(12)
        ]
    )
    np.testing.assert_allclose(D.matrix, full, atol=1e-6)
    np.testing.assert_array_equal(D.matrix, D.matrix.T)
    assert D.predictions.shape == (12, len(rows), 1)
    np.testing.assert_array_equal(D.predictions[:, :, 0], F[:, rows])
    with pytest.raises(ValueError, match="shape"):
        D.add(np.zeros((60, 2), dtype=np.float32))


def _stratum(rank: np.ndarray, n: int, k: int) -> np.ndarray:
    """Which of k equal-count strata of n sorted rows each rank falls in, sorted
    (strata of n // k or n // k + 1 rows: stratum i starts at i * n // k)."""
    bounds = [(i * n) // k for i in range(k + 1)]
    return np.sort([max(i for i in range(k) if bounds[i] <= r) for r in rank])


def test_quantile_subsample_takes_one_row_per_target_stratum():
    rng = np.random.default_rng(2)
    y = rng.lognormal(size=1000)  # a long right tail
    rows = _quantile_rows(y, 50, np.random.default_rng(0))
    assert len(rows) == 50 and (np.diff(rows) > 0).all()
    rank = np.argsort(np.argsort(y))[rows]
    np.testing.assert_array_equal(_stratum(rank, 1000, 50), np.arange(50))
    assert y[rows].max() >= np.quantile(y, 0.98)  # the tail is always in
    again = _quantile_rows(y, 50, np.random.default_rng(0))
    np.testing.assert_array_equal(rows, again)


def test_encoder_round_trips_regression_configurations():
    specs = get_learners(task=RegressionTask)
    enc = ConfigEncoder(specs)
    X = enc.sample(200, np.random.default_rng(0))
    configs = [enc.decode(row) for row in X]
    assert {learner for learner, _ in configs} == {s.name for s in specs}
    for learner, params in configs:
        check_params(next(s for s in specs if s.name == learner), params)
    np.testing.assert_allclose(enc.encode(configs), X, atol=1e-12)


# ------------------------------------------------------------------ proposer
def _history(n: int, seed: int = 0, pending=(), n_rows: int = 120) -> SearchHistory:
    """n finished regression trials with made-up OOF values; one of them failed."""
    rng = np.random.default_rng(seed)
    enc = ConfigEncoder(SPECS)
    y = rng.normal(200.0, 50.0, size=n_rows)
    metric = get_metric("rmse", task=RegressionTask)
    records, cache = [], MemoryCache()
    for k, row in enumerate(enc.sample(n, rng)):
        learner, params = enc.decode(row)
        oof = (y + rng.normal(scale=10.0 * (1 + k % 3), size=n_rows) + k % 2)[:, None]
        oof = oof.astype(np.float32)
        status = "failed" if k == 3 else "ok"
        loss = float(metric.loss_single(y, oof))
        records.append(
            TrialRecord(
                number=k,
                learner=learner,
                params=params,
                key=str(k),
                status=status,
                source="evaluated",
                loss=loss if status == "ok" else math.nan,
            )
        )
        if status == "ok":
            cache.put(CacheEntry(str(k), oof, [], {"loss": loss}))
    return SearchHistory(
        specs=SPECS,
        records=records,
        pending=list(pending),
        y=y,
        metric=metric,
        cache=cache,
    )


def test_proposals_on_a_regression_history():
    history = _history(14)
    seen = [(r.learner, r.params) for r in history.records]
    proposer = DivBO(p_random=0.0, n_candidates=300, random_state=0)
    for _ in range(3):
        proposal = proposer.propose(history)
        spec = next(s for s in SPECS if s.name == proposal.learner)
        check_params(spec, proposal.params)
        assert (proposal.learner, proposal.params) not in seen
        attrs = proposal.attrs
        assert attrs["proposer"] == "divbo" and attrs["t"] == 14
        assert 1 <= attrs["div_rank"] <= attrs["n_candidates"]
        assert 1 <= attrs["pool_size"] <= 13
        seen.append((proposal.learner, proposal.params))
        history.pending = [*history.pending, (proposal.learner, proposal.params)]
    # D is the residual measure on the cached OOF values.
    assert proposer.regression_ and proposer.D_.rows is None
    ok = [r for r in history.records if r.status == "ok"]
    F = np.stack([history.oof(r)[:, 0].astype(np.float64) for r in ok])
    assert proposer.D_.matrix[0, 5] == pytest.approx(
        _direct(F[0], F[5], history.y), abs=1e-6
    )


def test_regression_proposer_is_deterministic_and_subsamples_by_quantile():
    history = _history(14)
    a = DivBO(random_state=3, max_rows=50)
    b = DivBO(random_state=3, max_rows=50)
    assert [a.propose(history) for _ in range(3)] == [
        b.propose(history) for _ in range(3)
    ]
    rows = a.D_.rows
    assert len(rows) == 50 and (np.diff(rows) > 0).all()
    assert a.D_.predictions.shape == (13, 50, 1)
    rank = np.argsort(np.argsort(history.y))[rows]
    np.testing.assert_array_equal(_stratum(rank, 120, 50), np.arange(50))


def test_bo_on_a_regression_history():
    proposal = DivBO(beta=0.0, p_random=0.0, random_state=0).propose(_history(14))
    assert proposal.attrs["proposer"] == "bo" and math.isnan(proposal.attrs["div_rank"])


def test_divbo_regression_search_on_diabetes():
    """A real search: portfolio first, then DivBO proposals scored by RMSE."""
    data = load_diabetes(as_frame=True)
    X = data.data.astype("float64").iloc[:300].reset_index(drop=True)
    task, y = RegressionTask.from_target(data.target.to_numpy()[:300])
    specs = get_learners(["ridge", "hist_gb", "extra_trees"], task=task)
    portfolio = [
        ("ridge", {}),
        ("hist_gb", {"max_iter": 50}),
        ("extra_trees", {"n_estimators": 50}),
    ]
    cache = MemoryCache()
    records = run_search(
        X=X,
        y=y,
        folds=task.make_folds(X, y, n_splits=2, random_state=0),
        task=task,
        feature_types=FeatureTypes(numeric=tuple(X.columns)),
        specs=specs,
        portfolio=get_portfolio(portfolio, specs, task=task),
        metric=get_metric("rmse", task=task),
        cache=cache,
        budget=Budget(n_trials=6, time_limit=None, trial_time_limit=None),
        search=DivBO(n_init=3, p_random=0.0, n_candidates=200),
        n_jobs=1,
        random_state=0,
    )
    assert [r.status for r in records] == ["ok"] * 6
    assert len({(r.learner, repr(sorted(r.params.items()))) for r in records}) == 6
    for record in records:
        oof = cache.get(record.key, load_models=False).oof
        assert oof.shape == (300, 1) and oof.dtype == np.float32
        assert record.loss == pytest.approx(np.sqrt(np.mean((oof[:, 0] - y) ** 2)))
        assert record.loss < y.std()  # every model beats the mean
