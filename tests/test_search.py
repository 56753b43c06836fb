"""The search loop through the estimator: budgets, hangs, cache reuse, resume."""

from __future__ import annotations

import shutil
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import optuna
import pytest

from autoens import AutoEnsembleClassifier, SearchError
from autoens.space import get_learners
from autoens.testing import FAST_FIT as FAST
from autoens.testing import fake_learner


def test_hanging_learner_is_stopped_at_trial_time_limit(binary_data):
    X, y = binary_data
    model = AutoEnsembleClassifier(
        n_trials=2,
        cv=2,
        random_state=0,
        trial_time_limit=3,
        learners=[fake_learner("hang"), "logreg"],
        portfolio=[("hang", {}), ("logreg", {})],
    )
    start = time.monotonic()
    with pytest.warns(UserWarning, match="trial_time_limit=3"):
        model.fit(X, y)
    elapsed = time.monotonic() - start
    board = model.leaderboard_.set_index("learner")
    assert board.loc["hang", "status"] == "timeout"
    assert board.loc["logreg", "status"] == "ok"
    # the hung worker was killed: fit did not wait for it
    assert elapsed < 60


def test_fit_returns_within_time_limit(binary_data):
    X, y = binary_data
    limit = 8.0
    model = AutoEnsembleClassifier(
        time_limit=limit,
        n_trials=None,
        cv=2,
        random_state=0,
        learners=[fake_learner("hang"), "logreg", "hist_gb"],
        portfolio=[("logreg", {}), ("hang", {})],
    )
    start = time.monotonic()
    with pytest.warns(UserWarning, match="dropped from the search"):
        model.fit(X, y)
    elapsed = time.monotonic() - start
    assert elapsed < limit + 5  # a few seconds of slack for selection, never a hang
    assert (model.leaderboard_["status"] == "ok").any()


def test_time_limit_too_small_for_any_trial(binary_data):
    X, y = binary_data
    model = AutoEnsembleClassifier(
        time_limit=2,
        n_trials=None,
        cv=2,
        random_state=0,
        learners=[fake_learner("hang")],
    )
    # whether the hung trial even starts depends on how fast the worker boots
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(SearchError, match="time_limit"):
            model.fit(X, y)


def test_second_fit_reuses_every_candidate_from_cache_dir(tmp_path, mixed_data):
    X, y = mixed_data
    params = {**FAST, "n_trials": 5, "cache_dir": tmp_path / "cache"}
    first = AutoEnsembleClassifier(**params).fit(X, y)
    assert set(first.leaderboard_["source"]) == {"evaluated"}
    second = AutoEnsembleClassifier(**params).fit(X, y)
    assert set(second.leaderboard_["source"]) == {"cache"}
    assert (second.leaderboard_["fit_time"] == first.leaderboard_["fit_time"]).all()
    np.testing.assert_allclose(second.predict_proba(X), first.predict_proba(X))
    # other data (or folds) never sees those entries
    other = AutoEnsembleClassifier(**{**params, "cv": 3}).fit(X, y)
    assert set(other.leaderboard_["source"]) == {"evaluated"}


def test_cache_hit_fit_loads_only_the_fold_models_it_keeps(
    tmp_path, binary_data, monkeypatch
):
    X, y = binary_data
    cache_dir = tmp_path / "cache"
    params = {**FAST, "n_trials": 5, "cache_dir": cache_dir}
    first = AutoEnsembleClassifier(**params).fit(X, y)
    entries = len(list(cache_dir.rglob("*.models.joblib")))
    assert entries == 5

    loaded: list[str] = []
    real_load = joblib.load

    def counting_load(f, *args, **kwargs):
        loaded.append(getattr(f, "name", str(f)))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(joblib, "load", counting_load)
    second = AutoEnsembleClassifier(**params).fit(X, y)
    assert set(second.leaderboard_["source"]) == {"cache"}
    kept = set(second.library_.models)
    assert kept == {*second.ensemble_.required.tolist(), second.library_.best}
    # Only the kept members' fold models were read, each once; never the other
    # candidates'.
    assert sorted(Path(name).name for name in loaded) == sorted(
        f"{second.library_.keys[i]}.models.joblib" for i in kept
    )
    assert len(kept) < entries
    np.testing.assert_allclose(second.predict_proba(X), first.predict_proba(X))
    # what is kept is in memory: the saved model predicts without the cache folder
    monkeypatch.undo()
    path = tmp_path / "model.joblib"
    joblib.dump(second, path)
    shutil.rmtree(cache_dir)
    restored = joblib.load(path)
    np.testing.assert_allclose(restored.predict_proba(X), first.predict_proba(X))
    best = restored.best_trial_
    np.testing.assert_allclose(
        restored.predict_proba_member(X, best), first.predict_proba_member(X, best)
    )


