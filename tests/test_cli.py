"""The command line, run in-process through ``main([...])`` on real bundled data."""

import io
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest

import autoens
from autoens.cli import build_parser, main
from autoens.cli._common import short_warnings
from autoens.datasets import load_keel, load_sklearn

FAST = ["--n-trials", "3", "--cv", "2", "--n-jobs", "1", "--seed", "0"]


def _write_csv(path, X, y):
    frame = X.copy()
    frame["class"] = y.to_numpy()
    frame.to_csv(path, index=False)
    return frame


def _fit(tmp, name, loader, *flags):
    X, y = loader(name)
    train = tmp / f"{name}.csv"
    frame = _write_csv(train, X, y)
    model = tmp / f"{name}.skops"
    argv = ["fit", str(train), "--target", "class", "--out", str(model), *FAST]
    code = main([*argv, *flags])
    assert code == 0
    return frame, train, model


@pytest.fixture(scope="module")
def cancer(tmp_path_factory):
    """breast_cancer (binary, numeric) fitted once for the module."""
    return _fit(tmp_path_factory.mktemp("cancer"), "breast_cancer", load_sklearn)


@pytest.fixture(scope="module")
def keel_iris(tmp_path_factory):
    """KEEL iris: three classes with text labels."""
    return _fit(tmp_path_factory.mktemp("iris"), "iris", load_keel)


def _read(text):
    return pd.read_csv(io.StringIO(text))


def _assert_user_error(code, capsys, *fragments):
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("autoens ")
    for fragment in fragments:
        assert fragment in err, err


# -- round trips ---------------------------------------------------------------------


