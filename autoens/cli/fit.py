"""``autoens fit``: search, build the ensemble, save it (``autoens.save``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoens._lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
else:  # imported on first use: `autoens --help` stays fast (tests/test_install.py)
    np = lazy_module("numpy")
    pd = lazy_module("pandas")

from autoens.cli._common import (
    EXIT_INTERRUPTED,
    CLIError,
    HelpFormatter,
    check_writable_folder,
    deployment_text,
    ensemble_summary,
    fold_count,
    leaderboard_text,
    log_to_stderr,
    positive_float,
    positive_int,
    read_csv,
    save_model,
    selector_leaderboard_text,
    unknown_column_message,
    validation_text,
)

DESCRIPTION = """\
Fit an AutoEnsembleClassifier or AutoEnsembleRegressor on a CSV file with a header
row; one column is the target.

Base learners are evaluated by k-fold cross-validation until the budget is spent
(--n-trials and/or --time-limit, whichever comes first); their out-of-fold predictions
are then combined into a weighted ensemble by the selector. The fitted model is saved
as a .skops file (autoens.save; Python reads it with autoens.load) and the leaderboard
is printed.

Classification or regression (--task auto, the default): a target holding text or
booleans is classification; a numeric target is regression when some value has a
fractional part (e.g. 3.7) or when it has more than 20 distinct whole numbers, and
classification otherwise (e.g. 0/1, or ratings 1-5). The chosen task and the reason
are printed; pass --task to override.

Ctrl-C during the search stops it: the running trials are stopped, the ensemble is
built from the trials that finished, the model is saved and the exit code is 3 (with
--cache-dir and --storage, the same command later continues the search). A second
Ctrl-C aborts at once without saving (exit code 130), as does a Ctrl-C before any
trial finished.
"""


EPILOG = """\
examples:
  autoens fit train.csv --target class
  autoens fit train.csv --target class --time-limit 300 --n-jobs -1 --out model.skops
  autoens fit train.csv --target class --cache-dir cache/  # reruns reuse trials
  autoens fit houses.csv --target price --metric mae      # regression (auto-detected)
  autoens fit survey.csv --target rating --task regression
  autoens fit claims.csv --target fraud --sample-weight exposure

exit codes:
  0  the model was saved
  1  no candidate finished within the budget (nothing saved)
  2  an input error: file, column, option value (nothing saved)
  3  interrupted by Ctrl-C: the model of the trials that finished was saved
  130  interrupted by a second Ctrl-C, or before any trial finished (nothing saved)
