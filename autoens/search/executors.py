"""Where trials run: a local loky process pool, or the workers of a Dask cluster.

The search loop sees one small interface (``TrialExecutor``): share the data, submit a
trial, stop overdue trials (and say which other trials were lost doing so), kill what
is left when the search ends. ``make_executor`` picks the Dask executor when joblib's
active backend is ``"dask"`` (``joblib.parallel_config(backend="dask")`` with a live
``dask.distributed.Client``) and the local loky pool otherwise.

A Python thread cannot be interrupted, so a trial that overruns its time limit is
stopped by ending the process that runs it. Locally that is a loky worker; on Dask it
is the worker process, which its nanny restarts at once (see ``DaskExecutor``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError, wait
from typing import TYPE_CHECKING, Any, Protocol

import joblib
from joblib.externals.loky import get_reusable_executor

if TYPE_CHECKING:
    import distributed

logger = logging.getLogger("autoens")

# Seconds an idle worker process stays alive between fits (loky reuses it meanwhile).
_WORKER_IDLE_TIMEOUT = 300
# Modules a worker imports before its first trial, so that no trial pays for them.
_WARM_MODULES = (
    "autoens.search.evaluate",
    "autoens.space.learners",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.neighbors",
    "sklearn.neural_network",
    "lightgbm",
    "xgboost",
)
# How long ``resolve_n_jobs`` waits for a Dask cluster that has no worker yet (an
# adaptive cluster may be starting some).
_DASK_WORKER_WAIT = 60.0
# Longest wait for a restarted Dask worker to come back during the search.
_DASK_RESTART_WAIT = 60.0
# Longest wait for the scheduler to notice that an ended worker is gone.
_DASK_REMOVAL_WAIT = 3.0
# A Dask worker that must stop exits after this delay, so that it can first answer the
# request that told it to.
_DASK_EXIT_DELAY = 0.05
_DASK_EXIT_CODE = 75


class TrialExecutor(Protocol):
    """What the search loop needs from the place where trials run."""

    n_workers: int

    def wait_ready(self, deadline: float) -> None:
        """Block until workers can take trials (time limits exclude start-up)."""

    def share(self, *data: Any) -> tuple[Any, ...]:
        """Handles to ``data`` to pass to ``submit``; sent to the workers once."""

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Future:
        """Run ``fn(*args)`` on a worker; ``key`` names the task in logs."""

    def stop(
        self,
        running: Sequence[Future],
        overdue: Sequence[Future],
        *,
        restart: bool,
        deadline: float,
    ) -> set[Future]:
        """Stop the ``overdue`` trials; return the other running ones lost with them.

        ``restart`` is False when the search is over: nothing needs to start again.
        """

    def kill(self) -> None:
        """Stop every trial still running (the search ended or failed)."""

    def close(self) -> None:
        """Release what ``share`` sent to the workers."""


# --- choosing the executor -----------------------------------------------------------


def active_dask_client() -> distributed.Client | None:
    """The Dask client of joblib's active backend, or None when it is not ``"dask"``.

    joblib's ``parallel_config(backend="dask")`` builds a ``DaskDistributedBackend``
    bound to a client (``distributed.get_client()`` unless one is given); we read it
    through ``joblib.parallel.get_active_backend``.
    """
    backend, _ = joblib.parallel.get_active_backend()
    client = getattr(backend, "client", None)
    if client is None:
        return None
    import distributed

    if not isinstance(client, distributed.Client):
        return None
    if client.status != "running":
        raise RuntimeError(
            f"joblib's dask backend uses a Dask client that is {client.status!r}; "
            "create the Client before entering parallel_config(backend='dask') and "
            "keep it open until fit returns"
        )
    return client


def _dask_submit_kwargs() -> dict[str, Any]:
    """Extra ``Client.submit`` options given to ``parallel_config`` (e.g. resources)."""
    backend, _ = joblib.parallel.get_active_backend()
    return dict(getattr(backend, "submit_kwargs", None) or {})


def _cluster_threads(client: distributed.Client) -> int:
    threads = sum(client.nthreads().values())
    if threads:
        return threads
    try:
        client.wait_for_workers(1, timeout=_DASK_WORKER_WAIT)
    except TimeoutError as exc:
        raise RuntimeError(
            f"the Dask scheduler {client.scheduler.address} has no worker after "
            f"{_DASK_WORKER_WAIT:.0f}s; start workers (`dask worker ADDRESS`) or fit "
            "outside joblib.parallel_config(backend='dask')"
        ) from exc
    return sum(client.nthreads().values())


def resolve_n_jobs(n_jobs: int | None) -> int:
    """How many trials run at once, for the active joblib backend.

    Locally this is joblib's ``effective_n_jobs``. Under the dask backend an explicit
    positive ``n_jobs`` is honoured as given (trials beyond the cluster's threads queue
    on the scheduler); None or -1 mean every worker thread of the cluster, -2 all but
    one, and so on.
    """
    client = active_dask_client()
    if client is None:
        return max(1, joblib.effective_n_jobs(n_jobs))
    if n_jobs is None:
        _, n_jobs = joblib.parallel.get_active_backend()  # parallel_config(n_jobs=...)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, -1 or a positive int")
    if n_jobs is not None and n_jobs > 0:
        return int(n_jobs)
    threads = _cluster_threads(client)
    return max(1, threads + 1 + (n_jobs if n_jobs is not None else -1))


def make_executor(n_workers: int) -> TrialExecutor:
    """A Dask executor under joblib's dask backend, else the local loky pool."""
    client = active_dask_client()
    if client is None:
        return LokyExecutor(n_workers)
    return DaskExecutor(client, n_workers, submit_kwargs=_dask_submit_kwargs())


