"""The lean install and a fast start, checked in fresh interpreters.

- ``pip install autoens`` (no extras) must fit, predict, show a leaderboard and run
  ``autoens demo``: nothing on those paths may import the benchmark's dependencies
  (openml, matplotlib, autorank); with them made unimportable it must still work.
- ``autoens.benchmark`` and ``autoens benchmark ...`` without them must say which extra
  to install.
- ``autoens --help`` (and every command's ``--help``) must not import pandas, numpy or
  scikit-learn, and ``import autoens`` must stay lazy. These check ``sys.modules``, not
  the clock (benchmarks/startup.py measures the time).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

BENCHMARK_ONLY = ("openml", "matplotlib", "autorank")
HEAVY = ("pandas", "numpy", "sklearn", "scipy", "optuna", "xgboost", "lightgbm")


def _run(*scripts: str, block: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``scripts`` in a fresh interpreter; ``block`` modules behave as uninstalled
    (``sys.modules[name] = None``: ``import`` fails and ``find_spec`` returns None)."""
    prelude = f"import sys\nfor _m in {block!r}:\n    sys.modules[_m] = None\n"
    code = prelude + "\n".join(textwrap.dedent(script) for script in scripts)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _loaded(prefixes: tuple[str, ...]) -> str:
    """Code that prints, as JSON, the loaded modules among ``prefixes``."""
    return textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps(sorted(
            m for m in sys.modules
            if sys.modules[m] is not None and m.split(".")[0] in {prefixes!r}
        )))
        """
    )


# -- the lean install --------------------------------------------------------------

CORE_USE = """
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

import autoens
from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor, select
from autoens.cli import main
from autoens.testing import FAST_FIT

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X, y = X.iloc[:200, :6], y.iloc[:200]
clf = AutoEnsembleClassifier(**FAST_FIT, keep_models="all").fit(X, y)
assert clf.predict_proba(X).shape == (200, 2)
assert len(clf.leaderboard_) > 0
select(clf, "single_best")

tmp = Path(tempfile.mkdtemp())
frame = X.assign(label=y.to_numpy())
frame.to_csv(tmp / "train.csv", index=False)
fast = ["--n-trials", "2", "--cv", "2", "--n-jobs", "1", "--seed", "0"]
model = str(tmp / "m.joblib")
train = str(tmp / "train.csv")
assert main(["fit", train, "--target", "label", "--out", model, *fast]) == 0
assert main(["leaderboard", model]) == 0
assert main(["predict", model, train, "--out", str(tmp / "p.csv")]) == 0
assert main(["demo", "--dataset", "pima", *fast]) == 0
"""


def test_fit_predict_leaderboard_and_demo_never_import_the_benchmark_deps():
    out = _run(CORE_USE, _loaded(BENCHMARK_ONLY))
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_fit_predict_leaderboard_and_demo_work_without_the_benchmark_deps():
    out = _run(CORE_USE + "print('done')", block=BENCHMARK_ONLY)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("done")


@pytest.mark.parametrize("missing", BENCHMARK_ONLY)
def test_importing_the_benchmark_without_its_extra_names_the_extra(missing):
    out = _run(
        """
        from autoens._extras import MissingExtraError
        try:
            import autoens.benchmark.runner
        except MissingExtraError as exc:
            assert isinstance(exc, ImportError)
            print(exc.extra, exc.missing)
            print(exc)
        else:
            raise SystemExit("imported")
        """,
        block=(missing,),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    first, message = out.stdout.strip().splitlines()
    assert first == f"benchmark ['{missing}']"
    assert "pip install 'autoens[benchmark]'" in message
    assert missing in message


@pytest.mark.parametrize("command", [["run", "suite.toml"], ["report", "results"]])
def test_the_benchmark_command_without_its_extra_is_a_one_line_error(command, tmp_path):
    (tmp_path / "suite.toml").write_text("[run]\nname = 'x'\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "rows.jsonl").write_text("")
    argv = ["benchmark", command[0], str(tmp_path / command[1])]
    out = _run(
        f"""
        from autoens.cli import main
        raise SystemExit(main({argv!r}))
        """,
        block=BENCHMARK_ONLY,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("autoens benchmark: error: autoens benchmark needs")
    assert "pip install 'autoens[benchmark]'" in lines[0]


# -- a fast start ------------------------------------------------------------------


def test_help_imports_no_heavy_module():
    out = _run(
        """
        import contextlib, io
        from autoens.cli import build_parser, main
        commands = build_parser()._subparsers._group_actions[0].choices
        argvs = [["--help"], ["--version"]]
        for name, sub in commands.items():
            argvs.append([name, "--help"])
            for action in sub._actions:
                for child in getattr(action, "choices", None) or {}:
                    if isinstance(child, str) and hasattr(action.choices, "items"):
                        argvs.append([name, child, "--help"])
        for argv in argvs:
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(argv) == 0, argv
        """,
        _loaded(HEAVY),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_autoens_help_as_a_script_imports_no_heavy_module():
    # the installed entry point and `python -m autoens` take the same road
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "autoens", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "usage: autoens" in out.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in out.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


def test_import_autoens_is_lazy_and_complete():
    out = _run(
        """
        import autoens
        before = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
        names = sorted(set(autoens.__all__) - set(dir(autoens)))
        from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor, select
        from autoens import SearchError
        assert AutoEnsembleClassifier.__module__ == "autoens.estimator"
        for name in autoens.__all__:
            getattr(autoens, name)
        try:
            autoens.nope
        except AttributeError as exc:
            assert "nope" in str(exc)
        else:
            raise SystemExit("no AttributeError")
        import json
        print(json.dumps([before, names]))
        """.replace("HEAVY", repr(HEAVY))
    )
    assert out.returncode == 0, out.stderr[-3000:]
    before, not_in_dir = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == []
    assert not_in_dir == []