def test_fit_saves_model_and_prints_leaderboard(tmp_path, capsys):
    X, y = load_sklearn("breast_cancer")
    train = tmp_path / "train.csv"
    _write_csv(train, X, y)
    out = tmp_path / "sub" / "model.skops"  # parent folders are created
    code = main(["fit", str(train), "--target", "class", "--out", str(out), *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"Model written to {out}" in captured.out
    assert "roc_auc" in captured.out  # the score column is named after the metric
    assert "Fitting on 569 rows x 30 features, 2 classes" in captured.err
    # the task and why: 0/1 labels are classes under --task auto
    assert (
        "Task: classification (detected: the target holds whole numbers with 2 "
        "distinct values, 20 or fewer; --task overrides)" in captured.err
    )
    estimator = autoens.load(out)  # the same file as autoens.save writes
    assert estimator.target_column_ == "class"
    assert not hasattr(estimator, "sample_weight_column_")
    assert estimator._autoens_version == autoens.__version__
    assert list(estimator.classes_) == [0, 1]
    assert list(estimator.feature_names_in_) == list(X.columns)
    assert len(estimator.leaderboard_) == 3
    assert estimator.search == "tpe"  # the default strategy
    # every trial shows up in the printed table
    for learner in estimator.leaderboard_["learner"]:
        assert learner in captured.out


def test_predict_labels_to_file_and_stdout(cancer, tmp_path, capsys):
    frame, train, model = cancer
    out = tmp_path / "preds.csv"
    assert main(["predict", str(model), str(train), "--out", str(out)]) == 0
    assert "Wrote 569 predictions" in capsys.readouterr().err
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["class"]  # named after the target
    assert len(preds) == len(frame)
    assert set(preds["class"]) <= {0, 1}
    # a real model on its own training data: far better than the 63 % majority class
    assert (preds["class"].to_numpy() == frame["class"].to_numpy()).mean() > 0.9

    assert main(["predict", str(model), str(train)]) == 0
    printed = _read(capsys.readouterr().out)
    pd.testing.assert_frame_equal(printed, preds)


def test_predict_proba_columns_per_class(cancer, tmp_path, capsys):
    frame, train, model = cancer
    assert main(["predict", str(model), str(train), "--proba"]) == 0
    proba = _read(capsys.readouterr().out)
    assert list(proba.columns) == ["0", "1"]
    assert len(proba) == len(frame)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert main(["predict", str(model), str(train)]) == 0
    labels = _read(capsys.readouterr().out)["class"].to_numpy()
    np.testing.assert_array_equal(labels, proba.to_numpy().argmax(axis=1))


def test_predict_ignores_target_and_column_order(cancer, tmp_path, capsys):
    frame, train, model = cancer
    assert main(["predict", str(model), str(train)]) == 0
    expected = _read(capsys.readouterr().out)
    shuffled = tmp_path / "shuffled.csv"
    features = frame.drop(columns="class")
    features[features.columns[::-1]].to_csv(shuffled, index=False)
    assert main(["predict", str(model), str(shuffled)]) == 0
    pd.testing.assert_frame_equal(_read(capsys.readouterr().out), expected)


def test_multiclass_text_labels(keel_iris, capsys):
    frame, train, model = keel_iris
    assert main(["predict", str(model), str(train), "--proba"]) == 0
    proba = _read(capsys.readouterr().out)
    assert list(proba.columns) == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    assert main(["predict", str(model), str(train)]) == 0
    labels = _read(capsys.readouterr().out)["class"]
    assert (labels == frame["class"]).mean() > 0.9


def test_categorical_features(tmp_path, capsys):
    # crx: 9 text columns read back by pandas as its str dtype
    frame, train, model = _fit(tmp_path, "crx", load_keel, "-vv")
    err = capsys.readouterr().err
    assert "autoens search" in err  # -v: the progress bar
    assert " trial 0 " in err  # -vv: one log line per trial
    assert main(["predict", str(model), str(train)]) == 0
    labels = _read(capsys.readouterr().out)["class"]
    assert set(labels) <= {"positive", "negative"}
    assert (labels == frame["class"]).mean() > 0.75


def test_leaderboard_command(cancer, capsys):
    _, _, model = cancer
    assert main(["leaderboard", str(model)]) == 0
    out = capsys.readouterr().out
    assert "target 'class' (classes: 0, 1)" in out
    lines = out.splitlines()
    header = lines[1].split()
    assert header[:4] == ["trial", "learner", "roc_auc", "weight"]
    assert len(lines) == 2 + 1 + 3  # title, header, the ensemble, one per trial
    ensemble = lines[2].split()
    assert ensemble[:2] == ["-", "ensemble"]
    assert "ensemble out-of-fold roc_auc" in lines[0]
    assert "best single model" in lines[0]

    assert main(["leaderboard", str(model), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "... 2 more rows" in out  # --top counts trials; the ensemble always shows

    assert main(["leaderboard", str(model), "--csv"]) == 0
    board = _read(capsys.readouterr().out)
    assert len(board) == 1 + 3
    assert {"trial", "learner", "loss", "weight", "status"} <= set(board.columns)
    assert board["learner"].iloc[0] == "ensemble" and pd.isna(board["trial"].iloc[0])
    trials = board.iloc[1:]
    assert trials["weight"].sum() == pytest.approx(1.0)
    ok = trials[trials["status"] == "ok"]
    assert ok["loss"].is_monotonic_increasing  # best first
    # the ensemble's out-of-fold score is at least the best member's on its rows
    assert board["roc_auc"].iloc[0] >= ok["roc_auc"].max() - 1e-9


def test_fit_rerun_reuses_cache_and_storage(tmp_path, capsys):
    X, y = load_sklearn("iris")
    train = tmp_path / "iris.csv"
    _write_csv(train, X, y)
    flags = [
        "--cache-dir",
        str(tmp_path / "cache"),
        "--storage",
        f"sqlite:///{tmp_path / 'run.db'}",
    ]
    boards = []
    for run in ("first", "second"):
        model = tmp_path / f"{run}.skops"
        argv = ["fit", str(train), "--target", "class", "--out", str(model)]
        assert main([*argv, *FAST, *flags]) == 0
        capsys.readouterr()
        assert main(["leaderboard", str(model), "--csv"]) == 0
        board = _read(capsys.readouterr().out)
        boards.append(board[board["learner"] != "ensemble"].reset_index(drop=True))
    first, second = boards
    assert set(first["source"]) == {"evaluated"}
    assert "evaluated" not in set(second["source"])  # nothing fitted again
    pd.testing.assert_series_equal(first["loss"], second["loss"])


# -- user errors: one line on stderr, exit code 2, no traceback --------------------


def test_fit_missing_file(tmp_path, capsys):
    code = main(["fit", str(tmp_path / "nope.csv"), "--target", "class"])
    _assert_user_error(code, capsys, "CSV file not found", "nope.csv")


def test_fit_unknown_target(cancer, capsys):
    _, train, _ = cancer
    code = main(["fit", str(train), "--target", "klass", *FAST])
    _assert_user_error(
        code, capsys, "column 'klass' not found", "did you mean 'class'?", "'x0'"
    )


def test_fit_single_class(tmp_path, capsys):
    X, y = load_sklearn("iris")
    train = tmp_path / "one.csv"
    _write_csv(train, X[y == 0], y[y == 0])
    code = main(["fit", str(train), "--target", "class", *FAST])
    _assert_user_error(code, capsys, "single class")


def test_fit_empty_csv(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code = main(["fit", str(empty), "--target", "class"])
    _assert_user_error(code, capsys, "CSV file is empty")
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,class\n")
    code = main(["fit", str(header_only), "--target", "class"])
    _assert_user_error(code, capsys, "no rows")


def test_predict_column_mismatch(cancer, tmp_path, capsys):
    frame, _, model = cancer
    bad = frame.drop(columns=["x3", "class"]).rename(columns={"x7": "seven"})
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    code = main(["predict", str(model), str(path)])
    _assert_user_error(
        code,
        capsys,
        "do not match the model",
        "missing 'x3', 'x7'",
        "unexpected 'seven'",
    )


def test_unreadable_model(cancer, tmp_path, capsys):
    _, train, _ = cancer
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"this is not a pickle")
    _assert_user_error(
        main(["predict", str(garbage), str(train)]), capsys, "cannot read model file"
    )
    other = tmp_path / "other.joblib"
    joblib.dump({"weights": [1, 2]}, other)
    _assert_user_error(
        main(["leaderboard", str(other)]), capsys, "is not an autoens model"
    )
    _assert_user_error(
        main(["leaderboard", str(train)]), capsys, "cannot read model file"
    )
    _assert_user_error(
        main(["leaderboard", str(tmp_path / "missing.skops")]),
        capsys,
        "model file not found",
    )
    # a pickle naming a function outside the allow-list: refused, nothing runs
    evil = tmp_path / "evil.joblib"
    joblib.dump(_MakeDir(tmp_path / "pwned"), evil)
    _assert_user_error(
        main(["predict", str(evil), str(train)]), capsys, "was not loaded", "mkdir"
    )
    assert not (tmp_path / "pwned").exists()


class _MakeDir:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (__import__("os").mkdir, (self.path,))


def test_predict_missing_csv(cancer, tmp_path, capsys):
    _, _, model = cancer
    code = main(["predict", str(model), str(tmp_path / "new.csv")])
    _assert_user_error(code, capsys, "CSV file not found")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["fit", "train.csv"], "the following arguments are required: --target"),
        (["fit", "train.csv", "--target", "y", "--cv", "1"], "needs at least 2 folds"),
        (["fit", "t.csv", "--target", "y", "--n-trials", "0"], "positive integer"),
        (["predict", "model.skops"], "required: CSV"),
        (["frobnicate"], "invalid choice"),
        ([], "required: COMMAND"),
    ],
)
def test_usage_errors(argv, fragment, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], 50), (["--time-limit", "60"], None), (["--n-trials", "7"], 7)],
)
def test_fit_budget_flags(flags, expected):
    args = build_parser().parse_args(["fit", "t.csv", "--target", "y", *flags])
    model = autoens.AutoEnsembleClassifier(
        n_trials=args.n_trials, time_limit=args.time_limit
    )
    assert model._budget().n_trials == expected


