"""The command line with regression: task detection, RMSE/R² output, predictions and
intervals, refusals, reselect and the regression demo, on real bundled data."""

from __future__ import annotations

import io
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest

import autoens
from autoens.cli import main
from autoens.cli.fit import choose_task
from autoens.datasets import load_sklearn

FAST = ["--n-trials", "3", "--cv", "2", "--n-jobs", "1", "--seed", "0"]


def _read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def _assert_user_error(code, capsys, *fragments):
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("autoens ") and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    """scikit-learn's diabetes as a CSV (target ``progression``, whole numbers with
    214 distinct values) and a regressor fit on it with every fold model kept."""
    folder = tmp_path_factory.mktemp("diabetes")
    X, y = load_sklearn("diabetes")
    frame = X.assign(progression=y)
    train = folder / "diabetes.csv"
    frame.to_csv(train, index=False)
    model = folder / "model.skops"
    argv = ["fit", str(train), "--target", "progression", "--out", str(model)]
    captured = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
        code = main([*argv, *FAST, "--keep-models", "all"])
    assert code == 0, captured.getvalue()
    return frame, train, model, captured.getvalue()


def test_fit_detects_regression_and_prints_rmse_and_r2(diabetes):
    frame, _, model, output = diabetes
    assert (
        "Task: regression (detected: the target holds whole numbers with 214 distinct "
        "values, more than 20; --task overrides)" in output
    )
    assert "Fitting on 442 rows x 10 features, target 'progression' from 25 to 346" in (
        output
    )
    lines = output.splitlines()
    header = next(line for line in lines if line.startswith("trial"))
    assert header.split()[:5] == ["trial", "learner", "rmse", "r2", "weight"]
    validation = next(line for line in lines if "ensemble out-of-fold" in line)
    rmse = float(validation.split("rmse: ")[1].split(",")[0])
    r2 = float(validation.split("r2: ")[1].split()[0])
    assert "(best single model: " in validation
    # the ensemble's out-of-fold RMSE and R² agree with each other
    variance = np.var(frame["progression"].to_numpy())
    assert r2 == pytest.approx(1 - rmse**2 / variance, abs=1e-3)
    assert 0.3 < r2 < 0.7  # diabetes: a real, noisy target
    estimator = autoens.load(model)
    assert type(estimator).__name__ == "AutoEnsembleRegressor"
    assert estimator.task_.family == "regression" and estimator.metric_.name == "rmse"