def test_cache_hit_fit_with_keep_models_all_holds_every_model(tmp_path, binary_data):
    X, y = binary_data
    params = {**FAST, "cache_dir": tmp_path, "keep_models": "all"}
    AutoEnsembleClassifier(**params).fit(X, y)
    again = AutoEnsembleClassifier(**params).fit(X, y)
    assert set(again.leaderboard_["source"]) == {"cache"}
    assert set(again.library_.models) == set(range(len(again.library_)))


def test_corrupt_cache_entry_is_recomputed(tmp_path, binary_data, caplog):
    X, y = binary_data
    params = {**FAST, "cache_dir": tmp_path}
    AutoEnsembleClassifier(**params).fit(X, y)
    victim = sorted(Path(tmp_path).rglob("*.npy"))[0]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    again = AutoEnsembleClassifier(**params).fit(X, y)
    sources = again.leaderboard_["source"].value_counts().to_dict()
    assert sources == {"cache": 2, "evaluated": 1}
    assert any(
        "corrupt" in r.getMessage() or "checksum" in r.getMessage()
        for r in caplog.records
    )
    third = AutoEnsembleClassifier(**params).fit(X, y)
    assert set(third.leaderboard_["source"]) == {"cache"}


def test_damaged_fold_models_of_a_kept_member_are_recomputed(
    tmp_path, binary_data, caplog
):
    """The search reads cache entries without their fold models, yet a damaged
    models file of an ensemble member is found there and that candidate refit,
    rather than failing later when the library loads the members."""
    X, y = binary_data
    params = {**FAST, "n_trials": 4, "cache_dir": tmp_path}
    first = AutoEnsembleClassifier(**params).fit(X, y)
    member = int(first.ensemble_.required[0])
    victim = next(Path(tmp_path).rglob(f"{first.library_.keys[member]}.models.joblib"))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    again = AutoEnsembleClassifier(**params).fit(X, y)
    source = again.leaderboard_.set_index("trial")["source"]
    damaged = first.library_.trials[member]
    assert source[damaged] == "evaluated"
    assert (source.drop(index=damaged) == "cache").all()
    assert "checksum" in caplog.text
    np.testing.assert_allclose(again.predict_proba(X), first.predict_proba(X))


@pytest.mark.parametrize("search", ["tpe", "random"])
def test_sampler_proposals_without_a_portfolio_are_seeded(binary_data, search):
    """With portfolio=None every trial is the sampler's own proposal: drawn from the
    learners' spaces, the same for the same seed, different for another."""
    X, y = binary_data
    params = {**FAST, "portfolio": None, "search": search, "n_trials": 4}

    def proposals(seed: int) -> list[tuple[str, dict]]:
        board = AutoEnsembleClassifier(**{**params, "random_state": seed}).fit(X, y)
        board = board.leaderboard_.sort_values("trial")
        assert (board["source"] == "evaluated").all()
        return list(zip(board["learner"], board["params"], strict=True))

    first = proposals(0)
    assert proposals(0) == first
    assert proposals(1) != first
    specs = {s.name: s for s in get_learners(FAST["learners"])}
    defaults = [(name, dict(specs[name].defaults)) for name in specs]
    for learner, config in first:
        assert learner in specs
        space = specs[learner].distributions
        assert set(config) == set(space)
        assert all(
            space[k]._contains(space[k].to_internal_repr(v)) for k, v in config.items()
        )
        assert (learner, config) not in defaults


def test_rdb_storage_resumes_an_interrupted_search(tmp_path, binary_data):
    X, y = binary_data
    url = f"sqlite:///{tmp_path / 'run.db'}"
    base = {**FAST, "storage": url, "cache_dir": tmp_path / "cache"}
    AutoEnsembleClassifier(**{**base, "n_trials": 3}).fit(X, y)
    resumed = AutoEnsembleClassifier(**{**base, "n_trials": 5}).fit(X, y)
    sources = resumed.leaderboard_["source"].value_counts().to_dict()
    assert sources == {"resumed": 3, "evaluated": 2}
    summaries = optuna.get_all_study_summaries(url)
    assert len(summaries) == 1 and summaries[0].n_trials == 5
    # without the cache the stored trials are re-evaluated rather than lost
    no_cache = AutoEnsembleClassifier(**{**base, "n_trials": 5, "cache_dir": None}).fit(
        X, y
    )
    assert len(no_cache.leaderboard_) == 5
    assert (no_cache.leaderboard_["status"] == "ok").all()


