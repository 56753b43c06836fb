"""DivBO: encoding, diversity measure, surrogates and proposals, and real searches."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoens import AutoEnsembleClassifier
from autoens.cache import CacheEntry, MemoryCache
from autoens.metrics import get_metric
from autoens.search.divbo import DivBO
from autoens.search.diversity import DiversityMatrix, diversity, gaussian_rank
from autoens.search.encoding import INACTIVE, ConfigEncoder
from autoens.search.proposers import SearchHistory
from autoens.search.strategies import make_proposer
from autoens.space import get_learners
from autoens.space.registry import check_params
from autoens.trials import TrialRecord

LEARNERS = ["logreg", "hist_gb", "extra_trees"]
SPECS = get_learners(["logreg", "random_forest", "extra_trees", "hist_gb", "knn"])


# ------------------------------------------------------------------ encoding
def test_encoding_shape_and_inactive_sentinel():
    enc = ConfigEncoder(SPECS)
    widths = [
        len(d.choices) if hasattr(d, "choices") else 1
        for s in SPECS
        for d in s.distributions.values()
    ]
    assert enc.n_features == len(SPECS) + sum(widths)
    X = enc.encode([("logreg", {"C": 1.0}), ("knn", {})])
    assert X.shape == (2, enc.n_features)
    # learner one-hot
    np.testing.assert_array_equal(X[:, :5], [[1, 0, 0, 0, 0], [0, 0, 0, 0, 1]])
    # logreg row: only its own 1 numeric + 2 categorical columns are active
    active = X[0, 5:] != INACTIVE
    assert active.sum() == 3
    assert (X[X != INACTIVE] >= 0).all() and (X[X != INACTIVE] <= 1).all()


def test_encoding_log_and_grid_scaling():
    enc = ConfigEncoder(SPECS)
    col = 5  # logreg's C, log-uniform on [1e-4, 1e4]
    for C, u in [(1e-4, 0.0), (1.0, 0.5), (1e4, 1.0), (100.0, 0.75)]:
        assert enc.encode([("logreg", {"C": C})])[0, col] == pytest.approx(u)
    # an off-grid position snaps to the forest's n_estimators step of 50
    row = enc.encode([("random_forest", {})])[0]
    nest = enc._hps["random_forest"]["n_estimators"].column
    row[nest] = 0.123
    learner, params = enc.decode(enc.snap(row[None])[0])
    assert learner == "random_forest"
    assert params["n_estimators"] % 50 == 0 and 50 <= params["n_estimators"] <= 500
    assert isinstance(params["n_estimators"], int)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_encoding_round_trip(seed):
    enc = ConfigEncoder(SPECS)
    X = enc.sample(20, np.random.default_rng(seed))
    configs = [enc.decode(row) for row in X]
    for learner, params in configs:
        spec = next(s for s in SPECS if s.name == learner)
        check_params(spec, params)  # valid: on the grid, inside the bounds
        assert set(params) == set(spec.distributions)
    np.testing.assert_allclose(enc.encode(configs), X, atol=1e-12)
    assert [enc.decode(r) for r in enc.encode(configs)] == configs


def test_snap_moves_every_numeric_column_as_its_own_decode_and_encode():
    """snap handles all numeric columns in one go; each must land exactly where
    decoding and re-encoding that column alone puts it (grids, steps, log scales,
    positions outside [0, 1])."""
    from autoens.task import RegressionTask

    for task in (None, RegressionTask):
        enc = ConfigEncoder(get_learners(None, task=task))
        X = np.random.default_rng(3).uniform(-0.2, 1.2, size=(500, enc.n_features))
        snapped = enc.snap(X)
        for h in enc._numeric:
            expected = h.to_unit(h.from_unit(np.clip(X[:, h.column], 0.0, 1.0)))
            active = snapped[:, h.column] != INACTIVE
            np.testing.assert_array_equal(snapped[active, h.column], expected[active])
        assert all(
            enc.encode([enc.decode(row)])[0].tolist() == row.tolist()
            for row in snapped[:50]
        )


def test_encoding_keeps_categorical_types_and_rejects_bad_input():
    enc = ConfigEncoder(SPECS)
    row = enc.encode([("extra_trees", {"max_features": 1.0})])[0]
    assert enc.decode(row)[1]["max_features"] == 1.0
    assert isinstance(enc.decode(row)[1]["max_features"], float)
    with pytest.raises(ValueError, match="unknown learner"):
        enc.encode([("svm", {})])
    with pytest.raises(ValueError, match="outside its search space"):
        enc.encode([("logreg", {"C": 1e9})])
    with pytest.raises(ValueError, match="expected a row"):
        enc.decode(np.zeros(3))


# ------------------------------------------------------------------ diversity
def _direct(a: np.ndarray, b: np.ndarray) -> float:
    return float(
        np.mean([np.linalg.norm(a[r] - b[r]) for r in range(len(a))]) / math.sqrt(2)
    )


def test_diversity_matches_direct_computation_and_properties():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), size=(5, 40)).astype(np.float32)
    d = diversity(P, P[0])
    for k in range(5):
        assert d[k] == pytest.approx(_direct(P[k], P[0]), rel=1e-5)
    assert d[0] == 0.0
    assert diversity(P[1:2], P[3])[0] == pytest.approx(diversity(P[3:4], P[1])[0])
    assert ((d >= 0) & (d <= 1)).all()
    # opposite one-hot predictions are maximally diverse
    a = np.eye(2, dtype=np.float32)[np.zeros(10, dtype=int)]
    b = np.eye(2, dtype=np.float32)[np.ones(10, dtype=int)]
    assert diversity(a[None], b)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        diversity(P, P[0, :5])


def test_incremental_matrix_equals_full_pairwise_with_row_subsample():
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.ones(2), size=(12, 50)).astype(np.float32)
    rows = np.arange(0, 50, 3)
    D = DiversityMatrix(rows)
    for p in P:  # grows past the initial capacity of 8
        D.add(p)
    full = np.array(
        [[_direct(P[i, rows], P[j, rows]) for j in range(12)] for i in range(12)]
    )
    np.testing.assert_allclose(D.matrix, full, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(D.matrix, D.matrix.T)
    assert D.predictions.shape == (12, len(rows), 2)


def test_gaussian_rank():
    z = gaussian_rank(np.array([0.3, 0.1, 0.1, 0.9]))
    assert z[1] == z[2] and z[1] < z[0] < z[3]
    # without ties the ranks are symmetric about the median
    assert gaussian_rank(np.arange(7.0)).mean() == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------ proposer
def _history(n: int, seed: int = 0, pending=(), spread: float = 1.0) -> SearchHistory:
    """n finished trials with made-up OOF predictions; one of them failed."""
    rng = np.random.default_rng(seed)
    enc = ConfigEncoder(SPECS)
    y = rng.integers(2, size=120)
    records = []
    cache = MemoryCache()
    for k, row in enumerate(enc.sample(n, rng)):
        learner, params = enc.decode(row)
        noise = rng.normal(scale=spread * (1.0 + k % 3), size=120)
        p1 = 1 / (1 + np.exp(-(2 * y - 1 + noise)))
        oof = np.stack([1 - p1, p1], axis=1).astype(np.float32)
        status = "failed" if k == 3 else "ok"
        loss = float(get_metric("roc_auc").loss_single(y, oof))
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
        metric=get_metric("roc_auc"),
        cache=cache,
    )


def test_weight_schedule():
    d = DivBO(beta=0.1, tau=0.2)
    w = [d.weight(t) for t in range(0, 60, 5)]
    assert w[0] == 0.0 and all(np.diff(w) > 0)
    assert w[-1] == pytest.approx(0.05, abs=1e-4) and max(w) < 0.05
    # default beta keeps the paper's slack (beta * |S| = 0.05 * 5000)
    assert DivBO(n_candidates=1000).beta_ == pytest.approx(0.25)
    assert DivBO(n_candidates=500).beta_ == pytest.approx(0.5)
    assert DivBO(beta=0).weight(50) == 0.0 and DivBO(beta=0).name == "bo"
    assert make_proposer("bo", 0).name == "bo"
    assert make_proposer("divbo", 0).name == "divbo"
    assert make_proposer("tpe", 0) is None


def test_proposals_are_valid_unseen_and_explained():
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
        assert attrs["w"] == pytest.approx(proposer.weight(14), abs=1e-6)
        assert 1 <= attrs["ei_rank"] <= attrs["n_candidates"]
        assert 1 <= attrs["div_rank"] <= attrs["n_candidates"]
        # the pool: distinct GES members among the 13 successful models
        assert 1 <= attrs["pool_size"] <= 13
        seen.append((proposal.learner, proposal.params))
        history.pending = [*history.pending, (proposal.learner, proposal.params)]


def test_pending_configs_join_the_pool_and_are_not_proposed_again():
    first = DivBO(p_random=0.0, n_candidates=300, random_state=0).propose(_history(14))
    pending = [(first.learner, first.params)]
    second = DivBO(p_random=0.0, n_candidates=300, random_state=0).propose(
        _history(14, pending=pending)
    )
    assert (second.learner, second.params) != pending[0]
    assert second.attrs["n_pending"] == 1
    assert second.attrs["pool_size"] == first.attrs["pool_size"] + 1


def test_beta_zero_skips_diversity_and_random_phase():
    proposal = DivBO(beta=0.0, p_random=0.0, random_state=0).propose(_history(14))
    assert proposal.attrs["proposer"] == "bo" and math.isnan(proposal.attrs["div_rank"])
    early = DivBO(n_init=10, random_state=0).propose(_history(5))
    assert early.attrs["proposer"] == "random-init"


def test_proposer_is_deterministic_and_checks_parameters():
    a = DivBO(random_state=3)
    b = DivBO(random_state=3)
    history = _history(14)
    assert [a.propose(history) for _ in range(4)] == [
        b.propose(history) for _ in range(4)
    ]
    with pytest.raises(ValueError, match=r"'p_random' parameter of DivBO"):
        DivBO(p_random=1.5).propose(history)
    with pytest.raises(ValueError, match="beta"):
        DivBO(beta=-1).propose(history)


def test_diversity_shortlist_keeps_the_exact_winner():
    """div is predicted only for candidates whose EI rank lets them win; with a
    reference sample of all others their ranks are the exact ranks among all of S,
    so the pick is the one scoring all of S would make. The default reference sample
    estimates those ranks to within a few standard errors."""
    from scipy.stats import rankdata

    history = _history(14)
    proposer = DivBO(p_random=0.0, n_candidates=1000, random_state=0)
    proposer.propose(history)  # sets up the state, the pool and the surrogate
    rng = np.random.default_rng(5)
    S = proposer.encoder_.sample(1000, rng)
    none_pending = np.zeros((0, S.shape[1]))
    div_all, _ = proposer._diversity(history, none_pending, S)
    exact_rank = rankdata(-div_all, method="average")
    for w in (0.02, 0.125):
        r_ei = rankdata(-rng.random(1000), method="average")
        exact_pick = int(np.argmin(r_ei + w * exact_rank))
        proposer._div_reference = 1 << 30
        r_div, _, n_scored = proposer._diversity_ranks(
            history, none_pending, S, r_ei, w
        )
        assert n_scored == 1000
        short = ~np.isnan(r_div)
        assert short.sum() == (r_ei <= 1 + w * 1000).sum() < 1000
        np.testing.assert_allclose(r_div[short], exact_rank[short])
        score = np.where(short, r_ei + w * r_div, np.inf)
        assert int(np.argmin(score)) == exact_pick
        proposer._div_reference = 100
        r_div, _, n_scored = proposer._diversity_ranks(
            history, none_pending, S, r_ei, w
        )
        assert n_scored == short.sum() + 100
        error = np.abs(r_div[short] - exact_rank[short])
        assert error.mean() < 1000 / (2 * np.sqrt(100)) * 1.5


def test_pool_ges_reruns_only_when_a_new_model_could_join():
    """The pool's GES is cached: a new model that does not improve the pool's
    ensemble as one added copy leaves it; one that does (or enough new models)
    reruns it."""
    # 16 trials, the proposer first shown 14: the last two get the OOF predictions
    # each case needs.
    history = _history(16, spread=4.0)  # noisy enough that no ensemble is perfect
    later = history.records[14:]
    history.records = history.records[:14]
    proposer = DivBO(p_random=0.0, random_state=0)
    proposer.propose(history)
    pool = proposer.pool_.copy()
    assert proposer.pool_fit_n_ == 13  # the 13 successful models
    assert proposer.pool_ges_.validation_loss_ > 0.01
    y = history.y

    def add(oof: np.ndarray, k: int) -> None:
        loss = float(get_metric("roc_auc").loss_single(y, oof))
        history.cache.put(CacheEntry(str(k), oof, [], {"loss": loss}))
        history.records = [*history.records, replace(later[k - 14], loss=loss)]

    useless = np.full((len(y), 2), 0.5, dtype=np.float32)  # a constant model
    add(useless, 14)
    proposer.propose(history)
    assert proposer.pool_fit_n_ == 13 and proposer.pool_checked_n_ == 14
    np.testing.assert_array_equal(proposer.pool_, pool)
    perfect = np.eye(2, dtype=np.float32)[y]
    add(perfect, 15)
    proposer.propose(history)
    assert proposer.pool_fit_n_ == 15
    assert 14 in proposer.pool_  # the perfect model (index 14 among the OK ones)


def test_pair_cap_keeps_every_pool_pair():
    proposer = DivBO(max_pairs=30, random_state=0)
    proposer.rng_ = np.random.default_rng(0)
    i, j = proposer._pairs(10, np.array([2]))
    assert len(i) == 30
    touching = (i == 2) | (j == 2)
    assert touching.sum() == 19  # every ordered pair with model 2, self-pair once
    assert len(set(zip(i.tolist(), j.tolist(), strict=True))) == 30


# ------------------------------------------------------------------ real searches
FAST_DIVBO = {
    "n_trials": 5,
    "cv": 2,
    "learners": LEARNERS,
    "random_state": 0,
    # three cheap warm-start configs, then model-based proposals
    "portfolio": [
        ("logreg", {}),
        ("hist_gb", {"max_iter": 50}),
        ("extra_trees", {"n_estimators": 50}),
    ],
    "search": DivBO(n_init=3, p_random=0.0, n_candidates=200),
}


def _study_trials(url: str) -> list[optuna.trial.FrozenTrial]:
    (name,) = optuna.get_all_study_names(url)
    return optuna.load_study(study_name=name, storage=url).get_trials()


def test_divbo_fit_records_proposals_and_resumes_from_sqlite(tmp_path, binary_data):
    X, y = binary_data
    url = f"sqlite:///{tmp_path / 'run.db'}"
    base = {**FAST_DIVBO, "storage": url, "cache_dir": tmp_path / "cache"}
    first = AutoEnsembleClassifier(**{**base, "n_trials": 5}).fit(X, y)
    assert (first.leaderboard_["status"] == "ok").all()
    board = first.leaderboard_.set_index("trial").sort_index()
    assert (board.loc[3:, "proposal_time"] > 0).all()

    trials = _study_trials(url)
    assert len(trials) == 5
    assert all("proposer" not in t.user_attrs for t in trials[:3])  # warm start
    proposed = trials[3]
    assert proposed.user_attrs["proposer"] == "divbo"
    assert {"w", "ei_rank", "div_rank", "proposal_time"} <= set(proposed.user_attrs)

    resumed = AutoEnsembleClassifier(**{**base, "n_trials": 6}).fit(X, y)
    sources = resumed.leaderboard_["source"].value_counts().to_dict()
    assert sources == {"resumed": 5, "evaluated": 1}
    trials = _study_trials(url)
    assert [t.number for t in trials] == list(range(6))
    # the resumed proposer learnt from the stored trials
    assert trials[5].user_attrs["t"] == 5
    assert trials[5].params not in [t.params for t in trials[:5]]


def test_divbo_is_deterministic(binary_data):
    X, y = binary_data
    params = {**FAST_DIVBO, "search": DivBO(n_init=3, n_candidates=200)}
    a = AutoEnsembleClassifier(**params).fit(X, y).leaderboard_.sort_values("trial")
    b = AutoEnsembleClassifier(**params).fit(X, y).leaderboard_.sort_values("trial")
    assert a["params"].tolist() == b["params"].tolist()
    assert a["loss"].tolist() == b["loss"].tolist()


def test_parallel_divbo_proposals_differ(tmp_path, binary_data):
    X, y = binary_data
    url = f"sqlite:///{tmp_path / 'par.db'}"
    AutoEnsembleClassifier(
        **{**FAST_DIVBO, "n_trials": 7, "n_jobs": 2, "storage": url}
    ).fit(X, y)
    trials = _study_trials(url)
    assert len(trials) == 7
    params = [tuple(sorted(t.params.items(), key=str)) for t in trials]
    assert len(set(params)) == 7  # no two trials share a config
    assert not any("duplicate_of" in t.user_attrs for t in trials)
    proposed = [t for t in trials if "proposer" in t.user_attrs]
    assert len(proposed) == 4
    # with two workers, proposals are made while the other trial is in flight (when
    # both finish in the same instant the first of two asks sees none pending)
    assert any(t.user_attrs["n_pending"] >= 1 for t in proposed)


def test_every_divbo_parameter_is_validated():
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        generate_invalid_param_val,
        make_constraint,
    )

    history = _history(4)
    defaults = DivBO().get_params()
    assert set(DivBO._parameter_constraints) == set(defaults)
    for name, constraints in DivBO._parameter_constraints.items():
        for constraint in map(make_constraint, constraints):
            try:
                bad = generate_invalid_param_val(constraint)
            except NotImplementedError:
                continue
            with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
                DivBO(**{name: bad}).propose(history)


def test_a_bad_divbo_fails_fit_before_any_trial(binary_data):
    X, y = binary_data
    model = AutoEnsembleClassifier(n_trials=2, cv=2, search=DivBO(tau=-1.0))
    with pytest.raises(ValueError, match="'tau' parameter of DivBO"):
        model.fit(X, y)
    assert not hasattr(model, "leaderboard_")


# ------------------------------------------------------------------ fast internals
def test_fast_forest_predicts_like_scikit_learns_random_forest():
    """The proposer's forest skips scikit-learn's per-tree checks and bootstraps by
    repeating rows; it must learn as well as RandomForestRegressor does (mean error
    over repeated draws: a single small draw is noisy for both), and its trees must
    disagree (their spread is EI's uncertainty)."""
    from sklearn.ensemble import RandomForestRegressor

    from autoens.search.divbo import _Forest

    rng = np.random.default_rng(1)
    errors = []
    for rep in range(10):
        X = rng.random((40, 20))
        X[:, :4] = INACTIVE
        y = X[:, 5] + np.sin(4 * X[:, 7]) + 0.1 * rng.standard_normal(40)
        Z = rng.random((300, 20))
        Z[:, :4] = INACTIVE
        truth = Z[:, 5] + np.sin(4 * Z[:, 7])
        reference = RandomForestRegressor(
            n_estimators=25, min_samples_leaf=2, max_features=5 / 6, random_state=rep
        ).fit(X, y)
        forest = _Forest(25, rep).fit(X, y)
        ours = forest.predict(Z)
        errors.append(
            (np.mean((ours - truth) ** 2), np.mean((reference.predict(Z) - truth) ** 2))
        )
        per_tree = forest.per_tree(Z)
        assert per_tree.shape == (25, 300)
        np.testing.assert_allclose(per_tree.mean(axis=0), ours)
        assert (per_tree.std(axis=0) > 0).mean() > 0.9
        # the same seed grows the same forest; another seed another one
        np.testing.assert_array_equal(_Forest(25, rep).fit(X, y).predict(Z), ours)
        assert not np.array_equal(_Forest(25, rep + 1).fit(X, y).predict(Z), ours)
    ours_mse, their_mse = np.mean(errors, axis=0)
    assert ours_mse < 1.25 * their_mse


def test_unseen_and_pair_features_match_straightforward_versions():
    from autoens.search.divbo import _cross_pair_features, _pair_features, _unseen

    rng = np.random.default_rng(2)
    for _ in range(100):
        f = int(rng.integers(1, 8))
        seen = rng.integers(-1, 3, size=(int(rng.integers(0, 15)), f)) / 2
        X = rng.integers(-1, 3, size=(int(rng.integers(1, 30)), f)) / 2
        # reference: first occurrences of rows of X that are not rows of seen
        seen_rows = {tuple(r) for r in seen}
        expected, kept = [], set()
        for row in map(tuple, X):
            if row not in seen_rows and row not in kept:
                kept.add(row)
                expected.append(row)
        got = _unseen(X, seen)
        if expected:
            assert [tuple(r) for r in got] == expected
        else:  # everything seen: X itself, so the proposer always has an answer
            np.testing.assert_array_equal(got, X)
    S, M = rng.random((40, 9)), rng.random((5, 9))
    S[::3, :3] = M[::2, :3] = INACTIVE
    a, b = np.repeat(S, len(M), axis=0), np.tile(M, (len(S), 1))
    np.testing.assert_array_equal(_cross_pair_features(S, M), _pair_features(a, b))
