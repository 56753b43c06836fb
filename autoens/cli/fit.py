"""``autoens fit``: search, build the ensemble, save it with joblib."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from autoens.cli._common import (
    CLIError,
    HelpFormatter,
    ensemble_summary,
    fold_count,
    leaderboard_text,
    log_to_stderr,
    positive_float,
    positive_int,
    read_csv,
    save_bundle,
    selector_leaderboard_text,
    unknown_column_message,
)

DESCRIPTION = """\
Fit an AutoEnsembleClassifier on a CSV file with a header row; one column is the
target.

Base learners are evaluated by k-fold cross-validation until the budget is spent
(--n-trials and/or --time-limit, whichever comes first); their out-of-fold predictions
are then combined into a weighted ensemble by the selector. The fitted model is saved
with joblib and the leaderboard is printed.
"""

DEFAULT_N_TRIALS = 50
"""Trials when no budget is given; a --time-limit alone lets the clock decide."""

EPILOG = """\
examples:
  autoens fit train.csv --target class
  autoens fit train.csv --target class --time-limit 300 --n-jobs -1 --out model.joblib
  autoens fit train.csv --target class --cache-dir cache/  # reruns reuse trials
"""


SEARCH_CHOICES = ("tpe", "random", "divbo", "bo")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "fit",
        help="fit an ensemble on a CSV file and save it",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("train", metavar="TRAIN_CSV", help="training data (CSV)")
    parser.add_argument(
        "--target", required=True, metavar="COL", help="name of the class column"
    )
    budget = parser.add_argument_group("budget")
    budget.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="S",
        help="wall-clock budget of the search in seconds (default: none)",
    )
    budget.add_argument(
        "--n-trials",
        type=positive_int,
        default=None,
        metavar="N",
        help="number of configurations to evaluate (default: 50 without "
        "--time-limit, no cap with it)",
    )
    search = parser.add_argument_group("search and ensemble")
    search.add_argument(
        "--metric",
        default="roc_auc",
        metavar="M",
        help="metric optimised by search and selector, e.g. roc_auc, neg_log_loss, "
        "accuracy (default: %(default)s)",
    )
    search.add_argument(
        "--search",
        # autoens.search.SEARCH_STRATEGIES, spelled out so `--help` does
        # not import Optuna (tests/test_cli.py keeps the two equal).
        choices=SEARCH_CHOICES,
        default="tpe",
        help="what to try next: tpe (Optuna's TPE), random, divbo (diversity-aware "
        "Bayesian optimisation) or bo (divbo without the diversity term) "
        "(default: %(default)s)",
    )
    search.add_argument(
        "--selector",
        default="ges",
        metavar="NAME",
        help="ensemble selector, e.g. ges (greedy ensemble selection), stacking, "
        "knora-e (dynamic: runs every member at predict time), or auto (chosen by "
        "inner cross-validation) (default: %(default)s)",
    )
    search.add_argument(
        "--keep-models",
        choices=("ensemble", "all"),
        default="ensemble",
        help="fold models kept in the model file: the ensemble's only (small), or "
        "all, so `autoens reselect` can try other selectors without a cache "
        "(default: %(default)s)",
    )
    search.add_argument(
        "--cv",
        type=fold_count,
        default=5,
        metavar="K",
        help="number of cross-validation folds (default: %(default)s)",
    )
    search.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="random seed; with --n-trials only and --n-jobs 1 runs repeat exactly "
        "(default: random)",
    )
    run_opts = parser.add_argument_group("execution and output")
    run_opts.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="trials run in parallel; -1 uses every core (default: 1)",
    )
    run_opts.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="keep out-of-fold predictions on disk; a rerun on the same data reuses "
        "them (default: in memory only)",
    )
    run_opts.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="Optuna storage for the trial history, e.g. sqlite:///run.db, which "
        "makes an interrupted search resumable (default: in memory)",
    )
    run_opts.add_argument(
        "--out",
        default="model.joblib",
        metavar="PATH",
        help="where to save the fitted model (default: %(default)s)",
    )
    run_opts.add_argument(
        "--top",
        type=positive_int,
        default=10,
        metavar="N",
        help="leaderboard rows to print (default: %(default)s)",
    )
    run_opts.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v shows a progress bar, -vv also logs each trial",
    )
    parser.set_defaults(run=run)
    return parser


def n_trials_budget(args: argparse.Namespace) -> int | None:
    """--n-trials if given; else 50, or no cap when --time-limit alone is the budget."""
    if args.n_trials is None and args.time_limit is None:
        return DEFAULT_N_TRIALS
    return args.n_trials


def check_target(y: Any, target: str, path: str) -> None:
    """Reject targets the search cannot learn from, before any model is fit."""
    n_missing = int(y.isna().sum())
    if n_missing:
        raise CLIError(
            f"target column {target!r} in {path} has {n_missing} missing "
            f"value{'s' if n_missing > 1 else ''}; drop or fill those rows first"
        )
    classes = y.unique()
    if len(classes) < 2:
        raise CLIError(
            f"target column {target!r} in {path} has a single class "
            f"({classes[0]!r}); classification needs at least two"
        )


def run(args: argparse.Namespace) -> int:
    frame = read_csv(args.train)
    if args.target not in frame.columns:
        raise CLIError(unknown_column_message(args.target, frame.columns, args.train))
    y = frame[args.target]
    X = frame.drop(columns=[args.target])
    if X.shape[1] == 0:
        raise CLIError(f"{args.train} has no feature columns besides the target")
    check_target(y, args.target, args.train)

    from autoens import AutoEnsembleClassifier
    from autoens.estimator import SearchError

    estimator = AutoEnsembleClassifier(
        time_limit=args.time_limit,
        n_trials=n_trials_budget(args),
        cv=args.cv,
        metric=args.metric,
        selector=args.selector,
        search=args.search,
        n_jobs=args.n_jobs,
        cache_dir=args.cache_dir,
        storage=args.storage,
        random_state=args.seed,
        verbose=args.verbose,
        keep_models=args.keep_models,
    )
    print(
        f"Fitting on {X.shape[0]} rows x {X.shape[1]} features, "
        f"{y.nunique()} classes (target {args.target!r})",
        file=sys.stderr,
    )
    try:
        with log_to_stderr(args.verbose):
            estimator.fit(X, y)
    except ValueError as exc:  # the estimator's input/parameter validation
        raise CLIError(str(exc)) from None
    except SearchError as exc:  # no candidate finished within the budget
        raise CLIError(str(exc), exit_code=1) from None
    out = save_bundle(estimator, args.target, args.out)

    print(leaderboard_text(estimator, top=args.top))
    print(ensemble_summary(estimator))
    candidates = selector_leaderboard_text(estimator, top=args.top)
    if candidates:
        print(f"\nselectors tried by auto (inner CV):\n{candidates}")
    print(f"\nModel written to {out}")
    return 0
