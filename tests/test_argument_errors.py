"""A bad ``storage`` or ``cache_dir`` is one line naming it, before any trial runs.

From Python a ``ValueError`` names the parameter (``storage='…'``), with no chained
SQLAlchemy or OS traceback; from the command line the error names the option
(``--storage …``), takes one line of stderr and exits with code 2. Nothing is fitted:
the cache stays empty and no study database is created.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from autoens import AutoEnsembleClassifier

EXAMPLE = "e.g. sqlite:///autoens.db (a file in the current folder)"
IN_THE_WAY = "a file is in the way, where a folder is needed"


@pytest.fixture(scope="module")
def tiny():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:60, :3], y[:60]


@pytest.fixture
def places(tmp_path) -> dict[str, Path]:
    """Paths the cases are built from: a regular file, a folder, a broken database."""
    regular = tmp_path / "notes.txt"
    regular.write_text("not a folder, not a database\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    good = tmp_path / "good.db"
    with sqlite3.connect(good) as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    truncated = tmp_path / "truncated.db"  # an SQLite header, then nothing usable
    truncated.write_bytes(good.read_bytes()[:100])
    good.unlink()
    return {
        "tmp": tmp_path,
        "file": regular,
        "folder": folder,
        "truncated": truncated,
    }


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


# (storage URL, message after "storage='URL'" / "--storage URL"), built from places
STORAGE_CASES = {
    "missing-folder": lambda p: (
        _sqlite(p["tmp"] / "missing" / "dir" / "x.db"),
        f": the folder of the database file, {p['tmp'] / 'missing' / 'dir'}, does "
        "not exist; create it first or choose another path",
    ),
    "not-a-url": lambda p: (
        "notaurl",
        f" is not a database URL; use {EXAMPLE}, or leave it unset to keep the "
        "trial history in memory",
    ),
    "folder-under-a-file": lambda p: (
        _sqlite(p["file"] / "x.db"),
        f": the folder of the database file, {p['file']}, is not a folder; create "
        "it first or choose another path",
    ),
    "a-folder": lambda p: (
        _sqlite(p["folder"]),
        f": {p['folder']} is a folder, not a database file; name a file in it",
    ),
    "not-sqlite": lambda p: (
        _sqlite(p["file"]),
        f": {p['file']} is not an SQLite database (another kind of file); choose "
        "another path",
    ),
    "no-driver": lambda p: (  # SQLCipher's DBAPI module is not installed
        f"sqlite+pysqlcipher://:secret@/{p['tmp'] / 'x.db'}",
        ": no database driver for 'sqlite+pysqlcipher' is installed "
        "(ModuleNotFoundError: No module named ",
    ),
}

# (cache_dir, message after "cache_dir='DIR'" / "--cache-dir DIR")
CACHE_CASES = {
    "under-a-file": lambda p: (
        p["file"] / "sub",
        f" cannot be used as the cache folder: {IN_THE_WAY} ({p['file']})",
    ),
    "a-file": lambda p: (
        p["file"],
        f" cannot be used as the cache folder: {IN_THE_WAY}",
    ),
}


def _one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    # no chained traceback of the library that failed underneath
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None or excinfo.value.__suppress_context__
    return message


def _no_trial_ran(cache: Path) -> None:
    assert not list(cache.rglob("*.json")), "a trial ran before the error"


# -- Python -------------------------------------------------------------------------


@pytest.mark.parametrize("case", STORAGE_CASES)
def test_storage_errors_name_the_parameter(tiny, places, case):
    url, rest = STORAGE_CASES[case](places)
    cache = places["tmp"] / "cache"
    model = AutoEnsembleClassifier(
        n_trials=2, cv=2, learners=["logreg"], cache_dir=cache, storage=url
    )
    with pytest.raises(ValueError) as excinfo:
        model.fit(*tiny)
    message = _one_line_error(excinfo)
    assert message.startswith(f"storage={url!r}{rest}"), message
    _no_trial_ran(cache)
    assert not cache.exists()  # checked before the cache folder is made


@pytest.mark.parametrize("case", CACHE_CASES)
def test_cache_dir_errors_name_the_parameter(tiny, places, case):
    cache_dir, rest = CACHE_CASES[case](places)
    study = places["tmp"] / "study.db"
    model = AutoEnsembleClassifier(
        n_trials=2,
        cv=2,
        learners=["logreg"],
        cache_dir=cache_dir,
        storage=_sqlite(study),
    )
    with pytest.raises(ValueError) as excinfo:
        model.fit(*tiny)
    assert _one_line_error(excinfo) == f"cache_dir={str(cache_dir)!r}{rest}"
    assert not study.exists()  # the search never started
    assert places["file"].read_text() == "not a folder, not a database\n"


def test_a_database_that_cannot_be_opened_is_named(tiny, places):
    """Past the checks (an SQLite header, a broken file): what opening it raised."""
    url = _sqlite(places["truncated"])
    cache = places["tmp"] / "cache"
    model = AutoEnsembleClassifier(
        n_trials=2, cv=2, learners=["logreg"], cache_dir=cache, storage=url
    )
    with pytest.raises(ValueError) as excinfo:
        model.fit(*tiny)
    message = _one_line_error(excinfo)
    assert message.startswith(f"storage={url!r} cannot be opened: DatabaseError: ")
    _no_trial_ran(cache)


# -- the command line ---------------------------------------------------------------


@pytest.fixture
def csv(tiny, tmp_path) -> Path:
    X, y = tiny
    path = tmp_path / "train.csv"
    X.assign(label=y).to_csv(path, index=False)
    return path


def _autoens(*argv: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autoens", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _fit(csv: Path, tmp: Path, *options: str | Path) -> subprocess.CompletedProcess:
    out = tmp / "model.joblib"
    run = _autoens("fit", csv, "--target", "label", "--n-trials", "2", "--cv", "2",
                   "--out", out, *options)  # fmt: skip
    assert not out.exists()
    return run


def _cli_error(run: subprocess.CompletedProcess, command: str = "fit") -> str:
    """The one stderr line of a user error, checked: exit code 2, no traceback,
    nothing on stdout (the data was not even read)."""
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""
    [line] = run.stderr.splitlines()
    assert line.startswith(f"autoens {command}: error: ")
    return line.removeprefix(f"autoens {command}: error: ")


@pytest.mark.parametrize("case", ["missing-folder", "not-a-url", "not-sqlite"])
def test_cli_storage_errors_name_the_option(csv, places, case):
    url, rest = STORAGE_CASES[case](places)
    cache = places["tmp"] / "cache"
    run = _fit(csv, places["tmp"], "--storage", url, "--cache-dir", cache)
    assert _cli_error(run) == f"--storage {url}{rest}"
    _no_trial_ran(cache)


@pytest.mark.parametrize("case", CACHE_CASES)
def test_cli_cache_dir_errors_name_the_option(csv, places, case):
    cache_dir, rest = CACHE_CASES[case](places)
    study = places["tmp"] / "study.db"
    run = _fit(
        csv, places["tmp"], "--cache-dir", cache_dir, "--storage", _sqlite(study)
    )
    assert _cli_error(run) == f"--cache-dir {cache_dir}{rest}"
    assert not study.exists()


def test_cli_names_the_option_of_a_database_that_cannot_be_opened(csv, places):
    """Found while the fit opens it: the option is still named, in a short stderr."""
    url = _sqlite(places["truncated"])
    run = _fit(csv, places["tmp"], "--storage", url)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) <= 3, lines  # the task and the data size, then the error
    assert lines[-1].startswith(
        f"autoens fit: error: --storage {url} cannot be opened: DatabaseError: "
    )


def test_cli_out_under_a_file_is_said_before_the_fit(csv, places):
    out = places["file"] / "sub" / "model.joblib"
    run = _autoens("fit", csv, "--target", "label", "--out", out)
    assert _cli_error(run) == (
        f"--out {out} cannot be written: {IN_THE_WAY} ({places['file']})"
    )


def test_cli_benchmark_results_folder_under_a_file(places):
    """``benchmark run`` has no --storage or --cache-dir (each search keeps both in
    its results folder); the folder it is given is checked the same way."""
    suite = places["tmp"] / "suite.toml"
    suite.write_text(
        '[run]\nname = "x"\nn_trials = 2\ncv = 2\nlearners = ["logreg"]\n'
        'methods = ["tpe+ges"]\ntasks = ["sklearn:wine"]\n'
    )
    out = places["file"] / "results"
    run = _autoens("benchmark", "run", suite, "--out", out, "-q")
    assert _cli_error(run, "benchmark") == (
        f"--out {out} cannot be used as the results folder: {IN_THE_WAY} "
        f"({places['file']})"
    )
    assert places["file"].read_text() == "not a folder, not a database\n"
