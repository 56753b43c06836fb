"""A process that ran a search exits at once: it does not wait for its workers.

At interpreter exit loky would join the search's worker processes gracefully, and a
worker first finishes what it was given: its start-up imports (seconds on a loaded
machine) or a trial. After ``autoens fit`` printed its error (or saved its model)
that is dead time, so the search ends its workers instead.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from _processes import wait_until_gone
from sklearn.datasets import load_breast_cancer

# `autoens fit` where nothing can finish: the only learner hangs and the workers take
# 20 s to start (as the imports of a loaded machine), longer than --time-limit 4.
_CLI = """
import functools, sys
import autoens.orchestrator
from autoens.cli import main
from autoens.search import executors
from autoens.testing import fake_learner
from autoens.testing.search_doubles import slow_worker_init

executors._init_worker = functools.partial(slow_worker_init, 20.0)
autoens.orchestrator.get_learners = lambda *a, **k: [fake_learner("hang")]
autoens.orchestrator.get_portfolio = lambda *a, **k: [("hang", {})]
sys.exit(main(sys.argv[1:]))
"""


def _stall(argv: list[str], marker: str) -> tuple[float, str]:
    """Seconds from the first stderr line containing ``marker`` to the exit."""
    seen = None
    lines = []
    with subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            for line in proc.stderr:
                lines.append(line)
                if seen is None and marker in line:
                    seen = time.monotonic()
            proc.wait(timeout=120)
        finally:
            proc.kill()
    assert seen is not None, "".join(lines)
    return time.monotonic() - seen, "".join(lines)


def test_cli_exits_right_after_its_error_while_workers_still_start(tmp_path):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    csv = tmp_path / "train.csv"
    X.iloc[:100, :4].assign(label=y[:100]).to_csv(csv, index=False)
    script = tmp_path / "cli.py"
    script.write_text(_CLI)
    argv = [sys.executable, str(script), "fit", str(csv), "--target", "label"]
    stall, err = _stall([*argv, "--time-limit", "4"], "autoens fit: error:")
    assert "no candidate was evaluated within time_limit=4.0s" in err
    # before: the exit waited for the workers' start-up to finish (~16 s more)
    assert stall < 6.0, err


_EXECUTOR = """
import sys, time
from autoens.search.executors import LokyExecutor

pool = LokyExecutor(1)
pool.wait_ready(time.monotonic() + 120)
if sys.argv[1] == "restarted":  # as after a trial past its time limit
    pool.stop([], [], restart=True, deadline=time.monotonic() + 120)
pool.submit(time.sleep, 60, key="busy")
time.sleep(0.5)
print("exiting", file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize("pool", ["first", "restarted"])
def test_exit_does_not_wait_for_a_busy_worker(tmp_path, pool):
    """loky registers its own exit hook again for every new executor (after each
    restart), so ours must still come first then."""
    script = tmp_path / "pool.py"
    script.write_text(_EXECUTOR)
    stall, err = _stall([sys.executable, str(script), pool], "exiting")
    assert stall < 6.0, err  # before: the 60 s of the running task


def test_idle_workers_do_not_outlive_a_finished_process(tmp_path):
    """What the exit hook ends are the search's workers: none is left behind."""
    script = tmp_path / "pool.py"
    script.write_text(
        _EXECUTOR.replace('pool.submit(time.sleep, 60, key="busy")', "")
        + "print(*pool._executor._processes, file=sys.stderr, flush=True)\n"
    )
    _, err = _stall([sys.executable, str(script), "first"], "exiting")
    pids = [int(p) for p in err.strip().splitlines()[-1].split()]
    assert pids
    time.sleep(0.5)
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]


# A search killed (SIGKILL) while its workers still start up: the workers take 3 s to
# reach their initializer, as with the imports of a loaded machine, and their parent
# is gone by then.
_KILLED_AT_START = """
import os, signal, time
from autoens.search import executors


def late_init():
    time.sleep(3.0)
    from autoens.search import executors  # the worker's own, unpatched

    executors._init_worker()


executors._init_worker = late_init
pool = executors.LokyExecutor(2)
for _ in range(2):
    pool.submit(time.sleep, 0, key="start")
print(*pool._executor._processes, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_workers_still_starting_when_the_search_is_killed_exit_too(tmp_path):
    """A worker's parent is the process that spawned it, not whoever it is handed to
    after that process died: else it waits for a parent that never goes away."""
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:  # not pipes: the workers
        code = subprocess.call(  # inherit them, and would hold them open
            [sys.executable, "-c", _KILLED_AT_START],
            stdout=stdout,
            stderr=stderr,
            timeout=120,
        )
    assert code == -9, err.read_text()[-3000:]
    pids = [int(pid) for pid in out.read_text().split()]
    assert len(pids) == 2
    workers = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            workers.append(psutil.Process(pid))
    try:
        # 3 s of start-up (more on a loaded machine), then at most the 1 s poll of
        # the parent; before, they waited for loky's idle timeout (300 s)
        assert not wait_until_gone(workers), "orphaned workers still alive"
    finally:
        for worker in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