def test_resume_reruns_a_trial_cancelled_by_the_deadline(tmp_path, binary_data):
    """A trial cut off by the last run's deadline never ran: resuming runs its config
    instead of counting it as a spent trial."""
    X, y = binary_data
    url = f"sqlite:///{tmp_path / 'run.db'}"
    base = {
        **FAST,
        "learners": ["logreg"],
        "portfolio": [("logreg", {"C": 1.0})],
        "storage": url,
        "cache_dir": tmp_path / "cache",
    }
    AutoEnsembleClassifier(**{**base, "n_trials": 1}).fit(X, y)
    [summary] = optuna.get_all_study_summaries(url)
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    [done] = study.trials
    # What the loop stores for a trial the search's deadline cancelled.
    study.add_trial(
        optuna.trial.create_trial(
            params={**done.params, "logreg__C": 0.05},
            distributions=done.distributions,
            state=optuna.trial.TrialState.FAIL,
            user_attrs={"status": "cancelled", "error": "cancelled after 3.0s"},
        )
    )
    resumed = AutoEnsembleClassifier(**{**base, "n_trials": 2}).fit(X, y)
    board = resumed.leaderboard_.set_index("trial")
    assert board["source"].to_dict() == {0: "resumed", 1: "evaluated"}
    assert (board["status"] == "ok").all()
    assert board.loc[1, "params"]["C"] == 0.05
    assert len(study.trials) == 2  # the budget of 2 was met without a new trial


def test_parallel_trials(binary_data):
    X, y = binary_data
    model = AutoEnsembleClassifier(**{**FAST, "n_trials": 6, "n_jobs": 2}).fit(X, y)
    assert len(model.leaderboard_) == 6
    assert (model.leaderboard_["status"] == "ok").all()
    assert model.leaderboard_["trial"].nunique() == 6


def test_joblib_parallel_runs_after_a_parallel_fit_and_a_fit_after_it(binary_data):
    """joblib's ``Parallel`` (scikit-learn's ``n_jobs``) takes over the loky pool a
    fit leaves; it failed on one it had not made itself (joblib 1.6)."""
    from joblib import Parallel, delayed

    X, y = binary_data
    params = {**FAST, "n_trials": 2, "n_jobs": 2}
    AutoEnsembleClassifier(**params).fit(X, y)
    assert Parallel(n_jobs=2)(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
    model = AutoEnsembleClassifier(**params).fit(X, y)
    assert (model.leaderboard_["status"] == "ok").all()


def test_random_search_and_verbose_progress(binary_data, capsys):
    X, y = binary_data
    AutoEnsembleClassifier(**{**FAST, "search": "random", "verbose": 1}).fit(X, y)
    assert "autoens search" in capsys.readouterr().err
    with pytest.raises(ValueError, match="search"):
        AutoEnsembleClassifier(**{**FAST, "search": "grid"}).fit(X, y)


def test_failures_leave_the_cache_clean(tmp_path, binary_data):
    X, y = binary_data
    params = {
        "n_trials": 3,
        "cv": 2,
        "random_state": 0,
        "cache_dir": tmp_path,
        "learners": [fake_learner("crash"), fake_learner("nan"), "logreg"],
        "portfolio": [("crash", {}), ("nan", {}), ("logreg", {})],
    }
    with pytest.warns(UserWarning, match="dropped from the search"):
        AutoEnsembleClassifier(**params).fit(X, y)
    assert len(list(Path(tmp_path).rglob("*.json"))) == 1  # only the good candidate
    with pytest.warns(UserWarning, match="dropped from the search"):
        again = AutoEnsembleClassifier(**params).fit(X, y)
    board = again.leaderboard_.set_index("learner")
    assert board.loc["logreg", "source"] == "cache"
    assert board.loc["crash", "status"] == "failed"


_KILLED_FIT = """
import sys
from sklearn.datasets import load_breast_cancer
from autoens import AutoEnsembleClassifier
X, y = load_breast_cancer(return_X_y=True, as_frame=True)
AutoEnsembleClassifier(n_trials=40, cv=2, random_state=0, cache_dir=sys.argv[1],
                       learners=["logreg", "hist_gb", "knn"]).fit(X, y)
"""


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (Linux /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry.name))
    return kids


@pytest.mark.slow
def test_killed_fit_loses_no_finished_candidate(tmp_path):
    """SIGKILL a real fit halfway; the next fit reuses what had finished."""
    import subprocess
    import sys

    from sklearn.datasets import load_breast_cancer

    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_FIT, str(cache)])
    try:
        deadline = time.monotonic() + 240
        while len(list(cache.rglob("*.json"))) < 3:
            assert proc.poll() is None, "the fit ended before it could be killed"
            assert time.monotonic() < deadline, "no candidate finished in time"
            time.sleep(0.2)
        workers = _children(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    # the killed fit's worker processes notice and exit instead of living on as orphans
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, f"orphaned workers {workers}"
        time.sleep(0.2)
    finished = len(list(cache.rglob("*.json")))
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = AutoEnsembleClassifier(
        n_trials=finished,
        cv=2,
        random_state=0,
        cache_dir=cache,
        learners=["logreg", "hist_gb", "knn"],
    ).fit(X, y)
    assert (model.leaderboard_["source"] == "cache").sum() == finished
    assert (model.leaderboard_["status"] == "ok").all()