def test_warnings_print_as_one_line(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # pytest turns warnings into errors
        with short_warnings("fit"):
            warnings.warn(
                "a 'knn' configuration was dropped", UserWarning, stacklevel=1
            )
    err = capsys.readouterr().err
    assert (
        err == "autoens fit: warning: UserWarning: a 'knn' configuration was dropped\n"
    )


# -- help ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["fit", "predict", "leaderboard", "demo"])
def test_command_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: autoens {command}")
    assert "(default:" in out


def test_python_m_autoens_help():
    result = subprocess.run(
        [sys.executable, "-m", "autoens", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: autoens")
    for command in ("fit", "predict", "leaderboard", "demo"):
        assert f"    {command} " in result.stdout


# -- demo ------------------------------------------------------------------------------


def test_demo_unknown_dataset(capsys):
    code = main(["demo", "--dataset", "nope"])
    _assert_user_error(code, capsys, "Unknown KEEL dataset 'nope'", "phoneme")


def test_demo_small_budget(capsys):
    code = main(["demo", "--dataset", "pima", *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = captured.out
    assert "Dataset 'pima': 768 rows x 8 features, 2 classes" in out
    assert "training on 576, testing on 192" in out
    assert "Ensemble weights:" in out
    table = out.split("Held-out test set (192 rows):\n")[1].splitlines()
    assert table[0].split() == ["model", "ROC", "AUC", "accuracy"]
    assert table[1].startswith("ensemble")
    assert table[2].startswith("best single (")
    for row in table[1:3]:
        auc, accuracy = (float(v) for v in row.split()[-2:])
        assert 0.7 < auc <= 1.0  # pima is hard, but any real model clears 0.7
        assert 0.6 < accuracy <= 1.0


def test_fit_search_choices_are_the_search_strategies():
    from autoens.cli.fit import SEARCH_CHOICES
    from autoens.search import SEARCH_STRATEGIES

    assert sorted(SEARCH_CHOICES) == sorted(SEARCH_STRATEGIES)


def test_fit_search_option_reaches_the_estimator(tmp_path, capsys):
    X, y = load_sklearn("breast_cancer")
    train = tmp_path / "train.csv"
    _write_csv(train, X, y)
    out = tmp_path / "model.skops"
    args = ["fit", str(train), "--target", "class", "--out", str(out), *FAST]
    assert main([*args, "--search", "random"]) == 0, capsys.readouterr().err
    assert autoens.load(out).search == "random"
    assert main([*args, "--search", "grid"]) == 2
    assert "invalid choice: 'grid'" in capsys.readouterr().err


def test_fit_with_a_weight_column(tmp_path, capsys):
    """--sample-weight names a column of row weights: not a feature, handed to fit
    (the saved model's library keeps them); bad weights are one-line errors."""
    X, y = load_sklearn("breast_cancer")
    frame = _write_csv(tmp_path / "plain.csv", X, y)
    frame["w"] = np.where(frame["class"] == 0, 3.0, 1.0)
    train, out = tmp_path / "weighted.csv", tmp_path / "weighted.skops"
    frame.to_csv(train, index=False)
    argv = ["fit", str(train), "--target", "class", "--out", str(out), *FAST]
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # pytest turns warnings into errors
        assert main([*argv, "--sample-weight", "w"]) == 0
    assert "warning: UserWarning: learners ['knn'] cannot weight rows" in (
        capsys.readouterr().err
    )
    model = autoens.load(out)
    assert model.sample_weight_column_ == "w"
    assert "w" not in model.schema_.columns
    np.testing.assert_array_equal(model.library_.sample_weight, frame["w"].to_numpy())
    for column, values, fragment in [
        ("ww", frame["w"], "column 'ww' not found"),
        ("w", frame["w"].where(frame.index != 3), "1 row(s) have no weight"),
        ("w", -frame["w"], "non-negative"),
        ("w", np.where(frame.index == 0, "heavy", "1"), "must hold numbers"),
    ]:
        bad = frame.assign(w=values)
        bad.to_csv(train, index=False)
        code = main([*argv, "--sample-weight", column])
        _assert_user_error(
            code, capsys, "--sample-weight" if column == "w" else "ww", fragment
        )
