"""A portfolio learned from a replay run: shared candidates, the greedy build checked
against a brute force on the same saved searches, the portfolio file and its errors."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from autoens import AutoEnsembleClassifier
from autoens.benchmark.portfolio import build_portfolio, load_replay, sample_candidates
from autoens.benchmark.runner import run_suite
from autoens.benchmark.suite import load_suite
from autoens.benchmark.tasks import resolve_tasks
from autoens.cli import main
from autoens.datasets import load_keel
from autoens.selectors import GreedyEnsembleSelection
from autoens.space import get_learners, get_portfolio, read_portfolio, write_portfolio
from autoens.task import RegressionTask

LEARNERS = ["logreg", "hist_gb"]
TASKS = ["keel:wdbc", "keel:pima"]
N_FOLDS = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny real replay run over shared candidates (about 25 s on two cores)."""
    root = tmp_path_factory.mktemp("portfolio")
    candidates = sample_candidates(4, seed=0, learners=LEARNERS)
    write_portfolio(root / "candidates.json", candidates)
    (root / "suite.toml").write_text(
        f"""
[run]
name = "portfolio-test"
mode = "replay"
metric = "roc_auc"
folds = {N_FOLDS}
cv = 2
n_jobs = 1
learners = {json.dumps(LEARNERS)}
portfolio = "candidates.json"
methods = ["tpe+ges"]
tasks = {json.dumps(TASKS)}
"""
    )
    suite = load_suite(root / "suite.toml")
    summary = run_suite(suite, root / "results")
    assert summary.n_ok == len(TASKS) * N_FOLDS, summary.text()
    return root, candidates, suite


def _key(learner, params):
    return (learner, tuple(sorted((k, repr(v)) for k, v in params.items())))


def _saved(root, suite, test):
    """Brute-force inputs read independently of the builder: per task-fold, the OOF
    (or outer-test) predictions of each candidate, keyed like the candidates."""
    out = []
    for task in resolve_tasks(list(suite.tasks)):
        X, y = task.load()
        for fold in range(N_FOLDS):
            folder = (
                root
                / "results"
                / "work"
                / "search"
                / task.id.replace(":", "_")
                / f"fold{fold}-seed0-tpe"
            )
            model = joblib.load(folder / "model.joblib")
            board = model.leaderboard_.sort_values("trial")
            preds, target = {}, model.library_.y
            if test:
                _, idx = task.outer_split(fold, n_folds=N_FOLDS, seed=0)
                X_test = X.iloc[idx]
                target = pd.Index(model.classes_).get_indexer(y.iloc[idx])
            for row in board.itertuples():
                p = (
                    model.predict_proba_member(X_test, row.trial)
                    if test
                    else model.library_.oof[model.library_.index_of(row.trial)]
                )
                preds[_key(row.learner, row.params)] = p
            oof = {
                _key(lr, pa): model.library_.oof[i]
                for i, (lr, pa) in enumerate(
                    zip(model.library_.learners, model.library_.params, strict=True)
                )
            }
            out.append((model.library_.y, oof, target, preds))
    return out


def _brute_force_order(candidates, saved, size):
    """The greedy picks, one GreedyEnsembleSelection fit per (pool, task-fold), scored
    with scikit-learn's ROC AUC and normalised between the worst and best config."""
    keys = [_key(*c) for c in candidates]
    chosen, scores = [], []
    for _ in range(size):
        means = np.full(len(keys), -np.inf)
        for c in range(len(keys)):
            if c in chosen:
                continue
            pool = sorted([*chosen, c])
            per_task = []
            for y_oof, oof, target, preds in saved:
                singles = [1 - roc_auc_score(target, preds[k][:, 1]) for k in keys]
                P = np.stack([oof[keys[i]] for i in pool])
                ges = GreedyEnsembleSelection(ensemble_size=25, random_state=0)
                ges.fit(P, y_oof, metric="roc_auc")
                E = ges.combine(np.stack([preds[keys[i]] for i in pool]))
                loss = 1 - roc_auc_score(target, E[:, 1])
                best, worst = min(singles), max(singles)
                per_task.append((worst - loss) / (worst - best))
            means[c] = np.mean(per_task)
        chosen.append(int(np.argmax(means)))
        scores.append(means[chosen[-1]])
    return chosen, np.array(scores)


def test_the_suite_evaluates_exactly_the_candidates(run):
    root, candidates, suite = run
    assert suite.n_trials == len(candidates)  # unset n_trials: the file's length
    data = load_replay(root / "results")
    assert data.coverage.all() and len(data.searches) == len(TASKS) * N_FOLDS
    assert [_key(*c) for c in data.configs] == [_key(*c) for c in candidates]
    assert data.configs[: len(get_portfolio("default", get_learners(LEARNERS)))] == (
        get_portfolio("default", get_learners(LEARNERS))
    )


@pytest.mark.parametrize("score", ["validation", "test"])
def test_greedy_order_matches_brute_force(run, score):
    root, candidates, suite = run
    built = build_portfolio(load_replay(root / "results", score=score), 2)
    expected, scores = _brute_force_order(
        candidates, _saved(root, suite, score == "test"), 2
    )
    assert built.indices == expected
    np.testing.assert_allclose(built.scores, scores, rtol=0, atol=1e-9)
    if score == "validation":  # GES never ends worse than the best model of its pool
        assert np.all(built.task_scores[1] >= built.task_scores[0] - 1e-5)