# --- local: loky ---------------------------------------------------------------------


def warm_imports() -> None:
    """Import the learners' modules now, so that a timed trial does not pay for it."""
    for module in _WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def _exit_with_parent(parent: int) -> None:
    """Worker thread: exit when the process that started us is gone.

    A fit killed with SIGKILL (or a test runner that leaves with ``os._exit``) skips
    loky's shutdown, and its idle workers would otherwise live on as orphans.
    """
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _init_worker() -> None:
    """Loky worker initializer: exit with the parent; pay the imports once per worker,
    not inside a timed trial."""
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), daemon=True
    ).start()
    warm_imports()


def _ping() -> int:
    return os.getpid()


class LokyExecutor:
    """A loky process pool on this machine that can kill a hung worker and carry on."""

    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers
        self._executor = self._new()

    def _new(self) -> Any:
        return get_reusable_executor(
            max_workers=self.n_workers,
            timeout=_WORKER_IDLE_TIMEOUT,
            initializer=_init_worker,
        )

    def wait_ready(self, deadline: float) -> None:
        pings = [self._executor.submit(_ping) for _ in range(self.n_workers)]
        _, late = wait(pings, timeout=max(0.0, min(deadline - time.monotonic(), 600.0)))
        for ping in late:
            ping.cancel()

    def share(self, *data: Any) -> tuple[Any, ...]:
        return data  # loky pickles the arguments of every task

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Future:
        return self._executor.submit(fn, *args)

    def stop(
        self,
        running: Sequence[Future],
        overdue: Sequence[Future],
        *,
        restart: bool,
        deadline: float,
    ) -> set[Future]:
        # A loky worker cannot be killed on its own: every running trial goes with it.
        if restart:
            self.kill()
            self._executor = self._new()
            self.wait_ready(deadline)
        else:
            self.kill()
        return set(running) - set(overdue)

    def kill(self) -> None:
        # wait=True joins loky's manager thread; with wait=False it outlives the kill
        # and holds the interpreter open at exit until the hung task would have
        # finished.
        self._executor.shutdown(wait=True, kill_workers=True)

    def close(self) -> None:
        """Nothing to release: idle workers stay for the next fit, then time out."""


# --- distributed: Dask ---------------------------------------------------------------


