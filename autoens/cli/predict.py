"""``autoens predict``: apply a saved model to a CSV file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoens._lazy import lazy_module

if TYPE_CHECKING:
    import pandas as pd
else:  # imported on first use: `autoens --help` stays fast (tests/test_install.py)
    pd = lazy_module("pandas")

from autoens.cli._common import (
    FIT_COLUMNS,
    CLIError,
    HelpFormatter,
    load_model,
    model_family,
    read_csv,
    target_column,
)

DESCRIPTION = """\
Predict with a model saved by `autoens fit`.

The CSV must hold the columns the model was trained on (in any order); a target column
is ignored. Output: one row per input row, in a column named after the target (or
"prediction" for a model saved from Python with autoens.save): the predicted class of
a classifier, or the predicted number of a regressor. With --proba
(classifiers) one probability column per class instead; with --interval C
(regressors) also the columns lower and upper of a prediction interval of nominal
coverage C (CV+: from the cross-validation the fit already did, no refit).

Model files are .skops files (autoens.save): their types are checked before anything
is loaded, and a file naming anything outside autoens and its libraries is refused.
Joblib files of earlier versions still load, with a warning.
"""

EPILOG = """\
examples:
  autoens predict model.skops new.csv --out predictions.csv
  autoens predict model.skops new.csv --proba > probabilities.csv
  autoens predict regressor.skops new.csv --interval 0.9 --out with-intervals.csv
"""


def coverage(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(
            f"must be a coverage between 0 and 1 (e.g. 0.9), got {text}"
        )
    return value


coverage.__name__ = "coverage"  # argparse names the type in errors


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="predict classes or probabilities for a CSV file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "model", metavar="MODEL", help="model file from `autoens fit` or autoens.save"
    )
    parser.add_argument("data", metavar="CSV", help="rows to predict (CSV)")
    parser.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="write the predictions to this CSV (default: print CSV to stdout)",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--proba",
        action="store_true",
        help="classifiers: write class probabilities instead of labels",
    )
    what.add_argument(
        "--interval",
        type=coverage,
        default=None,
        metavar="C",
        help="regressors: add columns lower and upper, a prediction interval of "
        "nominal coverage C, e.g. 0.9 (CV+; guaranteed at least 1 - 2(1 - C))",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    estimator = load_model(args.model)
    target = target_column(estimator)
    family = model_family(estimator)
    if args.proba and family == "regression":
        raise CLIError(
            f"--proba needs a classifier, but {args.model} is a regressor (it "
            "predicts numbers); use --interval C for prediction intervals"
        )
    if args.interval is not None and family != "regression":
        raise CLIError(
            f"--interval needs a regressor, but {args.model} is a classifier; use "
            "--proba for class probabilities"
        )
    frame = read_csv(args.data)
    known = (getattr(estimator, a, None) for a in FIT_COLUMNS)  # not features
    X = frame.drop(columns=[c for c in known if c], errors="ignore")

    try:
        if args.proba:
            proba = estimator.predict_proba(X)
            result = pd.DataFrame(proba, columns=[str(c) for c in estimator.classes_])
        elif args.interval is not None:
            bounds = estimator.predict_interval(X, alpha=1.0 - args.interval)
            result = pd.DataFrame(
                {
                    target: estimator.predict(X),
                    "lower": bounds[:, 0],
                    "upper": bounds[:, 1],
                }
            )
        else:
            result = pd.DataFrame({target: estimator.predict(X)})
    except ValueError as exc:  # e.g. values the fitted model cannot handle
        raise CLIError(f"cannot predict {args.data}: {exc}") from None  # columns too

    if args.out is None:
        result.to_csv(sys.stdout, index=False, float_format="%.6g")
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(out, index=False, float_format="%.6g")
        print(f"Wrote {len(result)} predictions to {out}", file=sys.stderr)
    return 0
