"""Trials on a real Dask cluster: ``joblib.parallel_config(backend="dask")``.

One ``LocalCluster`` with two single-threaded worker processes (each with a nanny, on
the loopback interface) serves the whole module. No warning filter is needed: the
cluster's HTTP server gets a free port (see the fixture), and the restarts of hung
workers are reported by distributed through logging, not warnings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from types import SimpleNamespace

import dask
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from distributed.diagnostics.plugin import SchedulerPlugin

from autoens import AutoEnsembleClassifier
from autoens.search.executors import (
    DaskExecutor,
    LokyExecutor,
    make_executor,
    resolve_n_jobs,
)
from autoens.testing import fake_learner
from autoens.testing.search_doubles import sleepy_learner

TRIAL_PREFIX = "autoens-trial-"


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    # A LocalCluster retires for good a worker found down 15 s (Dask's
    # lost-worker-timeout) after one of its deaths: a trial that ends worker after
    # worker, or a slow restart on a loaded machine, would leave the tests that end
    # workers with one. Here the nannies keep their workers, as on a real cluster.
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}):
        yield from _client()


def _client() -> Iterator[Client]:
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # Even without a dashboard the scheduler serves health/metrics routes over
        # HTTP, on port 8787 unless told otherwise; when another cluster on this
        # machine holds 8787, distributed warns and leaks the socket it failed to
        # bind. A free loopback port avoids both.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    with cluster, Client(cluster) as dask_client:
        yield dask_client


def _worker_pids(client: Client, n_workers: int = 2) -> dict[str, int]:
    client.wait_for_workers(n_workers, timeout=60)
    return client.run(os.getpid)


def _trial_tasks(stream: list[dict]) -> dict[int, str]:
    """Trial number -> address of the worker that ran it, from the task stream."""
    return {
        int(str(t["key"]).removeprefix(TRIAL_PREFIX).split("-")[0]): t["worker"]
        for t in stream
        if str(t["key"]).startswith(TRIAL_PREFIX)
    }


class _TaskDependencies(SchedulerPlugin):
    """Records, on the scheduler, the dependencies of every trial task it schedules."""

    name = "autoens-test-dependencies"

    def __init__(self) -> None:
        self.deps: dict[str, list[str]] = {}
        self.scattered: set[str] = set()

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish != "processing" or not str(key).startswith(TRIAL_PREFIX):
            return
        task = self.scheduler.tasks[key]
        self.deps[str(key)] = sorted(str(d.key) for d in task.dependencies)
        # scattered data has no recipe (run_spec) on the scheduler: it was sent, not
        # computed
        self.scattered |= {str(d.key) for d in task.dependencies if d.run_spec is None}


def _fit(X, y, **params) -> AutoEnsembleClassifier:
    base = {"cv": 2, "random_state": 0, "search": "random"}
    return AutoEnsembleClassifier(**{**base, **params}).fit(X, y)


N_TRIALS = 6
# knora-e: a dynamic ensemble fits scikit-learn preprocessing (joblib inside) after
# the search and runs every member at predict time.
SEARCH = {"n_trials": N_TRIALS, "learners": ["logreg", "knn"], "selector": "knora-e"}


@pytest.fixture(scope="module")
def dask_fit(client, binary_data, tmp_path_factory) -> SimpleNamespace:
    """One fit under the dask backend, watched from the client and the scheduler."""
    X, y = binary_data
    pids = _worker_pids(client)
    cache_dir = tmp_path_factory.mktemp("dask-cache")
    plugin = _TaskDependencies()
    client.register_plugin(plugin)
    try:
        with joblib.parallel_config(backend="dask"), get_task_stream(client) as ts:
            assert isinstance(make_executor(2), DaskExecutor)
            model = _fit(X, y, cache_dir=cache_dir, **SEARCH)
            proba = model.predict_proba(X)
        deps = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.plugins[plugin.name].deps
        )
        scattered = client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.plugins[plugin.name].scattered
        )
    finally:
        client.unregister_scheduler_plugin(plugin.name)
    return SimpleNamespace(
        model=model,
        proba=proba,
        keys=[str(t["key"]) for t in ts.data],
        pids=pids,
        ran_on=_trial_tasks(ts.data),
        deps=deps,
        scattered=scattered,
        cache_dir=cache_dir,
    )


def test_trials_run_on_the_cluster_workers_with_data_sent_once(dask_fit):
    assert os.getpid() not in dask_fit.pids.values()  # the workers are other processes
    board = dask_fit.model.leaderboard_
    assert (board["status"] == "ok").all() and len(board) == N_TRIALS
    # every trial ran as a task on one of the cluster's worker processes. Not that
    # both workers took some: six trials of ~50 ms each can all land on one worker
    # when the other is still busy or slow to report (seen once in CI on a loaded
    # machine); the scheduler, not the search, decides.
    assert sorted(dask_fit.ran_on) == sorted(board["trial"])
    assert set(dask_fit.ran_on.values()) <= set(dask_fit.pids)
    # X, y and the folds went to the cluster once: every trial task depends on the same
    # three scattered keys instead of carrying the data itself
    assert len(dask_fit.deps) == N_TRIALS
    assert {tuple(d) for d in dask_fit.deps.values()} == {
        tuple(sorted(dask_fit.scattered))
    }
    assert len(dask_fit.scattered) == 3
    # only the trials went to the cluster: the work after the search (preprocessing,
    # selection) and predict run in this process, whatever joblib backend is active
    assert all(key.startswith("autoens-") for key in dask_fit.keys)


def test_same_configs_and_predictions_as_the_local_path(
    dask_fit, client, binary_data, tmp_path
):
    X, y = binary_data
    # leaving the context goes back to the local loky pool: nothing runs on the cluster
    assert isinstance(make_executor(2), LokyExecutor)
    with get_task_stream(client) as ts:
        local = _fit(X, y, cache_dir=tmp_path, n_jobs=2, **SEARCH)
    assert _trial_tasks(ts.data) == {}

    on_dask = dask_fit.model
    a = on_dask.leaderboard_.sort_values("trial").reset_index(drop=True)
    b = local.leaderboard_.sort_values("trial").reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    for column in ("trial", "learner", "params", "status", "source"):
        assert a[column].tolist() == b[column].tolist()
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)
    # the same OOF cache entries, written by this (the client) process
    assert on_dask.library_.keys == local.library_.keys
    np.testing.assert_allclose(on_dask.library_.oof, local.library_.oof, atol=1e-6)
    np.testing.assert_allclose(dask_fit.proba, local.predict_proba(X), atol=1e-6)
    names = {p.relative_to(dask_fit.cache_dir) for p in dask_fit.cache_dir.rglob("*")}
    assert names == {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    assert sum(p.suffix == ".json" for p in names) == N_TRIALS


def test_n_jobs_under_the_dask_backend(client):
    with joblib.parallel_config(backend="dask"):
        assert resolve_n_jobs(None) == 2  # every worker thread of the cluster
        assert resolve_n_jobs(-1) == 2
        assert resolve_n_jobs(3) == 3  # honoured as given
        with pytest.raises(ValueError, match="n_jobs == 0"):
            resolve_n_jobs(0)
    with joblib.parallel_config(backend="dask", n_jobs=1):
        assert resolve_n_jobs(None) == 1
    assert resolve_n_jobs(None) == 1  # loky: joblib's default
    assert resolve_n_jobs(2) == 2


def test_crashing_learner_is_a_failed_trial(client, binary_data):
    X, y = binary_data
    with (
        joblib.parallel_config(backend="dask"),
        pytest.warns(UserWarning, match="dropped from the search"),
    ):
        model = _fit(
            X,
            y,
            n_trials=2,
            learners=[fake_learner("crash"), "logreg"],
            portfolio=[("crash", {}), ("logreg", {})],
        )
    board = model.leaderboard_.set_index("learner")
    assert board.loc["crash", "status"] == "failed"
    assert "CrashingClassifier always fails" in board.loc["crash", "error"]
    assert board.loc["logreg", "status"] == "ok"


@pytest.mark.slow  # waits out trial and search time limits
def test_hanging_trial_is_stopped_and_its_worker_restarted(client, binary_data):
    X, y = binary_data
    before = _worker_pids(client)
    limit = 25.0
    start = time.monotonic()
    with (
        joblib.parallel_config(backend="dask"),
        pytest.warns(UserWarning, match="trial_time_limit=3"),
    ):
        model = _fit(
            X,
            y,
            time_limit=limit,
            n_trials=4,
            trial_time_limit=3,
            learners=[fake_learner("hang"), "logreg"],
            portfolio=[("hang", {}), ("logreg", {})],
        )
    elapsed = time.monotonic() - start
    assert elapsed < limit + 5
    board = model.leaderboard_
    hang = board[board["learner"] == "hang"]
    assert (hang["status"] == "timeout").all() and len(hang) >= 1
    # the recorded time is the trial's, not the time it took to restart its worker
    assert (hang["fit_time"] < 3 + 2).all()
    assert (board.loc[board["learner"] == "logreg", "status"] == "ok").all()
    # the hung worker process was ended and its nanny started a fresh one
    after = _worker_pids(client)
    assert len(set(before.values()) - set(after.values())) >= 1


@pytest.mark.slow  # waits out trial and search time limits
def test_trial_running_at_the_deadline_is_cancelled(client, binary_data):
    X, y = binary_data
    before = _worker_pids(client)
    limit = 8.0
    start = time.monotonic()
    # no warning: a trial cancelled because the search's time ran out is not the
    # learner's fault (and warnings are errors here)
    with joblib.parallel_config(backend="dask"):
        # the hang's own limit lies beyond the search's deadline, which stops it
        model = _fit(
            X,
            y,
            time_limit=limit,
            n_trials=3,
            trial_time_limit=limit,
            learners=[fake_learner("hang"), "logreg"],
            portfolio=[("hang", {}), ("logreg", {})],
        )
    elapsed = time.monotonic() - start
    assert elapsed < limit + 3
    board = model.leaderboard_.set_index("trial")
    assert board.loc[0, "learner"] == "hang"
    assert board.loc[0, "status"] == "cancelled"
    assert (board["status"] == "ok").sum() == 2
    # the worker stuck in the hang was ended, so the cluster gets its thread back
    after = _worker_pids(client)
    assert len(set(before.values()) - set(after.values())) == 1


@pytest.mark.slow  # the dying trial kills a worker per attempt (nanny restarts)
def test_a_trial_that_kills_its_worker_fails_alone(client, binary_data):
    """A learner that ends its worker process: Dask retries the task on other workers
    (each dies in turn) until it gives up with KilledWorker. That trial fails; the
    others finish and fit returns."""
    X, y = binary_data
    before = _worker_pids(client)
    with (
        joblib.parallel_config(backend="dask"),
        pytest.warns(UserWarning, match="dropped from the search"),
    ):
        model = _fit(
            X,
            y,
            n_trials=5,
            learners=[fake_learner("die"), "logreg"],
            portfolio=[
                ("die", {}),
                *[("logreg", {"C": c, "class_weight": None}) for c in (0.1, 1, 10)],
            ],
        )
    board = model.leaderboard_.set_index("trial")
    assert board.loc[0, "learner"] == "die"
    assert board.loc[0, "status"] == "failed"
    assert "KilledWorker" in board.loc[0, "error"]
    others = board.drop(index=0)
    assert len(others) == 4 and (others["status"] == "ok").all()
    # its workers were really killed (and restarted by their nannies)
    assert set(before.values()) - set(_worker_pids(client).values())


@pytest.mark.slow  # the dying trial kills the worker eight times
def test_a_trial_running_beside_one_that_kills_its_worker_is_not_blamed(binary_data):
    """One worker with two threads: the slow innocent trial runs beside the one that
    ends the worker, on every worker that dies, and the scheduler fails both with
    KilledWorker. Each runs again on its own: the culprit fails, the other finishes."""
    X, y = binary_data
    with (
        dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}),
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        ) as cluster,
        # not the default client: the search must use the one it was given
        Client(cluster, set_as_default=False) as own_client,
        joblib.parallel_config(backend="dask", client=own_client),
        pytest.warns(UserWarning, match="dropped from the search"),
    ):
        model = _fit(
            X,
            y,
            n_trials=2,
            n_jobs=2,
            learners=[fake_learner("die"), sleepy_learner(1.5)],
            portfolio=[("die", {}), ("sleepy", {"x": 0.5})],
        )
    board = model.leaderboard_.set_index("trial")
    assert board.loc[0, "status"] == "failed"
    assert "KilledWorker" in board.loc[0, "error"]
    assert board.loc[1, "learner"] == "sleepy"
    assert board.loc[1, "status"] == "ok", board.loc[1, "error"]