def test_leaderboard_of_a_regressor(diabetes, capsys):
    _, _, model, _ = diabetes
    assert main(["leaderboard", str(model)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("target 'progression' (regression); autoens ")
    assert "ensemble out-of-fold rmse: " in lines[0] and ", r2: " in lines[0]
    assert lines[1].split()[:4] == ["trial", "learner", "rmse", "r2"]
    assert lines[2].split()[:2] == ["-", "ensemble"]  # the ensemble's own row
    rows = [line.split() for line in lines[3:]]
    assert len(rows) == 3
    rmse = [float(r[2]) for r in rows]
    r2 = [float(r[3]) for r in rows]
    assert rmse == sorted(rmse) and r2 == sorted(r2, reverse=True)
    assert main(["leaderboard", str(model), "--csv"]) == 0
    board = _read(capsys.readouterr().out)
    assert {"rmse", "r2", "loss", "weight"} <= set(board.columns)
    np.testing.assert_allclose(board["rmse"], board["loss"])


def test_predict_numbers_and_intervals(diabetes, tmp_path, capsys):
    frame, train, model, _ = diabetes
    assert main(["predict", str(model), str(train)]) == 0
    predictions = _read(capsys.readouterr().out)
    assert list(predictions.columns) == ["progression"]
    assert predictions["progression"].dtype == np.float64
    assert predictions["progression"].nunique() > 100  # numbers, not classes
    out = tmp_path / "intervals.csv"
    argv = ["predict", str(model), str(train), "--interval", "0.9", "--out", str(out)]
    assert main(argv) == 0
    assert "Wrote 442 predictions" in capsys.readouterr().err
    intervals = pd.read_csv(out)
    assert list(intervals.columns) == ["progression", "lower", "upper"]
    np.testing.assert_allclose(
        intervals["progression"], predictions["progression"], rtol=1e-5
    )
    assert (intervals["lower"] <= intervals["progression"]).all()
    assert (intervals["progression"] <= intervals["upper"]).all()
    y = frame["progression"]
    inside = ((intervals["lower"] <= y) & (y <= intervals["upper"])).mean()
    assert inside > 0.8  # nominal 0.9
    narrow = tmp_path / "narrow.csv"
    argv = ["predict", str(model), str(train), "--interval", "0.5", "--out"]
    assert main([*argv, str(narrow)]) == 0
    half = pd.read_csv(narrow)
    assert (
        (half["upper"] - half["lower"]) < (intervals["upper"] - intervals["lower"])
    ).all()


def test_predict_refuses_the_other_kind_of_output(diabetes, tmp_path, capsys):
    _, train, model, _ = diabetes
    code = main(["predict", str(model), str(train), "--proba"])
    _assert_user_error(code, capsys, "--proba needs a classifier", "is a regressor")
    # a classifier in the joblib dict of earlier versions (read with a warning)
    classifier = tmp_path / "classifier.joblib"
    joblib.dump(
        {
            "format_version": 1,
            "target": "y",
            "estimator": autoens.AutoEnsembleClassifier(),
        },
        classifier,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # pytest turns warnings into errors
        code = main(["predict", str(classifier), str(train), "--interval", "0.9"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    warning, error = err.strip().splitlines()  # one line each
    assert warning.startswith("autoens predict: warning: LegacyModelWarning: ")
    assert "re-save it with autoens.save" in warning.lower()
    assert error.startswith("autoens predict: error: --interval needs a regressor")
    for bad in ("1.5", "0", "ninety"):
        assert main(["predict", str(model), str(train), "--interval", bad]) == 2
        assert "argument --interval" in capsys.readouterr().err
    argv = ["predict", str(model), str(train), "--interval", "0.9", "--proba"]
    assert main(argv) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_reselect_a_regressor(diabetes, tmp_path, capsys):
    _, train, model, _ = diabetes
    out = tmp_path / "qp.skops"
    code = main(["reselect", str(model), "--selector", "qp", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "rmse" in captured.out and f"Model written to {out}" in captured.out
    assert autoens.load(out).selector == "qp"
    assert main(["predict", str(out), str(train), "--interval", "0.8"]) == 0
    assert list(_read(capsys.readouterr().out).columns) == [
        "progression",
        "lower",
        "upper",
    ]
    code = main(["reselect", str(model), "--selector", "knora-e", "--out", str(out)])
    _assert_user_error(code, capsys, "does not support regression", "qp-affine")


@pytest.mark.parametrize(
    ("values", "requested", "family", "reason"),
    [
        ([1.5, 2.0, 3.25], "auto", "regression", "detected: the target holds numbers "),
        (["a", "b"], "auto", "classification", "text or boolean values"),
        ([1, 2, 3, 1], "auto", "classification", "3 distinct values, 20 or fewer"),
        ([1, 2, 3, 1], "regression", "regression", "as --task regression says"),
    ],
)
def test_choose_task(values, requested, family, reason):
    found, why = choose_task(pd.Series(values), requested)
    assert found == family and reason in why


def test_task_errors(tmp_path, capsys):
    X, y = load_sklearn("diabetes")
    path = tmp_path / "d.csv"
    X.assign(target=y / 7.0, text=np.where(y > 140, "high", "low"), same=1.0).to_csv(
        path, index=False
    )
    base = ["fit", str(path), *FAST, "--out", str(tmp_path / "m.skops")]
    code = main([*base, "--target", "target", "--task", "classification"])
    _assert_user_error(code, capsys, "fractional part", "--task regression")
    code = main([*base, "--target", "text", "--task", "regression"])
    _assert_user_error(code, capsys, "must hold numbers", "--task classification")
    code = main([*base, "--target", "same", "--task", "regression"])
    _assert_user_error(code, capsys, "is constant")
    code = main([*base, "--target", "target", "--metric", "roc_auc"])
    _assert_user_error(code, capsys, "'roc_auc' scores classification", "rmse")
    assert main(["fit", str(path), "--target", "y", "--task", "ordinal"]) == 2
    assert "invalid choice: 'ordinal'" in capsys.readouterr().err


def test_fit_help_states_the_rule(capsys):
    assert main(["fit", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "more than 20 distinct" in out and "--task" in out
    assert "rmse for regression" in out


def test_demo_regression_small_budget(capsys):
    code = main(["demo", "--task", "regression", *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = captured.out
    assert "Dataset 'diabetes': 442 rows x 10 features, regression of 'target'" in out
    assert "training on 331, testing on 111" in out
    table = out.split("Held-out test set (111 rows):\n")[1].splitlines()
    assert table[0].split() == ["model", "RMSE", "MAE", "R2"]
    assert table[1].startswith("ensemble") and table[2].startswith("best single (")
    for row in table[1:3]:
        rmse, mae, r2 = (float(v) for v in row.split()[-3:])
        assert 40 < rmse < 75 and mae < rmse and 0.2 < r2 < 0.7
    assert "90 % prediction intervals (CV+): " in out and "of the test rows" in out


def test_demo_dataset_and_task_must_agree(capsys):
    code = main(["demo", "--task", "classification", "--dataset", "boston"])
    _assert_user_error(code, capsys, "boston is a regression dataset", "diabetes")
    code = main(["demo", "--task", "regression", "--dataset", "nope"])
    _assert_user_error(code, capsys, "Unknown regression dataset 'nope'", "boston")
    code = main(["demo", "--task", "regression", "--dataset", "pima"])
    _assert_user_error(code, capsys, "pima is a classification dataset")
