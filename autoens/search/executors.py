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
import signal
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, InvalidStateError, wait
from typing import TYPE_CHECKING, Any, Protocol

import joblib
from joblib.executor import get_memmapping_executor

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
# How long to retry sending the data while workers keep ending; then a trial carries
# its data itself.
_DASK_SCATTER_WAIT = 10.0
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


def _parent_pid() -> int:
    """The process that started this worker, even when it is already gone.

    ``os.getppid()`` alone would not do: a worker still starting up (imports take
    seconds on a loaded machine) when its parent was killed has been handed to init
    already, and would take init for its parent and never exit.
    """
    import multiprocessing

    parent = multiprocessing.parent_process()  # recorded when we were spawned
    return parent.pid if parent is not None and parent.pid else os.getppid()


def _init_worker() -> None:
    """Loky worker initializer: exit with the parent; leave Ctrl-C to the parent; pay
    the imports once per worker, not inside a timed trial.

    A terminal sends Ctrl-C to every process of the foreground group. The parent's
    search decides what an interrupt means (it stops the trials by ending their
    workers); a worker that raised KeyboardInterrupt itself would instead break the
    pool or hand the exception back as a trial's result.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # also drops one that is pending
    if hasattr(signal, "pthread_sigmask"):  # blocked since the spawn: see below
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(
        target=_exit_with_parent, args=(_parent_pid(),), daemon=True
    ).start()
    warm_imports()


def _start_resource_trackers() -> None:
    """Start loky's and multiprocessing's resource trackers, unless running.

    Starting one (at the first spawn of workers) unblocks SIGINT in the calling
    thread: it blocks the signal for the tracker's spawn and then unblocks it rather
    than restore the mask it found, which would undo :func:`_sigint_blocked`.
    """
    from multiprocessing import resource_tracker as mp_tracker

    from joblib.externals.loky.backend import resource_tracker as loky_tracker

    for tracker in (loky_tracker, mp_tracker):
        with contextlib.suppress(Exception):  # then loky starts it, as before
            tracker.ensure_running()


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while loky may spawn workers (at a submit).

    A worker inherits the blocked signal, so a Ctrl-C that reaches it (a terminal
    sends it to the whole foreground process group) while it still starts up waits
    until :func:`_init_worker` ignores it, instead of ending the worker's start-up
    with a ``KeyboardInterrupt`` traceback on the terminal. Threads loky starts here
    inherit the mask too, so workers it spawns later are covered as well. This
    process loses nothing: a SIGINT meanwhile is delivered when the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    _start_resource_trackers()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _ping() -> int:
    return os.getpid()


# The loky executor the search made last. At interpreter exit loky joins its workers
# gracefully: each first finishes what it was given (the start-up imports of
# ``_init_worker``, which take seconds on a loaded machine, and the readiness pings
# queued behind them) and then tears its interpreter down. After a fit that failed or
# finished that is only waiting, so we end them instead (see ``_end_workers_at_exit``).
_last_executor: weakref.ref[Any] | None = None


def _end_workers_at_exit() -> None:
    """Interpreter exit: end the search's workers at once rather than wait for them.

    The workers hold nothing: every finished trial is already recorded by the parent,
    so ending them loses no result.
    """
    executor = _last_executor() if _last_executor is not None else None
    if executor is not None:
        with contextlib.suppress(Exception):
            executor.shutdown(wait=True, kill_workers=True)


def _track_executor(executor: Any) -> None:
    """Remember ``executor`` for :func:`_end_workers_at_exit`; keep that hook last.

    ``threading._register_atexit`` hooks run last-in, first-out before non-daemon
    threads are joined, and loky registers its graceful join there again whenever a
    new executor starts (after each restart), so ours is registered again whenever
    it is no longer the last one.
    """
    global _last_executor
    _last_executor = weakref.ref(executor)
    register = getattr(threading, "_register_atexit", None)
    hooks = getattr(threading, "_threading_atexits", None)
    last = getattr(hooks[-1], "func", hooks[-1]) if hooks else None  # partials
    if register is None or last is _end_workers_at_exit:
        return
    with contextlib.suppress(RuntimeError):  # the interpreter is already exiting
        register(_end_workers_at_exit)


class LokyExecutor:
    """A loky process pool on this machine that can kill a hung worker and carry on."""

    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers
        self._executor = self._new()

    def _new(self) -> Any:
        """loky's process-wide pool, reused by the next fit while it is alive.

        Made by joblib's own factory: joblib's ``Parallel`` (scikit-learn's
        ``n_jobs``) takes this pool over after a fit and fails on one it did not make
        itself. ``max_nbytes=None``: trial arguments are pickled, never memory-mapped
        (a worker may write into its copy of the data).
        """
        return get_memmapping_executor(
            self.n_workers,
            timeout=_WORKER_IDLE_TIMEOUT,
            initializer=_init_worker,
            max_nbytes=None,
        )

    def wait_ready(self, deadline: float) -> None:
        with _sigint_blocked():
            pings = [self._executor.submit(_ping) for _ in range(self.n_workers)]
        # After a submit, which registers loky's own exit hook: ours must come later.
        _track_executor(self._executor)
        _, late = wait(pings, timeout=max(0.0, min(deadline - time.monotonic(), 600.0)))
        for ping in late:
            ping.cancel()

    def share(self, *data: Any) -> tuple[Any, ...]:
        return data  # loky pickles the arguments of every task

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Future:
        with _sigint_blocked():
            future = self._executor.submit(fn, *args)
        _track_executor(self._executor)
        return future

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
    - A learner that ends its worker process (a segfault, the OOM killer) takes
      down every worker Dask retries it on, until the scheduler gives up with
      ``KilledWorker``. The scheduler blames every task that was on a dying worker,
      also one only queued there behind the culprit, so a trial that fails with
      ``KilledWorker`` is run once more on its own (no other trial of this fit is
      sent to the cluster meanwhile): the culprit then fails alone, an innocent
      trial finishes.
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
        # local future -> (fn, args with the data inline, key), until it settles
        self._calls: dict[Future, tuple[Callable[..., Any], tuple[Any, ...], str]] = {}
        self._inlined: set[Future] = set()  # run again with the data inline
        # Trials that failed with KilledWorker, waiting to run again on their own;
        # the one doing so; those that had that second run; the launches held back
        # meanwhile (local future -> fn, args, key).
        self._suspects: list[Future] = []
        self._isolated: Future | None = None
        self._retried_alone: set[Future] = set()
        self._held: dict[Future, tuple[Callable[..., Any], tuple[Any, ...], str]] = {}
        self._launching = 0  # launches decided on, not yet in _tasks
        self._source: tuple[Any, ...] = ()
        self._shared: list[Any] = []
        self._warned_no_nanny = False

    def wait_ready(self, deadline: float) -> None:
        _cluster_threads(self.client)
        self._warm(sorted(self.client.nthreads()), deadline)

    def _warm(self, workers: list[str], deadline: float) -> None:
        """Import the learners on ``workers``, waiting at most until ``deadline``.

        One pinned task per worker, in its task threads: ``Client.run`` would block
        the worker's event loop and cannot be given a timeout. Waited on through
        their own client: ``distributed.wait`` would use the default client, which
        may be another one, or none (``Client(..., set_as_default=False)``).
        """
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
        until = time.monotonic() + max(
            0.0, min(deadline - time.monotonic(), _DASK_RESTART_WAIT)
        )
        for task in tasks:
            # TimeoutError; or the worker went away, which the search handles later
            with contextlib.suppress(Exception):
                task.result(timeout=max(0.0, until - time.monotonic()))

    # --- data
    def share(self, *data: Any) -> tuple[Any, ...]:
        same = len(data) == len(self._source) and all(
            a is b for a, b in zip(data, self._source, strict=True)
        )
        if same and self._shared and all(f.status == "finished" for f in self._shared):
            return tuple(self._shared)
        try:
            self._shared = self._scatter(data)
        except Exception as exc:
            # Workers keep ending (a learner that kills its process, again and
            # again), or the scatter raced with one that ended: this trial carries
            # its data itself, the next one tries again.
            logger.info(
                "Dask scatter failed (%s: %s); the trial carries its data",
                type(exc).__name__,
                exc,
            )
            self._shared, self._source = [], ()
            return data
        self._source = data
        return tuple(self._shared)

    def _scatter(self, data: tuple[Any, ...]) -> list[Any]:
        """Send ``data`` to every worker, retried for a while when workers end during
        the scatter or none is up (restarting after a trial killed them).

        A worker that ends during the scatter shows as a closed connection
        (``OSError``), no worker up (``TimeoutError``, ``ValueError``), or the
        scheduler's ``KeyError`` for a worker it already removed.
        """
        until = time.monotonic() + _DASK_SCATTER_WAIT
        while True:
            try:
                # hash=False: our own keys, never shared with the user's futures.
                return self.client.scatter(list(data), broadcast=True, hash=False)
            except (OSError, TimeoutError, ValueError, KeyError):
                if time.monotonic() >= until:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.kill()
        if self._shared:
            self.client.cancel(self._shared)
        self._shared, self._source = [], ()

    # --- trials
    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Future:
        local: Future = Future()
        # The same call with the data itself in place of the shared handles, for
        # _resubmit_inline (the objects are the caller's own: no copy is kept).
        shared = {id(f): i for i, f in enumerate(self._shared)}
        inline = tuple(
            self._source[shared[id(a)]] if id(a) in shared else a for a in args
        )
        with self._lock:
            self._calls[local] = (fn, inline, key)
        self._launch_or_hold(local, fn, args, key)
        return local

    def _launch_or_hold(
        self, local: Future, fn: Callable[..., Any], args: tuple[Any, ...], key: str
    ) -> None:
        """Launch now, or later while a suspect of KilledWorker runs on its own."""
        with self._lock:
            hold = self._isolated is not local and (
                bool(self._suspects) or self._isolated is not None
            )
            if hold:
                self._held[local] = (fn, args, key)
            else:
                self._launching += 1
        if not hold:
            self._launch(local, fn, args, key)

    def _pump(self) -> None:
        """Start what waits: a suspect of KilledWorker once none of our other trials
        is on the cluster, else (none left) the launches held back meanwhile."""
        while True:
            with self._lock:
                if self._isolated is not None:
                    return
                if self._suspects:
                    if self._tasks or self._launching:  # once they settle or stop
                        return
                    local = self._suspects.pop(0)
                    call = self._calls.get(local)
                    if call is None:  # stopped meanwhile
                        continue
                    self._isolated = local
                    launches = [(local, *call)]
                else:
                    launches = [(f, *call) for f, call in self._held.items()]
                    self._held.clear()
                self._launching += len(launches)
            break
        for local, fn, args, key in launches:
            try:
                self._launch(local, fn, args, key)
            except Exception as exc:  # the client is closing: report the loss
                self._fail(local, RuntimeError(f"Dask task {key}: not launched: {exc}"))

    def _fail(self, local: Future, exc: BaseException) -> None:
        self._drop_calls([local])
        with contextlib.suppress(InvalidStateError):
            local.set_exception(exc)
        self._release(local)

    def _release(self, local: Future) -> None:
        """``local`` has settled: if it ran on its own, what waited may start."""
        with self._lock:
            if self._isolated is local:
                self._isolated = None
        self._pump()

    def _suspect(self, local: Future, key: str) -> bool:
        """Queue a trial that failed with KilledWorker to run again on its own, once;
        False when it already did (then it is the culprit)."""
        with self._lock:
            if local in self._retried_alone or local not in self._calls:
                return False
            self._retried_alone.add(local)
            self._suspects.append(local)
        logger.info(
            "Dask task %s failed with KilledWorker; it runs again on its own to tell "
            "whether it ended the workers or was only queued on them",
            key,
        )
        self._pump()
        return True

    def _launch(
        self, local: Future, fn: Callable[..., Any], args: tuple[Any, ...], key: str
    ) -> None:
        """Send one trial to the cluster; the caller counted it in ``_launching``."""
        try:
            task = self.client.submit(
                fn,
                *args,
                key=f"{key}-{uuid.uuid4().hex[:12]}",
                pure=False,
                **self._submit_kwargs,
            )
        except BaseException:
            with self._lock:
                self._launching -= 1
            raise
        with self._lock:
            self._launching -= 1
            if local.done() or local not in self._calls:  # stopped meanwhile
                stale = True
            else:
                stale = False
                self._tasks[local] = task
        if stale:
            self.client.cancel([task])
            self._pump()  # a suspect of KilledWorker may wait for this one
            return
        # Dask calls back on its own thread; fetching the result there keeps the
        # search loop waiting on plain concurrent.futures.
        task.add_done_callback(lambda done: self._settle(local, done))

    def _resubmit_inline(self, local: Future) -> bool:
        """Run a trial again, once, with its data inside the task; False when it
        already was.

        The scheduler cancels a trial (we never do it before forgetting the task)
        when a worker that ended took with it the last copy of the scattered data
        the trial needs, or the result the trial had computed. That worker was most
        likely ended by another trial, one whose learner kills its process. Run with
        its data inline, a trial no longer depends on any worker's copy: Dask can
        recompute it anywhere, so the trial that kills its workers is the one left
        to fail (KilledWorker, after Dask's allowed failures), and the others finish.
        """
        with self._lock:
            call = self._calls.get(local)
            if call is None or local in self._inlined:
                return False
            self._inlined.add(local)
        fn, inline, key = call
        logger.info("Dask task %s lost its data or result with a worker: rerun", key)
        try:
            self._launch_or_hold(local, fn, inline, key)
        except Exception:  # the client is closing: report the loss
            return False
        return True

    def _settle(self, local: Future, task: Any) -> None:
        with self._lock:
            ours = self._tasks.get(local) is task
            if ours:
                del self._tasks[local]
        if not ours:
            return  # we cancelled it: the loop has already recorded the trial
        try:
            result = task.result()
        except BaseException as exc:  # a lost worker (KilledWorker), unpicklable result
            from distributed import KilledWorker

            if isinstance(exc, CancelledError) and self._resubmit_inline(local):
                return
            if isinstance(exc, KilledWorker) and self._suspect(local, task.key):
                return
            self._fail(
                local,
                RuntimeError(f"Dask task {task.key}: {type(exc).__name__}: {exc}"),
            )
            return
        self._drop_calls([local])
        with contextlib.suppress(InvalidStateError):
            local.set_result(result)
        self._release(local)

    def _drop_calls(self, futures: Sequence[Future]) -> None:
        with self._lock:
            for f in futures:
                self._calls.pop(f, None)
                self._inlined.discard(f)
                self._retried_alone.discard(f)
                self._held.pop(f, None)
                if f in self._suspects:
                    self._suspects.remove(f)
                if self._isolated is f:
                    self._isolated = None

    def _forget(self, futures: Sequence[Future]) -> list[Any]:
        """Cancel ``futures`` here and on the cluster; return their Dask tasks."""
        with self._lock:
            tasks = [self._tasks.pop(f) for f in futures if f in self._tasks]
        self._drop_calls(futures)
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
        try:
            return self._stop(running, overdue, restart=restart, deadline=deadline)
        finally:
            # A suspect of KilledWorker may have waited for the trials just stopped.
            self._pump()

    def _stop(
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
            running = list({*self._tasks, *self._calls})
        if running:
            self.stop(running, running, restart=False, deadline=time.monotonic())
