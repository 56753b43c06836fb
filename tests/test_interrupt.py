"""Ctrl-C during ``fit``, for real: a child process gets SIGINT while its search runs.

The first Ctrl-C stops the search, keeps every finished trial, stops the running ones
and builds the ensemble from what finished (Python: a warning and
``search_interrupted_``; CLI: the model is saved, exit code 3). A second Ctrl-C, or one
before any trial finished, is a ``KeyboardInterrupt`` (CLI: exit code 130, one line).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import autoens
from autoens.cli._common import EXIT_INTERRUPTED, EXIT_SIGINT

# A fit whose search cannot end by itself: a hanging trial holds one worker while
# quick "sleepy" trials finish on the other. It prints what the model says.
_FIT = """
import json, sys, time, warnings
from sklearn.datasets import load_breast_cancer
from autoens import AutoEnsembleClassifier
from autoens.selectors.baselines import SingleBest
from autoens.testing import fake_learner
from autoens.testing.search_doubles import sleepy_learner


class SlowSelector(SingleBest):
    # selection announces itself, then takes a minute: time for a second Ctrl-C
    def fit(self, *args, **kwargs):
        print("selecting", flush=True)
        time.sleep(60)
        return super().fit(*args, **kwargs)


X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X, y = X.iloc[:200, :4], y[:200]
mode = sys.argv[2]
if mode == "hang":  # nothing can finish
    search = dict(n_trials=1, learners=[fake_learner("hang")], portfolio=[("hang", {})])
else:
    search = dict(
        n_trials=200,
        learners=[sleepy_learner(0.2), fake_learner("hang")],
        portfolio=[("hang", {}), *[("sleepy", {"x": i / 20}) for i in range(20)]],
    )
model = AutoEnsembleClassifier(
    cv=2, n_jobs=2, random_state=0, cache_dir=sys.argv[1], **search,
    selector=SlowSelector() if mode == "slow-selection" else "ges",
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.fit(X, y)
print(json.dumps({
    "interrupted": model.search_interrupted_,
    "status": model.leaderboard_.set_index("trial")["status"].to_dict(),
    "errors": model.leaderboard_.set_index("trial")["error"].to_dict(),
    "library": sorted(model.library_.keys),
    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
}))
"""


def _entries(cache: Path) -> set[str]:
    """Keys of the finished trials in a disk cache (their commit records)."""
    return {p.name.removesuffix(".json") for p in cache.rglob("*.json")}


def _wait_for(condition, proc: subprocess.Popen, what: str, limit: float = 240.0):
    deadline = time.monotonic() + limit
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the child ended before {what}:\n{out}\n{err[-3000:]}")
        assert time.monotonic() < deadline, f"no {what} after {limit}s"
        time.sleep(0.05)


def _loky_workers(pid: int) -> list[int]:
    """Loky worker processes of ``pid`` (Linux /proc): the search has started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"popen_loky" in cmdline:
            found.append(int(entry.name))
    return found


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "fit.py"
    script.write_text(_FIT)
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(cache), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, cache


def test_first_ctrl_c_keeps_the_finished_trials_and_builds_the_ensemble(tmp_path):
    proc, cache = _start(tmp_path, "normal")
    try:
        _wait_for(lambda: len(_entries(cache)) >= 3, proc, "3 finished trials")
        at_signal = len(_entries(cache))
        signalled = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    # the hanging trial was stopped: fit returned at once, not never
    assert time.monotonic() - signalled < 30
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.splitlines()[-1])
    assert result["interrupted"] is True
    status = {int(k): v for k, v in result["status"].items()}
    # nothing lost: every trial that reached the cache is in the ensemble's library
    finished = _entries(cache)
    assert set(result["library"]) == finished and len(finished) >= 3
    assert sum(s == "ok" for s in status.values()) == len(finished)
    # the trials still running were stopped and recorded as cancelled, the hang first
    assert status[0] == "cancelled"
    assert "interrupted (Ctrl-C)" in result["errors"]["0"]
    assert set(status.values()) == {"ok", "cancelled"}
    # it stopped proposing: besides the trials finished at the signal there are only
    # the two that were running (the hang, a sleepy one) and at most one that
    # finished, and was replaced, between the count above and the signal
    assert len(status) <= at_signal + 3, status
    # one warning says so, and how many finished
    [warning] = [w for w in result["warnings"] if "interrupted" in w]
    assert warning.startswith("UserWarning: the search was interrupted (Ctrl-C) after")
    assert (
        f"after {len(finished)} trial(s) finished ({len(finished)} usable)" in warning
    )
    assert "Press Ctrl-C again to abort." in err  # said at once, on the first


def test_second_ctrl_c_aborts_at_once(tmp_path):
    proc, cache = _start(tmp_path, "slow-selection")
    try:
        _wait_for(lambda: len(_entries(cache)) >= 2, proc, "2 finished trials")
        os.kill(proc.pid, signal.SIGINT)
        # the search stopped and the (minute-long) selection began
        assert proc.stdout.readline().strip() == "selecting"
        signalled = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.monotonic() - signalled < 15  # not the selection's minute
    assert proc.returncode == -signal.SIGINT  # KeyboardInterrupt went all the way up
    assert err.rstrip().endswith("KeyboardInterrupt")
    assert out == ""