"""

TASK_CHOICES = ("auto", "classification", "regression")


SEARCH_CHOICES = ("tpe", "random", "divbo", "bo")


def pruning_value(text: str) -> str | float | None:
    """``--pruning``: ``auto``, ``off`` or a percentile in (0, 100)."""
    if text in ("auto", "off"):
        return None if text == "off" else text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < 100.0:
        raise argparse.ArgumentTypeError(
            f"expected auto, off or a percentile between 0 and 100, got {text!r}"
        )
    return value


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
        "--target",
        required=True,
        metavar="COL",
        help="name of the target column (class labels or numbers)",
    )
    parser.add_argument(
        "--task",
        choices=TASK_CHOICES,
        default="auto",
        help="classification or regression; auto: text or boolean targets are "
        "classes, numbers with a fractional part or more than 20 distinct values "
        "are regression, other whole numbers are classes (default: %(default)s)",
    )
    parser.add_argument(
        "--sample-weight",
        metavar="COL",
        help="column of row weights (non-negative numbers, not a feature): learners "
        "that accept weights, trial scores and the selector use them",
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
        default=None,
        metavar="M",
        help="metric optimised by search and selector, e.g. roc_auc, neg_log_loss, "
        "accuracy; for regression rmse, mae, mse, r2 (default: roc_auc for "
        "classification, rmse for regression)",
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
        "--portfolio",
        default="default",
        metavar="PATH",
        help="configs tried first: default (the built-in portfolio), none, or a "
        "portfolio file, e.g. one learned by `autoens portfolio build` "
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
        "--refit",
        action="store_true",
        help="retrain each ensemble member once on all rows after selection "
        "(refit='members'): one model per member instead of one per fold, so "
        "prediction is k times cheaper (default: members predict with their fold "
        "models)",
    )
    search.add_argument(
        "--max-predict-time",
        type=positive_float,
        default=None,
        metavar="S",
        help="latency budget: seconds the ensemble may take to predict 1,000 rows "
        "(as measured during the search); the best ensemble within it is built "
        "(default: no budget)",
    )
    search.add_argument(
        "--calibration",
        choices=("auto", "temperature", "isotonic"),
        default=None,
        help="calibrate the ensemble's class probabilities on its out-of-fold "
        "predictions; auto keeps a method only when it lowers the log loss under "
        "inner cross-validation (default: none)",
    )
    search.add_argument(
        "--cv",
        type=fold_count,
        default=5,
        metavar="K",
        help="number of cross-validation folds (default: %(default)s)",
    )
    search.add_argument(
        "--pruning",
        type=pruning_value,
        default=None,
        metavar="P",
        help="stop a configuration after a fold whose loss is worse than the P-th "
        "percentile of the finished configurations' losses on that fold (pruned "
        "trials are not failures and never become members); auto is the 90th, "
        "only clearly hopeless ones; off never stops one (default: off: on the "
        "KEEL benchmark pruning saved little time and stopped future members)",
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
        default="model.skops",
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


def choose_task(y: Any, requested: str) -> tuple[str, str]:
    """``(family, reason)``: ``--task`` when given, else the detection rule of
    :func:`autoens.datasets.infer_task`."""
    if requested != "auto":
        return requested, f"as --task {requested} says"
    from autoens.datasets import infer_task

    family, reason = infer_task(y)
    return family, f"detected: {reason}; --task overrides"


def check_target(y: Any, target: str, path: str, family: str = "classification") -> Any:
    """Reject targets the search cannot learn from, before any model is fit; return
    the target as the estimator should get it (float64 values for regression)."""
    n_missing = int(y.isna().sum())
    if n_missing:
        raise CLIError(
            f"target column {target!r} in {path} has {n_missing} missing "
            f"value{'s' if n_missing > 1 else ''}; drop or fill those rows first"
        )
    if family == "regression":
        from autoens.datasets import typed_values

        try:
            values = typed_values(y, where=f"target column {target!r} in {path}")
        except ValueError as exc:
            raise CLIError(f"{exc}; use --task classification for labels") from None
        if values.nunique() < 2:
            raise CLIError(
                f"target column {target!r} in {path} is constant ({values.iloc[0]:g} "
                "in every row); regression needs a target that varies"
            )
        return values
    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        fractional = y[np.mod(y.to_numpy(dtype=float), 1) != 0]
        if len(fractional):
            raise CLIError(
                f"target column {target!r} in {path} cannot be classes: it holds "
                f"numbers with a fractional part, e.g. {fractional.iloc[0]:g}; use "
                "--task regression"
            )
    classes = y.unique()
    if len(classes) < 2:
        raise CLIError(
            f"target column {target!r} in {path} has a single class "
            f"({classes[0]!r}); classification needs at least two"
        )
    return y


def check_options(args: argparse.Namespace) -> None:
    """--storage, --cache-dir and --out, before the data is read: a bad one is a
    one-line error naming the option (the cache folder is created here; the model's
    folder only when the model is saved)."""
    from autoens.cache import make_cache_dir
    from autoens.search.storage import check_storage

    try:
        check_storage(args.storage, name="--storage")
        if args.cache_dir is not None:
            make_cache_dir(args.cache_dir, name="--cache-dir")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if Path(args.out).is_dir():
        raise CLIError(f"--out is a directory, expected a file name: {args.out}")
    check_writable_folder(Path(args.out).parent, f"--out {args.out}")


def option_names(message: str, args: argparse.Namespace) -> str:
    """``message`` with the estimator's parameter (``storage='URL'``, as when a
    database server refuses the connection) named as the option the user typed."""
    for param, option in (("storage", "--storage"), ("cache_dir", "--cache-dir")):
        value = getattr(args, param)
        if isinstance(value, str) and message.startswith(f"{param}={value!r}"):
            return f"{option} {value}{message[len(f'{param}={value!r}') :]}"
    return message


def sample_weight_column(frame: Any, args: argparse.Namespace) -> Any:
    """The ``--sample-weight`` column as float64 values, or None without it."""
    column = getattr(args, "sample_weight", None)
    if column is None:
        return None
    if column not in frame.columns:
        raise CLIError(unknown_column_message(column, frame.columns, args.train))
    if column == args.target:
        raise CLIError(f"--sample-weight {column}: the target cannot be the weights")
    values = frame[column]
    if values.isna().any():
        raise CLIError(
            f"--sample-weight {column}: {int(values.isna().sum())} row(s) have no "
            "weight; give every row one (0 leaves a row out of the scores)"
        )
    try:
        weights = values.to_numpy(dtype="float64")
    except (TypeError, ValueError):
        raise CLIError(
            f"--sample-weight {column}: the column must hold numbers"
        ) from None
    if (weights < 0).any() or not weights.sum() > 0 or not np.isfinite(weights).all():
        raise CLIError(
            f"--sample-weight {column}: weights must be finite, non-negative and "
            "not all zero"
        )
    return weights


def run(args: argparse.Namespace) -> int:
    check_options(args)
    frame = read_csv(args.train)
    if args.target not in frame.columns:
        raise CLIError(unknown_column_message(args.target, frame.columns, args.train))
    y = frame[args.target]
    weights = sample_weight_column(frame, args)
    X = frame.drop(
        columns=[args.target, *([args.sample_weight] if weights is not None else [])]
    )
    if X.shape[1] == 0:
        raise CLIError(f"{args.train} has no feature columns besides the target")
    family, reason = choose_task(y, args.task)
    y = check_target(y, args.target, args.train, family)

    from autoens import AutoEnsembleClassifier, AutoEnsembleRegressor
    from autoens.estimator import SearchError

    cls = AutoEnsembleRegressor if family == "regression" else AutoEnsembleClassifier
    if args.metric is not None:  # a metric of the other family: say so before fitting
        from autoens.metrics import get_metric
        from autoens.task import ClassificationTask, RegressionTask

        task_type = RegressionTask if family == "regression" else ClassificationTask
        try:
            get_metric(args.metric, task=task_type)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    estimator = cls(
        time_limit=args.time_limit,
        n_trials=args.n_trials,  # None: 50, or no cap with --time-limit
        cv=args.cv,
        metric=args.metric,
        selector=args.selector,
        search=args.search,
        portfolio=None if args.portfolio.lower() == "none" else args.portfolio,
        n_jobs=args.n_jobs,
        cache_dir=args.cache_dir,
        storage=args.storage,
        random_state=args.seed,
        verbose=args.verbose,
        keep_models=args.keep_models,
        refit="members" if args.refit else None,
        max_predict_time=args.max_predict_time,
        calibration=args.calibration,
        pruning=args.pruning,
    )
    print(
        f"Task: {family} ({reason})\n"
        f"Fitting on {X.shape[0]} rows x {X.shape[1]} features, "
        + (
            f"{y.nunique()} classes (target {args.target!r})"
            if family == "classification"
            else f"target {args.target!r} from {y.min():g} to {y.max():g}"
        ),
        file=sys.stderr,
    )
    try:
        with log_to_stderr(args.verbose):
            estimator.fit(X, y, sample_weight=weights)
    except ValueError as exc:  # the estimator's input/parameter validation
        raise CLIError(option_names(str(exc), args)) from None
    except SearchError as exc:  # no candidate finished within the budget
        raise CLIError(str(exc), exit_code=1) from None
    # What the CSV columns were, for `autoens predict` (documented attributes).
    estimator.target_column_ = args.target
    if weights is not None:
        estimator.sample_weight_column_ = args.sample_weight
    out = save_model(estimator, args.out)

    print(leaderboard_text(estimator, top=args.top))
    print(ensemble_summary(estimator))
    validation = validation_text(estimator)
    if validation:
        print(validation)
    deployment = deployment_text(estimator)
    if deployment:
        print(deployment)
    candidates = selector_leaderboard_text(estimator, top=args.top)
    if candidates:
        print(f"\nselectors tried by auto (inner CV):\n{candidates}")
    print(f"\nModel written to {out}")
    if getattr(estimator, "search_interrupted_", False):
        print(
            f"autoens fit: the search was interrupted; the model holds the "
            f"{int((estimator.leaderboard_['status'] == 'ok').sum())} trial(s) that "
            f"finished (exit code {EXIT_INTERRUPTED})",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0
