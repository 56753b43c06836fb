"""``autoens benchmark run``, called in-process through ``autoens.cli.main``."""

from __future__ import annotations

import re

import pytest

from autoens.benchmark.rows import load_rows, read_rows
from autoens.benchmark.suite import load_suite
from autoens.cli import main

SUITE = """\
[run]
name = "cli-tiny"
folds = 2
n_trials = 2
cv = 2
learners = ["logreg"]
methods = ["tpe+ges"]
tasks = ["sklearn:wine"]
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    return path


def test_run_writes_rows_and_prints_a_summary(suite_file, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["benchmark", "run", str(suite_file), "--out", str(out), "-v"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 ok, 0 failed of 2 unit(s) run" in captured.out
    assert f"Rows: {out / 'rows.jsonl'}" in captured.out
    assert f"Next: autoens benchmark report {out}" in captured.out
    # -v: one line per finished unit; the progress bar is on stderr
    assert "ok     sklearn:wine fold 0 seed 0 tpe+ges: roc_auc" in captured.out
    assert "cli-tiny" in captured.err
    frame = load_rows(out)
    assert list(frame["status"]) == ["ok", "ok"]
    assert load_suite(out / "suite.toml").name == "cli-tiny"

    # a second run resumes: nothing left to do
    assert main(["benchmark", "run", str(suite_file), "--out", str(out), "-q"]) == 0
    captured = capsys.readouterr()
    assert "0 ok, 0 failed of 0 unit(s) run" in captured.out
    assert "2 already done, 2 in the suite" in captured.out
    assert captured.err == ""  # -q: no progress bar


def test_flags_override_the_file(suite_file, tmp_path, capsys):
    out = tmp_path / "results"
    flags = ["--tasks", "sklearn:iris", "--folds", "1", "--seeds", "3"]
    flags += ["--n-trials", "3", "--methods", "random+single_best", "--mode", "replay"]
    code = main(["benchmark", "run", str(suite_file), "--out", str(out), "-q", *flags])
    assert code == 0, capsys.readouterr().err
    (row,) = read_rows(out)
    assert (row["task"], row["fold"], row["seed"]) == ("sklearn:iris", 1, 3)
    assert (row["method"], row["mode"], row["n_trials"]) == (
        "random+single_best",
        "replay",
        3,
    )
    suite = load_suite(out / "suite.toml")
    assert suite.n_trials == 3 and suite.tasks == ("sklearn:iris",)


def test_default_results_dir_is_named_after_the_run(suite_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark", "run", str(suite_file), "--folds", "0", "-q"]) == 0
    assert len(read_rows(tmp_path / "results" / "cli-tiny")) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--methods", "tpe+nope"], r"unknown selector 'nope' in 'tpe\+nope'; valid:"),
        (["--methods", "tpe"], r"must be SEARCH\+SELECTOR"),
        (["--tasks", "keel:nope"], r"tasks: unknown KEEL dataset in 'keel:nope'"),
        (["--folds", "5"], r"folds: fold\(s\) \[5\] do not exist with n_folds = 2"),
    ],
)
def test_bad_values_are_one_line_errors(suite_file, tmp_path, capsys, args, message):
    code = main(["benchmark", "run", str(suite_file), "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("autoens benchmark: error: ")
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_usage_errors(tmp_path, capsys):
    assert main(["benchmark", "run", str(tmp_path / "missing.toml")]) == 2
    assert "run definition not found" in capsys.readouterr().err
    assert main(["benchmark"]) == 2
    assert "benchmark" in capsys.readouterr().err
    assert main(["benchmark", "run", "x.toml", "--mode", "fast"]) == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
    assert main(["benchmark", "run", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "--retry-failed" in help_text and "--jobs" in help_text
    assert main(["benchmark", "--help"]) == 0
    assert "report" in capsys.readouterr().out


def test_resuming_with_other_settings_is_refused(suite_file, tmp_path, capsys):
    out = tmp_path / "results"
    args = ["benchmark", "run", str(suite_file), "--out", str(out), "-q"]
    assert main([*args, "--folds", "0"]) == 0
    capsys.readouterr()
    assert main([*args, "--folds", "0", "--n-trials", "3"]) == 2
    assert "other settings (n_trials: 2 -> 3)" in capsys.readouterr().err