def test_ctrl_c_before_any_trial_finished_is_a_keyboard_interrupt(tmp_path):
    proc, _ = _start(tmp_path, "hang")
    try:
        _wait_for(lambda: _loky_workers(proc.pid), proc, "a search worker")
        time.sleep(1.0)  # the search is under way (its worker may still start up)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGINT
    assert (
        "KeyboardInterrupt: the search was interrupted (Ctrl-C) before any trial "
        in (err)
    )
    assert out == ""


# -- the command line ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory) -> Path:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    path = tmp_path_factory.mktemp("csv") / "cancer.csv"
    X.assign(label=y).to_csv(path, index=False)
    return path


def _cli(*argv: str, group: bool = False) -> subprocess.Popen:
    """``autoens fit``; with ``group``, in a process group of its own, like the
    foreground job of a terminal (see :func:`_ctrl_c`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "autoens", "fit", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
    )


def _ctrl_c(proc: subprocess.Popen, group: bool) -> None:
    """SIGINT to the process, or to its whole group as a terminal's Ctrl-C does: the
    search's workers get it too."""
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGINT)


@pytest.mark.parametrize("group", [False, True], ids=["process", "terminal"])
def test_cli_first_ctrl_c_saves_the_model_and_exits_3(tmp_path, cancer_csv, group):
    cache, out = tmp_path / "cache", tmp_path / "model.skops"
    flags = ["--n-trials", "200", "--cv", "2", "--n-jobs", "1", "--seed", "0"]
    proc = _cli(str(cancer_csv), "--target", "label", "--cache-dir", str(cache),
                "--out", str(out), *flags, group=group)  # fmt: skip
    try:
        _wait_for(lambda: len(_entries(cache)) >= 2, proc, "2 finished trials")
        _ctrl_c(proc, group)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED == 3, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "autoens fit: warning: UserWarning: the search was interrupted" in stderr
    assert f"Model written to {out}" in stdout
    model = autoens.load(out)
    assert model.search_interrupted_ is True
    board = model.leaderboard_
    assert set(board.loc[board["status"] == "ok", "trial"]) == set(
        model.library_.trials
    )
    assert set(model.library_.keys) == _entries(cache)
    assert (board["status"] == "ok").sum() >= 2


def test_cli_ctrl_c_before_any_trial_finished_exits_130(tmp_path, cancer_csv):
    out = tmp_path / "model.skops"
    proc = _cli(str(cancer_csv), "--target", "label", "--out", str(out), "--cv", "2")
    try:
        _wait_for(lambda: _loky_workers(proc.pid), proc, "a search worker")
        os.kill(proc.pid, signal.SIGINT)  # the workers are still starting up
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_SIGINT == 130
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(
        "autoens fit: interrupted: the search was interrupted (Ctrl-C) before any "
        "trial finished"
    )
    assert not out.exists()


def test_cli_ctrl_c_from_a_terminal_while_the_workers_start(tmp_path, cancer_csv):
    """A terminal's Ctrl-C reaches the workers too, still importing: they leave it to
    the search (no KeyboardInterrupt traceback of theirs on the terminal)."""
    out = tmp_path / "model.skops"
    proc = _cli(str(cancer_csv), "--target", "label", "--out", str(out), "--cv", "2",
                group=True)  # fmt: skip
    try:
        _wait_for(lambda: _loky_workers(proc.pid), proc, "a search worker")
        _ctrl_c(proc, group=True)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_SIGINT, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert (
        stderr.strip()
        .splitlines()[-1]
        .startswith(
            "autoens fit: interrupted: the search was interrupted (Ctrl-C) before any "
            "trial finished"
        )
    )
    assert not out.exists()


# The CLI with a selection that takes a minute, so that a second Ctrl-C lands in it.
_CLI_SLOW_SELECTION = """
import sys, time
import autoens.orchestrator
from autoens.cli import main
from autoens.selectors.baselines import SingleBest


class SlowSelector(SingleBest):
    def fit(self, *args, **kwargs):
        print("selecting", flush=True)
        time.sleep(60)
        return super().fit(*args, **kwargs)


autoens.orchestrator.get_selector = lambda selector, random_state=None: SlowSelector()
sys.exit(main(sys.argv[1:]))
"""


def test_cli_second_ctrl_c_exits_130_without_saving(tmp_path, cancer_csv):
    script = tmp_path / "cli.py"
    script.write_text(_CLI_SLOW_SELECTION)
    cache, out = tmp_path / "cache", tmp_path / "model.skops"
    argv = ["fit", str(cancer_csv), "--target", "label", "--cache-dir", str(cache),
            "--out", str(out), "--n-trials", "200", "--cv", "2"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, str(script), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(_entries(cache)) >= 1, proc, "a finished trial")
        os.kill(proc.pid, signal.SIGINT)
        assert proc.stdout.readline().strip() == "selecting"
        signalled = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.monotonic() - signalled < 15
    assert proc.returncode == EXIT_SIGINT
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "autoens fit: interrupted"
    assert not out.exists()


def test_exit_codes_are_documented():
    from autoens.cli.fit import EPILOG

    codes = pd.Series(EPILOG.split("exit codes:")[1].split("\n"))
    assert codes.str.contains(f"  {EXIT_INTERRUPTED}  interrupted by Ctrl-C").any()
    assert codes.str.contains(f"  {EXIT_SIGINT}  interrupted by a second").any()