def test_rank_normalisation_and_longer_builds(run):
    root, candidates, _ = run
    data = load_replay(root / "results")
    built = build_portfolio(data, 4, normalize="rank", ensemble_size=10)
    assert len(set(built.indices)) == 4
    assert np.all((built.task_scores >= 0) & (built.task_scores <= 1))
    # on the data GES selects on, an ensemble holding the first pick is never worse
    assert np.all(built.task_scores >= built.task_scores[0] - 1e-12)
    with pytest.raises(ValueError, match="more than the 8 candidates"):
        build_portfolio(data, len(candidates) + 1)


def test_portfolio_file_round_trip_and_a_fit_uses_it_first(run, tmp_path):
    root, _, _ = run
    path = tmp_path / "learned.json"
    code = main(
        ["portfolio", "build", str(root / "results"), "--size", "3", "--out", str(path)]
    )
    assert code == 0
    loaded = read_portfolio(path)
    built = build_portfolio(load_replay(root / "results"), 3)
    assert list(loaded.configs) == built.configs
    assert loaded.metadata["command"].startswith("autoens portfolio build")
    assert loaded.metadata["tasks"] == sorted(TASKS)
    assert len(loaded.metadata["task_folds"]) == len(TASKS) * N_FOLDS

    X, y = load_keel("pima")
    clf = AutoEnsembleClassifier(
        portfolio=str(path), n_trials=4, cv=2, learners=LEARNERS, random_state=0
    ).fit(X, y)
    first = clf.leaderboard_.sort_values("trial").head(3)
    assert [(r.learner, r.params) for r in first.itertuples()] == built.configs


def test_cli_candidates_and_fit_with_a_portfolio(tmp_path, capsys):
    out = tmp_path / "c.json"
    args = ["portfolio", "candidates", "--size", "2", "--learners", "logreg"]
    assert main([*args, "--out", str(out)]) == 0
    configs = read_portfolio(out).configs
    assert len(configs) == 2 + 2  # logreg's two default-portfolio configs
    assert all(learner == "logreg" for learner, _ in configs)
    X, y = load_keel("pima")
    csv = tmp_path / "train.csv"
    X.assign(target=y).to_csv(csv, index=False)
    model = tmp_path / "m.skops"
    fit = ["fit", str(csv), "--target", "target", "--n-trials", "2", "--cv", "2"]
    assert main([*fit, "--portfolio", str(out), "--out", str(model)]) == 0
    assert main([*fit, "--portfolio", str(tmp_path / "nope.json")]) == 2
    assert "no file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "not a portfolio file"),
        (
            '{"format": "autoens-portfolio", "version": 99, "family": '
            '"classification", "configs": [{"learner": "logreg", "params": {}}]}',
            "newer than",
        ),
        (
            '{"format": "autoens-portfolio", "version": 1, "family": '
            '"classification", "configs": []}',
            "non-empty list",
        ),
        (
            '{"format": "autoens-portfolio", "version": 1, "family": '
            '"classification", "configs": [{"learner": "logreg"}]}',
            r"configs\[0\]",
        ),
        (
            '{"format": "autoens-portfolio", "version": 1, "family": '
            '"classification", "configs": [{"learner": "boost", "params": {}}]}',
            "uses learner 'boost'",
        ),
        (
            '{"format": "autoens-portfolio", "version": 1, "family": '
            '"classification", "configs": [{"learner": "logreg", "params": '
            '{"C": -1.0}}]}',
            "outside its search",
        ),
        (
            '{"format": "autoens-portfolio", "version": 1, "family": '
            '"classification", "configs": [{"learner": "knn", "params": '
            '{"depth": 3}}]}',
            "unknown hyper-parameters",
        ),
        (
            '{"format": "autoens-portfolio", "version": 1, "family": '
            '"classification", "configs": [{"learner": "knn", "params": {}}]}',
            "no config of the learners searched",
        ),
    ],
)
def test_bad_portfolio_files(tmp_path, content, match):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        get_portfolio(str(path), get_learners(LEARNERS))


def test_file_errors_reach_the_estimator_before_any_search(tmp_path):
    X, y = load_keel("pima")
    with pytest.raises(ValueError, match="no file"):
        AutoEnsembleClassifier(
            portfolio=str(tmp_path / "missing.json"), cache_dir=tmp_path / "cache"
        ).fit(X, y)
    assert not (tmp_path / "cache").exists()
    regression = write_portfolio(
        tmp_path / "r.json", [("ridge", {})], family="regression"
    )
    with pytest.raises(ValueError, match="regression configs"):
        get_portfolio(regression, get_learners(LEARNERS))
    assert get_portfolio(regression, get_learners(task=RegressionTask), RegressionTask)
    # learners known but not searched are left out, as with "default"
    mixed = write_portfolio(tmp_path / "m.json", [("knn", {}), ("logreg", {"C": 0.5})])
    assert [n for n, _ in get_portfolio(mixed, get_learners(LEARNERS))] == ["logreg"]


def test_build_refuses_other_results(tmp_path):
    with pytest.raises(ValueError, match=r"no suite\.toml"):
        load_replay(tmp_path)
    assert main(["portfolio", "build", str(tmp_path / "none"), "--size", "2"]) == 2


def test_benchmark_run_takes_a_portfolio_override(run, tmp_path, monkeypatch, capsys):
    root, candidates, _ = run
    monkeypatch.chdir(root)  # an override's path is read from the working directory
    learned = write_portfolio(tmp_path / "learned.json", candidates[:2])
    suite = load_suite(root / "suite.toml", overrides={"portfolio": str(learned)})
    assert suite.portfolio == str(learned.resolve())
    default = load_suite(root / "suite.toml", overrides={"portfolio": "default"})
    assert default.portfolio == "default"
    bad = ["benchmark", "run", str(root / "suite.toml"), "--portfolio", "nope.json"]
    assert main([*bad, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "portfolio" in err and "nope.json" in err