def _exit_soon() -> int:
    """Run on a Dask worker (``Client.run``): end its process in a moment.

    The worker's nanny sees the process die and starts a fresh one; this is how a
    trial stuck in a worker thread is stopped. The delay lets the worker reply first.
    """
    threading.Timer(_DASK_EXIT_DELAY, os._exit, (_DASK_EXIT_CODE,)).start()
    return os.getpid()


class DaskExecutor:
    """Trials as tasks on a Dask cluster, through the client of joblib's backend.

    - The data (X, y, folds) is scattered once per fit (``Client.scatter``); trials
      receive handles to it. It is scattered again only when every worker holding it
      was restarted (scattered data cannot be recomputed).
    - Each trial is one ``Client.submit`` with a unique key ``autoens-trial-N-…``; its
      result (OOF predictions and fold models) comes back to this process, which writes
      the prediction cache.
    - A trial that overruns is cancelled, and the worker process running it is ended
      (``os._exit`` through ``Client.run``) because a thread cannot be interrupted; the
      worker's nanny restarts it. Other tasks on that worker, this fit's or anyone
      else's, are lost with it: this fit runs its own again, Dask reschedules the
      others. Workers without a nanny (``dask worker --no-nanny``, a threads-only
      ``LocalCluster``) cannot be restarted: the trial is cancelled and recorded as a
      timeout, but its thread keeps that worker slot busy until it returns.
    """

    def __init__(
        self,
        client: distributed.Client,
        n_workers: int,
        *,
        submit_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        self.n_workers = n_workers
        self._submit_kwargs = submit_kwargs or {}
        self._lock = threading.Lock()
        self._tasks: dict[Future, Any] = {}  # local future -> Dask future
        self._source: tuple[Any, ...] = ()
        self._shared: list[Any] = []
        self._warned_no_nanny = False

    def wait_ready(self, deadline: float) -> None:
        _cluster_threads(self.client)
        self._warm(sorted(self.client.nthreads()), deadline)

    def _warm(self, workers: list[str], deadline: float) -> None:
        """Import the learners on ``workers``, waiting at most until ``deadline``.

        One pinned task per worker, in its task threads: ``Client.run`` would block
        the worker's event loop and cannot be given a timeout.
        """
        import distributed

        tasks = [
            self.client.submit(
                warm_imports,
                key=f"autoens-warm-{uuid.uuid4().hex[:12]}",
                workers=[worker],
                allow_other_workers=False,
                pure=False,
            )
            for worker in workers
        ]
        timeout = max(0.0, min(deadline - time.monotonic(), _DASK_RESTART_WAIT))
        with contextlib.suppress(TimeoutError):
            distributed.wait(tasks, timeout=timeout)

    # --- data
    def share(self, *data: Any) -> tuple[Any, ...]:
        same = len(data) == len(self._source) and all(
            a is b for a, b in zip(data, self._source, strict=True)
        )
        if not (same and all(f.status == "finished" for f in self._shared)):
            # hash=False: our own keys, never shared with the user's futures.
            self._shared = self.client.scatter(list(data), broadcast=True, hash=False)
            self._source = data
        return tuple(self._shared)

    def close(self) -> None:
        self.kill()
        if self._shared:
            self.client.cancel(self._shared)
        self._shared, self._source = [], ()

    # --- trials
    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Future:
        task = self.client.submit(
            fn,
            *args,
            key=f"{key}-{uuid.uuid4().hex[:12]}",
            pure=False,
            **self._submit_kwargs,
        )
        local: Future = Future()
        with self._lock:
            self._tasks[local] = task
        # Dask calls back on its own thread; fetching the result there keeps the
        # search loop waiting on plain concurrent.futures.
        task.add_done_callback(lambda done: self._settle(local, done))
        return local

    def _settle(self, local: Future, task: Any) -> None:
        with self._lock:
            ours = self._tasks.pop(local, None) is not None
        if not ours:
            return  # we cancelled it: the loop has already recorded the trial
        try:
            result = task.result()
        except BaseException as exc:  # a lost worker (KilledWorker), unpicklable result
            with contextlib.suppress(InvalidStateError):
                local.set_exception(
                    RuntimeError(f"Dask task {task.key}: {type(exc).__name__}: {exc}")
                )
            return
        with contextlib.suppress(InvalidStateError):
            local.set_result(result)

    def _forget(self, futures: Sequence[Future]) -> list[Any]:
        """Cancel ``futures`` here and on the cluster; return their Dask tasks."""
        with self._lock:
            tasks = [self._tasks.pop(f) for f in futures if f in self._tasks]
        for f in futures:
            f.cancel()
        if tasks:
            self.client.cancel(tasks)
        return tasks

    def _workers_of(self, futures: Sequence[Future]) -> dict[Future, str]:
        """The worker each future's task is processing on (queued tasks have none)."""
        with self._lock:
            keys = {self._tasks[f].key: f for f in futures if f in self._tasks}
        where = {}
        for worker, processing in self.client.processing().items():
            for key in processing:
                if key in keys:
                    where[keys[key]] = worker
        return where

    def _restartable(self, workers: set[str]) -> set[str]:
        """The ``workers`` that have a nanny to start them again after they exit."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        restartable = {w for w in workers if info.get(w, {}).get("nanny")}
        stuck = workers - restartable
        if stuck and not self._warned_no_nanny:
            self._warned_no_nanny = True
            logger.warning(
                "Dask worker(s) %s run without a nanny, so a cancelled trial cannot "
                "be stopped there: its thread stays busy until the learner returns. "
                "Start workers with a nanny (the default of `dask worker`).",
                sorted(stuck),
            )
        return restartable

    def _end_workers(self, workers: set[str]) -> None:
        logger.warning(
            "restarting Dask worker(s) %s to stop trial(s) past their time limit",
            sorted(workers),
        )
        try:
            self.client.run(_exit_soon, workers=sorted(workers), on_error="ignore")
        except OSError as exc:  # the worker is already gone
            logger.info("Dask worker(s) %s unreachable: %s", sorted(workers), exc)

    def _await_removal(self, ended: set[str]) -> set[str]:
        """Wait until the scheduler has dropped the ended workers (a moment), so that
        nothing scheduled next, ours or the caller's, is sent to a dying process."""
        until = time.monotonic() + _DASK_REMOVAL_WAIT
        present = set(self.client.nthreads())
        while present & ended and time.monotonic() < until:
            time.sleep(0.02)
            present = set(self.client.nthreads())
        return present

    def _await_restart(
        self, present: set[str], before: set[str], deadline: float
    ) -> None:
        """Wait until the ended workers are replaced, then warm up the new ones."""
        until = min(deadline, time.monotonic() + _DASK_RESTART_WAIT)
        while len(present) < len(before) and time.monotonic() < until:
            time.sleep(0.05)
            present = set(self.client.nthreads())
        fresh = present - before
        if fresh:
            self._warm(sorted(fresh), deadline)

    def stop(
        self,
        running: Sequence[Future],
        overdue: Sequence[Future],
        *,
        restart: bool,
        deadline: float,
    ) -> set[Future]:
        where = self._workers_of(running)
        self._forget(overdue)
        victims = self._restartable({where[f] for f in overdue if f in where})
        if not victims:
            return set()
        # Cancelled before their worker ends, so that Dask does not run them elsewhere.
        lost = [f for f in running if f not in overdue and where.get(f) in victims]
        self._forget(lost)
        before = set(self.client.nthreads())
        if self._shared:
            holders = self.client.who_has(self._shared)
            if any(set(holders.get(f.key, ())) <= victims for f in self._shared):
                self._source = ()  # only ended workers hold it: scatter it again
        self._end_workers(victims)
        present = self._await_removal(victims)
        if restart:
            self._await_restart(present, before, deadline)
        return set(lost)

    def kill(self) -> None:
        with self._lock:
            running = list(self._tasks)
        if running:
            self.stop(running, running, restart=False, deadline=time.monotonic())
